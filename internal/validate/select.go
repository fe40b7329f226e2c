package validate

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// maxListed is how many available names a "not found" message lists.
const maxListed = 10

// SelectTouchpoints resolves a selection against the touchpoints of the
// namespace: the union of the named ones and those matching the label
// selector (an empty selector {} matches all), sorted by name. A named
// touchpoint that does not exist is a ReasonReferenceNotFound problem on
// spec.touchpoints.names[i]; an invalid selector is a ReasonInvalidSpec
// problem. Selecting nothing is not a problem here: AlertRule reports it.
func SelectTouchpoints(sel cxv1alpha1.TouchpointSelection, all []cxv1alpha1.SurveyTouchpoint) ([]cxv1alpha1.SurveyTouchpoint, Problems) {
	var ps Problems
	byName := make(map[string]int, len(all))
	for i := range all {
		byName[all[i].Name] = i
	}
	chosen := map[string]bool{}
	for i, name := range sel.Names {
		if _, ok := byName[name]; !ok {
			ps.add(fmt.Sprintf("spec.touchpoints.names[%d]", i), cxv1alpha1.ReasonReferenceNotFound, fmt.Sprintf(
				"SurveyTouchpoint %q not found%s; create it or fix the name", name, available(byName)))
			continue
		}
		chosen[name] = true
	}
	if sel.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(sel.Selector)
		if err != nil {
			ps.add("spec.touchpoints.selector", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
				"invalid label selector: %v", err))
		} else {
			for i := range all {
				if s.Matches(labels.Set(all[i].Labels)) {
					chosen[all[i].Name] = true
				}
			}
		}
	}
	selected := make([]cxv1alpha1.SurveyTouchpoint, 0, len(chosen))
	for _, name := range sortedKeys(chosen) {
		selected = append(selected, all[byName[name]])
	}
	return selected, ps
}

// available lists some existing names, for a "not found" message.
func available[V any](byName map[string]V) string {
	if len(byName) == 0 {
		return " (there are none)"
	}
	names := sortedKeys(byName)
	more := ""
	if len(names) > maxListed {
		more = fmt.Sprintf(" and %d more", len(names)-maxListed)
		names = names[:maxListed]
	}
	return " (existing: " + quoteList(names) + more + ")"
}

// selectorString renders the label selector of a selection.
func selectorString(sel cxv1alpha1.TouchpointSelection) string {
	s, err := metav1.LabelSelectorAsSelector(sel.Selector)
	if err != nil {
		return "invalid"
	}
	if s.Empty() {
		return ""
	}
	return s.String()
}
