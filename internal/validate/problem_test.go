package validate

import (
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestProblems(t *testing.T) {
	var none Problems
	if err := none.Err(); err != nil {
		t.Errorf("Err() of no problems = %v", err)
	}
	if none.Reason() != "" {
		t.Errorf("Reason() of no problems = %q", none.Reason())
	}
	ps := Problems{
		{Field: "spec.condition", Reason: cxv1alpha1.ReasonInvalidExpression, Message: "1:1: undeclared reference to 'x'"},
		{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule, Message: "never fires"},
		{Reason: cxv1alpha1.ReasonInvalidSpec, Message: "no field"},
	}
	if got, want := ps[0].String(), "spec.condition: 1:1: undeclared reference to 'x'"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	want := "spec.condition: 1:1: undeclared reference to 'x'\nspec.schedule: never fires\nno field"
	if err := ps.Err(); err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want %q", err, want)
	}
	if ps.Reason() != cxv1alpha1.ReasonInvalidExpression {
		t.Errorf("Reason() = %q", ps.Reason())
	}
}
