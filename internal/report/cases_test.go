package report_test

import (
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/report"
)

// The fixture's Cases, counted by hand (see fixtureCases).
func TestCaseStatistics(t *testing.T) {
	w := report.Window{From: fixtureEnd.AddDate(0, 0, -7), To: fixtureEnd}
	st, n := report.CaseStatistics(fixtureCases(), nil, w)
	if n != 6 {
		t.Errorf("considered %d Cases, want 6", n)
	}
	// Opened in the window: c1, c2, c4, c5 (c3 before, c6 after). Closed:
	// c1, c2, c3. Open at the end: c4, c5; overdue: c4.
	if st.Opened != 4 || st.Closed != 3 || st.OpenNow != 2 || st.Overdue != 1 {
		t.Errorf("opened %d closed %d open %d overdue %d, want 4 3 2 1", st.Opened, st.Closed, st.OpenNow, st.Overdue)
	}
	// c1 closed before its due time, c2 after; c3 had no goal.
	if st.ClosedWithinGoal != 1 || st.ClosedWithGoal != 2 || st.ClosedWithinGoalPercent == nil || *st.ClosedWithinGoalPercent != 50 {
		t.Errorf("within goal %d of %d (%v), want 1 of 2 (50%%)", st.ClosedWithinGoal, st.ClosedWithGoal, st.ClosedWithinGoalPercent)
	}
	// First actions after 2h (c1), 6h (c2), 1h (c4): median 2h.
	if st.MedianTimeToFirstAction == nil || st.MedianTimeToFirstAction.Duration != 2*time.Hour || st.FirstActions != 3 {
		t.Errorf("median time to first action %v over %d, want 2h over 3", st.MedianTimeToFirstAction, st.FirstActions)
	}
	// Closed after 20h (c1), 3 days (c2), 14 days (c3): median 3 days.
	if st.MedianTimeToClose == nil || st.MedianTimeToClose.Duration != 72*time.Hour {
		t.Errorf("median time to close %v, want 72h", st.MedianTimeToClose)
	}
	if len(st.RootCauses) != 2 || st.RootCauses[0] != (report.Count{Name: "Documentation", Count: 2}) || st.RootCauses[1] != (report.Count{Name: "Installer bug", Count: 1}) {
		t.Errorf("root causes %+v, want Documentation 2, Installer bug 1", st.RootCauses)
	}
	if st.Recovered != 1 || st.RecoveryKnown != 2 {
		t.Errorf("recovered %d of %d, want 1 of 2", st.Recovered, st.RecoveryKnown)
	}

	// Only the follow-up template: c5, opened and open.
	st, n = report.CaseStatistics(fixtureCases(), []string{"detractor-follow-up"}, w)
	if n != 1 || st.Opened != 1 || st.OpenNow != 1 || st.Closed != 0 || st.Overdue != 0 || st.MedianTimeToClose != nil {
		t.Errorf("follow-up template: %d considered, %+v; want 1 opened and open, nothing closed", n, st)
	}
}

func TestMedianDuration(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]time.Duration{5 * time.Minute}, 5 * time.Minute, true},
		{[]time.Duration{3 * time.Hour, time.Hour}, 2 * time.Hour, true},
		{[]time.Duration{9, 1, 5}, 5, true},
		{[]time.Duration{1, 2}, 1, true}, // 1.5ns rounds down
		{[]time.Duration{1<<62 + 1, 1<<62 + 3}, 1<<62 + 2, true},
	} {
		in := append([]time.Duration(nil), tc.in...)
		got, ok := report.MedianDuration(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MedianDuration(%v) = %v, %v; want %v, %v", in, got, ok, tc.want, tc.ok)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("MedianDuration reordered its input")
			}
		}
	}
}
