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

// scopedShapes are rules scoped to one store, as programs with many rules
// write them; %d is the store.
var scopedShapes = []string{
	`metadata.store == 'store-%d' && answers.ease <= 4 && customer.tier == 'Gold'`,
	`answers.completed == false && metadata.store == 'store-%d'`,
	`metadata.store == 'store-%d' && sentiment < -0.5 && has_theme('refund')`,
	`answers.nps <= 6 && customer.segment == 'enterprise' && metadata.store == 'store-%d'`,
	`metadata.store == 'store-%d' && comment.contains('failed') && answers.ease < 5`,
}

// BenchmarkEvalScoped evaluates 1,000 rules scoped to 50 stores on a
// response of one store, so 20 rules can match (and do), every rule
// (naive) or the index's candidates (indexed); ns/op is per response.
// Target: indexed under 0.1 ms.
func BenchmarkEvalScoped(b *testing.B) {
	env, err := NewResponseEnv(testTouchpoint(), benchOpts...)
	if err != nil {
		b.Fatal(err)
	}
	progs := make([]*Program, 1000)
	for i := range progs {
		expr := fmt.Sprintf(scopedShapes[i%len(scopedShapes)], i/len(scopedShapes)%50)
		if progs[i], err = env.Compile(expr); err != nil {
			b.Fatalf("compile %q: %v", expr, err)
		}
	}
	idx := env.NewIndex(progs)
	r := testResponse()
	r.Metadata = map[string]string{"store": "store-3"}
	run := func(b *testing.B, indexed bool) {
		matched := 0
		var buf []int
		b.ReportAllocs()
		for b.Loop() {
			act, err := env.NewActivation(r)
			if err != nil {
				b.Fatal(err)
			}
			matched = 0
			if indexed {
				buf = idx.Candidates(act, buf[:0])
				for _, i := range buf {
					if ok, _ := progs[i].EvalActivation(act); ok {
						matched++
					}
				}
				continue
			}
			for _, p := range progs {
				if ok, _ := p.EvalActivation(act); ok {
					matched++
				}
			}
		}
		b.ReportMetric(float64(matched), "matches/response")
	}
	b.Run("naive", func(b *testing.B) { run(b, false) })
	b.Run("indexed", func(b *testing.B) { run(b, true) })
}
