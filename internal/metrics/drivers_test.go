package metrics

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func pairs(xs, ys []float64) PairedSums {
	var p PairedSums
	for i := range xs {
		p.Add(xs[i], ys[i])
	}
	return p
}

func TestCorrelation(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		want    float64
		wantErr error
	}{
		{
			// x = 1..5, y = 2,4,5,4,5: Σx=15 Σy=20 Σx²=55 Σy²=86 Σxy=66.
			// nΣxy − ΣxΣy = 330 − 300 = 30; nΣx² − (Σx)² = 275 − 225 = 50;
			// nΣy² − (Σy)² = 430 − 400 = 30; r = 30 / sqrt(1500) = 0.774597.
			name: "hand computed",
			x:    []float64{1, 2, 3, 4, 5}, y: []float64{2, 4, 5, 4, 5},
			want: 0.774597,
		},
		{name: "perfect positive", x: []float64{1, 2, 3}, y: []float64{2, 4, 6}, want: 1},
		{name: "perfect negative", x: []float64{1, 2, 3}, y: []float64{9, 6, 3}, want: -1},
		// x = 1,2,3,4 y = 1,3,3,1: Σxy = 1+6+9+4 = 20 = Σx·Σy/n = 10·8/4 → r = 0.
		{name: "uncorrelated", x: []float64{1, 2, 3, 4}, y: []float64{1, 3, 3, 1}, want: 0},
		{name: "zero variance in x", x: []float64{3, 3, 3}, y: []float64{1, 2, 3}, wantErr: ErrZeroVariance},
		{name: "zero variance in y", x: []float64{1, 2, 3}, y: []float64{0, 0, 0}, wantErr: ErrZeroVariance},
		{name: "fractional zero variance", x: []float64{0.1, 0.1, 0.1, 0.1}, y: []float64{1, 2, 3, 4}, wantErr: ErrZeroVariance},
		{name: "one pair", x: []float64{1}, y: []float64{2}, wantErr: ErrNoData},
		{name: "no pairs", wantErr: ErrNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Correlation(pairs(tt.x, tt.y))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !approx(got, tt.want) {
				t.Errorf("r = %.6f, want %.6f", got, tt.want)
			}
		})
	}
}

