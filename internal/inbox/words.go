package inbox

import (
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// dueInWords says how long until the deadline, or how long past it, the way
// a person says it: "due in 3 h", "overdue 2 d", "due in 40 min".
func dueInWords(now, due time.Time) string {
	if due.IsZero() {
		return "no deadline yet"
	}
	if d := due.Sub(now); d > 0 {
		return "due in " + span(d)
	}
	return "overdue " + span(now.Sub(due))
}

// span is a duration in its largest sensible unit, rounded down.
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1 min"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	}
}

// ago is "3 h ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if t.After(now) {
		return "in " + span(t.Sub(now))
	}
	return span(now.Sub(t)) + " ago"
}

// nextStates are the states a Case may move to from its state, as the
// CRD's transition rule allows (api/v1alpha1 CaseState).
func nextStates(s cxv1alpha1.CaseState) []cxv1alpha1.CaseState {
	switch s {
	case cxv1alpha1.CaseOpen, "":
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseInProgress, cxv1alpha1.CasePendingCustomer, cxv1alpha1.CaseResolved}
	case cxv1alpha1.CaseInProgress:
		return []cxv1alpha1.CaseState{cxv1alpha1.CasePendingCustomer, cxv1alpha1.CaseResolved}
	case cxv1alpha1.CasePendingCustomer:
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseInProgress, cxv1alpha1.CaseResolved}
	case cxv1alpha1.CaseResolved:
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseClosed, cxv1alpha1.CaseReopened}
	case cxv1alpha1.CaseClosed:
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseReopened}
	case cxv1alpha1.CaseReopened:
		return []cxv1alpha1.CaseState{cxv1alpha1.CaseInProgress, cxv1alpha1.CasePendingCustomer, cxv1alpha1.CaseResolved}
	}
	return nil
}

// stateLabel is how a state reads on a button and in the timeline.
func stateLabel(s cxv1alpha1.CaseState) string {
	switch s {
	case cxv1alpha1.CaseInProgress:
		return "In progress"
	case cxv1alpha1.CasePendingCustomer:
		return "Waiting for customer"
	case "":
		return "Open"
	}
	return string(s)
}
