package predict

import (
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// The sample touchpoint's prediction block becomes the Spec it declares.
func TestFromTouchpointSample(t *testing.T) {
	b, err := os.ReadFile("../../config/samples/surveytouchpoint-relationship-nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tp cxv1alpha1.SurveyTouchpoint
	if err := yaml.UnmarshalStrict(b, &tp); err != nil {
		t.Fatal(err)
	}
	spec, ok, err := FromTouchpoint(&tp)
	if !ok || err != nil {
		t.Fatalf("ok %v, err %v", ok, err)
	}
	if spec.Target != TargetDetractor || spec.ScaleMax != 10 || spec.InteractionKey != "ticketId" ||
		spec.Window != 336*time.Hour || spec.MinAUC != 0.7 || spec.MinTrainingResponses != 200 || len(spec.Features) != 4 {
		t.Errorf("spec %+v", spec)
	}
	// Defaults of the CRD are not in the file: the conversion applies ours.
	if f := spec.withDefaults().Features[3]; f.Kind != Category || f.Aggregate != Last || f.Source != "customer.tier" {
		t.Errorf("tier feature %+v", f)
	}
	tp.Spec.Prediction.Question = "improve"
	if _, _, err := FromTouchpoint(&tp); err != nil {
		t.Errorf("a text question is the CRD's to refuse; here it only needs to exist: %v", err)
	}
	tp.Spec.Prediction.Question = "nope"
	if _, _, err := FromTouchpoint(&tp); err == nil || !strings.Contains(err.Error(), `spec.prediction.question: "nope"`) {
		t.Errorf("unknown question: %v", err)
	}
}

func TestStatus(t *testing.T) {
	st, cond := Status(nil, 0)
	if st != nil || cond.Status != metav1.ConditionFalse || cond.Reason != cxv1alpha1.ReasonNotTrained {
		t.Errorf("not trained: %+v %+v", st, cond)
	}
	res, _ := trainSynth(t, synthSpec(), synthesize(3000, 9, 0.8, false))
	st, cond = Status(&res, 42)
	if cond.Status != metav1.ConditionTrue || cond.Reason != cxv1alpha1.ReasonModelAccepted ||
		!strings.HasPrefix(cond.Message, "held-out AUC 0.") {
		t.Errorf("accepted: %+v", cond)
	}
	if st.AUC == nil || *st.AUC != float64(int64(res.Evaluation.AUC*1e4+0.5))/1e4 || st.Predicted != 42 ||
		len(st.TopEffects) != TopEffects || st.TopEffects[0] != res.Effects[0].Text || st.RSquared != nil {
		t.Errorf("status %+v", st)
	}
	random, _ := trainSynth(t, synthSpec(), synthesize(3000, 10, 0.8, true))
	st, cond = Status(&random, 0)
	if cond.Status != metav1.ConditionFalse || cond.Reason != cxv1alpha1.ReasonModelRefused ||
		cond.Message != "nothing is predicted: "+random.Refused || st.AUC == nil {
		t.Errorf("refused: %+v %+v", cond, st)
	}
}
