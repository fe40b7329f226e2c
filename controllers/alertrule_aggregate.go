package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

// AggregateSource returns the mergeable aggregates of a touchpoint's
// responses submitted in [from, to), per group of groupBy ("" for one
// group). collector.HTTPSource implements it over the collector's
// GET /v1/metrics; collector.StoreSource reads a store directly.
type AggregateSource interface {
	Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error)
}

// defaultEvery is how often an aggregate rule is evaluated without
// spec.aggregate.every (the CRD defaults it to the same value).
const defaultEvery = 5 * time.Minute

// Reasons of the Firing condition of aggregate rules.
const (
	// ReasonBreached: the condition holds for at least one group
	// (Firing=True); status.firing lists them.
	ReasonBreached = "Breached"
	// ReasonNotBreached: the condition holds for no evaluated group
	// (Firing=False).
	ReasonNotBreached = "NotBreached"
	// ReasonInsufficientResponses: no group had minResponses in the window,
	// so nothing was evaluated (Firing=False, or True for groups already
	// firing, which stay firing until an evaluation with enough responses
	// clears them).
	ReasonInsufficientResponses = "InsufficientResponses"
	// ReasonCollectorUnreachable: a selected touchpoint's collector could not
	// be read; the evaluation was skipped (no group fires or resolves on
	// missing data) and is retried at the next period. Firing keeps its
	// status (Unknown when nothing was firing); the message names the
	// touchpoints and errors.
	ReasonCollectorUnreachable = "CollectorUnreachable"
	// ReasonEvaluationFailed: the condition could not be evaluated (a CEL
	// runtime error such as an overflow); the message has the error.
	ReasonEvaluationFailed = "EvaluationFailed"
)

// Events of aggregate rules, as notify.Message.Event.
const (
	eventAggregateFiring   = "AggregateFiring"
	eventAggregateResolved = "AggregateResolved"
)

// sharedAggregateEnv is the CEL environment of aggregate conditions, built
// once.
var sharedAggregateEnv = sync.OnceValues(func() (*rules.AggregateEnv, error) { return rules.NewAggregateEnv() })

// every is the evaluation period of an aggregate rule.
func every(agg *cxv1alpha1.AggregateCondition) time.Duration {
	if agg.Every != nil && agg.Every.Duration > 0 {
		return agg.Every.Duration
	}
	return defaultEvery
}

// evaluationDue reports whether an aggregate rule must be evaluated at now:
// never evaluated, spec changed since the last reconciliation, or its
// period elapsed since the last evaluation. Reconciliations for other
// reasons (a Case created, a touchpoint edited, a restart) do not move the
// schedule.
func evaluationDue(rule *cxv1alpha1.AlertRule, now time.Time) bool {
	agg := rule.Spec.Aggregate
	last := rule.Status.LastEvaluationTime
	if agg == nil {
		return false
	}
	return last == nil || rule.Status.ObservedGeneration != rule.Generation || !now.Before(last.Add(every(agg)))
}

// nextEvaluation is how long until the rule's next evaluation.
func nextEvaluation(rule *cxv1alpha1.AlertRule, now time.Time) time.Duration {
	last := rule.Status.LastEvaluationTime
	if last == nil {
		return every(rule.Spec.Aggregate)
	}
	if d := last.Add(every(rule.Spec.Aggregate)).Sub(now); d > 0 {
		return d
	}
	return time.Second
}

// transition is a group that began or stopped firing in an evaluation.
type transition struct {
	group    cxv1alpha1.FiringGroup
	resolved bool
}

// aggregateOutcome is what one evaluation found, for the Firing condition.
type aggregateOutcome struct {
	// unreachable names the touchpoints whose collectors failed, with the
	// error: the evaluation did not happen.
	unreachable []string
	// evalErrors are CEL runtime errors, per group.
	evalErrors []string
	// skipped are groups below minResponses: "group (n responses)".
	skipped []string
	// evaluated counts the groups whose condition was evaluated.
	evaluated int
	// summary is the last value of an ungrouped rule, for the message.
	summary string
}

// evaluateAggregate fetches both windows from every selected touchpoint,
// evaluates the condition per group and updates status.firing,
// status.lastEvaluationTime and the Firing condition. It returns the
// groups that began or stopped firing; their notifications and Cases are
// the caller's, once the status is stored.
func (r *AlertRuleReconciler) evaluateAggregate(ctx context.Context, rule *cxv1alpha1.AlertRule, selected []cxv1alpha1.SurveyTouchpoint, now time.Time) []transition {
	agg := rule.Spec.Aggregate
	rule.Status.LastEvaluationTime = &metav1.Time{Time: now}
	var out aggregateOutcome
	cur, prev := r.fetchWindows(ctx, selected, agg, now, &out)
	var trs []transition
	if len(out.unreachable) == 0 {
		trs = decideAggregate(rule, cur, prev, now, &out)
	}
	setFiringCondition(rule, out)
	return trs
}

