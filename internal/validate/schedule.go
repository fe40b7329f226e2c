package validate

import (
	"fmt"
	"strings"
	"time"

	// The IANA time zone database, embedded so that time zones load in a
	// scratch image without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// cronParser reads the five standard fields (minute hour day-of-month month
// day-of-week) and descriptors such as @weekly, @daily and @every 1h.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CronSchedule is a parsed cron schedule in a time zone. (It is not named
// Schedule because the function Schedule returns it.)
type CronSchedule struct {
	spec     string
	location *time.Location
	// wall is the schedule evaluated on wall-clock times (as if in UTC,
	// where no daylight-saving change happens); nil for @every.
	wall     *cron.SpecSchedule
	schedule cron.Schedule
}

// maxSkips bounds the wall-clock times Next passes over after a
// daylight-saving change: at most one per minute of one repeated hour.
const maxSkips = 2 * 60

// Next is the first activation strictly after the given time, computed in
// the schedule's time zone, or the zero time if the schedule never fires.
// Schedules follow the wall clock of the zone, as cron does: "0 8 * * MON"
// is 08:00 local time on both sides of a daylight-saving change; a time
// that happens twice when clocks go back (02:30) fires once, at its first
// occurrence; a time skipped when clocks go forward fires as much later as
// the clocks jumped (02:30 at 03:30). @every durations count elapsed
// time.
func (s *CronSchedule) Next(after time.Time) time.Time {
	if s.wall == nil {
		return s.schedule.Next(after).In(s.location)
	}
	a := after.In(s.location)
	wall := time.Date(a.Year(), a.Month(), a.Day(), a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), time.UTC)
	for range maxSkips {
		nw := s.wall.Next(wall)
		if nw.IsZero() {
			return nw
		}
		t := time.Date(nw.Year(), nw.Month(), nw.Day(), nw.Hour(), nw.Minute(), nw.Second(), 0, s.location)
		t = firstOccurrence(t)
		if t.After(after) {
			return t
		}
		// This wall-clock time already happened at or before after (the
		// first pass through a repeated hour): take the next one.
		wall = nw
	}
	return time.Time{}
}

// firstOccurrence returns the earlier instant with the same wall-clock time
// as t when t is the second occurrence of a time repeated by clocks going
// back, else t.
func firstOccurrence(t time.Time) time.Time {
	_, offset := t.Zone()
	// A change that repeats t's wall time happened within the last hours.
	_, before := t.Add(-3 * time.Hour).Zone()
	if before <= offset {
		return t
	}
	earlier := t.Add(-time.Duration(before-offset) * time.Second)
	if _, o := earlier.Zone(); o == before && earlier.Hour() == t.Hour() && earlier.Minute() == t.Minute() {
		return earlier
	}
	return t
}

// Location is the schedule's time zone.
func (s *CronSchedule) Location() *time.Location { return s.location }

// String is the schedule as written.
func (s *CronSchedule) String() string { return s.spec }

// Schedule parses a cron schedule (five fields, or a descriptor such as
// @weekly) in an IANA time zone (UTC when empty). The Problems are on
// spec.schedule and spec.timeZone; the schedule is nil when there are any.
func Schedule(schedule, timeZone string) (*CronSchedule, Problems) {
	return parseSchedule(schedule, timeZone, "spec.schedule", "spec.timeZone")
}

func parseSchedule(schedule, timeZone, scheduleField, zoneField string) (*CronSchedule, Problems) {
	var ps Problems
	loc, zoneProblem := loadLocation(timeZone)
	if zoneProblem != "" {
		ps.add(zoneField, cxv1alpha1.ReasonUnknownTimeZone, zoneProblem)
	}
	spec := strings.TrimSpace(schedule)
	upper := strings.ToUpper(spec)
	switch {
	case spec == "":
		ps.add(scheduleField, cxv1alpha1.ReasonInvalidSchedule,
			`schedule is empty; set a cron schedule such as "0 8 * * MON" (08:00 every Monday) or @weekly`)
		return nil, ps
	case strings.HasPrefix(upper, "CRON_TZ=") || strings.HasPrefix(upper, "TZ="):
		zone, _, _ := strings.Cut(spec, " ")
		ps.add(scheduleField, cxv1alpha1.ReasonInvalidSchedule, fmt.Sprintf(
			"schedule must not set a time zone (%s); remove it and set spec.timeZone: %s instead",
			zone, zone[strings.Index(zone, "=")+1:]))
		return nil, ps
	}
	sched, err := cronParser.Parse(spec)
	if err != nil {
		ps.add(scheduleField, cxv1alpha1.ReasonInvalidSchedule, fmt.Sprintf(
			"%q is not a cron schedule: %v; use five fields (minute hour day-of-month month day-of-week), "+
				`for example "0 8 * * MON", or a descriptor such as @daily or @weekly`, schedule, err))
		return nil, ps
	}
	if ps != nil {
		return nil, ps
	}
	cs := &CronSchedule{spec: spec, location: loc, schedule: sched}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
		wall := *s
		wall.Location = time.UTC
		cs.wall = &wall
	}
	// robfig/cron looks five years ahead; a schedule such as "0 0 30 2 *"
	// (30 February) never fires.
	if cs.Next(time.Now()).IsZero() {
		ps.add(scheduleField, cxv1alpha1.ReasonInvalidSchedule, fmt.Sprintf(
			"%q never fires (no such date); check the day-of-month and month fields", schedule))
		return nil, ps
	}
	return cs, nil
}

// loadLocation loads an IANA time zone; the message says what is wrong.
func loadLocation(name string) (*time.Location, string) {
	switch name {
	case "", "UTC":
		return time.UTC, ""
	case "Local":
		return nil, `time zone "Local" depends on the machine the manager runs on; use an IANA name such as Europe/Berlin or UTC`
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Sprintf("unknown time zone %q; use an IANA name such as Europe/Berlin, America/New_York or UTC", name)
	}
	return loc, ""
}
