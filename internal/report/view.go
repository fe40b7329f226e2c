package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// view is a report laid out for reading: the HTML and the text renderings
// draw the same blocks, so they always say the same thing.
type view struct {
	Title    string
	Subtitle string
	Footer   string
	Sections []sectionView
}

type sectionView struct {
	Title  string
	Basis  string
	Blocks []block
}

// block is a heading, an optional chart, a table and notes.
type block struct {
	Heading string
	Image   *imageRef
	Header  []string
	Rows    [][]cell
	// TextOnlyRows: the HTML shows the chart instead of the table.
	TextOnlyRows bool
	Notes        []string
}

// HeaderCells are the header as cells aligned like their columns.
func (b block) HeaderCells() []cell {
	out := make([]cell, len(b.Header))
	for i, h := range b.Header {
		out[i] = cell{Text: h}
		for _, r := range b.Rows {
			if i < len(r) && r[i].Right {
				out[i].Right = true
			}
		}
	}
	return out
}

type imageRef struct {
	ContentID string
	Alt       string
	Width     int
	Height    int
}

// Tones of cells.
const (
	toneGood  = "good"
	toneBad   = "bad"
	toneMuted = "muted"
)

// cell is one table cell; Tone colours it in HTML: toneGood, toneBad or
// toneMuted.
type cell struct {
	Text   string
	Strong bool
	Tone   string
	Right  bool
}

func txt(s string) cell         { return cell{Text: s} }
func num(s string) cell         { return cell{Text: s, Right: true} }
func strong(s string) cell      { return cell{Text: s, Strong: true} }
func toned(s, tone string) cell { return cell{Text: s, Tone: tone, Right: true} }

// chartContentID is the Content-ID of a KPI's trend chart.
func chartContentID(kpi cxv1alpha1.KPI) string {
	return "trend-" + strings.ToLower(string(kpi)) + "@cxloop"
}

