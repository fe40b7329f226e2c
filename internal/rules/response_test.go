package rules

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func mustResponseEnv(t *testing.T, opts ...Option) *ResponseEnv {
	t.Helper()
	env, err := NewResponseEnv(testTouchpoint(), opts...)
	if err != nil {
		t.Fatalf("NewResponseEnv: %v", err)
	}
	return env
}

const questionList = `(questions of touchpoint "upgrade-install": ease, completed, nps, platform, blockers, details)`

func TestCompileErrors(t *testing.T) {
	env := mustResponseEnv(t)
	tests := []struct {
		name string
		expr string
		want string // the whole message
		line int
		col  int
	}{
		{
			name: "undeclared variable",
			expr: "answrs.ease <= 5",
			want: "1:1: undeclared reference to 'answrs' (variables: answers, comment, sentiment, themes, customer, metadata, touchpoint, submittedAt, predicted)",
			line: 1, col: 1,
		},
		{
			name: "unknown question",
			expr: "answers.nope == 1",
			want: "1:8: undefined field 'nope' " + questionList,
			line: 1, col: 8,
		},
		{
			name: "unknown question in has()",
			expr: "has(answers.nope)",
			want: "1:4: undefined field 'nope' " + questionList,
			line: 1, col: 4,
		},
		{
			name: "unknown question in has_answer",
			expr: "has_answer('nope')",
			want: "1:11: undefined field 'nope' " + questionList,
			line: 1, col: 11,
		},
		{
			name: "unknown question in optional selection",
			expr: "answers.?nope.orValue(1) == 1",
			want: "1:8: undefined field 'nope' " + questionList,
			line: 1, col: 8,
		},
		{
			name: "unknown customer field gets no question list",
			expr: "customer.plan == 'pro'",
			want: "1:9: undefined field 'plan'",
			line: 1, col: 9,
		},
		{
			name: "YesNo compared with a number",
			expr: "answers.completed == 5",
			want: "1:19: found no matching overload for '_==_' applied to '(bool, int)'",
			line: 1, col: 19,
		},
		{
			name: "rating compared with a string",
			expr: "answers.ease == 'low'",
			want: "1:14: found no matching overload for '_==_' applied to '(int, string)'",
			line: 1, col: 14,
		},
		{
			name: "choice compared with a number",
			expr: "answers.platform > 3",
			want: "1:18: found no matching overload for '_>_' applied to '(string, int)'",
			line: 1, col: 18,
		},
		{
			name: "result is not bool",
			expr: "answers.ease",
			want: "1:1: expression must evaluate to bool, but has type int",
			line: 1, col: 1,
		},
		{
			name: "syntax error",
			expr: "answers.ease <= ",
			want: "1:17: Syntax error: mismatched input '<EOF>' expecting",
			line: 1, col: 17,
		},
		{
			name: "position on the second line",
			expr: "answers.ease <= 5 &&\n  answers.nope",
			want: "2:10: undefined field 'nope' " + questionList,
			line: 2, col: 10,
		},
		{
			name: "has_answer needs a literal",
			expr: "has_answer(comment)",
			want: "1:12: has_answer takes a question id in quotes, for example has_answer('completed')",
			line: 1, col: 12,
		},
		{
			name: "has_answer with a non-identifier",
			expr: "has_answer('not an id')",
			want: "1:12: has_answer: 'not an id' is not a question id",
			line: 1, col: 12,
		},
		{
			name: "has_theme without argument",
			expr: "has_theme()",
			want: "1:10: has_theme takes one argument, a theme name, for example has_theme('refund')",
			line: 1, col: 10,
		},
		{
			name: "invalid duration literal",
			expr: "submittedAt > timestamp('2026-01-01T00:00:00Z') + duration('5x')",
			want: "1:60: invalid duration argument",
			line: 1, col: 60,
		},
		{
			name: "invalid regular expression",
			expr: "comment.matches('(')",
			want: "1:17: invalid matches argument",
			line: 1, col: 17,
		},
		{
			name: "empty",
			expr: "",
			want: "1:1: expression is empty",
			line: 1, col: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want error %q", tt.expr, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile(%q) error\n got: %s\nwant: %s", tt.expr, err, tt.want)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *CompileError", err)
			}
			if ce.Expression != tt.expr {
				t.Errorf("Expression = %q, want %q", ce.Expression, tt.expr)
			}
			if len(ce.Issues) == 0 || ce.Issues[0].Line != tt.line || ce.Issues[0].Column != tt.col {
				t.Errorf("issues = %+v, want first at %d:%d", ce.Issues, tt.line, tt.col)
			}
		})
	}
}

