package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/predict"
	"github.com/cxloop/cxloop/internal/store"
)

// GET /v1/predictions?window=… (or from, to; private): the touchpoint's
// predicted scores of the window beside the measured answers, coverage
// and the model's quality, for the report's Predictions section.

func (s *Server) handlePredictions(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	q, errs := parseMetricsQuery(r, s.opts.Now())
	if errs != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid predictions query", Status: http.StatusBadRequest,
			Detail: "window is a duration such as 24h or 7d; from and to are RFC 3339 times", Errors: errs})
		return
	}
	if st.tp.Spec.Prediction == nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "No prediction", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("touchpoint %s declares no spec.prediction", st.tp.Name)})
		return
	}
	res, err := s.loadedModel(r.Context(), st.tp.Name)
	if err == nil {
		var sum *metrics.PredictionSummary
		if sum, err = SummarizePredictions(r.Context(), s.opts.Store, s.opts.Namespace, st.tp, res, q.From, q.To); err == nil {
			writeJSON(w, http.StatusOK, sum)
			return
		}
	}
	s.opts.Log.Error(err, "prediction summary", "touchpoint", st.tp.Name)
	writeStoreUnavailable(w, "the store could not summarize the predictions; retry later")
}

// loadedModel is the last training result, read from the store if no pass
// ran yet in this process (nil: never trained).
func (s *Server) loadedModel(ctx context.Context, touchpoint string) (*predict.Result, error) {
	if res := s.prediction.last.Load(); res != nil {
		return res, nil
	}
	return loadModel(ctx, s.opts.Store, s.opts.Namespace, touchpoint)
}

func loadModel(ctx context.Context, st store.Store, namespace, touchpoint string) (*predict.Result, error) {
	raw, err := st.LoadModel(ctx, namespace, touchpoint)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var res predict.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("stored prediction model of %s: %w", touchpoint, err)
	}
	return &res, nil
}

// SummarizePredictions sets tp's predicted scores of interactions whose
// last event is in [from, to) beside the answers to the predicted question
// submitted then. res is the last training result (nil: none); a model
// trained for another spec counts as none.
func SummarizePredictions(ctx context.Context, st store.Store, namespace string, tp *cxv1alpha1.SurveyTouchpoint, res *predict.Result, from, to time.Time) (*metrics.PredictionSummary, error) {
	spec, ok, err := predict.FromTouchpoint(tp)
	if !ok {
		return nil, fmt.Errorf("touchpoint %s declares no spec.prediction", tp.Name)
	}
	sum := &metrics.PredictionSummary{Target: string(tp.Spec.Prediction.Target)}
	if err != nil {
		sum.Refused = err.Error()
	}
	ps, err := st.PredictionStats(ctx, namespace, tp.Name, from, to)
	if err != nil {
		return nil, err
	}
	sum.Predicted, sum.PredictedCustomers, sum.PredictedMean = ps.Interactions, ps.Customers, ps.MeanScore
	answers, err := st.Answers(ctx, tp.Name, tp.Spec.Prediction.Question, "", from, to)
	if err != nil {
		return nil, err
	}
	covered := map[string]bool{}
	measured := map[string]bool{}
	total := 0.0
	for _, a := range answers {
		total += spec.Label(a.Score)
		measured[a.CustomerID] = true
		covered[a.CustomerID] = true
	}
	for _, c := range ps.CustomerIDs {
		covered[c] = true
	}
	sum.Measured, sum.MeasuredCustomers, sum.CoveredCustomers = int64(len(answers)), int64(len(measured)), int64(len(covered))
	if len(answers) > 0 {
		sum.MeasuredMean = total / float64(len(answers))
	}
	switch {
	case res == nil:
		if sum.Refused == "" {
			sum.Refused = "not trained yet"
		}
	case res.Fingerprint != spec.Fingerprint():
		sum.Refused = "the prediction spec changed since the last training; not retrained yet"
	case res.Model == nil:
		sum.Refused = res.Refused
	default:
		ev := res.Model.Evaluation
		m := &metrics.PredictionModel{TrainedAt: res.TrainedAt, Accuracy: round4(ev.Accuracy(res.Model.Target)), Measure: "AUC",
			TrainingResponses: ev.TrainingResponses, HeldOutResponses: ev.HeldOutResponses, CalibrationError: round4(ev.CalibrationError)}
		if !res.Model.Target.Probability() {
			m.Measure = "R²"
		}
		sum.Model = m
	}
	return sum, nil
}

// Predictions summarizes tp's predictions of [from, to) from the store,
// as GET /v1/predictions does.
func (s StoreSource) Predictions(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time) (*metrics.PredictionSummary, error) {
	res, err := loadModel(ctx, s.Store, s.Namespace, tp.Name)
	if err != nil {
		return nil, err
	}
	return SummarizePredictions(ctx, s.Store, s.Namespace, tp, res, from, to)
}