// location is the report's time zone (UTC when it does not load); Render
// loads it once for all renderings.
func (r *Report) location() *time.Location {
	if loc, err := time.LoadLocation(r.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

func buildView(r *Report, loc *time.Location) view {
	names := make([]string, len(r.Touchpoints))
	for i, tp := range r.Touchpoints {
		names[i] = tp.label()
	}
	v := view{
		Title:    r.Title,
		Subtitle: fmt.Sprintf("%s · %s responses · %s", formatWindow(r.Window, loc), formatCount(r.Responses), strings.Join(names, ", ")),
		Footer:   fmt.Sprintf("Sent by cxloop for ReportSubscription %s/%s.", r.Namespace, r.Subscription),
	}
	if len(r.Touchpoints) == 0 {
		v.Subtitle = formatWindow(r.Window, loc) + " · no touchpoints selected"
	}
	for i := range r.Sections {
		s := &r.Sections[i]
		sv := sectionView{Title: s.Title, Basis: s.Basis}
		switch {
		case s.KPIs != nil:
			sv.Blocks = kpiBlocks(s.KPIs, r.Previous != nil)
		case s.Trend != nil:
			sv.Blocks = trendBlocks(s.Trend, loc)
		case s.Segments != nil:
			sv.Blocks = segmentBlocks(s.Segments)
		case s.Cases != nil:
			sv.Blocks = caseBlocks(s.Cases)
		case s.KeyDrivers != nil:
			sv.Blocks = driverBlocks(s.KeyDrivers)
		case s.Themes != nil:
			sv.Blocks = themeBlocks(s.Themes, r.Previous != nil)
		case s.Goals != nil:
			sv.Blocks = goalBlocks(s.Goals)
		case s.Predictions != nil:
			sv.Blocks = predictionBlocks(s.Predictions, loc)
		}
		v.Sections = append(v.Sections, sv)
	}
	return v
}

// fedKPIs are the KPIs some row has.
func fedKPIs(k *KPIs) []cxv1alpha1.KPI {
	var out []cxv1alpha1.KPI
	for _, kpi := range kpiOrder {
		for _, row := range k.Rows {
			if row.Value(kpi) != nil {
				out = append(out, kpi)
				break
			}
		}
	}
	return out
}

func kpiBlocks(k *KPIs, compare bool) []block {
	kpis := fedKPIs(k)
	blocks := make([]block, 0, len(k.Rows))
	for _, row := range k.Rows {
		b := block{Heading: row.Label + " · " + formatCount(row.Responses) + " responses"}
		if row.PreviousResponses != nil {
			b.Heading += " (previously " + formatCount(*row.PreviousResponses) + ")"
		}
		b.Header = []string{"KPI", "Value ±95%"}
		if compare {
			b.Header = append(b.Header, "Change")
		}
		for _, kpi := range kpis {
			val := row.Value(kpi)
			if val == nil {
				continue
			}
			cells := []cell{strong(string(kpi)), num(formatKPI(kpi, val.Current))}
			if compare {
				cells = append(cells, changeCell(kpi, val))
			}
			b.Rows = append(b.Rows, cells)
		}
		if len(b.Rows) == 0 {
			b.Notes = append(b.Notes, "No question feeds NPS, CSAT or CES.")
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func changeCell(kpi cxv1alpha1.KPI, v *KPIValue) cell {
	switch {
	case v.Delta == nil && v.Current != nil:
		return toned("no earlier answers", toneMuted)
	case v.Delta == nil:
		return toned("—", toneMuted)
	case !v.Significant:
		return toned(formatDelta(kpi, *v.Delta)+" (within margin)", toneMuted)
	case *v.Delta > 0:
		return toned(formatDelta(kpi, *v.Delta)+" (significant)", toneGood)
	default:
		return toned(formatDelta(kpi, *v.Delta)+" (significant)", toneBad)
	}
}

func trendBlocks(t *Trend, loc *time.Location) []block {
	if len(t.Series) == 0 {
		return []block{{Notes: []string{"No answers to NPS, CSAT or CES questions in these periods."}}}
	}
	var blocks []block
	for _, s := range t.Series {
		b := block{
			Heading:      fmt.Sprintf("%s per %s", s.KPI, periodNoun(t.Period)),
			Image:        &imageRef{ContentID: chartContentID(s.KPI), Alt: fmt.Sprintf("%s per %s, %s", s.KPI, periodNoun(t.Period), trendSummary(s, t, loc)), Width: ChartWidth, Height: ChartHeight},
			Header:       []string{"Period from", string(s.KPI), "Answers"},
			TextOnlyRows: true,
		}
		for i, p := range s.Points {
			v := "—"
			if p.Value != nil {
				v = formatKPI(s.KPI, &metrics.KPI{Value: *p.Value, N: p.N, MarginOfError: p.MarginOfError})
			}
			b.Rows = append(b.Rows, []cell{txt(periodLabel(t.Periods[i], t.Period, loc)), num(v), num(formatCount(p.N))})
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// trendSummary describes a series in words, for the chart's alt text.
func trendSummary(s TrendSeries, t *Trend, loc *time.Location) string {
	first, last := -1, -1
	for i, p := range s.Points {
		if p.Value != nil {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return "no answers"
	}
	return fmt.Sprintf("from %s (%s) to %s (%s)",
		formatValue(s.KPI, *s.Points[first].Value), periodLabel(t.Periods[first], t.Period, loc),
		formatValue(s.KPI, *s.Points[last].Value), periodLabel(t.Periods[last], t.Period, loc))
}

func segmentName(v string) string {
	if v == "" {
		return "(not set)"
	}
	return v
}

func segmentBlocks(s *Segments) []block {
	if s.KPI == "" {
		return []block{{Notes: []string{"No answers to NPS, CSAT or CES questions in the window."}}}
	}
	table := func(heading string, segs []Segment) block {
		b := block{Heading: heading, Header: []string{"Segment", string(s.KPI), "Responses"}}
		for _, seg := range segs {
			b.Rows = append(b.Rows, []cell{txt(segmentName(seg.Value)), num(formatKPI(s.KPI, seg.KPI(s.KPI))), num(formatCount(seg.Responses))})
		}
		if len(segs) == 0 {
			b.Notes = append(b.Notes, fmt.Sprintf("No segment has %d answers.", s.MinResponses))
		}
		return b
	}
	blocks := []block{table("Best by "+string(s.KPI), s.Best)}
	if len(s.Worst) > 0 {
		blocks = append(blocks, table("Worst by "+string(s.KPI), s.Worst))
	}
	if s.Unranked > 0 {
		blocks[len(blocks)-1].Notes = append(blocks[len(blocks)-1].Notes,
			fmt.Sprintf("%s with fewer than %d answers not ranked.", plural(s.Unranked, "segment"), s.MinResponses))
	}
	return blocks
}

func caseBlocks(c *CaseStats) []block {
	fact := func(name, value string) []cell { return []cell{txt(name), num(value)} }
	b := block{Rows: [][]cell{
		fact("Opened", strconv.Itoa(c.Opened)),
		fact("Closed", strconv.Itoa(c.Closed)),
		fact("Open at the end", strconv.Itoa(c.OpenNow)),
	}}
	overdue := fact("Overdue", strconv.Itoa(c.Overdue))
	if c.Overdue > 0 {
		overdue[1].Tone = toneBad
	}
	b.Rows = append(b.Rows, overdue)
	within := "no closed Case had a goal"
	if c.ClosedWithinGoalPercent != nil {
		within = fmt.Sprintf("%s (%d of %d)", formatPercent(*c.ClosedWithinGoalPercent), c.ClosedWithinGoal, c.ClosedWithGoal)
	}
	b.Rows = append(b.Rows, fact("Closed within goal", within))
	first := "no first action yet"
	if c.MedianTimeToFirstAction != nil {
		first = fmt.Sprintf("%s (%s)", formatDuration(c.MedianTimeToFirstAction.Duration), plural(c.FirstActions, "Case"))
	}
	b.Rows = append(b.Rows, fact("Median time to first action", first))
	closeTime := "none closed"
	if c.MedianTimeToClose != nil {
		closeTime = formatDuration(c.MedianTimeToClose.Duration)
	}
	b.Rows = append(b.Rows, fact("Median time to close", closeTime))
	recovered := "not recorded"
	if c.RecoveryKnown > 0 {
		recovered = fmt.Sprintf("%d of %d", c.Recovered, c.RecoveryKnown)
	}
	b.Rows = append(b.Rows, fact("Customers recovered", recovered))
	blocks := []block{b}
	if len(c.RootCauses) > 0 {
		rc := block{Heading: "Top root causes", Header: []string{"Root cause", "Cases"}}
		for _, r := range c.RootCauses {
			rc.Rows = append(rc.Rows, []cell{txt(r.Name), num(strconv.Itoa(r.Count))})
		}
		blocks = append(blocks, rc)
	}
	for _, r := range c.Return {
		blocks = append(blocks, returnBlock(r))
	}
	return blocks
}

// returnBlock shows the return on acting in one currency.
func returnBlock(r CaseReturn) block {
	money := func(v float64) string { return formatMoney(v, r.Currency) }
	customers := func(amount float64, n int) cell {
		return num(fmt.Sprintf("%s (%s)", money(amount), plural(n, "customer")))
	}
	cost := fmt.Sprintf("%s (%s, %s logged)", money(r.Cost), plural(r.ClosedCases, "closed Case"), formatHours(r.HoursSpent))
	net := num(money(r.NetReturn))
	switch {
	case r.NetReturn > 0:
		net.Tone = toneGood
	case r.NetReturn < 0:
		net.Tone = toneBad
	}
	b := block{Heading: "Return on acting (" + r.Currency + ")", Rows: [][]cell{
		{txt("Value at risk, measured (open Cases from responses)"), customers(r.AtRiskMeasured, r.AtRiskMeasuredCustomers)},
		{txt("Value at risk, predicted (open Cases from predictions)"), customers(r.AtRiskPredicted, r.AtRiskPredictedCustomers)},
		{txt("Value recovered"), customers(r.Recovered, r.RecoveredCustomers)},
		{txt("Cost of handling"), num(cost)},
		{strong("Net return"), net},
	}}
	b.Rows[4][1].Strong = true
	if r.Unvalued > 0 {
		b.Notes = append(b.Notes, fmt.Sprintf("%s without a customer value left out.", plural(r.Unvalued, "Case")))
	}
	b.Notes = append(b.Notes, ReturnClaim)
	return b
}

var priorityNames = map[metrics.Priority]string{
	metrics.PriorityFixFirst:         "Fix first",
	metrics.PriorityKeepUp:           "Keep up",
	metrics.PriorityLowPriority:      "Low priority",
	metrics.PriorityPossibleOverkill: "Possible overkill",
}

func driverBlocks(k *KeyDrivers) []block {
	if len(k.Analyses) == 0 {
		return []block{{Notes: []string{"No touchpoint has driver questions (questions with driver: true)."}}}
	}
	var blocks []block
	for _, a := range k.Analyses {
		b := block{
			Heading: fmt.Sprintf("%s: what moves %s (%s)", a.Touchpoint, a.KPI, a.Question),
			Header:  []string{"Driver", "r (β)", "Score", "Priority"},
		}
		for _, d := range a.Drivers {
			impact := fmt.Sprintf("%.2f", d.Correlation)
			if d.Weight != nil {
				impact += fmt.Sprintf(" (%.2f)", *d.Weight)
			}
			pr := cell{Text: priorityNames[d.Priority], Right: true}
			if d.Priority == metrics.PriorityFixFirst {
				pr.Tone, pr.Strong = toneBad, true
			}
			b.Rows = append(b.Rows, []cell{txt(driverLabel(a, d.ID)), num(impact), num(fmt.Sprintf("%.2f", d.Score)), pr})
		}
		if len(a.FixFirst) > 0 {
			labels := make([]string, len(a.FixFirst))
			for i, id := range a.FixFirst {
				labels[i] = driverLabel(a, id)
			}
			b.Notes = append(b.Notes, "Fix first: "+strings.Join(labels, "; ")+".")
		}
		if a.WeightsUnavailable != "" && len(a.Drivers) > 0 {
			b.Notes = append(b.Notes, "No regression weights: "+a.WeightsUnavailable+".")
		}
		for _, s := range a.Skipped {
			b.Notes = append(b.Notes, fmt.Sprintf("%s left out: %s.", driverLabel(a, s.ID), s.Reason))
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func driverLabel(a DriverAnalysis, id string) string {
	if l := a.Labels[id]; l != "" {
		return l
	}
	return id
}

func themeBlocks(t *Themes, compare bool) []block {
	if len(t.Items) == 0 {
		return []block{{Notes: []string{"No themes were found in the comments of the window."}}}
	}
	b := block{Header: []string{"Theme", "Responses", "Sentiment"}}
	if compare {
		b.Header = append(b.Header, "Change")
	}
	for _, th := range t.Items {
		sent := toned("—", toneMuted)
		if th.Sentiment != nil {
			tone := ""
			switch {
			case *th.Sentiment <= -0.05:
				tone = toneBad
			case *th.Sentiment >= 0.05:
				tone = toneGood
			}
			sent = toned(fmt.Sprintf("%+.2f", round(*th.Sentiment, 2)), tone)
		}
		cells := []cell{txt(th.Name), num(fmt.Sprintf("%s (%s)", formatCount(th.Count), formatPercent(th.Share))), sent}
		if compare && th.Change != nil {
			cells = append(cells, num(fmt.Sprintf("%+d", *th.Change)))
		}
		b.Rows = append(b.Rows, cells)
	}
	if t.Other > 0 {
		b.Notes = append(b.Notes, fmt.Sprintf("%s less frequent not shown.", plural(t.Other, "theme")))
	}
	return []block{b}
}

var goalStatusNames = map[GoalStatus]string{
	GoalReached:  "Reached",
	GoalOnTrack:  "On track",
	GoalOffTrack: "Off track",
	GoalUnknown:  "Unknown",
}

func goalBlocks(g *Goals) []block {
	blocks := make([]block, 0, len(g.Items))
	for _, it := range g.Items {
		b := block{Heading: fmt.Sprintf("%s goal: %s by %s", it.KPI, formatValue(it.KPI, it.Target), it.By)}
		if it.PercentOfOpportunity != nil && it.Baseline != nil {
			b.Heading = fmt.Sprintf("%s goal: %s by %s (%s of the gap from %s)", it.KPI, formatValue(it.KPI, it.Target), it.By,
				formatPercent(*it.PercentOfOpportunity*100), formatValue(it.KPI, *it.Baseline))
		}
		status := cell{Text: goalStatusNames[it.Status], Strong: true, Right: true}
		switch it.Status {
		case GoalReached, GoalOnTrack:
			status.Tone = toneGood
		case GoalOffTrack:
			status.Tone = toneBad
		}
		b.Rows = append(b.Rows, []cell{txt("Now"), num(formatKPI(it.KPI, it.Current))})
		if it.Projected != nil {
			b.Rows = append(b.Rows, []cell{txt("Projected on " + it.By), num(formatValue(it.KPI, *it.Projected))})
		}
		b.Rows = append(b.Rows, []cell{txt("Status"), status})
		if it.Note != "" {
			b.Notes = append(b.Notes, strings.ToUpper(it.Note[:1])+it.Note[1:]+".")
		}
		blocks = append(blocks, b)
	}
	return blocks
}
