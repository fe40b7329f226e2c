package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// dataNamespace is the key of the namespace in messages' Data.
const dataNamespace = "namespace"

// effect is an action owed for a firing or resolved group: one message to
// one channel, or one Case to create. Effects run after the status that
// records the transition is stored, so a transition acts once even when
// reconciliations race or the manager restarts; they are retried (in
// memory) until done, and their idempotency keys and deterministic Case
// names make a repeat harmless.
type effect struct {
	// channel and msg: a notification.
	channel string
	msg     notify.Message
	// newCase: a Case to create.
	newCase *cxv1alpha1.Case
}

func (e effect) String() string {
	if e.newCase != nil {
		return "create Case " + e.newCase.Name
	}
	return fmt.Sprintf("%s notification to channel %s", e.msg.Event, e.channel)
}

// pendingEffects holds the effects not yet done, per rule.
type pendingEffects struct {
	mu sync.Mutex
	m  map[types.NamespacedName][]effect
}

func (p *pendingEffects) add(key types.NamespacedName, effs ...effect) {
	if len(effs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[types.NamespacedName][]effect{}
	}
	p.m[key] = append(p.m[key], effs...)
}

func (p *pendingEffects) take(key types.NamespacedName) []effect {
	p.mu.Lock()
	defer p.mu.Unlock()
	effs := p.m[key]
	delete(p.m, key)
	return effs
}

// effectsOf lists what the transitions of an evaluation owe: a message to
// each of the rule's channels, and a Case for each group that began firing
// when the rule has actions.openCase.
func effectsOf(rule *cxv1alpha1.AlertRule, trs []transition, now time.Time) []effect {
	var effs []effect
	for _, tr := range trs {
		msg := aggregateMessage(rule, tr, now)
		for _, n := range rule.Spec.Actions.Notify {
			effs = append(effs, effect{channel: n.Channel, msg: msg})
		}
		if !tr.resolved && rule.Spec.Actions.OpenCase != nil {
			effs = append(effs, effect{newCase: strategicCase(rule, tr.group)})
		}
	}
	return effs
}

// aggregateKey is the idempotency key of a transition's message: the rule's
// UID, the group and the time it began firing identify one breach.
func aggregateKey(rule *cxv1alpha1.AlertRule, tr transition) string {
	key := fmt.Sprintf("aggregate/%s/%s/%s", rule.UID, tr.group.Group, tr.group.Since.UTC().Format(time.RFC3339))
	if tr.resolved {
		key += "/resolved"
	}
	return key
}

