package touchpoint

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// maxConditionMessage bounds the message of a condition the manager
// copies from a collector, as it bounds its own.
const maxConditionMessage = 4000

// CopyPrediction copies the collector's prediction status and its
// PredictionReady condition into the touchpoint's status: the collector
// trains and judges the model where the data is, the manager only shows
// it. The condition's observedGeneration is the generation the collector
// runs (an older one while a changed spec rolls out), and its message is
// bounded. Without spec.prediction, or from a collector that reports no
// prediction, both are removed.
func CopyPrediction(tp *cxv1alpha1.SurveyTouchpoint, st *collectorclient.Status) {
	if tp.Spec.Prediction == nil || st.PredictionCondition == nil {
		tp.Status.Prediction = nil
		apimeta.RemoveStatusCondition(&tp.Status.Conditions, cxv1alpha1.ConditionPredictionReady)
		return
	}
	tp.Status.Prediction = st.Prediction
	cond := *st.PredictionCondition
	cond.Message = truncate(cond.Message, maxConditionMessage)
	cond.ObservedGeneration = st.Generation
	apimeta.SetStatusCondition(&tp.Status.Conditions, cond)
}
