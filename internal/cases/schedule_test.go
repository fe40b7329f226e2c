package cases

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// reconcileAt does what the Case controller does at now: evaluate, record
// what is due, schedule what is coming; then it delivers what the stored
// status already recorded (before the write) and what was recorded now
// (after it). It returns the keys delivered before and after the write.
func reconcileAt(c *cxv1alpha1.Case, tmpl *cxv1alpha1.CaseTemplate, now time.Time, canDeliver bool) (before, after []string) {
	stored := c.DeepCopy()
	p := Evaluate(c, tmpl, now, nil)
	RecordDue(c, tmpl, p.Transitions, now, canDeliver)
	Schedule(c, tmpl, now, canDeliver)
	for _, n := range DeliverableNow(stored, c) {
		before = append(before, n.Key+"@"+n.Channel)
		Done(c, n, now, cxv1alpha1.DeliveryDelivered, "")
	}
	for _, n := range DueNow(c) {
		after = append(after, n.Key+"@"+n.Channel)
		Done(c, n, now, cxv1alpha1.DeliveryDelivered, "")
	}
	return before, after
}

// scheduledOf lists the scheduled notifications as "key@channel due".
func scheduledOf(c *cxv1alpha1.Case) []string {
	var out []string
	for _, n := range c.Status.PendingNotifications {
		if n.DueAt != nil {
			out = append(out, fmt.Sprintf("%s@%s %s", n.Key, n.Channel, n.DueAt.Sub(t0)))
		}
	}
	return out
}

// The notifications of time-driven transitions (Overdue, a missed first
// response, an escalation step) are recorded ahead, with their deadline,
// in the status write that sets the deadline; at the deadline they are
// delivered before the one write that records the transition and marks
// them done. A change that moves a deadline or ends the wait updates or
// drops them.
func TestScheduledNotifications(t *testing.T) {
	// The default policy: closure 72h, first response 4h; the ladder:
	// no-answer at the first-response deadline, late 2h after dueAt.
	due, frDue := 72*time.Hour, 4*time.Hour
	frKey, dueKey := fmt.Sprintf("case-uid/FirstResponseOverdue/%d", t0.Add(frDue).Unix()), fmt.Sprintf("case-uid/Overdue/%d", t0.Add(due).Unix())
	opened := []string{
		dueKey + "@support 72h0m0s", dueKey + "@email 72h0m0s",
		frKey + "@support 4h0m0s", frKey + "@email 4h0m0s",
		"case-uid/Escalated/no-answer@support 4h0m0s", "case-uid/Escalated/no-answer@pager 4h0m0s",
		"case-uid/Escalated/late@support 74h0m0s",
	}
	for _, tc := range []struct {
		name string
		// change is applied at t0+1h, after the opening.
		change        func(*cxv1alpha1.Case)
		at            time.Duration
		wantBefore    []string
		wantAfter     []string
		wantScheduled []string
	}{
		{
			name: "first-response deadline: delivered before the one write",
			at:   frDue,
			wantBefore: []string{
				frKey + "@support", frKey + "@email", "case-uid/Escalated/no-answer@support", "case-uid/Escalated/no-answer@pager",
			},
			wantScheduled: []string{dueKey + "@support 72h0m0s", dueKey + "@email 72h0m0s", "case-uid/Escalated/late@support 74h0m0s"},
		},
		{
			name: "an escalation step at its time: delivered before the one write",
			change: func(c *cxv1alpha1.Case) {
				c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{Type: cxv1alpha1.ActionNote, By: "maria", At: metav1.NewTime(t0.Add(time.Hour))})
			},
			at:         due + 2*time.Hour,
			wantBefore: []string{dueKey + "@support", dueKey + "@email", "case-uid/Escalated/late@support"},
		},
		{
			name: "a first action drops what the first-response deadline would owe",
			change: func(c *cxv1alpha1.Case) {
				c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{Type: cxv1alpha1.ActionNote, By: "maria", At: metav1.NewTime(t0.Add(time.Hour))})
			},
			at:            frDue,
			wantScheduled: []string{dueKey + "@support 72h0m0s", dueKey + "@email 72h0m0s", "case-uid/Escalated/late@support 74h0m0s"},
		},
		{
			name: "a new closure goal moves the overdue notification to its key and time",
			change: func(c *cxv1alpha1.Case) {
				c.Spec.ClosureGoal = durp(10 * time.Hour)
				c.Generation++
			},
			at: 10 * time.Hour,
			// The first-response deadline passed on the way (the test
			// jumps there): its notifications were scheduled too.
			wantBefore: []string{
				fmt.Sprintf("case-uid/Overdue/%d@support", t0.Add(10*time.Hour).Unix()), fmt.Sprintf("case-uid/Overdue/%d@email", t0.Add(10*time.Hour).Unix()),
				frKey + "@support", frKey + "@email", "case-uid/Escalated/no-answer@support", "case-uid/Escalated/no-answer@pager",
			},
			wantScheduled: []string{"case-uid/Escalated/late@support 12h0m0s"},
		},
		{
			name: "closed before its deadlines: nothing more is owed",
			change: func(c *cxv1alpha1.Case) {
				c.Spec.State = cxv1alpha1.CaseClosed
				c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "documentation"}
				c.Generation++
			},
			at: due + 3*time.Hour,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := template()
			c := newCase("", nil)
			before, after := reconcileAt(c, tmpl, t0, true)
			if len(before) != 0 || !slices.Equal(after, []string{"case-uid/Opened@support", "case-uid/Opened@email"}) {
				t.Fatalf("at opening delivered %q before and %q after the write", before, after)
			}
			if got := scheduledOf(c); !slices.Equal(got, opened) {
				t.Fatalf("scheduled at opening %q, want %q", got, opened)
			}
			if tc.change != nil {
				tc.change(c)
				if b, a := reconcileAt(c, tmpl, t0.Add(time.Hour), true); len(b)+len(a) != 0 {
					t.Fatalf("the change delivered %q %q", b, a)
				}
			}
			before, after = reconcileAt(c, tmpl, t0.Add(tc.at), true)
			if !slices.Equal(before, tc.wantBefore) {
				t.Errorf("delivered before the write %q, want %q", before, tc.wantBefore)
			}
			if !slices.Equal(after, tc.wantAfter) {
				t.Errorf("delivered after the write %q, want %q", after, tc.wantAfter)
			}
			if got := scheduledOf(c); !slices.Equal(got, tc.wantScheduled) {
				t.Errorf("scheduled %q, want %q", got, tc.wantScheduled)
			}
			// Evaluated again (a retry, a restart), nothing more is owed
			// and nothing changes.
			again := c.DeepCopy()
			if b, a := reconcileAt(c, tmpl, t0.Add(tc.at), true); len(b)+len(a) != 0 {
				t.Errorf("delivered again: %q %q", b, a)
			}
			if got := scheduledOf(c); !slices.Equal(got, scheduledOf(again)) {
				t.Errorf("scheduled changed on a second look: %q", got)
			}
		})
	}
}

// Without a notifier nothing is scheduled: what a transition cannot
// deliver is recorded as Skipped when it happens.
func TestScheduleWithoutNotifier(t *testing.T) {
	c := newCase("", nil)
	reconcileAt(c, template(), t0, false)
	if got := scheduledOf(c); len(got) != 0 {
		t.Errorf("scheduled without a notifier: %q", got)
	}
}
