package validate

import (
	"fmt"
	"slices"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// goalDateLayout is the format of a goal's by date.
const goalDateLayout = "2006-01-02"

// ReportSubscription checks the schedule and time zone (see Schedule),
// that each goal's by is a real date, and that the Goals and Segments
// sections have their configuration. Touchpoints, channels and case
// templates are checked by Program.Validate.
func ReportSubscription(r *cxv1alpha1.ReportSubscription) Problems {
	_, ps := Schedule(r.Spec.Schedule, r.Spec.TimeZone)
	for i, g := range r.Spec.Goals {
		if _, err := time.Parse(goalDateLayout, g.By); err != nil {
			ps.add(fmt.Sprintf("spec.goals[%d].by", i), cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
				"%q is not a date; write the goal date as YYYY-MM-DD, for example 2026-12-31", g.By))
		}
	}
	if slices.Contains(r.Spec.Sections, cxv1alpha1.SectionGoals) && len(r.Spec.Goals) == 0 {
		ps.add("spec.goals", cxv1alpha1.ReasonInvalidSpec,
			"sections include Goals but no goals are set; add spec.goals or remove the Goals section")
	}
	if seg := r.Spec.Segments; seg != nil {
		if msg := GroupByContact(seg.GroupBy, nil); msg != "" {
			ps.add("spec.segments.groupBy", cxv1alpha1.ReasonInvalidSpec, msg)
		}
	}
	if slices.Contains(r.Spec.Sections, cxv1alpha1.SectionSegments) && r.Spec.Segments == nil {
		ps.add("spec.segments", cxv1alpha1.ReasonInvalidSpec,
			"sections include Segments but spec.segments is not set; set spec.segments.groupBy "+
				"(for example customer.tier) or remove the Segments section")
	}
	return ps
}
