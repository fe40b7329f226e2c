package predict

import (
	"math"
	"strings"
	"testing"
	"time"
)

func trainSynth(t *testing.T, spec Spec, cases []synthCase) (Result, []Example) {
	t.Helper()
	evs, rs := flatten(cases)
	exs, _ := spec.Join(spec.Interactions(evs), rs)
	res, err := Train(spec, exs, t0.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return res, exs
}

func column(t *testing.T, m *Model, feature, category string) Column {
	t.Helper()
	for _, c := range m.Columns {
		if c.Feature == feature && c.Category == category {
			return c
		}
	}
	t.Fatalf("no column %s=%s in %+v", feature, category, m.Columns)
	return Column{}
}

// The trained model recovers the coefficients of the model the data was
// drawn from. Tolerance: each estimate has the right sign and is within 30%
// of the true value, about three standard errors for the smallest group
// (Gold, a fifth of the ~5,000 training customers). The seed is fixed.
func TestTrainRecoversKnownCoefficients(t *testing.T) {
	spec := synthSpec()
	res, _ := trainSynth(t, spec, synthesize(8000, 1, 0.8, false))
	if res.Model == nil {
		t.Fatalf("refused: %s (%+v)", res.Refused, res.Evaluation)
	}
	m := res.Model
	for _, c := range []struct {
		feature, category string
		want              float64
	}{
		{"transfers", "", trueTransfers},
		{"waitMinutes", "", trueWait},
		{"contacts", "", trueContacts},
		{"tier", "Gold", trueGold},
		{"tier", "Bronze", trueBronze},
	} {
		got := column(t, m, c.feature, c.category)
		t.Logf("%s %s: %.3f (true %.3f)", c.feature, c.category, got.Coefficient, c.want)
		if math.Signbit(got.Coefficient) != math.Signbit(c.want) || !near(got.Coefficient, c.want, 0.30*math.Abs(c.want)) {
			t.Errorf("%s %s: coefficient %.3f, want %.3f ± 30%%", c.feature, c.category, got.Coefficient, c.want)
		}
		if c.category != "" && got.Reference != "Silver" {
			t.Errorf("%s: reference %q, want the most frequent value Silver", c.category, got.Reference)
		}
	}
	// The intercept, on the raw scale, too.
	if !near(m.Intercept, trueIntercept, 0.3) {
		t.Errorf("intercept %.3f, want %.3f ± 0.3", m.Intercept, trueIntercept)
	}
	ev := res.Evaluation
	t.Logf("evaluation %+v", ev)
	if ev.HeldOutResponses < 1000 {
		t.Errorf("held-out %d of %d: want about %d%%", ev.HeldOutResponses, ev.TrainingResponses+ev.HeldOutResponses, HeldOutPercent)
	}
	if ev.Brier <= 0 || ev.Brier > 0.2 || ev.CalibrationError > 0.05 {
		t.Errorf("calibration: Brier %.3f, calibration error %.3f; want a calibrated model (error ≤ 0.05)", ev.Brier, ev.CalibrationError)
	}
	if !near(ev.CrossValidatedAUC, ev.AUC, 0.05) || ev.CrossValidatedAUCStdDev <= 0 {
		t.Errorf("cross-validated AUC %.3f ± %.3f far from held-out %.3f", ev.CrossValidatedAUC, ev.CrossValidatedAUCStdDev, ev.AUC)
	}
}

// The held-out AUC equals an independent computation: the share of
// (detractor, non-detractor) pairs of held-out customers where the
// detractor scores higher, ties counting half.
func TestHeldOutAUCMatchesPairCount(t *testing.T) {
	spec := synthSpec()
	res, exs := trainSynth(t, spec, synthesize(3000, 2, 0.8, false))
	if res.Model == nil {
		t.Fatalf("refused: %s", res.Refused)
	}
	var pos, neg []float64
	for _, ex := range exs {
		if !heldOut(ex.Interaction.CustomerID) {
			continue
		}
		s := res.Model.Score(ex.Interaction)
		if ex.Response.Score <= 6 {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	if len(pos)+len(neg) != res.Evaluation.HeldOutResponses {
		t.Fatalf("held-out responses %d, counted %d", res.Evaluation.HeldOutResponses, len(pos)+len(neg))
	}
	wins := 0.0
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				wins++
			case p == n:
				wins += 0.5
			}
		}
	}
	want := wins / float64(len(pos)*len(neg))
	if !near(res.Evaluation.AUC, want, 1e-9) {
		t.Errorf("held-out AUC %.12f, pair count %.12f", res.Evaluation.AUC, want)
	}
	if want < 0.7 {
		t.Errorf("AUC %.3f: the known model should separate well", want)
	}
}

