package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// indexAtoms are conditions over every kind of field, read strictly, under
// presence tests, optionally, inside comprehensions and conditionals.
var indexAtoms = []string{
	`answers.ease <= %d`, `answers.ease == %d`, `has(answers.ease)`, `answers.completed == %b`,
	`answers.nps >= %d`, `answers.platform == '%p'`, `answers.platform in ['%p', 'mac']`, `'%p' == answers.platform`,
	`'docs' in answers.blockers`, `'%p' in answers.blockers`, `answers.details.contains('x')`, `has_answer('details')`,
	`size(answers.blockers) > %d %% 3`, `answers.blockers.exists(b, b == 'docs')`,
	`metadata.store == '%s'`, `metadata['agent'] == 'ana'`, `'store' in metadata`, `has(metadata.store)`,
	`metadata.agent.startsWith('a')`, `metadata.?store.orValue('none') == '%s'`, `metadata[?'agent'].hasValue()`,
	`customer.tier == '%t'`, `customer.tier in ['Gold', '%t']`, `customer.segment == ''`, `customer.id == 'c-%d'`,
	`customer.attributes.region == 'emea'`, `'region' in customer.attributes`, `customer.attributes['region'] != 'us'`,
	`has_theme('%h')`, `'%h' in themes`, `themes.exists(t, t.startsWith('re'))`, `touchpoint == 'upgrade-install'`,
	`touchpoint == 'other'`, `sentiment < -0.%d`, `comment.contains('refund')`, `answers.?nps.orValue(10) < %d`,
	`(has(answers.ease) ? answers.ease : 0) < %d`, `[answers.ease, 1][0] > %d %% 10`, `(answers.nps > 5 ? metadata.store == '%s' : true)`,
	`[1, 2].exists(x, x == answers.ease)`, `customer.tier in []`, `dyn(metadata).store == '%s'`,
}

func randomAtom(r *rand.Rand) string {
	a := indexAtoms[r.IntN(len(indexAtoms))]
	rep := strings.NewReplacer(
		"%d", fmt.Sprint(r.IntN(11)), "%b", fmt.Sprint(r.IntN(2) == 0),
		"%p", []string{"linux", "windows", "mac", "docs"}[r.IntN(4)],
		"%s", []string{"berlin", "paris", "rome"}[r.IntN(3)],
		"%t", []string{"Gold", "Silver", ""}[r.IntN(3)],
		"%h", []string{"refund", "docs", "speed"}[r.IntN(3)],
		"%%", "%")
	return rep.Replace(a)
}

// randomCondition is a random tree of atoms joined by &&, ||, ! and ?:,
// mostly conjunctions as rules are.
func randomCondition(r *rand.Rand, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		return randomAtom(r)
	}
	a, b := randomCondition(r, depth-1), randomCondition(r, depth-1)
	switch r.IntN(8) {
	case 0:
		return "(" + a + " || " + b + ")"
	case 1:
		return "!(" + a + ")"
	case 2:
		return "(" + randomAtom(r) + " ? " + a + " : " + b + ")"
	default:
		return a + " && " + b
	}
}

func randomResponse(r *rand.Rand, i int) *Response {
	resp := &Response{
		ID: fmt.Sprint(i), Touchpoint: "upgrade-install",
		Customer: Customer{ID: fmt.Sprintf("c-%d", r.IntN(11)), Tier: []string{"Gold", "Silver", ""}[r.IntN(3)]},
		Answers:  map[string]any{}, Metadata: map[string]string{},
		Comment: []string{"", "I want a refund", "great"}[r.IntN(3)], Sentiment: r.Float64()*2 - 1,
	}
	if r.IntN(2) == 0 {
		resp.Customer.Segment = "enterprise"
	}
	if r.IntN(2) == 0 {
		resp.Customer.Attributes = map[string]string{"region": []string{"emea", "us"}[r.IntN(2)]}
	}
	maybe := func(k string, v any) {
		if r.IntN(3) > 0 {
			resp.Answers[k] = v
		}
	}
	maybe("ease", int64(r.IntN(10)+1))
	maybe("completed", r.IntN(2) == 0)
	maybe("nps", int64(r.IntN(11)))
	maybe("platform", []string{"linux", "windows", "mac"}[r.IntN(3)])
	maybe("details", []string{"x", "y"}[r.IntN(2)])
	if r.IntN(3) > 0 {
		var b []string
		for _, c := range []string{"docs", "download", "license"} {
			if r.IntN(2) == 0 {
				b = append(b, c)
			}
		}
		resp.Answers["blockers"] = b
	}
	if r.IntN(4) > 0 {
		resp.Metadata["store"] = []string{"berlin", "paris", "rome"}[r.IntN(3)]
	}
	if r.IntN(2) == 0 {
		resp.Metadata["agent"] = []string{"ana", "bo"}[r.IntN(2)]
	}
	for _, t := range []string{"refund", "docs", "speed"} {
		if r.IntN(3) == 0 {
			resp.Themes = append(resp.Themes, t)
		}
	}
	return resp
}

