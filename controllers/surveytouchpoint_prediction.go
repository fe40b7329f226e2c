package controllers

import (
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// copyPrediction copies the collector's prediction status and its
// PredictionReady condition into the touchpoint's status: the collector
// trains and judges the model where the data is, the manager only shows
// it. Without spec.prediction both are removed.
func copyPrediction(tp *cxv1alpha1.SurveyTouchpoint, st *collectorclient.Status) {
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
