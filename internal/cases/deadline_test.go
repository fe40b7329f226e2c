package cases

import (
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestDeadline(t *testing.T) {
	for _, tc := range []struct {
		goal time.Duration
		want time.Time
	}{
		{24 * time.Hour, t0.Add(24 * time.Hour)},
		{90*time.Second + 1, t0.Add(91 * time.Second)},
		{1500 * time.Millisecond, t0.Add(2 * time.Second)},
		{999 * time.Millisecond, t0.Add(time.Second)},
	} {
		if got := Deadline(t0, tc.goal); !got.Time.Equal(tc.want) {
			t.Errorf("Deadline(t0, %v) = %v, want %v", tc.goal, got.Time, tc.want)
		}
	}
}

// roundTrip is the Case as a later read gets it back: the API server
// stores times in whole seconds.
func roundTrip(t *testing.T, c *cxv1alpha1.Case) *cxv1alpha1.Case {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out := &cxv1alpha1.Case{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A closure goal with a fraction of a second (the overdue benchmark's, or
// a template's "1.5s") falls due at the dueAt the Case records, and a
// Case evaluated again with nothing new is not changed.
func TestSubSecondGoalFallsDueAtTheRecordedDueAt(t *testing.T) {
	tmpl := template()
	c := newCase("Gold", nil)
	c.Spec.ClosureGoal = durp(90*time.Minute + 250*time.Millisecond)
	Evaluate(c, tmpl, t0.Add(time.Second), nil)
	Schedule(c, tmpl, t0.Add(time.Second), true)
	stored := roundTrip(t, c)
	wantDue := t0.Add(90*time.Minute + time.Second)
	if !stored.Status.DueAt.Time.Equal(wantDue) {
		t.Fatalf("recorded dueAt %v, want %v", stored.Status.DueAt.Time, wantDue)
	}

	again := stored.DeepCopy()
	p := Evaluate(again, tmpl, t0.Add(time.Minute), nil)
	Schedule(again, tmpl, t0.Add(time.Minute), true)
	if !equality.Semantic.DeepEqual(stored.Status, again.Status) {
		t.Errorf("an evaluation with nothing new changed the status:\nstored %+v\nafter  %+v", stored.Status, again.Status)
	}
	if first := stored.Status.FirstResponseDueAt.Time; !p.Next.Equal(first) {
		t.Errorf("next wake-up %v, want the recorded firstResponseDueAt %v", p.Next, first)
	}

	at := stored.DeepCopy()
	Evaluate(at, tmpl, wantDue, nil)
	if !apimeta.IsStatusConditionTrue(at.Status.Conditions, cxv1alpha1.ConditionOverdue) {
		t.Errorf("not Overdue at the recorded dueAt %v", wantDue)
	}
}
