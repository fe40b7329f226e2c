package rules

import (
	"fmt"
	"testing"
)

// ruleShapes are conditions of the kinds programs use; %d varies a constant
// so that no two rules are the same expression.
var ruleShapes = []string{
	`answers.completed == false && %d >= 0`,
	`answers.ease <= %d %% 10`,
	`has(answers.ease) && answers.ease <= %d %% 10`,
	`answers.nps <= 6 && customer.tier == 'Gold%d'`,
	`has_theme('refund') && sentiment < -0.%d`,
	`customer.tier in ['Gold', 'Platinum'] && answers.nps >= %d %% 11`,
	`comment.contains('refund%d') || comment.lowerAscii().contains('cancel')`,
	`metadata.store == 'berlin' && answers.ease < %d %% 10`,
	`'docs' in answers.blockers && customer.segment != 's%d'`,
	`customer.attributes.region == 'emea' && answers.?nps.orValue(10) < %d %% 11`,
	`submittedAt > timestamp('2026-01-01T00:00:00Z') && answers.platform == 'p%d'`,
	`themes.exists(t, t.startsWith('ref%d'))`,
	`size(comment) > %d && sentiment < 0.0`,
	`answers.details.contains('crash%d')`, // details is unanswered: an error, no match
}

func benchRules(b *testing.B, env *ResponseEnv, n int) []*Program {
	b.Helper()
	progs := make([]*Program, n)
	for i := range progs {
		expr := fmt.Sprintf(ruleShapes[i%len(ruleShapes)], i)
		p, err := env.Compile(expr)
		if err != nil {
			b.Fatalf("compile %q: %v", expr, err)
		}
		progs[i] = p
	}
	return progs
}

func benchEval(b *testing.B, n int) {
	env, err := NewResponseEnv(testTouchpoint(), benchOpts...)
	if err != nil {
		b.Fatal(err)
	}
	progs := benchRules(b, env, n)
	r := testResponse()
	b.ReportAllocs()
	b.ResetTimer()
	matched := 0
	for b.Loop() {
		act, err := env.NewActivation(r)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range progs {
			if ok, _ := p.EvalActivation(act); ok {
				matched++
			}
		}
	}
	if matched == 0 {
		b.Fatal("no rule matched")
	}
}

// BenchmarkEval1 evaluates 1 rule per response (ns/op is per response).
func BenchmarkEval1(b *testing.B) { benchEval(b, 1) }

// BenchmarkEval100 evaluates 100 rules per response.
func BenchmarkEval100(b *testing.B) { benchEval(b, 100) }

// BenchmarkEval1000 evaluates 1,000 rules per response; the target is
// under 1 ms.
func BenchmarkEval1000(b *testing.B) { benchEval(b, 1000) }

func BenchmarkCompile(b *testing.B) {
	env, err := NewResponseEnv(testTouchpoint())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := env.Compile(fmt.Sprintf(ruleShapes[i%len(ruleShapes)], i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkNewResponseEnv(b *testing.B) {
	tp := testTouchpoint()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewResponseEnv(tp); err != nil {
			b.Fatal(err)
		}
	}
}

var benchOpts []Option
