package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// nps builds an NPS question aggregate from answers.
func nps(answers ...int) QuestionAggregate {
	var q QuestionAggregate
	for _, v := range answers {
		q.AddNPS(v)
	}
	return q
}

func scores(s Scale, answers ...int) QuestionAggregate {
	var q QuestionAggregate
	for _, v := range answers {
		q.AddScore(v, s)
	}
	return q
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func concat(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const tol = 1e-4

func approx(a, b float64) bool { return math.Abs(a-b) <= tol }

func checkKPI(t *testing.T, what string, got KPI, err error, want KPI) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got.N != want.N || !approx(got.Value, want.Value) || !approx(got.MarginOfError, want.MarginOfError) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func TestNPS(t *testing.T) {
	tests := []struct {
		name string
		q    QuestionAggregate
		want KPI
	}{
		{
			// 5 promoters, 3 passives, 2 detractors of 10:
			// NPS = 50% - 20% = 30.
			// Variable +1/0/-1: mean 0.3, E[x²] = (5+2)/10 = 0.7,
			// var = 0.7 - 0.3² = 0.61; MoE = 1.96 × sqrt(0.61/10) × 100
			// = 1.96 × 0.246982 × 100 = 48.4084.
			name: "5 promoters 3 passives 2 detractors",
			q:    nps(10, 9, 9, 10, 9, 7, 8, 7, 0, 6),
			want: KPI{Value: 30, N: 10, MarginOfError: 48.4084},
		},
		{
			// Same shares on 100 answers: same NPS, MoE / sqrt(10):
			// 1.96 × sqrt(0.61/100) × 100 = 15.3081.
			name: "same shares, ten times the answers",
			q:    nps(concat(repeat(9, 50), repeat(7, 30), repeat(3, 20))...),
			want: KPI{Value: 30, N: 100, MarginOfError: 15.3081},
		},
		{
			// Boundaries: 9 promoter, 8 and 7 passive, 6 detractor.
			// 1 promoter, 2 passives, 1 detractor: 25% - 25% = 0.
			// var = 0.25 + 0.25 - 0 = 0.5; MoE = 1.96 × sqrt(0.5/4) × 100 = 69.2965.
			name: "class boundaries",
			q:    nps(9, 8, 7, 6),
			want: KPI{Value: 0, N: 4, MarginOfError: 69.2965},
		},
		{
			// All promoters: 100, no variance, MoE 0.
			name: "all promoters",
			q:    nps(repeat(10, 12)...),
			want: KPI{Value: 100, N: 12, MarginOfError: 0},
		},
		{
			name: "all detractors",
			q:    nps(0, 1, 2, 3, 4, 5, 6),
			want: KPI{Value: -100, N: 7, MarginOfError: 0},
		},
		{
			// One answer: the value is known, the margin is not (0, HasMargin false).
			name: "one answer",
			q:    nps(9),
			want: KPI{Value: 100, N: 1, MarginOfError: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NPS(tt.q)
			checkKPI(t, "NPS", got, err, tt.want)
		})
	}
	if _, err := NPS(QuestionAggregate{}); !errors.Is(err, ErrNoData) {
		t.Errorf("NPS of nothing: err = %v, want ErrNoData", err)
	}
	if k, _ := NPS(nps(9)); k.HasMargin() {
		t.Errorf("one answer has no margin of error")
	}
}

func TestCSATAndMean(t *testing.T) {
	// 20 answers on 1-5: six 5s, eight 4s, three 3s, two 2s, one 1.
	q := scores(CSATScale, concat(repeat(5, 6), repeat(4, 8), repeat(3, 3), repeat(2, 2), repeat(1, 1))...)

	// Top two box = 6 + 8 = 14 of 20 = 70%.
	// MoE = 1.96 × sqrt(0.7 × 0.3 / 20) × 100 = 1.96 × 0.102470 × 100 = 20.0840.
	got, err := CSAT(q)
	checkKPI(t, "CSAT", got, err, KPI{Value: 70, N: 20, MarginOfError: 20.0840})

	// Mean = (30 + 32 + 9 + 4 + 1) / 20 = 76 / 20 = 3.8.
	// Σx² = 150 + 128 + 27 + 8 + 1 = 314; s² = (314 − 76²/20) / 19 = 25.2 / 19
	// = 1.326316, s = 1.151658; MoE = 1.96 × 1.151658 / sqrt(20) = 0.504736.
	got, err = Mean(q)
	checkKPI(t, "CSAT mean", got, err, KPI{Value: 3.8, N: 20, MarginOfError: 0.504736})

	if q.Histogram[4] != 8 || q.Histogram[1] != 1 || len(q.Histogram) != 5 {
		t.Errorf("Histogram = %v", q.Histogram)
	}
}

func TestCSATOtherScales(t *testing.T) {
	tests := []struct {
		name    string
		scale   Scale
		answers []int
		want    float64
	}{
		// 0-10: top two box is 9-10. 9, 10, 8, 3 → 2 of 4 = 50%.
		{"0-10", Scale{0, 10}, []int{9, 10, 8, 3}, 50},
		// 1-7: top two box is 6-7. 7, 6, 5, 5, 1 → 2 of 5 = 40%.
		{"1-7", Scale{1, 7}, []int{7, 6, 5, 5, 1}, 40},
		// 1-3: top two box is 2-3. 3, 2, 1 → 2 of 3 = 66.67%.
		{"1-3", Scale{1, 3}, []int{3, 2, 1}, 200.0 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CSAT(scores(tt.scale, tt.answers...))
			if err != nil || !approx(got.Value, tt.want) {
				t.Errorf("CSAT = %v, %v; want %v", got.Value, err, tt.want)
			}
		})
	}
}

func TestCES(t *testing.T) {
	// 7, 6, 6, 5, 4 on 1-7: mean 28/5 = 5.6; Σx² = 49+36+36+25+16 = 162;
	// s² = (162 − 28²/5) / 4 = (162 − 156.8) / 4 = 1.3;
	// MoE = 1.96 × sqrt(1.3) / sqrt(5) = 0.999408.
	got, err := CES(scores(CESScale, 7, 6, 6, 5, 4))
	checkKPI(t, "CES", got, err, KPI{Value: 5.6, N: 5, MarginOfError: 0.999408})

	// All the same answer: no spread, MoE 0.
	got, err = CES(scores(CESScale, 4, 4, 4))
	checkKPI(t, "CES of equal answers", got, err, KPI{Value: 4, N: 3})

	got, err = CES(scores(CESScale, 6))
	checkKPI(t, "CES of one answer", got, err, KPI{Value: 6, N: 1})

	if _, err := CES(QuestionAggregate{}); !errors.Is(err, ErrNoData) {
		t.Errorf("CES of nothing: err = %v, want ErrNoData", err)
	}
}

func TestYesRate(t *testing.T) {
	var q QuestionAggregate
	for _, yes := range []bool{true, true, false, true} {
		q.AddYesNo(yes)
	}
	// 3 of 4 = 75%; MoE = 1.96 × sqrt(0.75 × 0.25 / 4) × 100 = 42.4352.
	got, err := YesRate(q)
	checkKPI(t, "YesRate", got, err, KPI{Value: 75, N: 4, MarginOfError: 42.4352})
	if q.Count != 0 {
		t.Errorf("yes/no answers are not numeric: Count = %d", q.Count)
	}
	if _, err := YesRate(QuestionAggregate{}); !errors.Is(err, ErrNoData) {
		t.Errorf("YesRate of nothing: err = %v", err)
	}
}

func TestMeanSentiment(t *testing.T) {
	var a Aggregate
	for _, s := range []float64{0.5, -0.25, 0.75, 0} {
		a.AddSentiment(s)
	}
	// Mean = 1 / 4 = 0.25; Σx² = 0.25 + 0.0625 + 0.5625 + 0 = 0.875;
	// s² = (0.875 − 1²/4) / 3 = 0.208333; MoE = 1.96 × 0.456435 / 2 = 0.447307.
	got, err := MeanSentiment(a)
	checkKPI(t, "MeanSentiment", got, err, KPI{Value: 0.25, N: 4, MarginOfError: 0.447307})
	if _, err := MeanSentiment(Aggregate{}); !errors.Is(err, ErrNoData) {
		t.Errorf("MeanSentiment of nothing: err = %v", err)
	}
}

func TestMarginOfErrorHelpers(t *testing.T) {
	// p = 0.5 on 100: 1.96 × sqrt(0.25/100) = 0.098.
	if got := MarginOfErrorProportion(0.5, 100); !approx(got, 0.098) {
		t.Errorf("MarginOfErrorProportion(0.5, 100) = %v, want 0.098", got)
	}
	// s = 2 on 16: 1.96 × 2 / 4 = 0.98.
	if got := MarginOfErrorMean(2, 16); !approx(got, 0.98) {
		t.Errorf("MarginOfErrorMean(2, 16) = %v, want 0.98", got)
	}
	for name, got := range map[string]float64{
		"proportion n=0": MarginOfErrorProportion(0.5, 0),
		"mean n=0":       MarginOfErrorMean(1, 0),
		"nps n=0":        MarginOfErrorNPS(0, 0, 0),
	} {
		if got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
	// Sample standard deviation of 2, 4, 4, 4, 5, 5, 7, 9: mean 5,
	// Σ(x−5)² = 32, s = sqrt(32/7) = 2.138090.
	if got := SampleStdDev(40, 232, 8); !approx(got, 2.138090) {
		t.Errorf("SampleStdDev = %v, want 2.138090", got)
	}
}

func TestSignificantChange(t *testing.T) {
	tests := []struct {
		name string
		a, b KPI
		want bool
	}{
		// Combined margin sqrt(3² + 4²) = 5.
		{"difference above combined margin", KPI{Value: 30, N: 100, MarginOfError: 3}, KPI{Value: 35.1, N: 100, MarginOfError: 4}, true},
		{"drop above combined margin", KPI{Value: 35.1, N: 100, MarginOfError: 3}, KPI{Value: 30, N: 100, MarginOfError: 4}, true},
		{"difference equal to combined margin", KPI{Value: 30, N: 100, MarginOfError: 3}, KPI{Value: 35, N: 100, MarginOfError: 4}, false},
		{"difference within combined margin", KPI{Value: 30, N: 100, MarginOfError: 3}, KPI{Value: 34, N: 100, MarginOfError: 4}, false},
		// 10 answers each, NPS 30 vs 60: MoE 48.41 and (6P 4Pa 0D: var = 0.6 − 0.36
		// = 0.24, MoE = 1.96 × sqrt(0.024) × 100 = 30.36); combined 57.14 > 30.
		{"small samples hide a big move", mustNPS(nps(10, 9, 9, 10, 9, 7, 8, 7, 0, 6)), mustNPS(nps(9, 9, 9, 9, 9, 9, 7, 7, 7, 7)), false},
		{"one answer is never significant", KPI{Value: 0, N: 1}, KPI{Value: 100, N: 50, MarginOfError: 1}, false},
		{"equal with zero margins", KPI{Value: 100, N: 20}, KPI{Value: 100, N: 20}, false},
		{"different with zero margins", KPI{Value: 100, N: 20}, KPI{Value: 90, N: 20}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignificantChange(tt.a, tt.b); got != tt.want {
				t.Errorf("SignificantChange(%+v, %+v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}

	c := Compare(KPI{Value: 30, N: 100, MarginOfError: 3}, KPI{Value: 36, N: 100, MarginOfError: 4})
	if !approx(c.Delta, 6) || !c.Significant {
		t.Errorf("Compare = %+v, want delta 6, significant", c)
	}
}

func mustNPS(q QuestionAggregate) KPI {
	k, err := NPS(q)
	if err != nil {
		panic(err)
	}
	return k
}

// ForKPI computes the KPI its name says and refuses other names.
func TestForKPI(t *testing.T) {
	var q QuestionAggregate
	for _, v := range []int{10, 9, 7, 3} {
		q.AddNPS(v)
	}
	nps, err := ForKPI("NPS", q)
	if err != nil || nps.Value != 25 {
		t.Errorf("ForKPI(NPS) = %+v, %v; want 25", nps, err)
	}
	var c QuestionAggregate
	for _, v := range []int{5, 4, 2, 1} {
		c.AddScore(v, CSATScale)
	}
	if csat, err := ForKPI("CSAT", c); err != nil || csat.Value != 50 {
		t.Errorf("ForKPI(CSAT) = %+v, %v; want 50", csat, err)
	}
	if ces, err := ForKPI("CES", c); err != nil || ces.Value != 3 {
		t.Errorf("ForKPI(CES) = %+v, %v; want the mean 3", ces, err)
	}
	if _, err := ForKPI("Sentiment", q); err == nil || !strings.Contains(err.Error(), "use NPS, CSAT or CES") {
		t.Errorf("ForKPI(Sentiment) error = %v, want one naming the KPIs", err)
	}
}
