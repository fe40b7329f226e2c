// Package rules compiles and evaluates the CEL expressions of a cxloop
// program: AlertRule conditions on one response, dedup keys, aggregate
// conditions over a window, and the routes of CaseTemplates.
//
// It knows no Kubernetes client: every environment is built from API types
// and evaluated on plain values, so it runs in tests and in the collector
// alike.
//
// # Response rules
//
// NewResponseEnv builds the environment of one SurveyTouchpoint. In it,
// answers is a structured type whose fields are exactly the touchpoint's
// question ids, typed by the question:
//
//	NPS, CSAT, CES, Rating   int
//	YesNo                    bool
//	Choice, Text             string
//	Choice (allowMultiple)   list(string)
//
// so that answers.nope (no such question) and answers.completed == 5 (a
// YesNo compared with a number) fail to compile. The other variables are
// comment (string), sentiment (double, -1..1), themes (list(string)),
// customer (id, tier, segment strings; attributes map(string, string)),
// metadata (map(string, string)), touchpoint (string) and submittedAt
// (timestamp). has_theme('x') is 'x' in themes; has_answer('id') is
// has(answers.id). The strings extension library, the standard timestamp
// and duration functions and optional values (answers.?ease.orValue(10))
// are available. Integers and doubles compare with each other
// (sentiment < 0).
//
// There is no now variable, on purpose: a rule gives the same result for
// the same response whenever it is evaluated, so a retried or replayed
// response opens the same Cases.
//
// # Unanswered questions
//
// An optional question may be unanswered. Reading an absent answer
// (answers.ease when the customer skipped it) is an evaluation error
// (errors.Is(err, ErrNoAnswer)), and a rule whose result is an error does
// not match. CEL's logical operators absorb errors, so
// answers.ease <= 5 || answers.completed == false matches a response that
// answered completed=false and skipped ease. Test presence explicitly with
// has(answers.ease), has_answer('ease') or answers.?ease.orValue(...).
// Customer fields (id, tier, segment, attributes) are never absent: a
// missing one reads as the empty string or map, and has(customer.tier) is
// true only when the tier is not empty.
//
// # Cost
//
// Programs cannot hold up ingestion. At compile time each program's
// worst-case cost is estimated from the input limits (MaxCommentLength and
// the others in cost.go, which the collector must enforce); a program
// within the cost limit (DefaultCostLimit, see WithCostLimit) runs as is,
// any other (for example one that splits the comment and loops over the
// pieces) is stopped with an error when it reaches the limit at run time.
// Programs are safe for concurrent use.
//
// # Reserved words
//
// A question id that is a CEL reserved word (in, null, true, if...) is
// written with backticks: answers.`in`; has_answer('in') works as is.
//
// # Performance
//
// The collector evaluates many rules against each response. Build the
// activation once per response with ResponseEnv.NewActivation and call
// Program.EvalActivation for every rule; Program.Eval is the convenience
// form for one rule.
//
// With many rules, ResponseEnv.NewIndex reads the conditions' guards (a
// top-level conjunct comparing a string field with literals, a presence
// test, or a strict read of an answer or metadata key) and
// Index.Candidates returns only the rules whose guards the response has:
// 1,000 rules scoped to 50 stores cost about what 20 do. Skipping a rule
// never changes the result (a false or failing conjunct makes the whole
// condition not match); TestIndexMatchesNaiveEvaluation checks that on
// random conditions and responses.
package rules
