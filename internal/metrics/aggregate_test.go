package metrics

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// response is one survey response as the collector sees it, for building
// aggregates in tests.
type response struct {
	nps, csat, ces *int
	done           *bool
	sentiment      *float64
	themes         []string
}

// observe adds r to a the way a collector does. It updates the question
// aggregates in place, never through merging, so that the merge tests
// compare Merge against an independent computation.
func observe(a *Aggregate, r response) {
	a.Responses++
	numeric := map[string]*int{"nps": r.nps, "csat": r.csat, "ces": r.ces}
	update := func(id string, add func(q *QuestionAggregate)) {
		if a.Questions == nil {
			a.Questions = make(map[string]QuestionAggregate)
		}
		q := a.Questions[id]
		add(&q)
		a.Questions[id] = q
	}
	if r.nps != nil {
		update("nps", func(q *QuestionAggregate) { q.AddNPS(*r.nps) })
	}
	if r.csat != nil {
		update("csat", func(q *QuestionAggregate) { q.AddScore(*r.csat, CSATScale) })
	}
	if r.ces != nil {
		update("ces", func(q *QuestionAggregate) { q.AddScore(*r.ces, CESScale) })
	}
	if r.done != nil {
		update("done", func(q *QuestionAggregate) { q.AddYesNo(*r.done) })
	}
	if r.sentiment != nil {
		a.AddSentiment(*r.sentiment)
	}
	for _, th := range r.themes {
		a.AddTheme(th, r.sentiment)
	}
	// Pairs of every two numeric answers, added in both argument orders
	// across responses to exercise the canonical order.
	ids := []string{"nps", "csat", "ces"}
	for i, x := range ids {
		for _, y := range ids[i+1:] {
			if numeric[x] != nil && numeric[y] != nil {
				if a.Responses%2 == 0 {
					a.AddPair(x, y, float64(*numeric[x]), float64(*numeric[y]))
				} else {
					a.AddPair(y, x, float64(*numeric[y]), float64(*numeric[x]))
				}
			}
		}
	}
}

func randomResponse(rng *rand.Rand) response {
	var r response
	intPtr := func(lo, hi int) *int {
		if rng.IntN(5) == 0 {
			return nil // unanswered
		}
		v := lo + rng.IntN(hi-lo+1)
		return &v
	}
	r.nps, r.csat, r.ces = intPtr(0, 10), intPtr(1, 5), intPtr(1, 7)
	if rng.IntN(3) > 0 {
		b := rng.IntN(2) == 0
		r.done = &b
	}
	if rng.IntN(4) > 0 {
		// Multiples of 1/64 add exactly in float64, so that the merge
		// tests can compare sentiment sums exactly too.
		s := float64(rng.IntN(129)-64) / 64
		r.sentiment = &s
	}
	for _, th := range []string{"licensing", "docs", "install"} {
		if rng.IntN(3) == 0 {
			r.themes = append(r.themes, th)
		}
	}
	return r
}

func randomAggregate(rng *rand.Rand) Aggregate {
	var a Aggregate
	for range rng.IntN(30) {
		observe(&a, randomResponse(rng))
	}
	return a
}

// TestMergeProperties checks on random aggregates that Merge is
// commutative and associative, has the zero Aggregate as identity, and that
// merging the aggregates of the parts of a set of responses gives the
// aggregate of the whole set, exactly.
func TestMergeProperties(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 42))
		a, b, c := randomAggregate(rng), randomAggregate(rng), randomAggregate(rng)

		if ab, ba := Merge(a, b), Merge(b, a); !reflect.DeepEqual(ab, ba) {
			t.Fatalf("seed %d: Merge not commutative:\n a+b = %+v\n b+a = %+v", seed, ab, ba)
		}
		if l, r := Merge(Merge(a, b), c), Merge(a, Merge(b, c)); !reflect.DeepEqual(l, r) {
			t.Fatalf("seed %d: Merge not associative:\n (a+b)+c = %+v\n a+(b+c) = %+v", seed, l, r)
		}
		if got := Merge(a, Aggregate{}); !reflect.DeepEqual(got, a) {
			t.Fatalf("seed %d: Merge(a, zero) = %+v, want %+v", seed, got, a)
		}

		// Split a stream of responses into k parts at random.
		var whole Aggregate
		k := 1 + rng.IntN(5)
		parts := make([]Aggregate, k)
		for range rng.IntN(200) {
			r := randomResponse(rng)
			observe(&whole, r)
			observe(&parts[rng.IntN(k)], r)
		}
		merged := Merge(parts...)
		// Pairs were added in an order that depends on each part's own
		// response count; compare them through Pair, the rest exactly.
		if !reflect.DeepEqual(withoutPairs(merged), withoutPairs(whole)) {
			t.Fatalf("seed %d: merged parts = %+v\nwhole = %+v", seed, merged, whole)
		}
		for _, xy := range [][2]string{{"nps", "csat"}, {"csat", "nps"}, {"nps", "ces"}, {"csat", "ces"}} {
			if m, w := merged.Pair(xy[0], xy[1]), whole.Pair(xy[0], xy[1]); m != w {
				t.Fatalf("seed %d: pair %v merged = %+v, whole = %+v", seed, xy, m, w)
			}
		}
	}
}

func withoutPairs(a Aggregate) Aggregate {
	a.Pairs = nil
	return a
}

