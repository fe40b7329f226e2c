package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Response is one customer response as collectors store it and rules see
// it.
type Response struct {
	// ID is the response's idempotency key.
	ID string
	// Touchpoint is the SurveyTouchpoint's name.
	Touchpoint string
	// Customer who answered.
	Customer Customer
	// Answers by question id: int64 for NPS, CSAT, CES and Rating, bool for
	// YesNo, string for Choice and Text, []string for Choice with
	// allowMultiple. An unanswered question has no entry.
	Answers map[string]any
	// Comment is the free-text comment.
	Comment string
	// Sentiment of the comment, from -1 to 1.
	Sentiment float64
	// Themes detected in the response.
	Themes []string
	// Metadata of the response (store, agent, channel...).
	Metadata map[string]string
	// SubmittedAt is when the customer answered.
	SubmittedAt time.Time
	// Predicted holds the predicted scores of an interaction nobody asked
	// about, by target ("detractor", "bottomTwoBox", "mean"); nil for a
	// measured response.
	Predicted map[string]float64
}

// Customer identifies who answered.
type Customer struct {
	ID         string
	Tier       string
	Segment    string
	Attributes map[string]string
}

// ResponseEnv is the CEL environment of one touchpoint's responses. It is
// safe for concurrent use.
type ResponseEnv struct {
	touchpoint string
	env        *cel.Env
	answers    *objectType
	questions  map[string]cxv1alpha1.Question
	ids        []string
	opts       options
	sizes      *responseSizes
}

// NewResponseEnv builds the environment in which AlertRule conditions and
// dedup keys over the responses of tp are compiled.
func NewResponseEnv(tp *cxv1alpha1.SurveyTouchpoint, opts ...Option) (*ResponseEnv, error) {
	if tp == nil {
		return nil, fmt.Errorf("touchpoint is nil")
	}
	e := &ResponseEnv{
		touchpoint: tp.Name,
		questions:  make(map[string]cxv1alpha1.Question, len(tp.Spec.Questions)),
		opts:       buildOptions(opts),
		sizes:      newResponseSizes(tp),
	}
	fields := make([]objectField, 0, len(tp.Spec.Questions))
	for _, q := range tp.Spec.Questions {
		if _, dup := e.questions[q.ID]; dup {
			return nil, fmt.Errorf("touchpoint %q: question id %q appears twice", tp.Name, q.ID)
		}
		t, err := answerType(q)
		if err != nil {
			return nil, fmt.Errorf("touchpoint %q: %w", tp.Name, err)
		}
		e.questions[q.ID] = q
		e.ids = append(e.ids, q.ID)
		fields = append(fields, objectField{name: q.ID, typ: t, absentErr: &NoAnswerError{Question: q.ID}})
	}
	e.answers = newObjectType(answersTypeName, fields)
	envOpts := append(baseEnvOptions(),
		cel.Types(customerType, e.answers),
		cel.Variable(varAnswers, e.answers.celType),
		cel.Variable(varComment, cel.StringType),
		cel.Variable(varSentiment, cel.DoubleType),
		cel.Variable(varThemes, cel.ListType(cel.StringType)),
		cel.Variable(varCustomer, customerType.celType),
		cel.Variable(varMetadata, mapStringString),
		cel.Variable(varTouchpoint, cel.StringType),
		cel.Variable(varSubmittedAt, cel.TimestampType),
		cel.Variable(varPredicted, cel.MapType(cel.StringType, cel.DoubleType)),
		cel.Macros(hasThemeMacro, hasAnswerMacro),
	)
	env, err := cel.NewEnv(envOpts...)
	if err != nil {
		return nil, fmt.Errorf("touchpoint %q: build CEL environment: %w", tp.Name, err)
	}
	e.env = env
	return e, nil
}

// answerType is the CEL type of the answer to q.
func answerType(q cxv1alpha1.Question) (*cel.Type, error) {
	switch q.Type {
	case cxv1alpha1.QuestionNPS, cxv1alpha1.QuestionCSAT, cxv1alpha1.QuestionCES, cxv1alpha1.QuestionRating:
		return cel.IntType, nil
	case cxv1alpha1.QuestionYesNo:
		return cel.BoolType, nil
	case cxv1alpha1.QuestionChoice:
		if q.AllowMultiple {
			return cel.ListType(cel.StringType), nil
		}
		return cel.StringType, nil
	case cxv1alpha1.QuestionText:
		return cel.StringType, nil
	}
	return nil, fmt.Errorf("question %q has unknown type %q", q.ID, q.Type)
}