// The score of an interaction the model never saw (a held-out customer, and
// a customer who never answered) is close to its true probability.
func TestScoreOfUnseenInteractionIsNearTruth(t *testing.T) {
	spec := synthSpec()
	cases := synthesize(8000, 3, 0.8, false)
	res, _ := trainSynth(t, spec, cases)
	if res.Model == nil {
		t.Fatalf("refused: %s", res.Refused)
	}
	worst, sum, n := 0.0, 0.0, 0
	for _, c := range cases {
		cust := c.events[0].Customer.ID
		if c.response != nil && !heldOut(cust) {
			continue // seen in training
		}
		ins := spec.Interactions(c.events)
		if len(ins) != 1 {
			t.Fatalf("%s: %d interactions, want 1", cust, len(ins))
		}
		d := math.Abs(res.Model.Score(ins[0]) - c.truth)
		worst = math.Max(worst, d)
		sum += d
		n++
	}
	t.Logf("%d unseen: mean |score − truth| %.4f, worst %.4f", n, sum/float64(n), worst)
	if mean := sum / float64(n); mean > 0.03 || worst > 0.12 {
		t.Errorf("over %d unseen interactions: mean |score − truth| %.3f (want ≤ 0.03), worst %.3f (want ≤ 0.12)", n, mean, worst)
	}
}

// Labels independent of every feature: nothing to learn, and the model is
// refused with the figure and the minimum.
func TestRandomDataIsRefused(t *testing.T) {
	res, _ := trainSynth(t, synthSpec(), synthesize(3000, 4, 0.8, true))
	if res.Model != nil {
		t.Fatalf("a model was accepted on random data: %+v", res.Evaluation)
	}
	if !strings.Contains(res.Refused, "is below the minimum 0.70") || !strings.HasPrefix(res.Refused, "accuracy AUC") {
		t.Errorf("refusal %q: want the accuracy below the minimum 0.70", res.Refused)
	}
	if res.Evaluation.AUC == 0 || res.Evaluation.HeldOutResponses == 0 {
		t.Errorf("a refused model still reports its evaluation: %+v", res.Evaluation)
	}
}

func TestTooFewResponsesIsRefused(t *testing.T) {
	spec := synthSpec()
	spec.MinTrainingResponses = 500
	res, _ := trainSynth(t, spec, synthesize(400, 5, 0.8, false))
	if res.Model != nil || !strings.Contains(res.Refused, "fewer than the minimum 500") {
		t.Errorf("refusal %q (model %v): want too few training responses", res.Refused, res.Model != nil)
	}
}

// Changing the feature list makes the model due, and the retrained model
// has the new feature's column.
func TestChangedFeatureListRetrains(t *testing.T) {
	spec := synthSpec()
	spec.Features = spec.Features[:3] // without tier
	spec.MinAUC = 0.6                 // the model without tier separates less
	cases := synthesize(3000, 6, 0.8, false)
	res, _ := trainSynth(t, spec, cases)
	if res.Model == nil {
		t.Fatalf("refused: %s", res.Refused)
	}
	now := res.TrainedAt.Add(time.Hour)
	if due, why := Due(spec, &res, 24*time.Hour, now); due {
		t.Fatalf("due right after training: %s", why)
	}
	if due, why := Due(spec, &res, 24*time.Hour, res.TrainedAt.Add(24*time.Hour)); !due || why != "the retrain interval passed" {
		t.Errorf("after the interval: due %v (%s)", due, why)
	}
	changed := synthSpec()
	due, why := Due(changed, &res, 24*time.Hour, now)
	if !due || !strings.Contains(why, "spec changed") {
		t.Fatalf("feature added: due %v (%s), want due because the spec changed", due, why)
	}
	// The minimum accuracy is a gate, not part of the model.
	gated := spec
	gated.MinAUC = 0.9
	if due, _ := Due(gated, &res, 24*time.Hour, now); due {
		t.Error("changing only the minimum accuracy made the model due")
	}
	res2, _ := trainSynth(t, changed, cases)
	if res2.Model == nil {
		t.Fatalf("refused: %s", res2.Refused)
	}
	column(t, res2.Model, "tier", "Gold")
	if res2.Fingerprint == res.Fingerprint {
		t.Error("the fingerprint did not change with the feature list")
	}
}

