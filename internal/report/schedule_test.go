package report

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// A run is due at the latest activation no more than the starting deadline
// late; an older one is reported as missed, and nothing after base runs
// twice.
func TestDueActivation(t *testing.T) {
	daily, problems := validate.Schedule("0 8 * * *", "UTC")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	at := func(day, h, m int) time.Time { return time.Date(2027, 4, day, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name        string
		base, now   time.Time
		deadline    time.Duration
		due, missed time.Time
	}{
		{"before the activation", at(1, 0, 0), at(1, 7, 59), time.Hour, time.Time{}, time.Time{}},
		{"at the activation", at(1, 0, 0), at(1, 8, 0), time.Hour, at(1, 8, 0), time.Time{}},
		{"late within the deadline", at(1, 0, 0), at(1, 8, 59), time.Hour, at(1, 8, 0), time.Time{}},
		{"exactly at the deadline", at(1, 0, 0), at(1, 9, 0), time.Hour, at(1, 8, 0), time.Time{}},
		{"missed by more than the deadline", at(1, 0, 0), at(1, 9, 30), time.Hour, time.Time{}, at(1, 8, 0)},
		{"the latest of several, the older missed", at(1, 0, 0), at(3, 8, 30), 2 * time.Hour, at(3, 8, 0), at(1, 8, 0)},
		{"already run", at(1, 8, 0), at(1, 8, 30), time.Hour, time.Time{}, time.Time{}},
	} {
		due, missed := DueActivation(daily, tc.base, tc.now, tc.deadline)
		if !due.Equal(tc.due) || !missed.Equal(tc.missed) {
			t.Errorf("%s: due %v missed %v, want %v %v", tc.name, due, missed, tc.due, tc.missed)
		}
	}
}

// Each scheduled time and each run-now value has a key of its own; the
// same run keeps its key.
func TestRunKey(t *testing.T) {
	rs := &cxv1alpha1.ReportSubscription{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "weekly", UID: "u1"}}
	at := time.Date(2027, 4, 5, 8, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	for _, tc := range []struct {
		trigger, want string
	}{
		{"", "report/acme/weekly/u1/2027-04-05T06:00:00Z"},
		{"1712300000", "report/acme/weekly/u1/manual/1712300000"},
	} {
		if got := RunKey(rs, at, tc.trigger); got != tc.want {
			t.Errorf("RunKey(%q) = %q, want %q", tc.trigger, got, tc.want)
		}
	}
}
