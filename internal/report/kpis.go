package report

import (
	"fmt"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/validate"
)

// scaleOf is a numeric question's scale with the type's defaults.
func scaleOf(q *cxv1alpha1.Question) metrics.Scale {
	lo, hi := validate.QuestionScale(*q)
	return metrics.Scale{Min: lo, Max: hi}
}

// measure is what a set of responses says about the KPIs: the answers of
// every question feeding each KPI, merged.
type measure struct {
	responses int64
	answers   map[cxv1alpha1.KPI]metrics.QuestionAggregate
	// fed: some question of the touchpoints feeds the KPI (it may have no
	// answers).
	fed map[cxv1alpha1.KPI]bool
}

// add merges one touchpoint's aggregate into m. Question ids are the
// touchpoint's own, so KPIs of several touchpoints merge per KPI, after the
// question ids are resolved.
func (m *measure) add(tp *cxv1alpha1.SurveyTouchpoint, a metrics.Aggregate) {
	if m.answers == nil {
		m.answers = map[cxv1alpha1.KPI]metrics.QuestionAggregate{}
		m.fed = map[cxv1alpha1.KPI]bool{}
	}
	m.responses += a.Responses
	for _, k := range kpiOrder {
		ids := validate.KPIQuestions(tp, k)
		if len(ids) == 0 {
			continue
		}
		m.fed[k] = true
		qs := []metrics.QuestionAggregate{m.answers[k]}
		for _, id := range ids {
			qs = append(qs, a.Question(id))
		}
		m.answers[k] = metrics.MergeQuestions(qs...)
	}
}

// kpi computes kpi from the merged answers; nil when nobody answered.
func (m *measure) kpi(kpi cxv1alpha1.KPI) *metrics.KPI {
	q, ok := m.answers[kpi]
	if !ok {
		return nil
	}
	v, err := metrics.ForKPI(string(kpi), q)
	if err != nil {
		return nil
	}
	return &v
}

// measureWindow merges the touchpoints' aggregates of w.
func (b *builder) measureWindow(tps []*cxv1alpha1.SurveyTouchpoint, w Window) measure {
	var m measure
	for _, tp := range tps {
		m.add(tp, b.total(tp, w))
	}
	return m
}

// value compares kpi between the window and the comparison window.
func value(kpi cxv1alpha1.KPI, cur measure, prev *measure) *KPIValue {
	if !cur.fed[kpi] && (prev == nil || !prev.fed[kpi]) {
		return nil
	}
	v := &KPIValue{Current: cur.kpi(kpi)}
	if prev != nil {
		v.Previous = prev.kpi(kpi)
	}
	if v.Current != nil && v.Previous != nil {
		c := metrics.Compare(*v.Previous, *v.Current)
		v.Delta = &c.Delta
		v.Significant = c.Significant
	}
	return v
}

func (b *builder) kpiRow(label, tpName string, tps []*cxv1alpha1.SurveyTouchpoint) KPIRow {
	cur := b.measureWindow(tps, b.cur)
	row := KPIRow{Touchpoint: tpName, Label: label, Responses: cur.responses}
	var prev *measure
	if b.prev != nil {
		p := b.measureWindow(tps, *b.prev)
		prev = &p
		row.PreviousResponses = &p.responses
	}
	row.NPS = value(cxv1alpha1.KPINPS, cur, prev)
	row.CSAT = value(cxv1alpha1.KPICSAT, cur, prev)
	row.CES = value(cxv1alpha1.KPICES, cur, prev)
	return row
}

func (b *builder) kpiSection() Section {
	sec := Section{Title: "Key figures", KPIs: &KPIs{}}
	all := b.kpiRow("All touchpoints", "", b.tps)
	sec.KPIs.Rows = append(sec.KPIs.Rows, all)
	if len(b.tps) > 1 {
		for _, tp := range b.tps {
			sec.KPIs.Rows = append(sec.KPIs.Rows, b.kpiRow(Touchpoint{Name: tp.Name, DisplayName: tp.Spec.DisplayName}.label(), tp.Name, []*cxv1alpha1.SurveyTouchpoint{tp}))
		}
	}
	sec.Basis = fmt.Sprintf("%s responses submitted %s", formatCount(all.Responses), b.span(b.cur))
	if b.prev != nil {
		sec.Basis += fmt.Sprintf(", compared with %s responses submitted %s", formatCount(*all.PreviousResponses), b.span(*b.prev))
	}
	sec.Basis += ". A change is marked significant when it exceeds the combined 95% margin of error."
	return sec
}

func (b *builder) trendSection() Section {
	t := &Trend{Period: b.period, Periods: b.periods}
	measures := make([]measure, len(b.periods))
	var total int64
	for i, w := range b.periods {
		measures[i] = b.measureWindow(b.tps, w)
		t.Responses = append(t.Responses, measures[i].responses)
		total += measures[i].responses
	}
	for _, k := range kpiOrder {
		s := TrendSeries{KPI: k}
		answered := false
		for i := range measures {
			p := TrendPoint{}
			if v := measures[i].kpi(k); v != nil {
				answered = true
				p.Value, p.N, p.MarginOfError = &v.Value, v.N, v.MarginOfError
			}
			s.Points = append(s.Points, p)
		}
		if answered {
			t.Series = append(t.Series, s)
		}
	}
	first, last := b.periods[0], b.periods[len(b.periods)-1]
	return Section{
		Title: "Trend",
		Trend: t,
		Basis: fmt.Sprintf("%s responses submitted %s, in %d periods of one %s.",
			formatCount(total), b.span(Window{From: first.From, To: last.To}), len(b.periods), periodNoun(b.period)),
	}
}

func periodNoun(p cxv1alpha1.TrendPeriod) string {
	switch p {
	case cxv1alpha1.TrendDay:
		return "day"
	case cxv1alpha1.TrendMonth:
		return "month"
	}
	return "week"
}
