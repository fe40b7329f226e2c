package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/validate"
)

func (b *builder) segmentSection() Section {
	seg := &Segments{GroupBy: b.groupBy, MinResponses: DefaultMinResponses}
	top := DefaultTop
	if s := b.spec.Segments; s != nil {
		if s.Top > 0 {
			top = int(s.Top)
		}
		if s.MinResponses > 0 {
			seg.MinResponses = int64(s.MinResponses)
		}
	}
	// Per group, each touchpoint's answers are resolved to KPIs before
	// they are merged (question ids are per touchpoint).
	groups := map[string]*measure{}
	for _, tp := range b.tps {
		res := b.results[key(tp.Name, b.cur, b.groupBy)]
		if res == nil {
			continue
		}
		for g, a := range res.Groups {
			m := groups[g]
			if m == nil {
				m = &measure{}
				groups[g] = m
			}
			m.add(tp, a)
		}
	}
	all := make([]Segment, 0, len(groups))
	var responses int64
	for g, m := range groups {
		responses += m.responses
		all = append(all, Segment{Value: g, Responses: m.responses,
			NPS: m.kpi(cxv1alpha1.KPINPS), CSAT: m.kpi(cxv1alpha1.KPICSAT), CES: m.kpi(cxv1alpha1.KPICES)})
	}
	for _, k := range kpiOrder {
		if slices.ContainsFunc(all, func(s Segment) bool { return s.KPI(k) != nil }) {
			seg.KPI = k
			break
		}
	}
	var ranked []Segment
	for _, s := range all {
		if v := s.KPI(seg.KPI); v != nil && v.N >= seg.MinResponses {
			ranked = append(ranked, s)
		}
	}
	seg.Ranked, seg.Unranked = len(ranked), len(all)-len(ranked)
	slices.SortFunc(ranked, func(x, y Segment) int {
		if c := cmp.Compare(y.KPI(seg.KPI).Value, x.KPI(seg.KPI).Value); c != 0 {
			return c
		}
		return cmp.Compare(x.Value, y.Value)
	})
	nBest := min(top, len(ranked))
	seg.Best = slices.Clone(ranked[:nBest])
	rest := ranked[nBest:]
	nWorst := min(top, len(rest))
	for i := range nWorst {
		seg.Worst = append(seg.Worst, rest[len(rest)-1-i])
	}
	basis := fmt.Sprintf("%s responses submitted %s, grouped by %s into %d segments", formatCount(responses), b.span(b.cur), b.groupBy, len(all))
	if seg.KPI != "" {
		basis += fmt.Sprintf("; ranked by %s among the %d with at least %d answers", seg.KPI, seg.Ranked, seg.MinResponses)
	}
	return Section{Title: "Segments by " + b.groupBy, Segments: seg, Basis: basis + "."}
}

func (b *builder) driverSection() Section {
	kd := &KeyDrivers{}
	var responses int64
	for _, tp := range b.tps {
		a := b.total(tp, b.cur)
		kpi, kpiQ := "", ""
		for _, k := range kpiOrder {
			for i := range tp.Spec.Questions {
				q := &tp.Spec.Questions[i]
				if validate.QuestionKPI(*q) == k && !q.Driver {
					kpi, kpiQ = string(k), q.ID
					break
				}
			}
			if kpiQ != "" {
				break
			}
		}
		var drivers []metrics.DriverQuestion
		labels := map[string]string{}
		for i := range tp.Spec.Questions {
			q := &tp.Spec.Questions[i]
			if q.Driver && q.ID != kpiQ && q.Type != cxv1alpha1.QuestionNPS {
				drivers = append(drivers, metrics.DriverQuestion{ID: q.ID, Scale: scaleOf(q)})
				labels[q.ID] = q.Text
			}
		}
		if kpiQ == "" || len(drivers) == 0 {
			continue
		}
		responses += a.Responses
		da := DriverAnalysis{
			Touchpoint: tp.Name, KPI: cxv1alpha1.KPI(kpi), Question: kpiQ, Labels: labels,
			KeyDriverAnalysis: metrics.KeyDrivers(a, kpiQ, drivers, MinDriverPairs),
		}
		for _, d := range da.Drivers {
			if d.Priority == metrics.PriorityFixFirst {
				da.FixFirst = append(da.FixFirst, d.ID)
			}
		}
		kd.Analyses = append(kd.Analyses, da)
	}
	return Section{
		Title:      "Key drivers",
		KeyDrivers: kd,
		Basis: fmt.Sprintf("%s responses submitted %s to %d touchpoints with driver questions; a driver needs %d responses answering both it and the KPI question. "+
			"r is the correlation with the KPI question, β the standardized regression weight; fix first: |r| above and score below the median of the drivers.",
			formatCount(responses), b.span(b.cur), len(kd.Analyses), MinDriverPairs),
	}
}

