package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/notify"
)

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
func effectsOf(rule *cxv1alpha1.AlertRule, trs []alerting.Transition, now time.Time) []effect {
	var effs []effect
	for _, tr := range trs {
		msg := alerting.Message(rule, tr, now)
		for _, n := range rule.Spec.Actions.Notify {
			effs = append(effs, effect{channel: n.Channel, msg: msg})
		}
		if !tr.Resolved && rule.Spec.Actions.OpenCase != nil {
			effs = append(effs, effect{newCase: alerting.StrategicCase(rule, tr.Group)})
		}
	}
	return effs
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
			r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonThrottled, "Case %s not opened: the rule reached spec.throttle.maxCasesPerHour (%d)", c.Name, th.MaxCasesPerHour)
			return nil
		}
	}
	err := r.Create(ctx, c)
	switch {
	case err == nil:
		r.event(rule, corev1.EventTypeNormal, cxv1alpha1.ReasonCaseOpened, "opened Case %s: %s", c.Name, c.Spec.Title)
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
