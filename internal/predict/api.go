package predict

import (
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// TopEffects is how many effects the touchpoint's status lists.
const TopEffects = 5

// FromTouchpoint is the Spec of a touchpoint's prediction block; ok is
// false when it declares none. The error names the field of a block the
// CRD schema accepted but that cannot be trained.
func FromTouchpoint(tp *cxv1alpha1.SurveyTouchpoint) (spec Spec, ok bool, err error) {
	p := tp.Spec.Prediction
	if p == nil {
		return Spec{}, false, nil
	}
	spec = Spec{
		Target:               Target(p.Target),
		Events:               p.Events,
		Window:               72 * time.Hour,
		MinTrainingResponses: int(p.MinTrainingResponses),
	}
	found := false
	for _, q := range tp.Spec.Questions {
		if q.ID == p.Question {
			spec.ScaleMin, spec.ScaleMax = validate.QuestionScale(q)
			found = true
		}
	}
	if !found {
		return spec, true, fmt.Errorf("spec.prediction.question: %q is not a question of the touchpoint", p.Question)
	}
	if p.Join != nil {
		spec.InteractionKey = p.Join.InteractionKey
		if p.Join.Window.Duration > 0 {
			spec.Window = p.Join.Window.Duration
		}
	}
	if a := p.MinimumAccuracy; a != nil {
		if a.AUC != nil {
			spec.MinAUC = *a.AUC
		}
		if a.RSquared != nil {
			spec.MinRSquared = *a.RSquared
		}
	}
	for _, f := range p.Features {
		spec.Features = append(spec.Features, Feature{
			Name: f.Name, Source: f.Source, Event: f.Event,
			Kind: Kind(f.Type), Aggregate: Aggregate(f.Aggregate),
		})
	}
	if err := spec.Validate(); err != nil {
		return spec, true, fmt.Errorf("spec.prediction: %w", err)
	}
	return spec, true, nil
}

// Status is a touchpoint's prediction status and PredictionReady condition
// after the training res (nil: not trained yet). predicted counts the
// interactions scored.
func Status(res *Result, predicted int64) (*cxv1alpha1.PredictionStatus, metav1.Condition) {
	cond := metav1.Condition{Type: cxv1alpha1.ConditionPredictionReady, Status: metav1.ConditionFalse}
	if res == nil {
		cond.Reason, cond.Message = cxv1alpha1.ReasonNotTrained, "the collector has not trained the prediction model yet"
		return nil, cond
	}
	ev := res.Evaluation
	st := &cxv1alpha1.PredictionStatus{
		TrainedAt:         &metav1.Time{Time: res.TrainedAt},
		TrainingResponses: int64(ev.TrainingResponses),
		HeldOutResponses:  int64(ev.HeldOutResponses),
		AUC:               nonZero(ev.AUC),
		CrossValidatedAUC: nonZero(ev.CrossValidatedAUC),
		Brier:             nonZero(ev.Brier),
		CalibrationError:  nonZero(ev.CalibrationError),
		RSquared:          nonZero(ev.RSquared),
		RMSE:              nonZero(ev.RMSE),
		Predicted:         predicted,
	}
	for i, e := range res.Effects {
		if i == TopEffects {
			break
		}
		st.TopEffects = append(st.TopEffects, e.Text)
	}
	if res.Model == nil {
		cond.Reason, cond.Message = cxv1alpha1.ReasonModelRefused, "nothing is predicted: "+res.Refused
		return st, cond
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, cxv1alpha1.ReasonModelAccepted
	if res.Model.Target.Probability() {
		cond.Message = fmt.Sprintf("held-out AUC %.2f (cross-validated %.2f ± %.2f) on %d responses, trained on %d",
			ev.AUC, ev.CrossValidatedAUC, ev.CrossValidatedAUCStdDev, ev.HeldOutResponses, ev.TrainingResponses)
	} else {
		cond.Message = fmt.Sprintf("held-out R² %.2f (cross-validated %.2f), RMSE %.2f on %d responses, trained on %d",
			ev.RSquared, ev.CrossValidatedRSquared, ev.RMSE, ev.HeldOutResponses, ev.TrainingResponses)
	}
	return st, cond
}

// nonZero rounds a figure to 4 decimals for status (nil when not measured).
func nonZero(f float64) *float64 {
	if f == 0 {
		return nil
	}
	r := math.Round(f*1e4) / 1e4
	return &r
}