func (b *builder) themeSection() Section {
	cur := make([]metrics.Aggregate, 0, len(b.tps))
	var prev []metrics.Aggregate
	for _, tp := range b.tps {
		cur = append(cur, b.total(tp, b.cur))
		if b.prev != nil {
			prev = append(prev, b.total(tp, *b.prev))
		}
	}
	c, p := metrics.Merge(cur...), metrics.Merge(prev...)
	th := &Themes{}
	var mentions int64
	for name, t := range c.Themes {
		mentions += t.Count
		item := Theme{Name: name, Count: t.Count}
		if c.Responses > 0 {
			item.Share = float64(t.Count) / float64(c.Responses) * 100
		}
		if s, ok := t.MeanSentiment(); ok {
			item.Sentiment = &s
		}
		if b.prev != nil {
			pc := p.Themes[name].Count
			change := t.Count - pc
			item.PreviousCount, item.Change = &pc, &change
		}
		th.Items = append(th.Items, item)
	}
	if b.prev != nil {
		// Themes that disappeared are a change too.
		for name, t := range p.Themes {
			if _, ok := c.Themes[name]; !ok {
				pc, change := t.Count, -t.Count
				th.Items = append(th.Items, Theme{Name: name, PreviousCount: &pc, Change: &change})
			}
		}
	}
	slices.SortFunc(th.Items, func(x, y Theme) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	if len(th.Items) > maxThemes {
		th.Other = len(th.Items) - maxThemes
		th.Items = th.Items[:maxThemes]
	}
	basis := fmt.Sprintf("%s theme mentions in the %s responses submitted %s", formatCount(mentions), formatCount(c.Responses), b.span(b.cur))
	if b.prev != nil {
		basis += fmt.Sprintf(", compared with the %s responses submitted %s", formatCount(p.Responses), b.span(*b.prev))
	}
	return Section{Title: "Themes", Themes: th, Basis: basis + "."}
}

func (b *builder) goalSection() Section {
	g := &Goals{}
	cur := b.measureWindow(b.tps, b.cur)
	trend := make([]measure, len(b.periods))
	for i, w := range b.periods {
		trend[i] = b.measureWindow(b.tps, w)
	}
	for _, goal := range b.spec.Goals {
		g.Items = append(g.Items, b.goalProgress(goal, &cur, trend))
	}
	first, last := b.periods[0], b.periods[len(b.periods)-1]
	return Section{
		Title: "Goals",
		Goals: g,
		Basis: fmt.Sprintf("Current value: %s responses submitted %s. Projection: the least-squares line through the %d %sly values %s, extended to the goal date.",
			formatCount(cur.responses), b.span(b.cur), len(b.periods), periodNoun(b.period), b.span(Window{From: first.From, To: last.To})),
	}
}

func (b *builder) goalProgress(goal cxv1alpha1.Goal, cur *measure, trend []measure) GoalProgress {
	gp := GoalProgress{KPI: goal.KPI, By: goal.By, Current: cur.kpi(goal.KPI), Status: GoalUnknown}
	switch {
	case goal.Target != nil:
		gp.Target = *goal.Target
	case goal.PercentOfOpportunity != nil:
		p := *goal.PercentOfOpportunity
		gp.PercentOfOpportunity = &p
		baseline, note, ok := b.baseline(goal, gp.Current)
		if !ok {
			gp.Note = note
			return gp
		}
		gp.Baseline, gp.Note = &baseline, note
		gp.Target = metrics.OpportunityTarget(baseline, b.maxOf(goal.KPI), p)
	default:
		gp.Note = "the goal sets neither target nor percentOfOpportunity"
		return gp
	}
	if gp.Current != nil && gp.Current.Value >= gp.Target {
		gp.Status = GoalReached
		return gp
	}
	var points []metrics.Point
	for i, m := range trend {
		if v := m.kpi(goal.KPI); v != nil {
			w := b.periods[i]
			points = append(points, metrics.Point{Time: w.From.Add(w.To.Sub(w.From) / 2), Value: v.Value})
		}
	}
	by, err := time.ParseInLocation("2006-01-02", goal.By, b.loc)
	if err != nil {
		gp.Note = fmt.Sprintf("by %q is not a date (YYYY-MM-DD)", goal.By)
		return gp
	}
	// The goal holds for the whole goal date: project to its end.
	onTrack, projected, err := metrics.OnTrack(points, gp.Target, by.AddDate(0, 0, 1))
	if err != nil {
		gp.Note = fmt.Sprintf("a projection needs %s answers in at least two %ss; %d had answers", goal.KPI, periodNoun(b.period), len(points))
		return gp
	}
	// A straight line leaves the KPI's range sooner or later; no KPI can.
	lowest := 0.0
	if goal.KPI == cxv1alpha1.KPINPS {
		lowest = -metrics.MaxNPS
	}
	projected = max(lowest, min(b.maxOf(goal.KPI), projected))
	gp.Projected = &projected
	gp.Status = GoalOffTrack
	if onTrack {
		gp.Status = GoalOnTrack
	}
	return gp
}

// baseline of a percent-of-opportunity goal: the goal's, else the one the
// previous report started from, else the KPI of this window.
func (b *builder) baseline(goal cxv1alpha1.Goal, current *metrics.KPI) (float64, string, bool) {
	if goal.Baseline != nil {
		return *goal.Baseline, "", true
	}
	if prev := b.in.Previous; prev != nil {
		for _, s := range prev.Sections {
			if s.Goals == nil {
				continue
			}
			for _, it := range s.Goals.Items {
				if it.KPI == goal.KPI && it.Baseline != nil && it.PercentOfOpportunity != nil {
					return *it.Baseline, "baseline kept from the first report", true
				}
			}
		}
	}
	if current == nil {
		return 0, fmt.Sprintf("no %s answers in the window to take the baseline from; set spec.goals[].baseline", goal.KPI), false
	}
	return current.Value, "baseline is this report's value; later reports keep it", true
}

// maxOf is the best possible value of kpi: 100 for NPS and CSAT, the top of
// the CES questions' scale for CES.
func (b *builder) maxOf(kpi cxv1alpha1.KPI) float64 {
	switch kpi {
	case cxv1alpha1.KPINPS:
		return metrics.MaxNPS
	case cxv1alpha1.KPICSAT:
		return metrics.MaxPercent
	}
	top := math.Inf(-1)
	for _, tp := range b.tps {
		for i := range tp.Spec.Questions {
			if q := &tp.Spec.Questions[i]; validate.QuestionKPI(*q) == kpi {
				top = max(top, float64(scaleOf(q).Max))
			}
		}
	}
	if math.IsInf(top, -1) {
		return float64(metrics.CESScale.Max)
	}
	return top
}
