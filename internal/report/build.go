package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	// Time zones load without /usr/share/zoneinfo (scratch images).
	_ "time/tzdata"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// Defaults of the ReportSubscription fields the API server defaults, for
// objects built in Go that skipped defaulting.
const (
	DefaultWindow       = 168 * time.Hour
	DefaultTrendPeriods = 8
	DefaultTop          = 3
	DefaultMinResponses = 10
)

// DefaultSections are the sections of a subscription that lists none.
var DefaultSections = []cxv1alpha1.ReportSection{cxv1alpha1.SectionKPIs, cxv1alpha1.SectionTrend, cxv1alpha1.SectionCases}

// Sections are the sections of spec, in order: spec.sections, else
// DefaultSections.
func Sections(spec *cxv1alpha1.ReportSubscriptionSpec) []cxv1alpha1.ReportSection {
	if len(spec.Sections) == 0 {
		return DefaultSections
	}
	return spec.Sections
}

// MinDriverPairs is how many responses must answer both a driver and the KPI
// question for the driver to be analysed.
const MinDriverPairs = 10

// maxThemes is how many themes the Themes section lists.
const maxThemes = 10

// maxRootCauses is how many root causes the Cases section lists.
const maxRootCauses = 5

// fetchWorkers bounds the Source calls in flight.
const fetchWorkers = 4

// kpiOrder is the order KPIs are shown and chosen in.
var kpiOrder = []cxv1alpha1.KPI{cxv1alpha1.KPINPS, cxv1alpha1.KPICSAT, cxv1alpha1.KPICES}

// Input is what a report is built from.
type Input struct {
	// Subscription whose spec chooses the sections (required).
	Subscription *cxv1alpha1.ReportSubscription
	// Touchpoints the subscription selects.
	Touchpoints []cxv1alpha1.SurveyTouchpoint
	// Cases of the namespace; the Cases section counts those of
	// spec.caseTemplates (all when empty).
	Cases []cxv1alpha1.Case
	// CaseTemplates of the namespace: their spec.value puts a value on the
	// Cases' customers and a cost on handling them (the return on acting).
	CaseTemplates []cxv1alpha1.CaseTemplate
	// Source of the responses' aggregates (required).
	Source Source
	// End of the window: the run time.
	End time.Time
	// Previous is the last report of the subscription, if any: goals
	// without a baseline keep the one it started from.
	Previous *Report
}

// Build computes the report of in. An error of the Source fails the whole
// report (a report that silently leaves out a touchpoint would mislead).
func Build(ctx context.Context, in Input) (*Report, error) {
	if in.Subscription == nil || in.Source == nil {
		return nil, errors.New("report: Build needs a Subscription and a Source")
	}
	b, err := newBuilder(in)
	if err != nil {
		return nil, err
	}
	if err := b.fetch(ctx); err != nil {
		return nil, err
	}
	return b.build(), nil
}

// builder holds the state of one Build.
type builder struct {
	in       Input
	spec     *cxv1alpha1.ReportSubscriptionSpec
	loc      *time.Location
	sections []cxv1alpha1.ReportSection
	tps      []*cxv1alpha1.SurveyTouchpoint
	cur      Window
	prev     *Window
	periods  []Window
	period   cxv1alpha1.TrendPeriod
	groupBy  string
	results  map[queryKey]*metrics.GroupedAggregate
	// predictions of the window by touchpoint (Predictions section).
	predictions map[string]*metrics.PredictionSummary
}

type queryKey struct {
	tp       string
	from, to int64
	groupBy  string
}

func key(tp string, w Window, groupBy string) queryKey {
	return queryKey{tp: tp, from: w.From.UnixNano(), to: w.To.UnixNano(), groupBy: groupBy}
}

func newBuilder(in Input) (*builder, error) {
	spec := &in.Subscription.Spec
	loc := time.UTC
	if spec.TimeZone != "" {
		l, err := time.LoadLocation(spec.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("spec.timeZone %q: %w; use an IANA name such as Europe/Berlin", spec.TimeZone, err)
		}
		loc = l
	}
	b := &builder{in: in, spec: spec, loc: loc, sections: Sections(spec), results: map[queryKey]*metrics.GroupedAggregate{}}
	for i := range in.Touchpoints {
		b.tps = append(b.tps, &in.Touchpoints[i])
	}
	slices.SortFunc(b.tps, func(x, y *cxv1alpha1.SurveyTouchpoint) int { return cmp.Compare(x.Name, y.Name) })

	window := DefaultWindow
	if spec.Window != nil && spec.Window.Duration > 0 {
		window = spec.Window.Duration
	}
	end := in.End.In(loc)
	b.cur = Window{From: end.Add(-window), To: end}
	if spec.CompareWith != cxv1alpha1.CompareNone {
		b.prev = &Window{From: end.Add(-2 * window), To: end.Add(-window)}
	}
	b.period, b.periods = trendPeriods(spec.Trend, end)
	if spec.Segments != nil {
		b.groupBy = spec.Segments.GroupBy
	}
	return b, nil
}

// trendPeriods returns the trend buckets ending at end: consecutive
// calendar days, weeks or months in end's location (so a day is a day
// across a daylight-saving change), oldest first.
func trendPeriods(t *cxv1alpha1.TrendSpec, end time.Time) (cxv1alpha1.TrendPeriod, []Window) {
	period, n := cxv1alpha1.TrendWeek, DefaultTrendPeriods
	if t != nil {
		if t.Period != "" {
			period = t.Period
		}
		if t.Periods >= 2 {
			n = int(t.Periods)
		}
	}
	shift := func(k int) time.Time {
		switch period {
		case cxv1alpha1.TrendDay:
			return end.AddDate(0, 0, k)
		case cxv1alpha1.TrendMonth:
			return end.AddDate(0, k, 0)
		default:
			return end.AddDate(0, 0, 7*k)
		}
	}
	ws := make([]Window, n)
	for i := range ws {
		ws[i] = Window{From: shift(i - n), To: shift(i - n + 1)}
	}
	return period, ws
}