// Touchpoint is the name of the touchpoint the environment was built for.
func (e *ResponseEnv) Touchpoint() string { return e.touchpoint }

// responseVars are the variables of the response environment, for hints.
var responseVars = []string{varAnswers, varComment, varSentiment, varThemes, varCustomer, varMetadata, varTouchpoint, varSubmittedAt, varPredicted}

// varPredicted is the predicted scores of an interaction nobody asked
// about: a rule that reads it acts on predictions only.
const varPredicted = "predicted"

// noPredictions is the predicted variable of a measured response.
var noPredictions = types.DefaultTypeAdapter.NativeToValue(map[string]float64{})

// PredictedKey is the key of a prediction target in the predicted
// variable: "detractor", "bottomTwoBox", "mean".
func PredictedKey(target string) string {
	if target == "" {
		return ""
	}
	return strings.ToLower(target[:1]) + target[1:]
}

// hint adds the touchpoint's question ids to "undefined field" errors on
// answers, and the variables to "undeclared reference" errors.
func (e *ResponseEnv) hint(msg, before, after string) string {
	if strings.HasPrefix(msg, "undeclared reference") {
		return msg + " (variables: " + strings.Join(responseVars, ", ") + ")"
	}
	if !strings.HasPrefix(msg, "undefined field") {
		return msg
	}
	b := strings.TrimRight(before, " \t\n.?")
	onAnswers := strings.HasSuffix(b, varAnswers) ||
		strings.HasSuffix(b, "has_answer") ||
		(strings.HasSuffix(b, "has") && strings.HasPrefix(strings.TrimLeft(after, " \t\n("), varAnswers))
	if !onAnswers {
		return msg
	}
	if len(e.ids) == 0 {
		return msg + " (the touchpoint has no questions)"
	}
	return msg + " (questions of touchpoint " + quote(e.touchpoint) + ": " + strings.Join(e.ids, ", ") + ")"
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// Program is a compiled AlertRule condition.
type Program struct {
	c   *compiled
	env *ResponseEnv
}

// Compile parses and type-checks a condition; its result must be bool. A
// *CompileError carries the position of each issue.
func (e *ResponseEnv) Compile(expr string) (*Program, error) {
	c, err := compile(e.env, expr, cel.BoolType, e.opts, e.sizes, e.hint)
	if err != nil {
		return nil, err
	}
	return &Program{c: c, env: e}, nil
}

// Expression is the source of the program.
func (p *Program) Expression() string { return p.c.expr }

// OnPredictions reports whether the condition reads the predicted
// variable. Such a rule acts on predicted scores of interactions nobody
// asked about, never on a measured response; the other rules never act on
// predictions.
func (p *Program) OnPredictions() bool {
	if p.c.ast == nil || p.c.ast.NativeRep() == nil {
		return false
	}
	for _, r := range p.c.ast.NativeRep().ReferenceMap() {
		if r.Name == varPredicted {
			return true
		}
	}
	return false
}

// Eval evaluates the condition on one response. An error (for example an
// unanswered question, see ErrNoAnswer, or the cost limit) means the rule
// does not match.
func (p *Program) Eval(r *Response) (bool, error) {
	act, err := p.env.NewActivation(r)
	if err != nil {
		return false, err
	}
	return p.EvalActivation(act)
}

// EvalActivation evaluates the condition on a response converted once with
// ResponseEnv.NewActivation.
func (p *Program) EvalActivation(act *Activation) (bool, error) {
	return p.c.evalBool(act)
}

// KeyProgram is a compiled dedup key.
type KeyProgram struct {
	c   *compiled
	env *ResponseEnv
}

// CompileKey parses and type-checks a dedup key expression (for example
// customer.id); its result must be a string.
func (e *ResponseEnv) CompileKey(expr string) (*KeyProgram, error) {
	c, err := compile(e.env, expr, cel.StringType, e.opts, e.sizes, e.hint)
	if err != nil {
		return nil, err
	}
	return &KeyProgram{c: c, env: e}, nil
}

// Expression is the source of the program.
func (p *KeyProgram) Expression() string { return p.c.expr }

// Eval computes the key of one response.
func (p *KeyProgram) Eval(r *Response) (string, error) {
	act, err := p.env.NewActivation(r)
	if err != nil {
		return "", err
	}
	return p.EvalActivation(act)
}

// EvalActivation computes the key of a converted response.
func (p *KeyProgram) EvalActivation(act *Activation) (string, error) {
	return p.c.evalString(act)
}

// Activation is a response converted to CEL values, built once and shared
// by every program evaluated on that response. It is read-only and safe
// for concurrent use.
type Activation struct {
	answers     ref.Val
	customer    ref.Val
	comment     ref.Val
	sentiment   ref.Val
	themes      ref.Val
	metadata    ref.Val
	touchpoint  ref.Val
	submittedAt ref.Val
	predicted   ref.Val
	// resp is the response converted, which the rule index reads.
	resp *Response
}

var _ interpreter.Activation = (*Activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	switch name {
	case varAnswers:
		return a.answers, true
	case varCustomer:
		return a.customer, true
	case varComment:
		return a.comment, true
	case varSentiment:
		return a.sentiment, true
	case varThemes:
		return a.themes, true
	case varMetadata:
		return a.metadata, true
	case varTouchpoint:
		return a.touchpoint, true
	case varSubmittedAt:
		return a.submittedAt, true
	case varPredicted:
		return a.predicted, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

// NewActivation converts a response for evaluation. Each answer is
// converted to its question's type (numbers of any Go numeric type or
// json.Number to int, a single string to a one-element list for a multiple
// Choice); an answer that does not fit its question is an error. Answers
// to questions the touchpoint does not have are ignored: no program can
// refer to them.
func (e *ResponseEnv) NewActivation(r *Response) (*Activation, error) {
	if r == nil {
		return nil, fmt.Errorf("response is nil")
	}
	answers := e.answers.newObject()
	for id, v := range r.Answers {
		i, ok := e.answers.index[id]
		if !ok || v == nil {
			continue
		}
		cv, err := convertAnswer(e.questions[id], v)
		if err != nil {
			return nil, err
		}
		answers.vals[i] = cv
	}
	themes := r.Themes
	if themes == nil {
		themes = []string{}
	}
	predicted := noPredictions
	if r.Predicted != nil {
		predicted = types.DefaultTypeAdapter.NativeToValue(r.Predicted)
	}
	return &Activation{
		answers:     answers,
		customer:    newCustomer(r.Customer.ID, r.Customer.Tier, r.Customer.Segment, r.Customer.Attributes),
		comment:     types.String(r.Comment),
		sentiment:   types.Double(r.Sentiment),
		themes:      types.NewStringList(types.DefaultTypeAdapter, themes),
		metadata:    types.NewStringStringMap(types.DefaultTypeAdapter, r.Metadata),
		touchpoint:  types.String(r.Touchpoint),
		submittedAt: types.Timestamp{Time: r.SubmittedAt.UTC()},
		predicted:   predicted,
		resp:        r,
	}, nil
}

// convertAnswer converts an answer to the CEL value of its question's type.
func convertAnswer(q cxv1alpha1.Question, v any) (ref.Val, error) {
	switch {
	case q.Type == cxv1alpha1.QuestionYesNo:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("answers.%s: want true or false for a YesNo question, got %T %v", q.ID, v, v)
		}
		return types.Bool(b), nil
	case q.Type == cxv1alpha1.QuestionText || (q.Type == cxv1alpha1.QuestionChoice && !q.AllowMultiple):
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("answers.%s: want a string for a %s question, got %T %v", q.ID, q.Type, v, v)
		}
		return types.String(s), nil
	case q.Type != cxv1alpha1.QuestionChoice:
		n, ok := toInt(v)
		if !ok {
			return nil, fmt.Errorf("answers.%s: want an integer for a %s question, got %T %v", q.ID, q.Type, v, v)
		}
		return types.Int(n), nil
	}
	// list(string): a multiple Choice.
	switch l := v.(type) {
	case []string:
		return types.NewStringList(types.DefaultTypeAdapter, l), nil
	case string:
		return types.NewStringList(types.DefaultTypeAdapter, []string{l}), nil
	case []any:
		s := make([]string, len(l))
		for i, x := range l {
			str, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("answers.%s: want a list of strings, got element %T %v", q.ID, x, x)
			}
			s[i] = str
		}
		return types.NewStringList(types.DefaultTypeAdapter, s), nil
	}
	return nil, fmt.Errorf("answers.%s: want a list of strings for a multiple Choice question, got %T", q.ID, v)
}

// toInt converts a numeric answer without losing information.
func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint:
		if uint64(n) > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case float64:
		return floatToInt(n)
	case float32:
		return floatToInt(float64(n))
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		if f, err := n.Float64(); err == nil {
			return floatToInt(f)
		}
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// QuestionIDs are the touchpoint's question ids, in order.
func (e *ResponseEnv) QuestionIDs() []string { return slices.Clone(e.ids) }
