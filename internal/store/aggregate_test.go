package store

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/metrics"
)

// aggregateFixture is a small program whose aggregates are computed by hand
// in TestAggregate.
func aggregateFixture() []NewResponse {
	type row struct {
		id, store, answers string
		sentiment          *float64
		themes             []string
		tier               string
		at                 time.Time
		touchpoint         string
	}
	in := t0.Add(time.Hour)
	rows := []row{
		{"b1", "berlin", `{"nps":10,"ease":5,"completed":true,"channel":"web"}`, ptr(0.8), []string{"install", "docs"}, "Gold", in, "t1"},
		{"b2", "berlin", `{"nps":9,"ease":4,"completed":true,"channel":["web","phone"]}`, ptr(0.5), []string{"install"}, "Gold", in, "t1"},
		{"b3", "berlin", `{"nps":8,"ease":3,"completed":false}`, nil, nil, "Silver", in, "t1"},
		{"b4", "berlin", `{"nps":6,"ease":2,"completed":false,"channel":"phone"}`, ptr(-0.4), []string{"install"}, "Silver", in, "t1"},
		{"b5", "berlin", `{"nps":3,"ease":1,"channel":"web"}`, ptr(-0.9), []string{"refund"}, "Bronze", in, "t1"},
		{"p1", "paris", `{"nps":10,"ease":5,"completed":true}`, ptr(0.6), []string{"docs"}, "Gold", in, "t1"},
		{"p2", "paris", `{"nps":10,"completed":true}`, nil, nil, "Gold", in, "t1"},
		{"p3", "paris", `{"nps":7,"ease":4,"completed":false}`, ptr(0.1), nil, "Bronze", in, "t1"},
		{"n1", "", `{"nps":0,"ease":1,"comment_only":"x"}`, ptr(-1.0), []string{"refund"}, "Bronze", in, "t1"},
		{"n2", "", `{"nps":9,"ease":5,"completed":true}`, nil, nil, "Gold", t0, "t1"},
		// Outside the window or the touchpoint.
		{"o1", "berlin", `{"nps":0}`, nil, nil, "Gold", t0.Add(-time.Second), "t1"},
		{"o2", "berlin", `{"nps":0}`, nil, nil, "Gold", t0.Add(24 * time.Hour), "t1"},
		{"o3", "berlin", `{"nps":0}`, nil, nil, "Gold", in, "t2"},
	}
	out := make([]NewResponse, len(rows))
	for i, r := range rows {
		md := map[string]string{"agent": "ann"}
		if r.store != "" {
			md["store"] = r.store
		}
		out[i] = NewResponse{
			Touchpoint: r.touchpoint, ID: r.id, Customer: Customer{ID: "c-" + r.id, Tier: r.tier, Attributes: map[string]string{"plan": "pro"}},
			Answers: json.RawMessage(r.answers), Sentiment: r.sentiment, Themes: r.themes, Metadata: md, SubmittedAt: r.at,
		}
	}
	return out
}

var fixtureQuestions = []QuestionSpec{
	{ID: "nps", Kind: KindNPS},
	{ID: "ease", Kind: KindNumeric, ScaleMin: 1, ScaleMax: 5},
	{ID: "completed", Kind: KindYesNo},
	{ID: "channel", Kind: KindChoice},
}