// The largest effects come first and say it in words.
func TestEffectsInWords(t *testing.T) {
	res, _ := trainSynth(t, synthSpec(), synthesize(8000, 7, 0.8, false))
	if res.Model == nil {
		t.Fatalf("refused: %s", res.Refused)
	}
	byName := map[string]Effect{}
	for _, e := range res.Effects {
		byName[e.Feature+e.Category] = e
	}
	tr := byName["transfers"]
	if !near(tr.OddsRatio, math.Exp(trueTransfers), 0.3) || !strings.HasPrefix(tr.Text, "each +1 transfers raises detractor odds 1.") {
		t.Errorf("transfers effect %+v", tr)
	}
	w := byName["waitMinutes"]
	if w.Step != 10 || !strings.HasPrefix(w.Text, "each +10 waitMinutes raises detractor odds 1.") {
		t.Errorf("waitMinutes effect %+v: want per 10 minutes", w)
	}
	g := byName["tierGold"]
	if !strings.HasPrefix(g.Text, "tier Gold (vs Silver) lowers detractor odds to 0.") {
		t.Errorf("Gold effect %+v", g)
	}
	// waitMinutes (sd 17 × 0.04 = 0.7 per sd) moves predictions the most.
	if res.Effects[0].Feature != "waitMinutes" {
		t.Errorf("first effect %q, want waitMinutes: %+v", res.Effects[0].Feature, res.Effects)
	}
}

// A mean target (CES) is fitted by ridge regression and judged by R².
func TestMeanTarget(t *testing.T) {
	spec := synthSpec()
	spec.Target = TargetMean
	spec.ScaleMin, spec.ScaleMax = 1, 7
	cases := synthesize(3000, 8, 0.8, false)
	// CES = 6 − 0.5 × transfers (+ noise), so transfers lower it.
	for i := range cases {
		if cases[i].response == nil {
			continue
		}
		transfers := 0.0
		for _, e := range cases[i].events {
			tr, _ := e.Metadata["transfers"].(float64)
			transfers += tr
		}
		noise := float64(i%3) - 1
		cases[i].response.Score = 6 - 0.5*transfers + noise*0.3
	}
	res, _ := trainSynth(t, spec, cases)
	if res.Model == nil {
		t.Fatalf("refused: %s (%+v)", res.Refused, res.Evaluation)
	}
	c := column(t, res.Model, "transfers", "")
	if !near(c.Coefficient, -0.5, 0.05) {
		t.Errorf("transfers coefficient %.3f, want -0.5 ± 0.05", c.Coefficient)
	}
	ev := res.Evaluation
	if ev.RSquared < 0.5 || ev.RMSE <= 0 || ev.MAE <= 0 || ev.CrossValidatedRSquared < 0.5 {
		t.Errorf("evaluation %+v: want R² ≥ 0.5", ev)
	}
	if !strings.HasPrefix(res.Effects[0].Text, "each +1 transfers lowers the expected answer by 0.") {
		t.Errorf("first effect %q", res.Effects[0].Text)
	}
}

