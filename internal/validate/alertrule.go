package validate

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

// AlertRule checks a rule against the touchpoints it selects (see
// SelectTouchpoints):
//   - spec.condition compiles, to bool, against each selected touchpoint's
//     questions (the message names the touchpoints it fails against);
//   - spec.aggregate.condition compiles in the aggregate environment, and
//     the metric has data: aggregate.question is a question of the selected
//     touchpoints that feeds the metric's KPI or, without a question, some
//     question feeds it (Sentiment: text analytics scores sentiment);
//   - spec.dedup.key compiles, to string, against each touchpoint.
//
// With no touchpoint selected it reports ReasonNoTouchpointSelected and
// still checks the aggregate condition. References to channels and
// templates are checked by Program.Validate, which knows the other
// objects.
func AlertRule(rule *cxv1alpha1.AlertRule, selected []cxv1alpha1.SurveyTouchpoint) Problems {
	var ps Problems
	spec := &rule.Spec
	if len(selected) == 0 {
		ps.add("spec.touchpoints", cxv1alpha1.ReasonNoTouchpointSelected, fmt.Sprintf(
			"%s selects no SurveyTouchpoint; the rule watches nothing until a touchpoint matches: "+
				"fix spec.touchpoints.names or spec.touchpoints.selector", describeSelection(spec.Touchpoints)))
	}

	envs := make([]*rules.ResponseEnv, 0, len(selected))
	if spec.Condition != "" || spec.Dedup != nil {
		for i := range selected {
			env, err := rules.NewResponseEnv(&selected[i])
			if err != nil {
				// The error names the touchpoint.
				ps.add("spec.touchpoints", cxv1alpha1.ReasonInvalidSpec, err.Error()+"; fix the SurveyTouchpoint")
				continue
			}
			envs = append(envs, env)
		}
	}

	if spec.Condition != "" {
		var failures compileFailures
		for _, env := range envs {
			if _, err := env.Compile(spec.Condition); err != nil {
				failures.add(env.Touchpoint(), err)
			}
		}
		failures.report(&ps, "spec.condition")
	}

	if agg := spec.Aggregate; agg != nil {
		if env, err := aggregateEnv(); err != nil {
			ps.add("spec.aggregate.condition", cxv1alpha1.ReasonInvalidExpression, err.Error())
		} else if _, err := env.Compile(agg.Condition); err != nil {
			ps.add("spec.aggregate.condition", cxv1alpha1.ReasonInvalidExpression, err.Error())
		}
		if len(selected) > 0 {
			ps = append(ps, aggregateMetric(agg, selected)...)
		}
		extra := make([]string, 0, len(selected))
		for i := range selected {
			extra = append(extra, ExtraContactKeys(&selected[i])...)
		}
		if msg := GroupByContact(agg.GroupBy, extra); msg != "" {
			ps.add("spec.aggregate.groupBy", cxv1alpha1.ReasonInvalidSpec, msg)
		}
	}

	if d := spec.Dedup; d != nil {
		var failures compileFailures
		for _, env := range envs {
			if _, err := env.CompileKey(d.Key); err != nil {
				failures.add(env.Touchpoint(), err)
			}
		}
		failures.report(&ps, "spec.dedup.key")
	}
	return ps
}

// compileFailures groups compile errors by message, so that an error
// common to all touchpoints is reported once, naming them all.
type compileFailures struct {
	messages    []string
	touchpoints map[string][]string
}

func (f *compileFailures) add(touchpoint string, err error) {
	if f.touchpoints == nil {
		f.touchpoints = map[string][]string{}
	}
	msg := err.Error()
	if _, seen := f.touchpoints[msg]; !seen {
		f.messages = append(f.messages, msg)
	}
	f.touchpoints[msg] = append(f.touchpoints[msg], touchpoint)
}

func (f *compileFailures) report(ps *Problems, field string) {
	for _, msg := range f.messages {
		tps := f.touchpoints[msg]
		against := "against touchpoint " + quoteList(tps)
		if len(tps) > 1 {
			against = "against touchpoints " + quoteList(tps)
		}
		ps.add(field, cxv1alpha1.ReasonInvalidExpression, against+": "+msg)
	}
}

var (
	aggregateOnce sync.Once
	aggEnv        *rules.AggregateEnv
	aggEnvErr     error
)

func aggregateEnv() (*rules.AggregateEnv, error) {
	aggregateOnce.Do(func() { aggEnv, aggEnvErr = rules.NewAggregateEnv() })
	return aggEnv, aggEnvErr
}

// MetricKPI is the KPI an aggregate metric is computed from, "" for
// metrics computed from whole responses (ResponseCount, Sentiment).
func MetricKPI(m cxv1alpha1.AggregateMetric) cxv1alpha1.KPI {
	switch m {
	case cxv1alpha1.AggregateNPS:
		return cxv1alpha1.KPINPS
	case cxv1alpha1.AggregateCSAT:
		return cxv1alpha1.KPICSAT
	case cxv1alpha1.AggregateCES:
		return cxv1alpha1.KPICES
	}
	return ""
}