// fetchWindows reads [now-window, now) and the window before from every
// selected touchpoint; failures are recorded in out.unreachable.
func (r *AlertRuleReconciler) fetchWindows(ctx context.Context, selected []cxv1alpha1.SurveyTouchpoint, agg *cxv1alpha1.AggregateCondition, now time.Time, out *aggregateOutcome) (cur, prev windowData) {
	w := agg.Window.Duration
	cur = windowData{touchpoints: selected, results: make([]*store.AggregateResult, len(selected))}
	prev = windowData{touchpoints: selected, results: make([]*store.AggregateResult, len(selected))}
	src := r.Source
	if src == nil {
		src = collector.HTTPSource{}
	}
	for i := range selected {
		tp := &selected[i]
		res, err := src.Metrics(ctx, tp, now.Add(-w), now, agg.GroupBy)
		if err == nil {
			cur.results[i] = res
			res, err = src.Metrics(ctx, tp, now.Add(-2*w), now.Add(-w), agg.GroupBy)
			prev.results[i] = res
		}
		if err != nil {
			out.unreachable = append(out.unreachable, fmt.Sprintf("touchpoint %s: %v", tp.Name, err))
		}
	}
	return cur, prev
}

// decideAggregate evaluates the condition for every group of the current
// window (and every group already firing) and updates status.firing:
//   - a breached group not yet firing starts firing, since now;
//   - a firing group still breached gets its latest value, previous, count;
//   - a firing group evaluated and no longer breached stops firing;
//   - a group below minResponses is not evaluated: it neither starts nor
//     stops firing.
//
// With groupBy, responses without the group's value (group "") are not
// evaluated as a group of their own. Entries left from before groupBy was
// added or removed resolve. (Changing groupBy from one key to another is not
// detected: old groups stay firing until their values are seen again.)
func decideAggregate(rule *cxv1alpha1.AlertRule, cur, prev windowData, now time.Time, out *aggregateOutcome) []transition {
	agg := rule.Spec.Aggregate
	env, err := sharedAggregateEnv()
	if err != nil {
		out.evalErrors = append(out.evalErrors, err.Error())
		return nil
	}
	prog, err := env.Compile(agg.Condition)
	if err != nil {
		// Validation reports it as Ready=False; not reached for a ready rule.
		out.evalErrors = append(out.evalErrors, "spec.aggregate.condition: "+err.Error())
		return nil
	}

	var trs []transition
	firing := map[string]cxv1alpha1.FiringGroup{}
	for _, f := range rule.Status.Firing {
		if (f.Group == "") != (agg.GroupBy == "") {
			// groupBy was added or removed: the old entry no longer names
			// anything this rule evaluates.
			trs = append(trs, transition{group: f, resolved: true})
			continue
		}
		firing[f.Group] = f
	}
	groups := []string{""}
	if agg.GroupBy != "" {
		groups = unionGroups(cur.groups(), rule.Status.Firing)
	}
	for _, g := range groups {
		m, err := measureGroup(agg, cur, g)
		if err != nil {
			out.evalErrors = append(out.evalErrors, groupLabel(agg, g)+": "+err.Error())
			continue
		}
		if !m.enough(agg.Metric, agg.MinResponses) {
			out.skipped = append(out.skipped, fmt.Sprintf("%s (%d)", groupOrAll(g), m.count))
			continue
		}
		in := rules.AggregateInput{Value: m.value, Count: m.count, Group: g}
		if p, err := measureGroup(agg, prev, g); err == nil && p.enough(agg.Metric, agg.MinResponses) {
			in.Previous = &p.value
		}
		breached, err := prog.Eval(in)
		if err != nil {
			out.evalErrors = append(out.evalErrors, groupLabel(agg, g)+": "+err.Error())
			continue
		}
		out.evaluated++
		if agg.GroupBy == "" {
			out.summary = fmt.Sprintf("%s over %s is %s (%d responses)", agg.Metric, shortDuration(agg.Window.Duration), formatValue(agg.Metric, m.value), m.count)
		}
		f, wasFiring := firing[g]
		switch {
		case breached && wasFiring:
			f.Value, f.Previous, f.Count = m.value, in.Previous, m.count
			firing[g] = f
		case breached:
			f = cxv1alpha1.FiringGroup{Group: g, Since: metav1.Time{Time: now.Truncate(time.Second)}, Value: m.value, Previous: in.Previous, Count: m.count}
			firing[g] = f
			trs = append(trs, transition{group: f})
		case wasFiring:
			delete(firing, g)
			f.Value, f.Previous, f.Count = m.value, in.Previous, m.count
			trs = append(trs, transition{group: f, resolved: true})
		}
	}
	rule.Status.Firing = sortedFiring(firing)
	return trs
}

