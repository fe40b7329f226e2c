package controllers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// AggregateSource returns the mergeable aggregates of a touchpoint's
// responses submitted in [from, to), per group of groupBy ("" for one
// group). collectorclient.HTTPSource implements it over the collector's
// GET /v1/metrics; collector.StoreSource reads a store directly.
type AggregateSource = alerting.Source

// evaluateAggregate reads both windows from every selected touchpoint and
// runs the state machine of internal/alerting on them: it updates
// status.firing, status.lastEvaluationTime and the Firing condition and
// returns the groups that began or stopped firing.
func (r *AlertRuleReconciler) evaluateAggregate(ctx context.Context, rule *cxv1alpha1.AlertRule, selected []cxv1alpha1.SurveyTouchpoint, now time.Time) []alerting.Transition {
	return alerting.Evaluate(rule, r.fetchWindows(ctx, selected, rule.Spec.Aggregate, now))
}

// fetchWindows reads [now-window, now) and the window before from every
// selected touchpoint (alerting.Fetch, as cxloop test does); failures are
// recorded in Unreachable.
func (r *AlertRuleReconciler) fetchWindows(ctx context.Context, selected []cxv1alpha1.SurveyTouchpoint, agg *cxv1alpha1.AggregateCondition, now time.Time) alerting.Input {
	src := r.Source
	if src == nil {
		src = collectorclient.HTTPSource{Target: CollectorTargets{Reader: r.APIReader}.Target}
	}
	return alerting.Fetch(ctx, src, selected, agg, now)
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
