package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestCaseTemplate(t *testing.T) {
	if ps := CaseTemplate(caseTemplate()); len(ps) > 0 {
		t.Fatalf("valid template: %s", ps)
	}
	ct := caseTemplate()
	ct.Spec.Routes = append(ct.Spec.Routes,
		cxv1alpha1.Route{Name: "region", When: "region == 'emea'", Assignee: "jonas"},
		cxv1alpha1.Route{Name: "tier", When: "customer.tier", Assignee: "ana"},
		cxv1alpha1.Route{Name: "broken", When: "metadata.store ==", Assignee: "ana"},
	)
	wantProblems(t, CaseTemplate(ct),
		Problem{Field: "spec.routes[2].when", Reason: cxv1alpha1.ReasonInvalidExpression,
			Message: `route "region": 1:1: undeclared reference to 'region' (variables: customer, answers, metadata, comment, sentiment, themes, touchpoint, rule, severity, category)`},
		Problem{Field: "spec.routes[3].when", Reason: cxv1alpha1.ReasonInvalidExpression,
			Message: `route "tier": 1:1: expression must evaluate to bool, but has type string`},
		Problem{Field: "spec.routes[4].when", Reason: cxv1alpha1.ReasonInvalidExpression,
			Message: `route "broken": 1:18: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}`},
	)
}

func testCaseObject(state cxv1alpha1.CaseState, res *cxv1alpha1.Resolution) *cxv1alpha1.Case {
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Name: "install-failed-c-42"},
		Spec: cxv1alpha1.CaseSpec{
			Template:   "installation-followup",
			Customer:   &cxv1alpha1.Customer{ID: "c-42", Tier: "Gold"},
			State:      state,
			Resolution: res,
		},
	}
}

func TestCase(t *testing.T) {
	yes := true
	tests := []struct {
		name     string
		c        *cxv1alpha1.Case
		template *cxv1alpha1.CaseTemplate
		want     []Problem
	}{
		{name: "open", c: testCaseObject(cxv1alpha1.CaseOpen, nil), template: caseTemplate()},
		{
			name:     "closed with everything",
			c:        testCaseObject(cxv1alpha1.CaseClosed, &cxv1alpha1.Resolution{RootCause: "documentation-gap", Summary: "fixed docs", CustomerRecovered: &yes}),
			template: caseTemplate(),
		},
		{
			name:     "unknown root cause",
			c:        testCaseObject(cxv1alpha1.CaseResolved, &cxv1alpha1.Resolution{RootCause: "docs", Summary: "fixed docs"}),
			template: caseTemplate(),
			want: []Problem{{Field: "spec.resolution.rootCause", Reason: cxv1alpha1.ReasonInvalidRootCause,
				Message: `root cause "docs" is not one of CaseTemplate "installation-followup"'s closure.rootCauses; use one of: "documentation-gap", "product-defect", "download-failure"`}},
		},
		{
			name:     "closed without customerRecovered",
			c:        testCaseObject(cxv1alpha1.CaseClosed, &cxv1alpha1.Resolution{RootCause: "product-defect", Summary: "patched"}),
			template: caseTemplate(),
			want: []Problem{{Field: "spec.resolution.customerRecovered", Reason: cxv1alpha1.ReasonInvalidSpec,
				Message: `CaseTemplate "installation-followup" requires resolution.customerRecovered to close a Case; set it to true or false`}},
		},
		{
			name: "closed without customerRecovered when not required",
			c:    testCaseObject(cxv1alpha1.CaseClosed, &cxv1alpha1.Resolution{RootCause: "product-defect", Summary: "patched"}),
			template: func() *cxv1alpha1.CaseTemplate {
				ct := caseTemplate()
				ct.Spec.Closure.RequireCustomerRecovered = false
				return ct
			}(),
		},
		{
			name: "template not found",
			c:    testCaseObject(cxv1alpha1.CaseOpen, nil),
			want: []Problem{{Field: "spec.template", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `CaseTemplate "installation-followup" not found; create it (the template of a Case cannot be changed)`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, Case(tt.c, tt.template), tt.want...)
		})
	}
}