func unionGroups(groups []string, firing []cxv1alpha1.FiringGroup) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range groups {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	for _, f := range firing {
		if f.Group != "" && !seen[f.Group] {
			seen[f.Group] = true
			out = append(out, f.Group)
		}
	}
	sort.Strings(out)
	return out
}

func sortedFiring(m map[string]cxv1alpha1.FiringGroup) []cxv1alpha1.FiringGroup {
	if len(m) == 0 {
		return nil
	}
	out := make([]cxv1alpha1.FiringGroup, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// setFiringCondition summarises an evaluation in the Firing condition.
func setFiringCondition(rule *cxv1alpha1.AlertRule, out aggregateOutcome) {
	agg := rule.Spec.Aggregate
	status := metav1.ConditionFalse
	if len(rule.Status.Firing) > 0 {
		status = metav1.ConditionTrue
	}
	var reason string
	var lines []string
	switch {
	case len(out.unreachable) > 0:
		reason = ReasonCollectorUnreachable
		if status == metav1.ConditionFalse {
			status = metav1.ConditionUnknown
		}
		lines = append(lines, fmt.Sprintf("not evaluated: could not read %d collector(s); retrying in %s (nothing fires or resolves on missing data): %s",
			len(out.unreachable), shortDuration(every(agg)), strings.Join(out.unreachable, "; ")))
	case len(out.evalErrors) > 0 && out.evaluated == 0:
		reason = ReasonEvaluationFailed
	case status == metav1.ConditionTrue:
		reason = ReasonBreached
	case out.evaluated == 0:
		reason = ReasonInsufficientResponses
	default:
		reason = ReasonNotBreached
	}
	if len(rule.Status.Firing) > 0 {
		fs := make([]string, 0, len(rule.Status.Firing))
		for _, f := range rule.Status.Firing {
			fs = append(fs, fmt.Sprintf("%s: %s %s since %s", groupOrAll(f.Group), agg.Metric, formatValue(agg.Metric, f.Value), f.Since.UTC().Format(time.RFC3339)))
		}
		lines = append(lines, "firing for "+strings.Join(fs, ", "))
	}
	if out.summary != "" && len(rule.Status.Firing) == 0 {
		lines = append(lines, out.summary)
	}
	if agg.GroupBy != "" && len(out.unreachable) == 0 {
		lines = append(lines, fmt.Sprintf("%d group(s) of %s evaluated", out.evaluated, agg.GroupBy))
	}
	if len(out.skipped) > 0 {
		lines = append(lines, fmt.Sprintf("not evaluated, below minResponses (%d): %s", agg.MinResponses, strings.Join(out.skipped, ", ")))
	}
	if len(out.evalErrors) > 0 {
		lines = append(lines, "evaluation errors: "+strings.Join(out.evalErrors, "; "))
	}
	apimeta.SetStatusCondition(&rule.Status.Conditions, metav1.Condition{
		Type: cxv1alpha1.ConditionFiring, Status: status, Reason: reason,
		Message:            truncate(strings.Join(lines, "; "), maxConditionMessage),
		ObservedGeneration: rule.Generation,
	})
}

// groupLabel names a group for people: "metadata.store=north", or "all
// responses" without groupBy.
func groupLabel(agg *cxv1alpha1.AggregateCondition, group string) string {
	if agg.GroupBy == "" {
		return "all responses"
	}
	return agg.GroupBy + "=" + group
}

func groupOrAll(group string) string {
	if group == "" {
		return "all responses"
	}
	return group
}

// formatValue prints a metric in its unit's usual precision.
func formatValue(m cxv1alpha1.AggregateMetric, v float64) string {
	switch m {
	case cxv1alpha1.AggregateResponseCount:
		return fmt.Sprintf("%.0f", v)
	case cxv1alpha1.AggregateSentiment, cxv1alpha1.AggregateCES:
		return fmt.Sprintf("%.2f", v)
	case cxv1alpha1.AggregateCSAT:
		return fmt.Sprintf("%.1f%%", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// shortDuration prints 24h rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// aggregateSource is opts.AggregateSource, by default the collectors' HTTP
// API at CollectorEndpoint or the touchpoint's status.endpoint.
func (o Options) aggregateSource() AggregateSource {
	if o.AggregateSource != nil {
		return o.AggregateSource
	}
	return collector.HTTPSource{Endpoint: o.CollectorEndpoint}
}
