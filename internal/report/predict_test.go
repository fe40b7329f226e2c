package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/predict"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/store"
)

// predictionTouchpoint is a relationship NPS survey predicting detractors
// from ticket transfers.
func predictionTouchpoint(name, display string) cxv1alpha1.SurveyTouchpoint {
	return cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{DisplayName: display, Channel: cxv1alpha1.ChannelWeb,
			Questions: []cxv1alpha1.Question{{ID: "recommend", Text: "How likely are you to recommend Acme?", Type: cxv1alpha1.QuestionNPS}},
			Prediction: &cxv1alpha1.PredictionSpec{Question: "recommend", Target: cxv1alpha1.PredictionDetractor,
				Features: []cxv1alpha1.PredictionFeature{{Name: "transfers", Source: "metadata.transfers", Type: cxv1alpha1.FeatureNumber}}},
		},
	}
}

// The Predictions section against hand-computed values. In the week before
// fixtureEnd, support has five answers to recommend (3, 6, 8, 9, 10: two
// detractors, 40.0%) from c1..c5, and four predicted scores of interactions
// nobody asked about (0.9 for c6, 0.8 and 0.3 for c7, 0.2 for c1: mean
// 0.55, 55.0% detractors expected, 3 customers). c1..c7 are covered: 7
// customers. The model's accuracy is the lower of held-out AUC 0.84 and
// cross-validated 0.81. An answer and a score outside the week are not
// counted, and the KPIs count the five answers only (NPS 2 promoters - 2
// detractors of 5 = 0). delivery's last training was refused.
func TestPredictionSection(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "responses.db"), Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	support, delivery := predictionTouchpoint("support", "Support tickets"), predictionTouchpoint("delivery", "")
	day := fixtureEnd.Add(-72 * time.Hour)
	var responses []store.NewResponse
	for i, score := range []int{3, 6, 8, 9, 10} {
		responses = append(responses, store.NewResponse{Touchpoint: "support", ID: fmt.Sprintf("r%d", i+1),
			Customer: store.Customer{ID: fmt.Sprintf("c%d", i+1)}, Answers: json.RawMessage(fmt.Sprintf(`{"recommend":%d}`, score)),
			SubmittedAt: day.Add(time.Duration(i) * time.Hour)})
	}
	responses = append(responses, store.NewResponse{Touchpoint: "support", ID: "old", Customer: store.Customer{ID: "c9"},
		Answers: json.RawMessage(`{"recommend":0}`), SubmittedAt: fixtureEnd.Add(-8 * 24 * time.Hour)})
	if _, err := st.SaveResponses(ctx, responses); err != nil {
		t.Fatal(err)
	}
	trainedAt := time.Date(2026, time.March, 8, 6, 0, 0, 0, time.UTC)
	var preds []store.NewPrediction
	for i, p := range []struct {
		customer string
		score    float64
		at       time.Time
	}{{"c6", 0.9, day}, {"c7", 0.8, day}, {"c7", 0.3, day.Add(time.Hour)}, {"c1", 0.2, day}, {"c8", 0.99, fixtureEnd.Add(-8 * 24 * time.Hour)}} {
		preds = append(preds, store.NewPrediction{Namespace: "acme", Touchpoint: "support", Interaction: fmt.Sprintf("%s/T%d", p.customer, i),
			CustomerID: p.customer, Target: "Detractor", Score: p.score, OccurredAt: p.at, ScoredAt: fixtureEnd, ModelTrainedAt: trainedAt, Accuracy: 0.81})
	}
	if _, err := st.SavePredictions(ctx, preds); err != nil {
		t.Fatal(err)
	}
	saveResult := func(tp *cxv1alpha1.SurveyTouchpoint, res predict.Result) {
		t.Helper()
		spec, _, err := predict.FromTouchpoint(tp)
		if err != nil {
			t.Fatal(err)
		}
		res.Fingerprint, res.TrainedAt = spec.Fingerprint(), trainedAt
		raw, _ := json.Marshal(res)
		if err := st.SaveModel(ctx, "acme", tp.Name, trainedAt, raw); err != nil {
			t.Fatal(err)
		}
	}
	saveResult(&support, predict.Result{Model: &predict.Model{Target: predict.TargetDetractor, Evaluation: predict.Evaluation{
		TrainingResponses: 400, HeldOutResponses: 100, AUC: 0.84, CrossValidatedAUC: 0.81, CalibrationError: 0.031}}})
	saveResult(&delivery, predict.Result{Refused: "accuracy AUC 0.55 (held-out 0.56, cross-validated 0.55) is below the minimum 0.70"})

	sub := &cxv1alpha1.ReportSubscription{
		ObjectMeta: metav1.ObjectMeta{Name: "predictions", Namespace: "acme"},
		Spec: cxv1alpha1.ReportSubscriptionSpec{Title: "Weekly predictions", Schedule: "0 8 * * MON", TimeZone: "Europe/Berlin",
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support", "delivery"}},
			Window:      &cxv1alpha1.Duration{Duration: 168 * time.Hour}, CompareWith: cxv1alpha1.CompareNone,
			Sections: []cxv1alpha1.ReportSection{cxv1alpha1.SectionPredictions, cxv1alpha1.SectionKPIs}},
	}
	r, err := report.Build(ctx, report.Input{Subscription: sub, Touchpoints: []cxv1alpha1.SurveyTouchpoint{support, delivery},
		Source: collector.StoreSource{Store: st, Namespace: "acme"}, End: fixtureEnd})
	if err != nil {
		t.Fatal(err)
	}
	sec := r.Sections[0].Predictions
	if sec == nil || len(sec.Rows) != 2 {
		t.Fatalf("predictions section %+v", r.Sections[0])
	}
	d, s := sec.Rows[0], sec.Rows[1] // sorted by touchpoint name
	if s.Touchpoint != "support" || s.Predicted != 4 || s.PredictedCustomers != 3 || !near(s.PredictedMean, 0.55) ||
		s.Measured != 5 || s.MeasuredCustomers != 5 || !near(s.MeasuredMean, 0.4) || s.CoveredCustomers != 7 ||
		s.Model == nil || !near(s.Model.Accuracy, 0.81) || s.Model.Measure != "AUC" || !s.Model.TrainedAt.Equal(trainedAt) ||
		s.Model.HeldOutResponses != 100 || s.Refused != "" {
		t.Errorf("support row %+v (model %+v)", s, s.Model)
	}
	if d.Touchpoint != "delivery" || d.Model != nil || !strings.Contains(d.Refused, "below the minimum 0.70") || d.Predicted != 0 || d.Measured != 0 {
		t.Errorf("delivery row %+v", d)
	}
	if k := r.Sections[1].KPIs; k == nil || k.Rows[0].Responses != 5 || k.Rows[0].NPS.Current.Value != 0 {
		t.Errorf("KPIs %+v: want the 5 measured answers only, NPS 0", k)
	}
	rd, err := report.Render(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"55.0% detractors expected (4 interactions, 3 customers)",
		"40.0% detractors (5 responses, 5 customers)",
		"7 customers with a score or an answer: 3 scored, 5 asked who answered",
		"AUC 0.81 on 100 held-out responses never trained on; trained on 400, Sun 8 Mar 2026 07:00 CET; calibration error 0.031",
		"none in use: accuracy AUC 0.55",
		report.PredictionClaim,
	} {
		if !strings.Contains(rd.Text, want) {
			t.Errorf("text rendering lacks %q", want)
		}
	}
	golden(t, "predictions.txt.golden", []byte(rd.Text))
	golden(t, "predictions.html.golden", []byte(rd.HTML))
	golden(t, "predictions.json.golden", rd.JSON)
}
