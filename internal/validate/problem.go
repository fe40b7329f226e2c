package validate

import (
	"errors"
	"strings"
)

// Problem is one thing wrong with an object.
type Problem struct {
	// Field is the JSON path of the field, for example "spec.condition",
	// "spec.routes[0].when" or "spec.schedule".
	Field string
	// Reason is a condition reason from api/v1alpha1 (ReasonInvalidExpression,
	// ReasonInvalidSchedule, ReasonUnknownTimeZone, ReasonReferenceNotFound,
	// ReasonInvalidRootCause, ReasonNoTouchpointSelected, ReasonInvalidSpec).
	Reason string
	// Message is for a person: it names the field and the fix.
	Message string
}

// String is "field: message".
func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Problems of one object, in the order found.
type Problems []Problem

// Err is nil without problems, else an error whose message has one problem
// per line.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return errors.New(ps.String())
}

// String is one problem per line.
func (ps Problems) String() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Reason is the reason of the first problem, or "" without problems: the
// reason a controller puts on its Ready condition.
func (ps Problems) Reason() string {
	if len(ps) == 0 {
		return ""
	}
	return ps[0].Reason
}

// add appends a problem.
func (ps *Problems) add(field, reason, message string) {
	*ps = append(*ps, Problem{Field: field, Reason: reason, Message: message})
}