func TestStandardizedWeights(t *testing.T) {
	// One driver: beta == r.
	got, err := StandardizedWeights([]float64{0.42}, [][]float64{{1}})
	if err != nil || len(got) != 1 || got[0] != 0.42 {
		t.Errorf("one driver: %v, %v; want [0.42]", got, err)
	}

	// Two drivers, r1y = 0.6, r2y = 0.5, r12 = 0.4. Closed form:
	// β1 = (r1y − r12·r2y) / (1 − r12²) = (0.6 − 0.2) / 0.84 = 0.476190
	// β2 = (r2y − r12·r1y) / (1 − r12²) = (0.5 − 0.24) / 0.84 = 0.309524
	got, err = StandardizedWeights([]float64{0.6, 0.5}, [][]float64{{1, 0.4}, {0.4, 1}})
	if err != nil || !approx(got[0], 0.476190) || !approx(got[1], 0.309524) {
		t.Errorf("two drivers: %v, %v; want [0.476190 0.309524]", got, err)
	}

	// Uncorrelated drivers: each beta is its r.
	got, err = StandardizedWeights([]float64{0.3, -0.2, 0.1}, [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
	if err != nil || !slices.Equal(got, []float64{0.3, -0.2, 0.1}) {
		t.Errorf("uncorrelated: %v, %v", got, err)
	}

	// Three correlated drivers (pivoting needed neither way): R·β must give r back.
	r := []float64{0.5, 0.4, 0.3}
	R := [][]float64{{1, 0.5, 0.2}, {0.5, 1, 0.3}, {0.2, 0.3, 1}}
	got, err = StandardizedWeights(r, R)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r {
		var s float64
		for j := range r {
			s += R[i][j] * got[j]
		}
		if !approx(s, r[i]) {
			t.Errorf("R·β [%d] = %v, want %v (β = %v)", i, s, r[i], got)
		}
	}

	// Two identical drivers: no way to split the weight.
	if _, err := StandardizedWeights([]float64{0.5, 0.5}, [][]float64{{1, 1}, {1, 1}}); !errors.Is(err, ErrSingular) {
		t.Errorf("identical drivers: err = %v, want ErrSingular", err)
	}
	if _, err := StandardizedWeights([]float64{0.5, 0.5}, [][]float64{{1, 0}}); err == nil {
		t.Errorf("mismatched sizes: want an error")
	}
}

func TestClassify(t *testing.T) {
	// |r|: 0.6 0.5 0.2 0.1 → median 0.35: A and B high impact.
	// score: 0.5 0.9 0.4 0.8 → median 0.65: A and C low score.
	drivers := []Driver{
		{ID: "A", Correlation: 0.6, NormalizedScore: 0.5},
		{ID: "B", Correlation: -0.5, NormalizedScore: 0.9},
		{ID: "C", Correlation: 0.2, NormalizedScore: 0.4},
		{ID: "D", Correlation: 0.1, NormalizedScore: 0.8},
	}
	Classify(drivers)
	want := []Priority{PriorityFixFirst, PriorityKeepUp, PriorityLowPriority, PriorityPossibleOverkill}
	for i, d := range drivers {
		if d.Priority != want[i] {
			t.Errorf("%s: %s, want %s", d.ID, d.Priority, want[i])
		}
	}
	// Classify must not reorder.
	if drivers[0].ID != "A" || drivers[3].ID != "D" {
		t.Errorf("Classify reordered drivers")
	}

	one := []Driver{{ID: "only", Correlation: 0.9, NormalizedScore: 0.1}}
	Classify(one)
	if one[0].Priority != PriorityPossibleOverkill {
		t.Errorf("single driver: %s, want PossibleOverkill (nothing above or below its own median)", one[0].Priority)
	}
	Classify(nil)
}

// row is one response: the KPI answer and driver answers (0 = unanswered).
type row struct{ kpi, ease, docs, speed int }

func TestKeyDrivers(t *testing.T) {
	// ease tracks the KPI closely and scores low; docs tracks it loosely and
	// scores high; speed is always 4 (no variance); "support" never answered.
	rows := []row{
		{10, 4, 5, 4}, {9, 4, 5, 4}, {9, 3, 4, 4}, {8, 3, 5, 4}, {7, 3, 4, 4},
		{6, 2, 5, 4}, {5, 2, 4, 4}, {4, 2, 3, 4}, {3, 1, 4, 4}, {2, 1, 4, 4},
		{9, 0, 5, 4}, // ease unanswered
	}
	var a Aggregate
	var kpiEase, kpiDocs, easeDocs PairedSums
	for _, r := range rows {
		var nq QuestionAggregate
		nq.AddNPS(r.kpi)
		a.AddQuestion("nps", nq)
		answers := map[string]int{"ease": r.ease, "docs": r.docs, "speed": r.speed}
		for id, v := range answers {
			if v == 0 {
				continue
			}
			a.AddQuestion(id, scores(CSATScale, v))
			a.AddPair(id, "nps", float64(v), float64(r.kpi))
		}
		if r.ease != 0 {
			kpiEase.Add(float64(r.ease), float64(r.kpi))
			easeDocs.Add(float64(r.ease), float64(r.docs))
			a.AddPair("ease", "docs", float64(r.ease), float64(r.docs))
		}
		kpiDocs.Add(float64(r.docs), float64(r.kpi))
		a.AddPair("speed", "docs", float64(r.speed), float64(r.docs))
		a.AddPair("speed", "ease", float64(r.speed), float64(r.ease))
	}

	drivers := []DriverQuestion{
		{ID: "docs", Scale: CSATScale},
		{ID: "ease", Scale: CSATScale},
		{ID: "speed", Scale: CSATScale},
		{ID: "support", Scale: CSATScale},
	}
	got := KeyDrivers(a, "nps", drivers, 5)

	wantREase, _ := Correlation(kpiEase)
	wantRDocs, _ := Correlation(kpiDocs)
	if len(got.Drivers) != 2 {
		t.Fatalf("Drivers = %+v, want ease and docs", got.Drivers)
	}
	ease, docs := got.Drivers[0], got.Drivers[1]
	if ease.ID != "ease" || docs.ID != "docs" {
		t.Fatalf("order = %s, %s; want ease (higher |r|) first", ease.ID, docs.ID)
	}
	if ease.N != 10 || docs.N != 11 {
		t.Errorf("N = %d, %d; want 10 (ease unanswered once), 11", ease.N, docs.N)
	}
	if !approx(ease.Correlation, wantREase) || !approx(docs.Correlation, wantRDocs) {
		t.Errorf("r = %v, %v; want %v, %v", ease.Correlation, docs.Correlation, wantREase, wantRDocs)
	}
	// ease: mean (4+4+3+3+3+2+2+2+1+1)/10 = 2.5 → (2.5−1)/4 = 0.375.
	if !approx(ease.Score, 2.5) || !approx(ease.NormalizedScore, 0.375) {
		t.Errorf("ease score = %v (%v), want 2.5 (0.375)", ease.Score, ease.NormalizedScore)
	}
	// Weights from the closed form for two drivers.
	r12, _ := Correlation(easeDocs)
	wantBEase := (wantREase - r12*wantRDocs) / (1 - r12*r12)
	if ease.Weight == nil || docs.Weight == nil || !approx(*ease.Weight, wantBEase) {
		t.Errorf("ease weight = %v, want %v (%s)", ease.Weight, wantBEase, got.WeightsUnavailable)
	}
	// Two drivers: the higher-impact one is above the median impact, the
	// lower-scoring one below the median score.
	if ease.Priority != PriorityFixFirst || docs.Priority != PriorityPossibleOverkill {
		t.Errorf("priorities = %s, %s; want FixFirst, PossibleOverkill", ease.Priority, docs.Priority)
	}
	skipped := map[string]bool{}
	for _, s := range got.Skipped {
		skipped[s.ID] = true
	}
	if !skipped["speed"] || !skipped["support"] || len(got.Skipped) != 2 {
		t.Errorf("Skipped = %+v, want speed (no variance) and support (no answers)", got.Skipped)
	}

	// One driver alone: its weight is its correlation.
	one := KeyDrivers(a, "nps", drivers[1:2], 2)
	if len(one.Drivers) != 1 || one.Drivers[0].Weight == nil || !approx(*one.Drivers[0].Weight, wantREase) {
		t.Errorf("single driver = %+v, want weight = r = %v", one.Drivers, wantREase)
	}

	// Without the pair of the two drivers, no weights, but correlations.
	b := Merge(a)
	delete(b.Pairs["docs"], "ease")
	noW := KeyDrivers(b, "nps", drivers[:2], 2)
	if len(noW.Drivers) != 2 || noW.Drivers[0].Weight != nil || noW.WeightsUnavailable == "" {
		t.Errorf("missing driver pair: %+v, want no weights and a reason", noW)
	}

	// Nothing to analyse.
	if empty := KeyDrivers(Aggregate{}, "nps", drivers, 2); len(empty.Drivers) != 0 || len(empty.Skipped) != 4 {
		t.Errorf("empty aggregate = %+v", empty)
	}
	if math.IsNaN(ease.Correlation) {
		t.Errorf("NaN correlation")
	}
}