// TestIndexMatchesNaiveEvaluation is the property the index must keep: on
// random conditions and responses, evaluating only the candidates matches
// exactly the rules that evaluating every rule matches.
func TestIndexMatchesNaiveEvaluation(t *testing.T) {
	env := mustResponseEnv(t)
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 17))
		progs := make([]*Program, 0, 300)
		for len(progs) < 300 {
			expr := randomCondition(r, 3)
			p, err := env.Compile(expr)
			if err != nil {
				t.Fatalf("compile %q: %v", expr, err)
			}
			progs = append(progs, p)
		}
		idx := env.NewIndex(progs)
		candidates, matches := 0, 0
		for i := range 400 {
			resp := randomResponse(r, i)
			act, err := env.NewActivation(resp)
			if err != nil {
				t.Fatal(err)
			}
			var naive, indexed []int
			for j, p := range progs {
				if ok, _ := p.EvalActivation(act); ok {
					naive = append(naive, j)
				}
			}
			cand := idx.Candidates(act, nil)
			if !slices.IsSorted(cand) {
				t.Fatalf("candidates not in order: %v", cand)
			}
			for _, j := range cand {
				if ok, _ := progs[j].EvalActivation(act); ok {
					indexed = append(indexed, j)
				}
			}
			if !slices.Equal(naive, indexed) {
				for _, j := range naive {
					if !slices.Contains(indexed, j) {
						t.Errorf("seed %d: the index skips %q, which matches %+v", seed, progs[j].Expression(), resp)
					}
				}
				t.FailNow()
			}
			candidates += len(cand)
			matches += len(naive)
		}
		if matches == 0 {
			t.Fatalf("seed %d: no condition matched any response: the test proves nothing", seed)
		}
		// The index must skip something to be worth having.
		if candidates >= 400*len(progs)*3/4 {
			t.Errorf("seed %d: %d candidates for %d evaluations: the index skips almost nothing", seed, candidates, 400*len(progs))
		}
		t.Logf("seed %d: %d matches, %d candidates, %d evaluations naively, %d rules unguarded", seed, matches, candidates, 400*len(progs), idx.Unguarded())
	}
}

func TestIndexGuards(t *testing.T) {
	env := mustResponseEnv(t)
	tests := []struct {
		expr string
		want string
	}{
		{`metadata.store == 'berlin' && answers.ease <= 4`, `metadata.store=[berlin] answers.ease`},
		{`customer.tier in ['Gold', 'Platinum'] || answers.ease < 3`, ``},
		{`has_theme('refund') && sentiment < 0.0`, `themes=[refund]`},
		{`answers.?nps.orValue(10) < 5`, ``},
		{`has(answers.ease) && answers.ease < 3`, `answers.ease`},
		{`answers.nps > 5 ? metadata.store == 'x' : customer.tier == 'Gold'`, `answers.nps`},
		{`'docs' in answers.blockers && customer.attributes.region == 'emea'`, `answers.blockers=[docs] customer.attributes.region=[emea]`},
		{`!(metadata.store == 'x')`, `metadata.store`},
	}
	for _, tt := range tests {
		p, err := env.Compile(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range env.guardsOf(p.c, env.nonStrictFunctions()) {
			s := g.path.String()
			if len(g.values) > 0 {
				s += "=[" + strings.Join(g.values, ",") + "]"
			}
			got = append(got, s)
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("guards of %q = %q, want %q", tt.expr, s, tt.want)
		}
	}
}
