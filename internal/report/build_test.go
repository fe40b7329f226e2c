package report_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/store"
)

func answer(tp, id string, at time.Time, answers string) store.NewResponse {
	return store.NewResponse{Touchpoint: tp, ID: id, Customer: store.Customer{ID: "c-" + id}, Answers: json.RawMessage(answers), SubmittedAt: at}
}

func subscription(sections ...cxv1alpha1.ReportSection) *cxv1alpha1.ReportSubscription {
	return &cxv1alpha1.ReportSubscription{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"},
		Spec: cxv1alpha1.ReportSubscriptionSpec{
			Schedule: "0 8 * * MON", Window: &cxv1alpha1.Duration{Duration: 7 * 24 * time.Hour},
			CompareWith: cxv1alpha1.ComparePreviousWindow, Sections: sections, Channels: []string{"c"},
		},
	}
}

func touchpoint(name string, qs ...cxv1alpha1.Question) cxv1alpha1.SurveyTouchpoint {
	return cxv1alpha1.SurveyTouchpoint{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{Channel: cxv1alpha1.ChannelWeb, Questions: qs}}
}

func section(t *testing.T, r *report.Report, kind cxv1alpha1.ReportSection) report.Section {
	t.Helper()
	for _, s := range r.Sections {
		if s.Kind == kind {
			return s
		}
	}
	t.Fatalf("report has no %s section", kind)
	return report.Section{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

var end = time.Date(2026, time.March, 9, 8, 0, 0, 0, time.UTC)

// The overall NPS merges the answers of touchpoints whose NPS questions
// have different ids: hand-computed from the counts, not averaged.
func TestOverallKPIMergesTouchpoints(t *testing.T) {
	in := end.Add(-time.Hour)
	var rs []store.NewResponse
	// Touchpoint a, question "nps": 10, 9, 3 -> 2 promoters, 1 detractor:
	// NPS 33.3. Touchpoint b, question "recommend": 8, 6, 10, 10 -> 2
	// promoters, 1 passive, 1 detractor: NPS 25. Together 4 promoters,
	// 1 passive, 2 detractors of 7: NPS (4-2)/7 = 28.571...
	for i, v := range []int{10, 9, 3} {
		rs = append(rs, answer("a", fmt.Sprint("a", i), in, fmt.Sprintf(`{"nps":%d}`, v)))
	}
	for i, v := range []int{8, 6, 10, 10} {
		rs = append(rs, answer("b", fmt.Sprint("b", i), in, fmt.Sprintf(`{"recommend":%d}`, v)))
	}
	// The previous window: a single passive of a -> NPS 0.
	rs = append(rs, answer("a", "old", in.AddDate(0, 0, -7), `{"nps":7}`))
	st := openFixtureStore(t, rs)
	r, err := report.Build(context.Background(), report.Input{
		Subscription: subscription(cxv1alpha1.SectionKPIs),
		Touchpoints: []cxv1alpha1.SurveyTouchpoint{
			touchpoint("b", cxv1alpha1.Question{ID: "recommend", Text: "?", Type: cxv1alpha1.QuestionNPS}),
			touchpoint("a", cxv1alpha1.Question{ID: "nps", Text: "?", Type: cxv1alpha1.QuestionNPS}),
		},
		Source: source(st), End: end,
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := section(t, r, cxv1alpha1.SectionKPIs).KPIs.Rows
	if len(rows) != 3 || rows[0].Touchpoint != "" || rows[1].Touchpoint != "a" || rows[2].Touchpoint != "b" {
		t.Fatalf("rows: want overall, a, b; got %+v", rows)
	}
	all := rows[0]
	if all.Responses != 7 || all.PreviousResponses == nil || *all.PreviousResponses != 1 {
		t.Errorf("overall responses %d (previous %v), want 7 (1)", all.Responses, all.PreviousResponses)
	}
	if got, want := all.NPS.Current.Value, 200.0/7; !near(got, want) || all.NPS.Current.N != 7 {
		t.Errorf("overall NPS %v (n=%d), want %v (n=7)", got, all.NPS.Current.N, want)
	}
	if got := rows[1].NPS.Current.Value; !near(got, 100.0/3) {
		t.Errorf("NPS of a = %v, want 33.33", got)
	}
	if got := rows[2].NPS.Current.Value; !near(got, 25) {
		t.Errorf("NPS of b = %v, want 25", got)
	}
	if all.NPS.Previous == nil || all.NPS.Previous.Value != 0 || all.NPS.Delta == nil || !near(*all.NPS.Delta, 200.0/7) {
		t.Errorf("overall change: previous %+v delta %v, want 0 and +28.57", all.NPS.Previous, all.NPS.Delta)
	}
	// One previous answer has no margin of error: no change is significant.
	if all.NPS.Significant {
		t.Error("a change against one answer is marked significant")
	}
	if all.CSAT != nil || all.CES != nil {
		t.Errorf("no question feeds CSAT or CES, got %+v %+v", all.CSAT, all.CES)
	}
	if !strings.Contains(section(t, r, cxv1alpha1.SectionKPIs).Basis, "7 responses submitted") {
		t.Errorf("basis does not say what was counted: %q", section(t, r, cxv1alpha1.SectionKPIs).Basis)
	}
}

// Goals: a CES that rises one point a week (3, 4, 5, 6) is projected along
// that line to the goal date; a percent-of-opportunity target is computed
// from the baseline the previous report kept.
func TestGoalsProjectTheTrend(t *testing.T) {
	var rs []store.NewResponse
	for week := range 4 {
		// Periods are [end-4w, end-3w), ..., [end-1w, end); answers mid-week.
		at := end.AddDate(0, 0, -7*(4-week)).Add(84 * time.Hour)
		for i := range 3 {
			rs = append(rs, answer("tp", fmt.Sprintf("w%d-%d", week, i), at, fmt.Sprintf(`{"effort":%d}`, 3+week)))
		}
	}
	st := openFixtureStore(t, rs)
	target, p := 7.5, 0.25
	sub := subscription(cxv1alpha1.SectionGoals)
	sub.Spec.Trend = &cxv1alpha1.TrendSpec{Period: cxv1alpha1.TrendWeek, Periods: 4}
	sub.Spec.Goals = []cxv1alpha1.Goal{
		{KPI: cxv1alpha1.KPICES, Target: &target, By: "2026-03-19"},
	}
	tps := []cxv1alpha1.SurveyTouchpoint{touchpoint("tp", cxv1alpha1.Question{ID: "effort", Text: "?", Type: cxv1alpha1.QuestionCES, Scale: scale(1, 10)})}
	r, err := report.Build(context.Background(), report.Input{Subscription: sub, Touchpoints: tps, Source: source(st), End: end})
	if err != nil {
		t.Fatal(err)
	}
	g := section(t, r, cxv1alpha1.SectionGoals).Goals.Items[0]
	// The weekly means lie on a line through 6 at the last period's middle
	// (Thu 5 Mar 20:00) rising 1/7 a day; the goal holds through 19 Mar, so
	// it is projected to 20 Mar 00:00, 14 days and 4 hours later:
	// 6 + (14 + 4/24)/7 = 8.0238...
	want := 6 + (14+4.0/24)/7
	if g.Projected == nil || math.Abs(*g.Projected-want) > 1e-9 {
		t.Fatalf("projected %v, want %v", deref(g.Projected), want)
	}
	if g.Status != report.GoalOnTrack || g.Current == nil || g.Current.Value != 6 {
		t.Errorf("status %s with current %+v, want OnTrack with 6", g.Status, g.Current)
	}

	// Percent of opportunity: 25% of the gap from the baseline 4 that the
	// previous report kept to the scale's maximum 10 is 5.5; the current 6
	// has reached it.
	sub.Spec.Goals = []cxv1alpha1.Goal{{KPI: cxv1alpha1.KPICES, PercentOfOpportunity: &p, By: "2026-12-31"}}
	baseline := 4.0
	prev := &report.Report{Sections: []report.Section{{Kind: cxv1alpha1.SectionGoals, Goals: &report.Goals{Items: []report.GoalProgress{
		{KPI: cxv1alpha1.KPICES, PercentOfOpportunity: &p, Baseline: &baseline},
	}}}}}
	r, err = report.Build(context.Background(), report.Input{Subscription: sub, Touchpoints: tps, Source: source(st), End: end, Previous: prev})
	if err != nil {
		t.Fatal(err)
	}
	g = section(t, r, cxv1alpha1.SectionGoals).Goals.Items[0]
	if !near(g.Target, 5.5) || g.Baseline == nil || *g.Baseline != 4 || g.Status != report.GoalReached {
		t.Errorf("target %v from baseline %v, status %s; want 5.5 from 4, Reached", g.Target, g.Baseline, g.Status)
	}

	// Without a previous report the baseline is this window's value, 6:
	// target 6 + 0.25 x (10 - 6) = 7, not reached; the line passes it and
	// the projection stops at the scale's maximum.
	r, err = report.Build(context.Background(), report.Input{Subscription: sub, Touchpoints: tps, Source: source(st), End: end})
	if err != nil {
		t.Fatal(err)
	}
	g = section(t, r, cxv1alpha1.SectionGoals).Goals.Items[0]
	if !near(g.Target, 7) || g.Status != report.GoalOnTrack || g.Projected == nil || *g.Projected != 10 {
		t.Errorf("target %v status %s projected %v; want 7, OnTrack, projection capped at the scale maximum 10", g.Target, g.Status, g.Projected)
	}
}

// Segments are ranked by the KPI among those with enough answers; best
// and worst do not overlap.
func TestSegmentsBestAndWorst(t *testing.T) {
	var rs []store.NewResponse
	// NPS per tier: Gold 100 (3 x 10), Silver 0 (3 x 8), Bronze -100 (3 x 2),
	// Trial -33.3 (9, 0, 0), Staff has one answer only.
	tiers := map[string][]int{"Gold": {10, 10, 10}, "Silver": {8, 8, 8}, "Bronze": {2, 2, 2}, "Trial": {9, 0, 0}, "Staff": {10}}
	for tier, vs := range tiers {
		for i, v := range vs {
			r := answer("tp", fmt.Sprintf("%s-%d", tier, i), end.Add(-time.Hour), fmt.Sprintf(`{"nps":%d}`, v))
			r.Customer.Tier = tier
			rs = append(rs, r)
		}
	}
	st := openFixtureStore(t, rs)
	sub := subscription(cxv1alpha1.SectionSegments)
	sub.Spec.Segments = &cxv1alpha1.SegmentsSpec{GroupBy: "customer.tier", Top: 2, MinResponses: 3}
	r, err := report.Build(context.Background(), report.Input{Subscription: sub, Source: source(st), End: end,
		Touchpoints: []cxv1alpha1.SurveyTouchpoint{touchpoint("tp", cxv1alpha1.Question{ID: "nps", Text: "?", Type: cxv1alpha1.QuestionNPS})}})
	if err != nil {
		t.Fatal(err)
	}
	seg := section(t, r, cxv1alpha1.SectionSegments).Segments
	names := func(ss []report.Segment) string {
		var out []string
		for _, s := range ss {
			out = append(out, fmt.Sprintf("%s=%.1f", s.Value, s.NPS.Value))
		}
		return strings.Join(out, ",")
	}
	if got := names(seg.Best); got != "Gold=100.0,Silver=0.0" {
		t.Errorf("best %s, want Gold=100.0,Silver=0.0", got)
	}
	if got := names(seg.Worst); got != "Bronze=-100.0,Trial=-33.3" {
		t.Errorf("worst %s, want Bronze=-100.0,Trial=-33.3", got)
	}
	if seg.KPI != cxv1alpha1.KPINPS || seg.Ranked != 4 || seg.Unranked != 1 {
		t.Errorf("kpi %s ranked %d unranked %d, want NPS 4 1", seg.KPI, seg.Ranked, seg.Unranked)
	}
}

// Day periods follow the calendar of the time zone: the day clocks go
// forward is 23 hours long.
func TestTrendDaysAcrossDaylightSaving(t *testing.T) {
	st := openFixtureStore(t, []store.NewResponse{answer("tp", "x", time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), `{"nps":10}`)})
	sub := subscription(cxv1alpha1.SectionTrend)
	sub.Spec.TimeZone = "Europe/Berlin"
	sub.Spec.Trend = &cxv1alpha1.TrendSpec{Period: cxv1alpha1.TrendDay, Periods: 3}
	runAt := time.Date(2026, 3, 30, 8, 0, 0, 0, berlin)
	r, err := report.Build(context.Background(), report.Input{Subscription: sub, Source: source(st), End: runAt,
		Touchpoints: []cxv1alpha1.SurveyTouchpoint{touchpoint("tp", cxv1alpha1.Question{ID: "nps", Text: "?", Type: cxv1alpha1.QuestionNPS})}})
	if err != nil {
		t.Fatal(err)
	}
	tr := section(t, r, cxv1alpha1.SectionTrend).Trend
	var got []string
	for _, p := range tr.Periods {
		got = append(got, fmt.Sprintf("%s %v", p.From.In(berlin).Format("02 15:04"), p.To.Sub(p.From)))
	}
	if want := "27 08:00 24h0m0s|28 08:00 23h0m0s|29 08:00 24h0m0s"; strings.Join(got, "|") != want {
		t.Errorf("periods %s, want %s", strings.Join(got, "|"), want)
	}
	if tr.Responses[2] != 1 || tr.Series[0].Points[2].Value == nil || *tr.Series[0].Points[2].Value != 100 {
		t.Errorf("the answer of 29 March is not in the last day: %+v", tr)
	}
}

type failingSource struct{}

func (failingSource) Metrics(context.Context, *cxv1alpha1.SurveyTouchpoint, time.Time, time.Time, string) (*store.AggregateResult, error) {
	return nil, errors.New("connection refused")
}

func TestSourceErrorFailsTheReport(t *testing.T) {
	_, err := report.Build(context.Background(), report.Input{Subscription: subscription(cxv1alpha1.SectionKPIs), Source: failingSource{}, End: end,
		Touchpoints: []cxv1alpha1.SurveyTouchpoint{touchpoint("install", cxv1alpha1.Question{ID: "nps", Text: "?", Type: cxv1alpha1.QuestionNPS})}})
	if err == nil || !strings.Contains(err.Error(), "touchpoint install") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v, want one naming touchpoint install and the cause", err)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