func TestMergeSharesNoMaps(t *testing.T) {
	var a, b Aggregate
	a.AddQuestion("nps", nps(9, 10))
	a.AddTheme("docs", nil)
	a.AddPair("nps", "ces", 9, 5)
	b.AddQuestion("nps", nps(3))

	before := Merge(a) // a deep copy
	m := Merge(a)      // only a: the cheapest way to share by mistake
	q := m.Questions["nps"]
	q.Histogram[9] = 1000
	m.Pairs["ces"]["nps"] = PairedSums{N: 1000}
	m.Themes["docs"] = ThemeAggregate{Count: 1000}
	_ = Merge(a, b)
	if !reflect.DeepEqual(a, before) {
		t.Errorf("Merge changed or shared its input:\n got %+v\nwant %+v", a, before)
	}
}

func TestMergeGroups(t *testing.T) {
	var s1, s2, s3 Aggregate
	observe(&s1, response{nps: ptr(10)})
	observe(&s2, response{nps: ptr(0)})
	observe(&s3, response{nps: ptr(8)})
	got := MergeGroups(
		map[string]Aggregate{"store-1": s1, "store-2": s2},
		map[string]Aggregate{"store-1": s3},
		nil,
	)
	if len(got) != 2 || got["store-1"].Responses != 2 || got["store-2"].Responses != 1 {
		t.Fatalf("MergeGroups = %+v", got)
	}
	// store-1: one promoter, one passive → NPS 50.
	if k, _ := NPS(got["store-1"].Question("nps")); k.Value != 50 {
		t.Errorf("store-1 NPS = %v, want 50", k.Value)
	}
	if MergeGroups() != nil {
		t.Errorf("MergeGroups() should be nil")
	}
}

func TestMergeQuestions(t *testing.T) {
	// Two NPS questions of two touchpoints: 2P 1D and 1P 1Pa → 3P 1Pa 1D of 5 = 40.
	q := MergeQuestions(nps(9, 10, 2), nps(10, 7))
	if k, _ := NPS(q); k.Value != 40 || k.N != 5 {
		t.Errorf("NPS of merged questions = %+v, want 40 of 5", k)
	}
	if q.Histogram[10] != 2 {
		t.Errorf("Histogram = %v", q.Histogram)
	}
}

func TestPairCanonicalOrder(t *testing.T) {
	var a Aggregate
	a.AddPair("nps", "ease", 9, 4) // stored as ease/nps
	a.AddPair("ease", "nps", 2, 3) // same pair
	a.MergePair("nps", "ease", PairedSums{N: 1, SumX: 10, SumY: 5, SumXX: 100, SumYY: 25, SumXY: 50})
	want := PairedSums{N: 3, SumX: 4 + 2 + 5, SumY: 9 + 3 + 10, SumXX: 16 + 4 + 25, SumYY: 81 + 9 + 100, SumXY: 36 + 6 + 50}
	if got := a.Pair("ease", "nps"); got != want {
		t.Errorf("Pair(ease, nps) = %+v, want %+v", got, want)
	}
	if got := a.Pair("nps", "ease"); got != want.Swap() {
		t.Errorf("Pair(nps, ease) = %+v, want %+v", got, want.Swap())
	}
	if len(a.Pairs) != 1 || len(a.Pairs["ease"]) != 1 {
		t.Errorf("Pairs = %+v, want one entry under ease/nps", a.Pairs)
	}
	if got := a.Pair("x", "y"); got != (PairedSums{}) {
		t.Errorf("missing pair = %+v", got)
	}
}

func TestThemeAggregate(t *testing.T) {
	var a Aggregate
	a.AddTheme("docs", ptrF(0.5))
	a.AddTheme("docs", nil)
	a.AddTheme("docs", ptrF(-0.25))
	th := a.Themes["docs"]
	if th.Count != 3 || th.SentimentCount != 2 {
		t.Errorf("docs = %+v", th)
	}
	if m, ok := th.MeanSentiment(); !ok || m != 0.125 {
		t.Errorf("MeanSentiment = %v, %v; want 0.125", m, ok)
	}
	if _, ok := (ThemeAggregate{Count: 1}).MeanSentiment(); ok {
		t.Errorf("MeanSentiment without scores should not be ok")
	}
}

// The JSON form is the collector's /v1/metrics API: field names are pinned.
func TestAggregateJSON(t *testing.T) {
	var a Aggregate
	observe(&a, response{nps: ptr(9), csat: ptr(4), done: ptrB(false), sentiment: ptrF(0.5), themes: []string{"docs"}})
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"responses":1,` +
		`"questions":{` +
		`"csat":{"count":1,"sum":4,"sumSquares":16,"histogram":{"4":1},"topTwoBox":1},` +
		`"done":{"count":0,"sum":0,"sumSquares":0,"no":1},` +
		`"nps":{"count":1,"sum":9,"sumSquares":81,"histogram":{"9":1},"promoters":1,"topTwoBox":1}},` +
		`"themes":{"docs":{"count":1,"sentimentSum":0.5,"sentimentCount":1}},` +
		`"sentimentSum":0.5,"sentimentSumSquares":0.25,"sentimentCount":1,` +
		`"pairs":{"csat":{"nps":{"n":1,"sumX":4,"sumY":9,"sumXX":16,"sumYY":81,"sumXY":36}}}}`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
	var back Aggregate
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("JSON round trip = %+v, want %+v", back, a)
	}

	// Random aggregates survive the round trip too.
	rng := rand.New(rand.NewPCG(7, 7))
	for range 50 {
		a := randomAggregate(rng)
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back Aggregate
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Fatalf("JSON round trip = %+v, want %+v", back, a)
		}
	}
}

func BenchmarkMerge(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	aggs := make([]Aggregate, 10)
	for i := range aggs {
		for range 1000 {
			observe(&aggs[i], randomResponse(rng))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(aggs...)
	}
}

func ptr(v int) *int          { return &v }
func ptrB(v bool) *bool       { return &v }
func ptrF(v float64) *float64 { return &v }
