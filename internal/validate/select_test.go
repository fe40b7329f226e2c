package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestSelectTouchpoints(t *testing.T) {
	all := touchpoints()
	sel := func(names []string, s *metav1.LabelSelector) cxv1alpha1.TouchpointSelection {
		return cxv1alpha1.TouchpointSelection{Names: names, Selector: s}
	}
	tests := []struct {
		name string
		sel  cxv1alpha1.TouchpointSelection
		want []string
		ps   []Problem
	}{
		{name: "by name", sel: sel([]string{"upgrade-install"}, nil), want: []string{"upgrade-install"}},
		{name: "by label", sel: sel(nil, &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "relationship"}}), want: []string{"relationship-nps"}},
		{name: "empty selector selects all", sel: sel(nil, &metav1.LabelSelector{}), want: []string{"relationship-nps", "upgrade-install"}},
		{
			name: "union without duplicates",
			sel: sel([]string{"upgrade-install"}, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "journey", Operator: metav1.LabelSelectorOpIn, Values: []string{"upgrade", "relationship"}}}}),
			want: []string{"relationship-nps", "upgrade-install"},
		},
		{name: "no match", sel: sel(nil, &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "onboarding"}}), want: []string{}},
		{
			name: "missing name",
			sel:  sel([]string{"upgrade-install", "renewal"}, nil),
			want: []string{"upgrade-install"},
			ps: []Problem{{Field: "spec.touchpoints.names[1]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `SurveyTouchpoint "renewal" not found (existing: "relationship-nps", "upgrade-install"); create it or fix the name`}},
		},
		{
			name: "invalid selector",
			sel: sel(nil, &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "journey", Operator: "Near", Values: []string{"x"}}}}),
			want: []string{},
			ps: []Problem{{Field: "spec.touchpoints.selector", Reason: cxv1alpha1.ReasonInvalidSpec,
				Message: `invalid label selector: "Near" is not a valid label selector operator`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ps := SelectTouchpoints(tt.sel, all)
			wantProblems(t, ps, tt.ps...)
			names := touchpointNames(got)
			if len(names) != len(tt.want) {
				t.Fatalf("selected %v, want %v", names, tt.want)
			}
			for i := range names {
				if names[i] != tt.want[i] {
					t.Fatalf("selected %v, want %v", names, tt.want)
				}
			}
		})
	}
	_, ps := SelectTouchpoints(sel([]string{"x"}, nil), nil)
	wantProblems(t, ps, Problem{Field: "spec.touchpoints.names[0]", Reason: cxv1alpha1.ReasonReferenceNotFound,
		Message: `SurveyTouchpoint "x" not found (there are none); create it or fix the name`})
}
