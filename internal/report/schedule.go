package report

import (
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// DueActivation returns the latest activation of s after base and at or
// before now that is at most deadline late, or, when there is none,
// the first activation after base that was missed by more than deadline
// (zero when nothing was missed).
func DueActivation(s *validate.CronSchedule, base, now time.Time, deadline time.Duration) (due, missed time.Time) {
	from := base
	if cut := now.Add(-deadline); cut.After(from) {
		if first := s.Next(from); !first.IsZero() && first.Before(cut) {
			missed = first
		}
		// Activations before cut are too late; one exactly at cut is not.
		from = cut.Add(-time.Nanosecond)
	}
	for t := s.Next(from); !t.IsZero() && !t.After(now); t = s.Next(t) {
		due = t
	}
	return due, missed
}

// RunKey is the idempotency key of a run's messages: a retried run sends
// nothing twice; every scheduled time and every trigger value sends once.
func RunKey(rs *cxv1alpha1.ReportSubscription, at time.Time, trigger string) string {
	key := fmt.Sprintf("report/%s/%s/%s", rs.Namespace, rs.Name, rs.UID)
	if trigger != "" {
		return key + "/manual/" + trigger
	}
	return key + "/" + at.UTC().Format(time.RFC3339)
}
