package validate

import (
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestReportSubscription(t *testing.T) {
	if ps := ReportSubscription(report()); len(ps) > 0 {
		t.Fatalf("valid report: %s", ps)
	}
	tests := []struct {
		name string
		edit func(*cxv1alpha1.ReportSubscription)
		want []Problem
	}{
		{
			name: "bad schedule",
			edit: func(r *cxv1alpha1.ReportSubscription) { r.Spec.Schedule = "CRON_TZ=UTC 0 8 * * MON" },
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `schedule must not set a time zone (CRON_TZ=UTC); remove it and set spec.timeZone: UTC instead`}},
		},
		{
			name: "unknown time zone",
			edit: func(r *cxv1alpha1.ReportSubscription) { r.Spec.TimeZone = "Berlin" },
			want: []Problem{{Field: "spec.timeZone", Reason: cxv1alpha1.ReasonUnknownTimeZone,
				Message: `unknown time zone "Berlin"; use an IANA name such as Europe/Berlin, America/New_York or UTC`}},
		},
		{
			name: "goal date is not a date",
			edit: func(r *cxv1alpha1.ReportSubscription) { r.Spec.Goals[0].By = "2026-02-30" },
			want: []Problem{{Field: "spec.goals[0].by", Reason: cxv1alpha1.ReasonInvalidSpec,
				Message: `"2026-02-30" is not a date; write the goal date as YYYY-MM-DD, for example 2026-12-31`}},
		},
		{
			name: "Goals section without goals",
			edit: func(r *cxv1alpha1.ReportSubscription) { r.Spec.Goals = nil },
			want: []Problem{{Field: "spec.goals", Reason: cxv1alpha1.ReasonInvalidSpec,
				Message: `sections include Goals but no goals are set; add spec.goals or remove the Goals section`}},
		},
		{
			name: "Segments section without segments",
			edit: func(r *cxv1alpha1.ReportSubscription) {
				r.Spec.Sections = append(r.Spec.Sections, cxv1alpha1.SectionSegments)
			},
			want: []Problem{{Field: "spec.segments", Reason: cxv1alpha1.ReasonInvalidSpec,
				Message: `sections include Segments but spec.segments is not set; set spec.segments.groupBy (for example customer.tier) or remove the Segments section`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := report()
			tt.edit(r)
			wantProblems(t, ReportSubscription(r), tt.want...)
		})
	}
}
