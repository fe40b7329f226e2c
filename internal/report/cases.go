package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// caseSection counts the Cases of templates (all when empty) for w, and
// values them with the caseTemplates' spec.value.
func caseSection(cases []cxv1alpha1.Case, caseTemplates []cxv1alpha1.CaseTemplate, templates []string, w Window, span func(Window) string) Section {
	st, considered := CaseStatistics(cases, templates, w)
	st.Return = ReturnOnActing(cases, caseTemplates, templates, w)
	scope := "all case templates"
	if len(templates) > 0 {
		scope = fmt.Sprintf("case templates %v", templates)
	}
	return Section{
		Title: "Cases",
		Cases: &st,
		Basis: fmt.Sprintf("%d Cases of %s: opened and closed %s; open and overdue at its end.", considered, scope, span(w)),
	}
}

// CaseStatistics computes the Cases section for the window w from the Cases
// of the given templates (all when templates is empty), and returns how many
// Cases it considered. Opened counts status.openedAt (the creation time when
// unset) in w, Closed status.closedAt in w; OpenNow and Overdue are as of
// w.To.
func CaseStatistics(cases []cxv1alpha1.Case, templates []string, w Window) (CaseStats, int) {
	var st CaseStats
	var toFirstAction, toClose []time.Duration
	causes := map[string]int{}
	in := func(t *metav1.Time) bool { return t != nil && !t.Time.Before(w.From) && t.Time.Before(w.To) }
	considered := 0
	for i := range cases {
		c := &cases[i]
		if len(templates) > 0 && !slices.Contains(templates, c.Spec.Template) {
			continue
		}
		considered++
		opened := c.Status.OpenedAt
		if opened == nil {
			opened = &c.CreationTimestamp
		}
		closed := c.Status.ClosedAt
		if in(opened) {
			st.Opened++
			if fa := c.Status.FirstActionAt; fa != nil {
				toFirstAction = append(toFirstAction, fa.Sub(opened.Time))
			}
		}
		if opened.Time.Before(w.To) && (closed == nil || !closed.Time.Before(w.To)) {
			st.OpenNow++
			if due := c.Status.DueAt; due != nil && due.Time.Before(w.To) {
				st.Overdue++
			}
		}
		if !in(closed) {
			continue
		}
		st.Closed++
		if c.Status.TimeToClose != nil {
			toClose = append(toClose, c.Status.TimeToClose.Duration)
		} else {
			toClose = append(toClose, closed.Sub(opened.Time))
		}
		if due := c.Status.DueAt; due != nil {
			st.ClosedWithGoal++
			if !closed.Time.After(due.Time) {
				st.ClosedWithinGoal++
			}
		}
		if res := c.Spec.Resolution; res != nil {
			if res.RootCause != "" {
				causes[res.RootCause]++
			}
			if res.CustomerRecovered != nil {
				st.RecoveryKnown++
				if *res.CustomerRecovered {
					st.Recovered++
				}
			}
		}
	}
	if st.ClosedWithGoal > 0 {
		p := float64(st.ClosedWithinGoal) / float64(st.ClosedWithGoal) * 100
		st.ClosedWithinGoalPercent = &p
	}
	st.FirstActions = len(toFirstAction)
	if d, ok := MedianDuration(toFirstAction); ok {
		st.MedianTimeToFirstAction = &cxv1alpha1.Duration{Duration: d}
	}
	if d, ok := MedianDuration(toClose); ok {
		st.MedianTimeToClose = &cxv1alpha1.Duration{Duration: d}
	}
	for name, n := range causes {
		st.RootCauses = append(st.RootCauses, Count{Name: name, Count: n})
	}
	slices.SortFunc(st.RootCauses, func(x, y Count) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	if len(st.RootCauses) > maxRootCauses {
		st.RootCauses = st.RootCauses[:maxRootCauses]
	}
	return st, considered
}

// MedianDuration is the median of ds (the mean of the two middle values of
// an even count, rounded down to the nanosecond); ok is false when ds is
// empty. ds is not modified.
func MedianDuration(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	// Halve before adding: two long durations must not overflow.
	a, b := s[n/2-1], s[n/2]
	return a/2 + b/2 + (a%2+b%2)/2, true
}