func TestCompileErrorMultipleIssues(t *testing.T) {
	env := mustResponseEnv(t)
	_, err := env.Compile("answers.nope == 1 && answers.completed == 5")
	want := "1:8: undefined field 'nope' " + questionList +
		"; 1:40: found no matching overload for '_==_' applied to '(bool, int)'"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestEval(t *testing.T) {
	env := mustResponseEnv(t)
	noTier := func(r *Response) { r.Customer = Customer{ID: "c-7"} }
	tests := []struct {
		expr    string
		edit    func(*Response)
		want    bool
		wantErr error // errors.Is
		errText string
	}{
		// answers, typed by question.
		{expr: "answers.completed == false", want: true},
		{expr: "!answers.completed", want: true},
		{expr: "answers.ease <= 5", want: true},
		{expr: "answers.ease <= 5.0", want: true},
		{expr: "answers.nps >= 9", want: false},
		{expr: "answers.platform == 'linux'", want: true},
		{expr: "'docs' in answers.blockers && size(answers.blockers) == 2", want: true},
		{expr: "answers.blockers.exists(b, b == 'download')", want: false},
		// absent answers.
		{expr: "answers.details == ''", wantErr: ErrNoAnswer, errText: "no answer to question 'details'"},
		{expr: "answers.details.contains('crash') || answers.completed == false", want: true},
		{expr: "answers.details.contains('crash') && answers.completed == false", wantErr: ErrNoAnswer},
		{expr: "has(answers.details)", want: false},
		{expr: "has(answers.ease)", want: true},
		{expr: "has_answer('details')", want: false},
		{expr: "has_answer('completed')", want: true},
		{expr: "answers.?details.orValue('none') == 'none'", want: true},
		{expr: "answers.?ease.orValue(10) == 4", want: true},
		// comment and the strings library.
		{expr: "comment.contains('refund')", want: true},
		{expr: "comment.lowerAscii().startsWith('the installer')", want: true},
		{expr: "comment.split(' ').size() > 5", want: true},
		{expr: "comment.matches('(?i)fail(ed)?')", want: true},
		{expr: "size(comment) == 0", edit: func(r *Response) { r.Comment = "" }, want: true},
		// sentiment, with int and double comparisons.
		{expr: "sentiment < 0", want: true},
		{expr: "sentiment < -0.5", want: true},
		{expr: "sentiment > 0.5", want: false},
		// themes and has_theme.
		{expr: "'docs' in themes", want: true},
		{expr: "has_theme('refund')", want: true},
		{expr: "has_theme('praise')", want: false},
		{expr: "themes.exists(t, t.startsWith('ref'))", want: true},
		{expr: "size(themes) == 0", edit: func(r *Response) { r.Themes = nil }, want: true},
		// customer.
		{expr: "customer.id == 'c-42'", want: true},
		{expr: "customer.tier == 'Gold'", want: true},
		{expr: "customer.tier in ['Gold', 'Platinum']", want: true},
		{expr: "customer.segment == 'enterprise'", want: true},
		{expr: "customer.attributes.region == 'emea'", want: true},
		{expr: "customer.attributes['region'] == 'emea'", want: true},
		{expr: "has(customer.attributes.phone)", want: false},
		{expr: "has(customer.tier)", want: true},
		{expr: "has(customer.tier)", edit: noTier, want: false},
		{expr: "customer.tier == ''", edit: noTier, want: true},
		{expr: "size(customer.attributes) == 0", edit: noTier, want: true},
		// metadata.
		{expr: "metadata.store == 'berlin'", want: true},
		{expr: "metadata['agent'] == 'ana'", want: true},
		{expr: "'store' in metadata", want: true},
		{expr: "has(metadata.channel)", want: false},
		{expr: "metadata.channel == 'web'", errText: "no such key: channel"},
		// touchpoint.
		{expr: "touchpoint == 'upgrade-install'", want: true},
		// submittedAt and the time functions.
		{expr: "submittedAt > timestamp('2026-01-01T00:00:00Z')", want: true},
		{expr: "submittedAt.getHours() == 10", want: true},
		{expr: "submittedAt.getDayOfWeek() == 3", want: true},
		{expr: "submittedAt.getHours('Europe/Berlin') == 11", want: true},
		{expr: "submittedAt - timestamp('2026-03-04T00:00:00Z') > duration('10h')", want: true},
		// the seed scenario.
		{expr: "answers.completed == false && customer.tier == 'Gold'", want: true},
		{expr: "answers.nps <= 6", want: true},
		{expr: "answers.nps >= 9", edit: func(r *Response) { r.Answers["nps"] = int64(10) }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			r := testResponse()
			if tt.edit != nil {
				tt.edit(r)
			}
			got, err := p.Eval(r)
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("Eval = %v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not contain %q", err, tt.errText)
				}
				if got {
					t.Errorf("an error must not match")
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewActivationConvertsAnswers(t *testing.T) {
	env := mustResponseEnv(t)
	tests := []struct {
		name    string
		answers map[string]any
		expr    string
		wantErr string
	}{
		{name: "int", answers: map[string]any{"ease": 4}, expr: "answers.ease == 4"},
		{name: "int32", answers: map[string]any{"ease": int32(4)}, expr: "answers.ease == 4"},
		{name: "integral float64", answers: map[string]any{"ease": 4.0}, expr: "answers.ease == 4"},
		{name: "json.Number", answers: map[string]any{"ease": json.Number("4")}, expr: "answers.ease == 4"},
		{name: "one string for a multiple choice", answers: map[string]any{"blockers": "docs"}, expr: "answers.blockers == ['docs']"},
		{name: "[]any for a multiple choice", answers: map[string]any{"blockers": []any{"docs", "license"}}, expr: "answers.blockers == ['docs', 'license']"},
		{name: "nil is unanswered", answers: map[string]any{"ease": nil}, expr: "!has(answers.ease)"},
		{name: "unknown question is ignored", answers: map[string]any{"legacy": 3}, expr: "!has(answers.ease)"},
		{name: "fractional number", answers: map[string]any{"ease": 4.5}, wantErr: "answers.ease: want an integer for a Rating question, got float64 4.5"},
		{name: "string for a number", answers: map[string]any{"nps": "9"}, wantErr: "answers.nps: want an integer for a NPS question, got string 9"},
		{name: "number for a yes/no", answers: map[string]any{"completed": 0}, wantErr: "answers.completed: want true or false for a YesNo question, got int 0"},
		{name: "number for a choice", answers: map[string]any{"platform": 1}, wantErr: "answers.platform: want a string for a Choice question, got int 1"},
		{name: "list of numbers for a multiple choice", answers: map[string]any{"blockers": []any{1}}, wantErr: "answers.blockers: want a list of strings, got element int 1"},
		{name: "map for a multiple choice", answers: map[string]any{"blockers": map[string]any{}}, wantErr: "answers.blockers: want a list of strings for a multiple Choice question, got map[string]interface {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testResponse()
			r.Answers = tt.answers
			act, err := env.NewActivation(r)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("NewActivation error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewActivation: %v", err)
			}
			p, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if ok, err := p.EvalActivation(act); err != nil || !ok {
				t.Errorf("EvalActivation = %v, %v; want true", ok, err)
			}
		})
	}
}

func TestCompileKey(t *testing.T) {
	env := mustResponseEnv(t)
	tests := []struct {
		expr    string
		want    string
		wantErr string
	}{
		{expr: "customer.id", want: "c-42"},
		{expr: "customer.id + '/' + metadata.store", want: "c-42/berlin"},
		{expr: "string(answers.ease)", want: "4"},
		{expr: "answers.ease", wantErr: "1:1: expression must evaluate to string, but has type int"},
		{expr: "customer.nope", wantErr: "1:9: undefined field 'nope'"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.CompileKey(tt.expr)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("CompileKey error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CompileKey: %v", err)
			}
			got, err := p.Eval(testResponse())
			if err != nil || got != tt.want {
				t.Errorf("Eval = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	p, err := env.CompileKey("answers.details")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(testResponse()); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("key of an unanswered question: error %v, want ErrNoAnswer", err)
	}
}

func TestCostLimit(t *testing.T) {
	env := mustResponseEnv(t)
	// Cheap rules are proven within the limit at compile time and run
	// without cost tracking; a rule whose cost has no bound is tracked.
	for expr, tracked := range map[string]bool{
		"answers.completed == false":                                           false,
		"comment.contains('refund') && has_theme('docs')":                      false,
		"themes.exists(t, t.startsWith('ref'))":                                false,
		"customer.attributes.exists(k, customer.attributes[k] == 'x')":         false,
		"comment.split(' ').exists(w, w == 'refund')":                          true,
		"comment.split('').all(a, comment.split('').all(b, a != b || a == b))": true,
	} {
		p, err := env.Compile(expr)
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if p.c.tracked != tracked {
			t.Errorf("%q: tracked = %v, want %v", expr, p.c.tracked, tracked)
		}
	}

	p, err := env.Compile("comment.split('').all(a, comment.split('').all(b, a != b || a == b))")
	if err != nil {
		t.Fatal(err)
	}
	r := testResponse()
	r.Comment = strings.Repeat("abcdefghij", 200)
	ok, err := p.Eval(r)
	if err == nil || !strings.Contains(err.Error(), "cost limit exceeded") || ok {
		t.Fatalf("Eval = %v, %v; want the cost limit", ok, err)
	}

	small := mustResponseEnv(t, WithCostLimit(10))
	p, err = small.Compile("comment.contains('refund')")
	if err != nil {
		t.Fatal(err)
	}
	if !p.c.tracked {
		t.Errorf("with a limit of 10 a scan of the comment must be tracked")
	}
	if _, err := p.Eval(r); err == nil || !strings.Contains(err.Error(), "cost limit exceeded") {
		t.Errorf("Eval error = %v, want the cost limit", err)
	}
}

func TestNewResponseEnvErrors(t *testing.T) {
	if _, err := NewResponseEnv(nil); err == nil || err.Error() != "touchpoint is nil" {
		t.Errorf("nil touchpoint: %v", err)
	}
	tp := testTouchpoint()
	tp.Spec.Questions = append(tp.Spec.Questions, cxv1alpha1.Question{ID: "ease", Type: cxv1alpha1.QuestionNPS})
	if _, err := NewResponseEnv(tp); err == nil || err.Error() != `touchpoint "upgrade-install": question id "ease" appears twice` {
		t.Errorf("duplicate question: %v", err)
	}
	tp = testTouchpoint()
	tp.Spec.Questions[0].Type = "Slider"
	if _, err := NewResponseEnv(tp); err == nil || err.Error() != `touchpoint "upgrade-install": question "ease" has unknown type "Slider"` {
		t.Errorf("unknown type: %v", err)
	}
}

func TestNoQuestionsHint(t *testing.T) {
	tp := testTouchpoint()
	tp.Spec.Questions = nil
	env, err := NewResponseEnv(tp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Compile("answers.ease < 5")
	if err == nil || err.Error() != "1:8: undefined field 'ease' (the touchpoint has no questions)" {
		t.Errorf("got %v", err)
	}
}

func TestEvalConcurrent(t *testing.T) {
	compileAll := func(env *ResponseEnv) []*Program {
		progs := make([]*Program, len(ruleShapes))
		for i, s := range ruleShapes {
			p, err := env.Compile(strings.ReplaceAll(strings.ReplaceAll(s, "%d", "3"), "%%", "%"))
			if err != nil {
				t.Fatalf("Compile(%q): %v", s, err)
			}
			progs[i] = p
		}
		return progs
	}
	// Expected results from another environment, so that the first
	// evaluations of these programs happen concurrently.
	ref := mustResponseEnv(t)
	refAct, err := ref.NewActivation(testResponse())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]bool, len(ruleShapes))
	for i, p := range compileAll(ref) {
		want[i], _ = p.EvalActivation(refAct)
	}

	env := mustResponseEnv(t)
	progs := compileAll(env)
	act, err := env.NewActivation(testResponse())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				for i, p := range progs {
					if got, _ := p.EvalActivation(act); got != want[i] {
						t.Errorf("%s: got %v, want %v", p.Expression(), got, want[i])
					}
				}
			}
		})
	}
	wg.Wait()
}