// QuestionScale is a numeric question's scale: its scale, else the
// default of its type (NPS 0-10, CSAT 1-5, CES 1-7; a Rating without a
// scale is refused by the CRD and gets 0-10 here).
func QuestionScale(q cxv1alpha1.Question) (lo, hi int) {
	if q.Scale != nil {
		return int(q.Scale.Min), int(q.Scale.Max)
	}
	switch q.Type {
	case cxv1alpha1.QuestionCSAT:
		return 1, 5
	case cxv1alpha1.QuestionCES:
		return 1, 7
	}
	return 0, 10
}

// KPIQuestions are the ids of tp's questions that feed kpi.
func KPIQuestions(tp *cxv1alpha1.SurveyTouchpoint, kpi cxv1alpha1.KPI) []string {
	var ids []string
	for _, q := range tp.Spec.Questions {
		if QuestionKPI(q) == kpi {
			ids = append(ids, q.ID)
		}
	}
	return ids
}

// QuestionKPI is the KPI a question feeds: its kpi, else the KPI of its
// type (NPS, CSAT, CES), else none.
func QuestionKPI(q cxv1alpha1.Question) cxv1alpha1.KPI {
	if q.KPI != "" {
		return q.KPI
	}
	switch q.Type {
	case cxv1alpha1.QuestionNPS:
		return cxv1alpha1.KPINPS
	case cxv1alpha1.QuestionCSAT:
		return cxv1alpha1.KPICSAT
	case cxv1alpha1.QuestionCES:
		return cxv1alpha1.KPICES
	}
	return ""
}

// aggregateMetric checks that the metric has data in the selected
// touchpoints.
func aggregateMetric(agg *cxv1alpha1.AggregateCondition, selected []cxv1alpha1.SurveyTouchpoint) Problems {
	var ps Problems
	names := touchpointNames(selected)
	if agg.Metric == cxv1alpha1.AggregateSentiment {
		var off []string
		for _, tp := range selected {
			if ta := tp.Spec.TextAnalytics; ta != nil && !ta.Sentiment {
				off = append(off, tp.Name)
			}
		}
		if len(off) == len(selected) {
			ps.add("spec.aggregate.metric", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
				"metric Sentiment needs sentiment scores, but textAnalytics.sentiment is false on %s; "+
					"enable it on the touchpoint or choose another metric", quoteList(off)))
		}
		return ps
	}
	kpi := MetricKPI(agg.Metric)
	if kpi == "" {
		return ps
	}
	// feeding lists the questions feeding the KPI, as "touchpoint/id".
	var feeding []string
	for _, tp := range selected {
		for _, q := range tp.Spec.Questions {
			if QuestionKPI(q) == kpi {
				feeding = append(feeding, tp.Name+"/"+q.ID)
			}
		}
	}
	if agg.Question == "" {
		if len(feeding) == 0 {
			ps.add("spec.aggregate.metric", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
				"no question of the selected touchpoints (%s) feeds the %s KPI; add a question of type %s "+
					"(or with kpi: %s) or choose another metric", quoteList(names), kpi, kpi, kpi))
		}
		return ps
	}
	found := false
	for _, tp := range selected {
		for _, q := range tp.Spec.Questions {
			if q.ID != agg.Question {
				continue
			}
			found = true
			if got := QuestionKPI(q); got != kpi {
				feeds := "feeds no KPI"
				if got != "" {
					feeds = "feeds " + string(got)
				}
				ps.add("spec.aggregate.question", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
					"question %q of touchpoint %q (%s) %s, not %s; %s", q.ID, tp.Name, q.Type, feeds, kpi,
					fixQuestion(kpi, feeding)))
			}
		}
	}
	if !found {
		ps.add("spec.aggregate.question", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"question %q is in none of the selected touchpoints (%s); %s", agg.Question, quoteList(names),
			fixQuestion(kpi, feeding)))
	}
	return ps
}

func fixQuestion(kpi cxv1alpha1.KPI, feeding []string) string {
	if len(feeding) == 0 {
		return fmt.Sprintf("no question there feeds %s: add one, or choose another metric", kpi)
	}
	return fmt.Sprintf("questions feeding %s: %s (touchpoint/question); set aggregate.question to one of them "+
		"or remove it to use them all", kpi, strings.Join(feeding, ", "))
}

func touchpointNames(tps []cxv1alpha1.SurveyTouchpoint) []string {
	names := make([]string, len(tps))
	for i := range tps {
		names[i] = tps[i].Name
	}
	return names
}

// quoteList is "a", "b", "c".
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// describeSelection says what a selection asked for.
func describeSelection(sel cxv1alpha1.TouchpointSelection) string {
	var parts []string
	if len(sel.Names) > 0 {
		parts = append(parts, "names "+quoteList(sel.Names))
	}
	if sel.Selector != nil {
		parts = append(parts, "selector {"+selectorString(sel)+"}")
	}
	if len(parts) == 0 {
		return "spec.touchpoints"
	}
	return "spec.touchpoints (" + strings.Join(parts, " or ") + ")"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
