package touchpoint

import (
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

func TestCopyPrediction(t *testing.T) {
	ready := &metav1.Condition{Type: cxv1alpha1.ConditionPredictionReady, Status: metav1.ConditionTrue, Reason: "Accepted",
		Message: "held-out AUC 0.81", ObservedGeneration: 99}
	quality := &cxv1alpha1.PredictionStatus{TrainingResponses: 1200, HeldOutResponses: 300}
	stale := metav1.Condition{Type: cxv1alpha1.ConditionPredictionReady, Status: metav1.ConditionFalse, Reason: "Training"}
	other := metav1.Condition{Type: cxv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: cxv1alpha1.ReasonSucceeded}
	for _, tc := range []struct {
		name      string
		spec      *cxv1alpha1.PredictionSpec
		st        collectorclient.Status
		had       []metav1.Condition
		want      *metav1.Condition // the PredictionReady condition after; nil: none
		wantStats bool
	}{
		{name: "copied, at the collector's generation", spec: &cxv1alpha1.PredictionSpec{}, st: collectorclient.Status{Generation: 3, Prediction: quality, PredictionCondition: ready},
			had: []metav1.Condition{other, stale}, want: &metav1.Condition{Status: metav1.ConditionTrue, Reason: "Accepted", Message: "held-out AUC 0.81", ObservedGeneration: 3}, wantStats: true},
		{name: "no spec.prediction removes both", st: collectorclient.Status{Generation: 3, Prediction: quality, PredictionCondition: ready},
			had: []metav1.Condition{other, stale}},
		{name: "a collector that reports none removes both", spec: &cxv1alpha1.PredictionSpec{}, st: collectorclient.Status{Generation: 3},
			had: []metav1.Condition{other, stale}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := &cxv1alpha1.SurveyTouchpoint{}
			tp.Spec.Prediction = tc.spec
			tp.Status.Conditions = append([]metav1.Condition(nil), tc.had...)
			tp.Status.Prediction = &cxv1alpha1.PredictionStatus{TrainingResponses: 1}
			CopyPrediction(tp, &tc.st)
			got := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionPredictionReady)
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("PredictionReady = %+v, want %+v", got, tc.want)
			}
			if got != nil && (got.Status != tc.want.Status || got.Reason != tc.want.Reason || got.Message != tc.want.Message || got.ObservedGeneration != tc.want.ObservedGeneration) {
				t.Errorf("PredictionReady = %+v, want %+v", got, tc.want)
			}
			if (tp.Status.Prediction != nil) != tc.wantStats || tc.wantStats && tp.Status.Prediction.TrainingResponses != quality.TrainingResponses {
				t.Errorf("status.prediction = %+v, want copied: %v", tp.Status.Prediction, tc.wantStats)
			}
			if !apimeta.IsStatusConditionTrue(tp.Status.Conditions, cxv1alpha1.ConditionReady) {
				t.Errorf("the Ready condition was touched: %+v", tp.Status.Conditions)
			}
		})
	}
	t.Run("a long message is bounded", func(t *testing.T) {
		long := *ready
		long.Message = strings.Repeat("x", 10000)
		tp := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Prediction: &cxv1alpha1.PredictionSpec{}}}
		CopyPrediction(tp, &collectorclient.Status{PredictionCondition: &long})
		if got := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionPredictionReady); got == nil || len(got.Message) > maxConditionMessage {
			t.Errorf("message of %d bytes, want at most %d", len(got.Message), maxConditionMessage)
		}
	})
}