func TestJoin(t *testing.T) {
	spec := Spec{Target: TargetDetractor, InteractionKey: "ticketId", Window: 24 * time.Hour,
		Features: []Feature{{Name: "n", Kind: Number, Aggregate: Count}}}
	ev := func(id, cust, ticket string, at time.Duration) Event {
		md := map[string]any{}
		if ticket != "" {
			md["ticketId"] = ticket
		}
		return Event{ID: id, Name: "x", Customer: Customer{ID: cust}, OccurredAt: t0.Add(at), Metadata: md}
	}
	ins := spec.Interactions([]Event{
		ev("e1", "a", "t1", 0), ev("e2", "a", "t1", time.Hour), // a's ticket t1: two events
		ev("e3", "a", "t2", 10*time.Hour), // a's ticket t2
		ev("e4", "b", "", 0),              // b: no ticket, the event is the interaction
		ev("e5", "c", "t1", 0),            // same ticket id, another customer
	})
	// in order of first event: a/t1, b/e4, c/t1 (all at t0), a/t2
	if len(ins) != 4 || len(ins[0].Events) != 2 || ins[0].Key() != "a/t1" || ins[1].Key() != "b/e4" || ins[3].Key() != "a/t2" {
		t.Fatalf("interactions %+v", ins)
	}
	exs, un := spec.Join(ins, []Response{
		{ID: "r1", CustomerID: "a", InteractionID: "t1", SubmittedAt: t0.Add(20 * time.Hour), Score: 3}, // names t1
		{ID: "r2", CustomerID: "a", SubmittedAt: t0.Add(11 * time.Hour), Score: 9},                      // latest before it: t2
		{ID: "r3", CustomerID: "a", SubmittedAt: t0.Add(12 * time.Hour), Score: 9},                      // t2 already answered
		{ID: "r4", CustomerID: "b", SubmittedAt: t0.Add(25 * time.Hour), Score: 2},                      // outside the window
		{ID: "r5", CustomerID: "c", SubmittedAt: t0.Add(-time.Hour), Score: 2},                          // before the interaction
	})
	got := map[string]string{}
	for _, ex := range exs {
		got[ex.Response.ID] = ex.Interaction.Key()
		if ex.Response.ID == "r1" && ex.Label != 1 || ex.Response.ID == "r2" && ex.Label != 0 {
			t.Errorf("%s: label %v", ex.Response.ID, ex.Label)
		}
	}
	if len(got) != 2 || got["r1"] != "a/t1" || got["r2"] != "a/t2" {
		t.Errorf("joined %v, want r1→a/t1 and r2→a/t2", got)
	}
	if len(un) != 2 || un[0].Key() != "b/e4" || un[1].Key() != "c/t1" {
		t.Errorf("unanswered %+v", un)
	}
}

func TestValues(t *testing.T) {
	spec := Spec{Features: []Feature{
		{Name: "wait", Source: "metadata.wait", Kind: Number},                    // Last
		{Name: "late", Source: "metadata.late", Kind: Number, Aggregate: Max},    // bools count 0/1
		{Name: "sum", Source: "metadata.n", Kind: Number, Aggregate: Sum},        // strings parsed
		{Name: "visits", Kind: Number, Aggregate: Count, Event: "visit"},         // only visits
		{Name: "plan", Source: "customer.attributes.plan", Kind: Category},       // attribute
		{Name: "missing", Source: "metadata.nope", Kind: Number},                 // never present
		{Name: "region", Source: "customer.segment", Kind: Category, Event: "x"}, // no such event
	}}
	in := Interaction{Events: []Event{
		{Name: "visit", Metadata: map[string]any{"wait": 5.0, "late": false, "n": "2"}, Customer: Customer{Attributes: map[string]string{"plan": "pro"}}},
		{Name: "call", Metadata: map[string]any{"wait": 7.0, "late": true, "n": 3.0}},
		{Name: "visit", Metadata: map[string]any{"n": "x"}},
	}}
	v := spec.Values(in)
	want := []Value{{Number: 7}, {Number: 1}, {Number: 5}, {Number: 2}, {Category: "pro"}, {Missing: true}, {Missing: true}}
	for i := range want {
		if v[i] != want[i] {
			t.Errorf("%s: %+v, want %+v", spec.Features[i].Name, v[i], want[i])
		}
	}
}

func TestValidate(t *testing.T) {
	err := Spec{Target: "Happy", Features: []Feature{
		{Name: "a", Source: "metadata.a", Kind: Number},
		{Name: "a", Source: "nope", Kind: "Text"},
		{Name: "d", Source: "metadata.d", Aggregate: "Median"},
		{Name: "c", Source: "customer.tier", Kind: Category, Aggregate: Sum},
	}}.Validate()
	for _, want := range []string{
		`target: "Happy" is not one of`, "window: must be positive",
		`features[1].name: "a" is declared twice`, `features[1].kind: "Text"`, `features[1].source: "nope" is not`,
		"features[3].aggregate: Sum needs a Number feature", `features[2].aggregate: "Median" is not one of`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}
