package demo

import (
	"reflect"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// Each question that feeds a KPI (by its kpi field or its type) gets that
// KPI, a YesNo question its yes-rate; a Rating without kpi, a Text
// question and a question nobody answered get none.
func TestKPILines(t *testing.T) {
	tp := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "recommend", Type: cxv1alpha1.QuestionNPS},
		{ID: "satisfied", Type: cxv1alpha1.QuestionCSAT},
		{ID: "ease", Type: cxv1alpha1.QuestionRating, KPI: cxv1alpha1.KPICES, Scale: &cxv1alpha1.Scale{Min: 1, Max: 7}},
		{ID: "speed", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 7}},
		{ID: "completed", Type: cxv1alpha1.QuestionYesNo},
		{ID: "improve", Type: cxv1alpha1.QuestionText},
		{ID: "effort", Type: cxv1alpha1.QuestionCES},
	}}}
	var a metrics.Aggregate
	var nps, csat, ces, speed, yes metrics.QuestionAggregate
	nps.AddNPS(10)
	nps.AddNPS(3)
	csat.AddScore(5, metrics.CSATScale)
	ces.AddScore(6, metrics.CESScale)
	speed.AddScore(4, metrics.CESScale)
	yes.AddYesNo(true)
	for id, q := range map[string]metrics.QuestionAggregate{"recommend": nps, "satisfied": csat, "ease": ces, "speed": speed, "completed": yes} {
		a.AddQuestion(id, q)
	}

	var got [][2]string
	for _, l := range kpiLines(tp, a) {
		got = append(got, [2]string{l.Name, l.Question})
	}
	want := [][2]string{{"NPS", "recommend"}, {"CSAT", "satisfied"}, {"CES", "ease"}, {"yes", "completed"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kpiLines = %v, want %v", got, want)
	}
}