func (b *builder) has(s cxv1alpha1.ReportSection) bool { return slices.Contains(b.sections, s) }

// fetch asks the Source for every aggregate the sections need, each
// distinct (touchpoint, window, grouping) once, a few at a time.
func (b *builder) fetch(ctx context.Context) error {
	var keys []queryKey
	seen := map[queryKey]bool{}
	want := func(w Window, groupBy string) {
		for _, tp := range b.tps {
			k := key(tp.Name, w, groupBy)
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// The segments' grouped aggregate of the window also gives its total
	// (groups merge exactly): the window is read once.
	segments := b.has(cxv1alpha1.SectionSegments) && b.groupBy != ""
	if segments {
		want(b.cur, b.groupBy)
	}
	if b.prev != nil && (b.has(cxv1alpha1.SectionKPIs) || b.has(cxv1alpha1.SectionThemes)) {
		want(*b.prev, "")
	}
	if b.has(cxv1alpha1.SectionTrend) || b.has(cxv1alpha1.SectionGoals) {
		for _, w := range b.periods {
			if !segments || w != b.cur {
				want(w, "")
			}
		}
	}
	if !segments {
		want(b.cur, "")
	}

	tps := map[string]*cxv1alpha1.SurveyTouchpoint{}
	for _, tp := range b.tps {
		tps[tp.Name] = tp
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	jobs := make(chan queryKey)
	for range min(fetchWorkers, len(keys)) {
		wg.Go(func() {
			for k := range jobs {
				res, err := b.in.Source.Metrics(ctx, tps[k.tp], time.Unix(0, k.from).UTC(), time.Unix(0, k.to).UTC(), k.groupBy)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = fmt.Errorf("read the responses of touchpoint %s: %w", k.tp, err)
					cancel()
				case err == nil:
					if res == nil {
						res = &metrics.GroupedAggregate{}
					}
					b.results[k] = res
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, k := range keys {
		select {
		case jobs <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := b.fetchPredictions(ctx); err != nil {
		return err
	}
	if segments {
		for _, tp := range b.tps {
			if g := b.results[key(tp.Name, b.cur, b.groupBy)]; g != nil {
				b.results[key(tp.Name, b.cur, "")] = &metrics.GroupedAggregate{Groups: map[string]metrics.Aggregate{"": mergeGroups(g)}}
			}
		}
	}
	return ctx.Err()
}

// total is one touchpoint's aggregate of a window, all groups merged.
func (b *builder) total(tp *cxv1alpha1.SurveyTouchpoint, w Window) metrics.Aggregate {
	if r := b.results[key(tp.Name, w, "")]; r != nil {
		return mergeGroups(r)
	}
	return metrics.Aggregate{}
}

// mergeGroups merges the groups of r in the order of their names, so that
// floating-point sums come out the same in every run.
func mergeGroups(r *metrics.GroupedAggregate) metrics.Aggregate {
	names := slices.Sorted(maps.Keys(r.Groups))
	all := make([]metrics.Aggregate, len(names))
	for i, n := range names {
		all[i] = r.Groups[n]
	}
	return metrics.Merge(all...)
}

func (b *builder) build() *Report {
	r := &Report{
		Title:        b.spec.Title,
		Namespace:    b.in.Subscription.Namespace,
		Subscription: b.in.Subscription.Name,
		TimeZone:     b.loc.String(),
		Window:       b.cur,
		Previous:     b.prev,
	}
	if r.Title == "" {
		r.Title = "Customer experience report: " + b.in.Subscription.Name
	}
	for _, tp := range b.tps {
		r.Touchpoints = append(r.Touchpoints, Touchpoint{Name: tp.Name, DisplayName: tp.Spec.DisplayName})
		r.Responses += b.total(tp, b.cur).Responses
	}
	for _, s := range b.sections {
		var sec Section
		switch s {
		case cxv1alpha1.SectionKPIs:
			sec = b.kpiSection()
		case cxv1alpha1.SectionTrend:
			sec = b.trendSection()
		case cxv1alpha1.SectionSegments:
			sec = b.segmentSection()
		case cxv1alpha1.SectionCases:
			sec = caseSection(b.in.Cases, b.in.CaseTemplates, b.spec.CaseTemplates, b.cur, b.span)
		case cxv1alpha1.SectionKeyDrivers:
			sec = b.driverSection()
		case cxv1alpha1.SectionThemes:
			sec = b.themeSection()
		case cxv1alpha1.SectionGoals:
			sec = b.goalSection()
		case cxv1alpha1.SectionPredictions:
			sec = b.predictionSection()
		default:
			continue
		}
		sec.Kind = s
		r.Sections = append(r.Sections, sec)
	}
	return r
}

// span formats a window for a Basis sentence.
func (b *builder) span(w Window) string { return formatWindow(w, b.loc) }

// formatWindow is how reports write a window: "Mon 2 Mar 2026 08:00 CET to
// Mon 9 Mar 2026 08:00 CET".
func formatWindow(w Window, loc *time.Location) string {
	return formatTime(w.From, loc) + " to " + formatTime(w.To, loc)
}

// formatTime is how reports write a time: "Mon 2 Mar 2026 08:00 CET".
func formatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
}
