package validate

import (
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestScheduleProblems(t *testing.T) {
	tests := []struct {
		name, schedule, zone string
		want                 []Problem
	}{
		{
			name: "six fields", schedule: "0 0 8 * * MON", zone: "UTC",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `"0 0 8 * * MON" is not a cron schedule: expected exactly 5 fields, found 6: [0 0 8 * * MON]; use five fields (minute hour day-of-month month day-of-week), for example "0 8 * * MON", or a descriptor such as @daily or @weekly`}},
		},
		{
			name: "out of range", schedule: "0 25 * * *",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `"0 25 * * *" is not a cron schedule: end of range (25) above maximum (23): 25; use five fields (minute hour day-of-month month day-of-week), for example "0 8 * * MON", or a descriptor such as @daily or @weekly`}},
		},
		{
			name: "unknown descriptor", schedule: "@fortnightly",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `"@fortnightly" is not a cron schedule: unrecognized descriptor: @fortnightly; use five fields (minute hour day-of-month month day-of-week), for example "0 8 * * MON", or a descriptor such as @daily or @weekly`}},
		},
		{
			name: "CRON_TZ prefix", schedule: "CRON_TZ=Europe/Berlin 0 8 * * MON",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `schedule must not set a time zone (CRON_TZ=Europe/Berlin); remove it and set spec.timeZone: Europe/Berlin instead`}},
		},
		{
			name: "TZ prefix", schedule: "TZ=America/New_York @daily",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `schedule must not set a time zone (TZ=America/New_York); remove it and set spec.timeZone: America/New_York instead`}},
		},
		{
			name: "never fires", schedule: "0 0 30 2 *",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `"0 0 30 2 *" never fires (no such date); check the day-of-month and month fields`}},
		},
		{
			name: "empty", schedule: " ",
			want: []Problem{{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
				Message: `schedule is empty; set a cron schedule such as "0 8 * * MON" (08:00 every Monday) or @weekly`}},
		},
		{
			name: "unknown time zone", schedule: "0 8 * * MON", zone: "Europe/Berln",
			want: []Problem{{Field: "spec.timeZone", Reason: cxv1alpha1.ReasonUnknownTimeZone,
				Message: `unknown time zone "Europe/Berln"; use an IANA name such as Europe/Berlin, America/New_York or UTC`}},
		},
		{
			name: "Local time zone", schedule: "0 8 * * MON", zone: "Local",
			want: []Problem{{Field: "spec.timeZone", Reason: cxv1alpha1.ReasonUnknownTimeZone,
				Message: `time zone "Local" depends on the machine the manager runs on; use an IANA name such as Europe/Berlin or UTC`}},
		},
		{
			name: "both wrong", schedule: "every monday", zone: "CEST",
			want: []Problem{
				{Field: "spec.timeZone", Reason: cxv1alpha1.ReasonUnknownTimeZone,
					Message: `unknown time zone "CEST"; use an IANA name such as Europe/Berlin, America/New_York or UTC`},
				{Field: "spec.schedule", Reason: cxv1alpha1.ReasonInvalidSchedule,
					Message: `"every monday" is not a cron schedule: expected exactly 5 fields, found 2: [every monday]; use five fields (minute hour day-of-month month day-of-week), for example "0 8 * * MON", or a descriptor such as @daily or @weekly`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ps := Schedule(tt.schedule, tt.zone)
			if s != nil {
				t.Errorf("schedule %v returned with problems", s)
			}
			wantProblems(t, ps, tt.want...)
		})
	}
}

func TestScheduleNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name, schedule, zone string
		after                string
		want                 []string // successive activations
	}{
		{
			name: "weekly in UTC", schedule: "0 8 * * MON", zone: "",
			after: "2026-03-04T10:00:00Z",
			want:  []string{"2026-03-09T08:00:00Z", "2026-03-16T08:00:00Z"},
		},
		{
			name: "08:00 local across spring forward", schedule: "0 8 * * *", zone: "Europe/Berlin",
			after: "2026-03-28T00:00:00Z",
			want:  []string{"2026-03-28T08:00:00+01:00", "2026-03-29T08:00:00+02:00", "2026-03-30T08:00:00+02:00"},
		},
		{
			name: "08:00 local across fall back", schedule: "0 8 * * *", zone: "Europe/Berlin",
			after: "2026-10-24T12:00:00Z",
			want:  []string{"2026-10-25T08:00:00+01:00", "2026-10-26T08:00:00+01:00"},
		},
		{
			name: "a skipped time fires after the jump", schedule: "30 2 * * *", zone: "Europe/Berlin",
			after: "2026-03-28T12:00:00Z",
			want:  []string{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"},
		},
		{
			name: "a repeated time fires once", schedule: "30 2 * * *", zone: "Europe/Berlin",
			after: "2026-10-24T12:00:00Z",
			want:  []string{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
		},
		{
			name: "from inside the repeated hour", schedule: "*/20 * * * *", zone: "Europe/Berlin",
			after: "2026-10-25T02:10:00+01:00", // the second 02:10
			want:  []string{"2026-10-25T03:00:00+01:00", "2026-10-25T03:20:00+01:00"},
		},
		{
			name: "descriptor in a zone", schedule: "@weekly", zone: "America/New_York",
			after: "2026-03-04T10:00:00Z",
			want:  []string{"2026-03-08T00:00:00-05:00", "2026-03-15T00:00:00-04:00"},
		},
		{
			name: "@every counts elapsed time", schedule: "@every 90m", zone: "Europe/Berlin",
			after: "2026-10-25T00:00:00Z",
			want:  []string{"2026-10-25T01:30:00Z", "2026-10-25T03:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ps := Schedule(tt.schedule, tt.zone)
			if len(ps) > 0 {
				t.Fatalf("problems: %s", ps)
			}
			if s.String() != tt.schedule {
				t.Errorf("String() = %q", s.String())
			}
			next := at(tt.after)
			for i, w := range tt.want {
				next = s.Next(next)
				if !next.Equal(at(w)) {
					t.Fatalf("activation %d = %s, want %s", i, next.Format(time.RFC3339), w)
				}
				if next.Location() != s.Location() {
					t.Errorf("activation %d is in %v, want %v", i, next.Location(), s.Location())
				}
			}
		})
	}
	s, _ := Schedule("0 8 * * *", "Europe/Berlin")
	if s.Location().String() != berlin.String() {
		t.Errorf("Location() = %v", s.Location())
	}
}
