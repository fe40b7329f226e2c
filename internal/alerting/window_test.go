package alerting

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/store"
)

// Two touchpoints whose KPI questions have different ids, with a Rating
// question that feeds no KPI: each metric is computed from the merged
// answers to the KPI questions only, checked against hand computations.
func TestMeasureMergesTouchpoints(t *testing.T) {
	web := &cxv1alpha1.SurveyTouchpoint{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "sat", Type: cxv1alpha1.QuestionCSAT}, {ID: "effort", Type: cxv1alpha1.QuestionCES}, {ID: "stars", Type: cxv1alpha1.QuestionRating},
	}}}
	app := &cxv1alpha1.SurveyTouchpoint{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "csat", Type: cxv1alpha1.QuestionCSAT}, {ID: "ease", Type: cxv1alpha1.QuestionRating, KPI: cxv1alpha1.KPICES},
	}}}
	var webAgg, appAgg metrics.Aggregate
	var sat, effort, stars, csat, ease metrics.QuestionAggregate
	for _, v := range []int{5, 4, 2} { // 2 of 3 top-two-box
		sat.AddScore(v, metrics.CSATScale)
	}
	for _, v := range []int{5, 1} { // 1 of 2
		csat.AddScore(v, metrics.CSATScale)
	}
	for _, v := range []int{7, 3} {
		effort.AddScore(v, metrics.CESScale)
	}
	ease.AddScore(2, metrics.CESScale)
	for _, v := range []int{1, 1, 1, 1} {
		stars.AddScore(v, metrics.CSATScale)
	}
	webAgg.Responses, appAgg.Responses = 4, 2
	webAgg.AddQuestion("sat", sat)
	webAgg.AddQuestion("effort", effort)
	webAgg.AddQuestion("stars", stars)
	appAgg.AddQuestion("csat", csat)
	appAgg.AddQuestion("ease", ease)
	webAgg.AddSentiment(0.5)
	webAgg.AddSentiment(-0.25)
	appAgg.AddSentiment(1)

	w := Window{
		Touchpoints: []cxv1alpha1.SurveyTouchpoint{*web, *app},
		Results: []*store.AggregateResult{
			{Groups: map[string]metrics.Aggregate{"": webAgg}},
			{Groups: map[string]metrics.Aggregate{"": appAgg}},
		},
	}
	tests := []struct {
		metric    cxv1alpha1.AggregateMetric
		question  string
		wantValue float64
		wantCount int64
	}{
		{cxv1alpha1.AggregateCSAT, "", 60, 5},          // 3 of 5 answers in 4-5
		{cxv1alpha1.AggregateCSAT, "csat", 50, 2},      // app's question only
		{cxv1alpha1.AggregateCES, "", 4, 3},            // (7+3+2)/3
		{cxv1alpha1.AggregateSentiment, "", 0.4167, 3}, // (0.5-0.25+1)/3
		{cxv1alpha1.AggregateResponseCount, "", 6, 6},  // all responses
	}
	for _, tt := range tests {
		agg := &cxv1alpha1.AggregateCondition{Metric: tt.metric, Question: tt.question}
		m, err := Measure(agg, w, "")
		if err != nil {
			t.Fatalf("%s: %v", tt.metric, err)
		}
		if m.Count != tt.wantCount || m.Value < tt.wantValue-1e-4 || m.Value > tt.wantValue+1e-4 {
			t.Errorf("%s %q = %v from %d, want %v from %d", tt.metric, tt.question, m.Value, m.Count, tt.wantValue, tt.wantCount)
		}
	}

	// A group absent from the window has no answers: not enough for a KPI,
	// but a ResponseCount of 0 is evaluated (it is what such a rule is for).
	for _, metric := range []cxv1alpha1.AggregateMetric{cxv1alpha1.AggregateNPS, cxv1alpha1.AggregateResponseCount} {
		m, err := Measure(&cxv1alpha1.AggregateCondition{Metric: metric}, w, "missing")
		if err != nil {
			t.Fatal(err)
		}
		if want := metric == cxv1alpha1.AggregateResponseCount; m.Enough(metric, 30) != want || m.Count != 0 {
			t.Errorf("%s of an empty group: count %d, enough %v; want 0, %v", metric, m.Count, m.Enough(metric, 30), want)
		}
	}
}
