package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
)

// AggregateSource returns the mergeable aggregates of a touchpoint's
// responses submitted in [from, to), per group of groupBy ("" for one
// group). collectorclient.HTTPSource implements it over the collector's
// GET /v1/metrics; collector.StoreSource reads a store directly.
type AggregateSource interface {
	Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error)
}

// evaluateAggregate reads both windows from every selected touchpoint and
// runs the state machine of internal/alerting on them: it updates
// status.firing, status.lastEvaluationTime and the Firing condition and
// returns the groups that began or stopped firing.
func (r *AlertRuleReconciler) evaluateAggregate(ctx context.Context, rule *cxv1alpha1.AlertRule, selected []cxv1alpha1.SurveyTouchpoint, now time.Time) []alerting.Transition {
	return alerting.Evaluate(rule, r.fetchWindows(ctx, selected, rule.Spec.Aggregate, now))
}

// fetchWindows reads [now-window, now) and the window before from every
// selected touchpoint; failures are recorded in Unreachable.
func (r *AlertRuleReconciler) fetchWindows(ctx context.Context, selected []cxv1alpha1.SurveyTouchpoint, agg *cxv1alpha1.AggregateCondition, now time.Time) alerting.Input {
	w := agg.Window.Duration
	in := alerting.Input{
		Current:  alerting.Window{Touchpoints: selected, Results: make([]*store.AggregateResult, len(selected))},
		Previous: alerting.Window{Touchpoints: selected, Results: make([]*store.AggregateResult, len(selected))},
		Now:      now,
	}
	src := r.Source
	if src == nil {
		src = collectorclient.HTTPSource{Target: CollectorTargets{Reader: r.APIReader}.Target}
	}
	for i := range selected {
		tp := &selected[i]
		res, err := src.Metrics(ctx, tp, now.Add(-w), now, agg.GroupBy)
		if err == nil {
			in.Current.Results[i] = res
			res, err = src.Metrics(ctx, tp, now.Add(-2*w), now.Add(-w), agg.GroupBy)
			in.Previous.Results[i] = res
		}
		if err != nil {
			in.Unreachable = append(in.Unreachable, fmt.Sprintf("touchpoint %s: %v", tp.Name, err))
		}
	}
	return in
}

// aggregateSource is opts.AggregateSource, by default the collectors'
// private API at CollectorEndpoint or the collector Service's private
// port, with the credential read through reader.
func (o Options) aggregateSource(reader client.Reader) AggregateSource {
	if o.AggregateSource != nil {
		return o.AggregateSource
	}
	return collectorclient.HTTPSource{Target: CollectorTargets{Reader: reader, Endpoint: o.CollectorEndpoint}.Target}
}
