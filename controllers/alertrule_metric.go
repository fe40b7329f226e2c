package controllers

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// windowData is one window's mergeable aggregates, one result per selected
// touchpoint (in the order of the touchpoints), as their collectors
// answered GET /v1/metrics.
type windowData struct {
	touchpoints []cxv1alpha1.SurveyTouchpoint
	results     []*store.AggregateResult
}

// groups returns the group values present in the window, sorted.
func (w windowData) groups() []string {
	seen := map[string]bool{}
	for _, res := range w.results {
		if res == nil {
			continue
		}
		for g := range res.Groups {
			seen[g] = true
		}
	}
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// measure is an aggregate metric over one window and group.
type measure struct {
	// value of the metric; meaningless when count is 0 (except for
	// ResponseCount, where it is 0).
	value float64
	// count is how many answers the metric is computed from: responses
	// answering the KPI questions (NPS, CSAT, CES), responses with a
	// sentiment score (Sentiment), or all responses (ResponseCount).
	count int64
}

// enough reports whether m may be evaluated under minResponses. A
// ResponseCount is always evaluated: the count is the metric, and a window
// with few or no responses is exactly what such a rule watches for.
func (m measure) enough(metric cxv1alpha1.AggregateMetric, minResponses int32) bool {
	if metric == cxv1alpha1.AggregateResponseCount {
		return true
	}
	return m.count > 0 && m.count >= int64(minResponses)
}

// measureGroup computes agg's metric for one group of a window, merging the
// touchpoints exactly: the answers to each touchpoint's own KPI questions
// are summed (integers), then the KPI is computed once from the sums.
func measureGroup(agg *cxv1alpha1.AggregateCondition, w windowData, group string) (measure, error) {
	var parts []metrics.Aggregate
	var questions []metrics.QuestionAggregate
	kpi := validate.MetricKPI(agg.Metric)
	for i, res := range w.results {
		if res == nil {
			continue
		}
		a, ok := res.Groups[group]
		if !ok {
			continue
		}
		parts = append(parts, a)
		if kpi == "" {
			continue
		}
		for _, id := range kpiQuestions(&w.touchpoints[i], kpi, agg.Question) {
			if q, ok := a.Questions[id]; ok {
				questions = append(questions, q)
			}
		}
	}
	merged := metrics.Merge(parts...)
	var k metrics.KPI
	var err error
	switch agg.Metric {
	case cxv1alpha1.AggregateResponseCount:
		return measure{value: float64(merged.Responses), count: merged.Responses}, nil
	case cxv1alpha1.AggregateSentiment:
		k, err = metrics.MeanSentiment(merged)
	case cxv1alpha1.AggregateNPS, cxv1alpha1.AggregateCSAT, cxv1alpha1.AggregateCES:
		k, err = metrics.ForKPI(string(validate.MetricKPI(agg.Metric)), metrics.MergeQuestions(questions...))
	default:
		return measure{}, fmt.Errorf("spec.aggregate.metric %q is not one of NPS, CSAT, CES, ResponseCount, Sentiment", agg.Metric)
	}
	if errors.Is(err, metrics.ErrNoData) {
		return measure{}, nil
	}
	if err != nil {
		return measure{}, fmt.Errorf("compute %s: %w", agg.Metric, err)
	}
	return measure{value: k.Value, count: k.N}, nil
}

// kpiQuestions lists the ids of tp's questions a metric reads: question
// when set (if it feeds kpi in tp), else every question feeding kpi.
func kpiQuestions(tp *cxv1alpha1.SurveyTouchpoint, kpi cxv1alpha1.KPI, question string) []string {
	ids := validate.KPIQuestions(tp, kpi)
	if question == "" {
		return ids
	}
	if slices.Contains(ids, question) {
		return []string{question}
	}
	return nil
}
