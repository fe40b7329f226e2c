package alerting

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

// Window is one window's mergeable aggregates: one result per selected
// touchpoint, in the order of Touchpoints, as their collectors answered
// GET /v1/metrics. A nil result is a touchpoint with no data.
type Window struct {
	Touchpoints []cxv1alpha1.SurveyTouchpoint
	Results     []*store.AggregateResult
}

// Groups returns the group values present in the window, sorted.
func (w Window) Groups() []string {
	seen := map[string]bool{}
	for _, res := range w.Results {
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

// Measurement is an aggregate metric over one window and group.
type Measurement struct {
	// Value of the metric; meaningless when Count is 0 (except for
	// ResponseCount, where it is 0).
	Value float64
	// Count is how many answers the metric is computed from: responses
	// answering the KPI questions (NPS, CSAT, CES), responses with a
	// sentiment score (Sentiment), or all responses (ResponseCount).
	Count int64
}

// Enough reports whether m may be evaluated under minResponses. A
// ResponseCount is always evaluated: the count is the metric, and a window
// with few or no responses is exactly what such a rule watches for.
func (m Measurement) Enough(metric cxv1alpha1.AggregateMetric, minResponses int32) bool {
	if metric == cxv1alpha1.AggregateResponseCount {
		return true
	}
	return m.Count > 0 && m.Count >= int64(minResponses)
}

// Measure computes agg's metric for one group of a window, merging the
// touchpoints exactly: the answers to each touchpoint's own KPI questions
// are summed (integers), then the KPI is computed once from the sums.
func Measure(agg *cxv1alpha1.AggregateCondition, w Window, group string) (Measurement, error) {
	var parts []metrics.Aggregate
	var questions []metrics.QuestionAggregate
	kpi := validate.MetricKPI(agg.Metric)
	for i, res := range w.Results {
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
		for _, id := range kpiQuestions(&w.Touchpoints[i], kpi, agg.Question) {
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
		return Measurement{Value: float64(merged.Responses), Count: merged.Responses}, nil
	case cxv1alpha1.AggregateSentiment:
		k, err = metrics.MeanSentiment(merged)
	case cxv1alpha1.AggregateNPS, cxv1alpha1.AggregateCSAT, cxv1alpha1.AggregateCES:
		k, err = metrics.ForKPI(string(kpi), metrics.MergeQuestions(questions...))
	default:
		return Measurement{}, fmt.Errorf("spec.aggregate.metric %q is not one of NPS, CSAT, CES, ResponseCount, Sentiment", agg.Metric)
	}
	if errors.Is(err, metrics.ErrNoData) {
		return Measurement{}, nil
	}
	if err != nil {
		return Measurement{}, fmt.Errorf("compute %s: %w", agg.Metric, err)
	}
	return Measurement{Value: k.Value, Count: k.N}, nil
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