// aggregateMessage renders a transition for people.
func aggregateMessage(rule *cxv1alpha1.AlertRule, tr transition, now time.Time) notify.Message {
	agg := rule.Spec.Aggregate
	f := tr.group
	window := shortDuration(agg.Window.Duration)
	summary := breachSummary(agg, f)
	msg := notify.Message{
		Key:   aggregateKey(rule, tr),
		Event: eventAggregateFiring,
		Title: fmt.Sprintf("%s (rule %s)", summary, rule.Name),
		Fields: []notify.Field{
			{Name: "Rule", Value: rule.Namespace + "/" + rule.Name},
			{Name: "Metric", Value: fmt.Sprintf("%s over %s", agg.Metric, window)},
			{Name: "Value", Value: formatValue(agg.Metric, f.Value)},
			{Name: "Responses", Value: fmt.Sprintf("%d", f.Count)},
		},
		Data: map[string]any{
			dataNamespace: rule.Namespace, "rule": rule.Name, "metric": string(agg.Metric), "window": window,
			"value": f.Value, "count": f.Count, "since": f.Since.UTC().Format(time.RFC3339), "condition": agg.Condition,
		},
	}
	if rule.Spec.Kind != cxv1alpha1.AlertRecognition {
		msg.Severity = string(cxv1alpha1.SeverityHigh)
	}
	if agg.GroupBy != "" {
		msg.Fields = append(msg.Fields, notify.Field{Name: "Group", Value: groupLabel(agg, f.Group)})
		msg.Data["groupBy"], msg.Data["group"] = agg.GroupBy, f.Group
	}
	previous := "no previous window with enough responses"
	if f.Previous != nil {
		previous = fmt.Sprintf("%s (change %+.1f)", formatValue(agg.Metric, *f.Previous), f.Value-*f.Previous)
		msg.Data["previous"] = *f.Previous
	}
	msg.Fields = append(msg.Fields, notify.Field{Name: "Previous window", Value: previous})

	var text strings.Builder
	if tr.resolved {
		msg.Event = eventAggregateResolved
		msg.Severity = ""
		msg.Title = "Resolved: " + msg.Title
		fmt.Fprintf(&text, "AlertRule %s/%s no longer fires for %s: its condition %q is false.\n", rule.Namespace, rule.Name, groupLabel(agg, f.Group), agg.Condition)
		fmt.Fprintf(&text, "Firing since %s, resolved at %s.\n", f.Since.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		msg.Data["resolvedAt"] = now.UTC().Format(time.RFC3339)
	} else {
		fmt.Fprintf(&text, "AlertRule %s/%s fires for %s: its condition %q is true.\n", rule.Namespace, rule.Name, groupLabel(agg, f.Group), agg.Condition)
		fmt.Fprintf(&text, "Since %s.\n", f.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&text, "%s over the last %s: %s, from %d responses; previous window: %s.\n", agg.Metric, window, formatValue(agg.Metric, f.Value), f.Count, previous)
	if rule.Spec.Description != "" {
		text.WriteString(rule.Spec.Description + "\n")
	}
	msg.Text = text.String()
	return msg
}

// runEffects does the rule's pending effects. Those that fail for a reason
// a retry can fix stay pending and make the reconciliation fail (retried
// with backoff); the others are reported as Warning events and dropped.
func (r *AlertRuleReconciler) runEffects(ctx context.Context, rule *cxv1alpha1.AlertRule) error {
	key := types.NamespacedName{Namespace: rule.Namespace, Name: rule.Name}
	var failed []effect
	var errs []error
	for _, e := range r.pending.take(key) {
		err := r.runEffect(ctx, rule, e)
		switch {
		case err == nil:
		case notify.IsPermanent(err):
			r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonDeliveryFailed, "%s failed and will not be retried: %v", e, err)
		default:
			failed = append(failed, e)
			errs = append(errs, fmt.Errorf("%s: %w", e, err))
		}
	}
	r.pending.add(key, failed...)
	return errors.Join(errs...)
}

func (r *AlertRuleReconciler) runEffect(ctx context.Context, rule *cxv1alpha1.AlertRule, e effect) error {
	log := ctrl.LoggerFrom(ctx)
	if e.newCase != nil {
		return r.openStrategicCase(ctx, rule, e.newCase)
	}
	if r.Deliverer == nil {
		log.Info("no notification deliverer configured; message not sent", "event", e.msg.Event, "channel", e.channel)
		return nil
	}
	if err := r.Deliverer.Deliver(ctx, rule.Namespace, e.channel, e.msg); err != nil {
		return err
	}
	log.V(1).Info("notified", "event", e.msg.Event, "channel", e.channel, "key", e.msg.Key)
	return nil
}

// openStrategicCase creates c unless the rule is throttled. AlreadyExists
// means an earlier attempt created it.
func (r *AlertRuleReconciler) openStrategicCase(ctx context.Context, rule *cxv1alpha1.AlertRule, c *cxv1alpha1.Case) error {
	if th := rule.Spec.Throttle; th != nil {
		cases, err := r.listRuleCases(ctx, rule)
		if err != nil {
			return err
		}
		created := make([]time.Time, 0, len(cases))
		for i := range cases {
			if cases[i].Name == c.Name {
				return nil // created by an earlier attempt
			}
			created = append(created, cases[i].CreationTimestamp.Time)
		}
		if _, _, throttled := throttleState(created, th.MaxCasesPerHour, r.now()); throttled {
			r.event(rule, corev1.EventTypeWarning, ReasonThrottled, "Case %s not opened: the rule reached spec.throttle.maxCasesPerHour (%d)", c.Name, th.MaxCasesPerHour)
			return nil
		}
	}
	err := r.Create(ctx, c)
	switch {
	case err == nil:
		r.event(rule, corev1.EventTypeNormal, "CaseOpened", "opened Case %s: %s", c.Name, c.Spec.Title)
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return notify.Permanent(fmt.Errorf("create Case %s: %w", c.Name, err))
	}
	return fmt.Errorf("create Case %s: %w", c.Name, err)
}

func (r *AlertRuleReconciler) event(rule *cxv1alpha1.AlertRule, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(rule, nil, eventType, reason, "Evaluate", format, args...)
}