func TestAggregate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{})
		res, err := s.SaveResponses(ctx, aggregateFixture())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != StatusStored {
				t.Fatalf("fixture: %v %v", r.Status, r.Err)
			}
		}
		q := AggregateQuery{
			Touchpoints: []string{"t1"}, From: t0, To: t0.Add(24 * time.Hour),
			GroupBy: "metadata.store", Questions: fixtureQuestions, Pairs: [][2]string{{"nps", "ease"}},
		}
		got, err := s.Aggregate(ctx, q)
		if err != nil {
			t.Fatal(err)
		}

		// Computed by hand from aggregateFixture.
		want := map[string]metrics.Aggregate{
			"berlin": {
				Responses: 5, SentimentCount: 4, SentimentSum: 0.8 + 0.5 - 0.4 - 0.9, SentimentSumSquares: 0.64 + 0.25 + 0.16 + 0.81,
				Questions: map[string]metrics.QuestionAggregate{
					"nps": {Count: 5, Sum: 36, SumSquares: 290, Promoters: 2, Passives: 1, Detractors: 2, TopTwoBox: 2,
						Histogram: map[int]int64{10: 1, 9: 1, 8: 1, 6: 1, 3: 1}},
					"ease":      {Count: 5, Sum: 15, SumSquares: 55, TopTwoBox: 2, Histogram: map[int]int64{5: 1, 4: 1, 3: 1, 2: 1, 1: 1}},
					"completed": {Yes: 2, No: 2},
				},
				Themes: map[string]metrics.ThemeAggregate{
					"install": {Count: 3, SentimentCount: 3, SentimentSum: 0.8 + 0.5 - 0.4},
					"docs":    {Count: 1, SentimentCount: 1, SentimentSum: 0.8},
					"refund":  {Count: 1, SentimentCount: 1, SentimentSum: -0.9},
				},
				Pairs: map[string]map[string]metrics.PairedSums{"ease": {"nps": {N: 5, SumX: 15, SumY: 36, SumXX: 55, SumYY: 290, SumXY: 125}}},
			},
			"paris": {
				Responses: 3, SentimentCount: 2, SentimentSum: 0.7, SentimentSumSquares: 0.37,
				Questions: map[string]metrics.QuestionAggregate{
					"nps":       {Count: 3, Sum: 27, SumSquares: 249, Promoters: 2, Passives: 1, TopTwoBox: 2, Histogram: map[int]int64{10: 2, 7: 1}},
					"ease":      {Count: 2, Sum: 9, SumSquares: 41, TopTwoBox: 2, Histogram: map[int]int64{5: 1, 4: 1}},
					"completed": {Yes: 2, No: 1},
				},
				Themes: map[string]metrics.ThemeAggregate{"docs": {Count: 1, SentimentCount: 1, SentimentSum: 0.6}},
				Pairs:  map[string]map[string]metrics.PairedSums{"ease": {"nps": {N: 2, SumX: 9, SumY: 17, SumXX: 41, SumYY: 149, SumXY: 78}}},
			},
			"": {
				Responses: 2, SentimentCount: 1, SentimentSum: -1, SentimentSumSquares: 1,
				Questions: map[string]metrics.QuestionAggregate{
					"nps":       {Count: 2, Sum: 9, SumSquares: 81, Promoters: 1, Detractors: 1, TopTwoBox: 1, Histogram: map[int]int64{0: 1, 9: 1}},
					"ease":      {Count: 2, Sum: 6, SumSquares: 26, TopTwoBox: 1, Histogram: map[int]int64{1: 1, 5: 1}},
					"completed": {Yes: 1},
				},
				Themes: map[string]metrics.ThemeAggregate{"refund": {Count: 1, SentimentCount: 1, SentimentSum: -1}},
				Pairs:  map[string]map[string]metrics.PairedSums{"ease": {"nps": {N: 2, SumX: 6, SumY: 9, SumXX: 26, SumYY: 81, SumXY: 45}}},
			},
		}
		assertAggregates(t, got.Groups, want)
		wantChoices := map[string]map[string]map[string]int64{"berlin": {"channel": {"web": 3, "phone": 2}}}
		if !reflect.DeepEqual(got.Choices, wantChoices) {
			t.Errorf("choices = %v, want %v", got.Choices, wantChoices)
		}

		// On SQLite, large aggregates are split into ranges of rows queried
		// in parallel; force that on the small fixture: same numbers.
		if sq, ok := s.(*sqliteStore); ok {
			sq.tune.minPartitionRows, sq.tune.aggregateWorkers = 2, 3
			parted, err := s.Aggregate(ctx, q)
			sq.tune.minPartitionRows, sq.tune.aggregateWorkers = 0, 0
			if err != nil {
				t.Fatal(err)
			}
			if parts, _ := sq.partitions(ctx); len(parts) != 1 {
				t.Errorf("small table split into %d ranges", len(parts))
			}
			assertAggregates(t, parted.Groups, want)
			if !reflect.DeepEqual(parted.Choices, wantChoices) {
				t.Errorf("choices in ranges = %v, want %v", parted.Choices, wantChoices)
			}
		}

		// KPIs of the whole touchpoint: 5 promoters, 2 passives, 3 detractors.
		total := got.Total()
		nps, err := metrics.NPS(total.Question("nps"))
		if err != nil || nps.Value != 20 || nps.N != 10 {
			t.Errorf("NPS = %+v, %v; want 20 over 10 answers", nps, err)
		}
		csat, err := metrics.CSAT(total.Question("ease"))
		if err != nil || csat.N != 9 || math.Abs(csat.Value-500.0/9) > 1e-9 {
			t.Errorf("top-two-box of ease = %+v, %v; want 5 of 9", csat, err)
		}

		// Without grouping: one group "" equal to the merge of the groups.
		q.GroupBy = ""
		one, err := s.Aggregate(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(one.Groups) != 1 {
			t.Fatalf("ungrouped: %d groups", len(one.Groups))
		}
		assertAggregates(t, one.Groups, map[string]metrics.Aggregate{"": metrics.Merge(want["berlin"], want["paris"], want[""])})

		// Other group keys, an open window, several touchpoints.
		byTier, err := s.Aggregate(ctx, AggregateQuery{Touchpoints: []string{"t1", "t2"}, GroupBy: "customer.tier",
			Questions: []QuestionSpec{{ID: "nps", Kind: KindNPS}}})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int64{}
		for k, a := range byTier.Groups {
			counts[k] = a.Responses
		}
		if want := map[string]int64{"Gold": 8, "Silver": 2, "Bronze": 3}; !reflect.DeepEqual(counts, want) {
			t.Errorf("responses by tier = %v, want %v", counts, want)
		}
		byPlan, err := s.Aggregate(ctx, AggregateQuery{Touchpoints: []string{"t1"}, GroupBy: "customer.attributes.plan"})
		if err != nil || len(byPlan.Groups) != 1 || byPlan.Groups["pro"].Responses != 12 {
			t.Errorf("by plan = %+v, %v; want 12 responses of plan pro", byPlan, err)
		}
		all, err := s.Aggregate(ctx, AggregateQuery{})
		if err != nil || all.Groups[""].Responses != 13 {
			t.Errorf("everything = %+v, %v; want 13 responses", all, err)
		}

		// Merging two results is adding them.
		merged := &AggregateResult{}
		merged.Merge(got)
		merged.Merge(got)
		if merged.Groups["paris"].Responses != 6 || merged.Choices["berlin"]["channel"]["web"] != 6 {
			t.Errorf("merged twice: %+v", merged)
		}

		for _, bad := range []AggregateQuery{
			{GroupBy: "answers.nps"},
			{GroupBy: "metadata.st'ore"},
			{Questions: []QuestionSpec{{ID: "nps", Kind: "Median"}}},
			{Questions: []QuestionSpec{{ID: `n"ps`, Kind: KindNPS}}},
			{Questions: fixtureQuestions, Pairs: [][2]string{{"nps", "completed"}}},
		} {
			if _, err := s.Aggregate(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("Aggregate(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
	})
}

// assertAggregates compares aggregates, floats to 1e-9.
func assertAggregates(t *testing.T, got, want map[string]metrics.Aggregate) {
	t.Helper()
	if !reflect.DeepEqual(sortedKeys(got), sortedKeys(want)) {
		t.Fatalf("groups = %v, want %v", sortedKeys(got), sortedKeys(want))
	}
	for k := range want {
		g, w := roundAggregate(got[k]), roundAggregate(want[k])
		if !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("group %q:\n got %s\nwant %s", k, gj, wj)
		}
	}
}

func roundAggregate(a metrics.Aggregate) metrics.Aggregate {
	r := func(f float64) float64 { return math.Round(f*1e9) / 1e9 }
	a.SentimentSum, a.SentimentSumSquares = r(a.SentimentSum), r(a.SentimentSumSquares)
	themes := map[string]metrics.ThemeAggregate{}
	for k, th := range a.Themes {
		th.SentimentSum = r(th.SentimentSum)
		themes[k] = th
	}
	if a.Themes != nil {
		a.Themes = themes
	}
	return a
}
