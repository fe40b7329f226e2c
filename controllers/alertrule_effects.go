package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
)

// maxPendingEffects bounds status.pendingEffects (the CRD's MaxItems).
const maxPendingEffects = 256

// recordEffects records what an evaluation's transitions owe in
// status.pendingEffects, in the status write that stores the transitions
// themselves (see alerting.Effects). Effects past the bound are dropped
// oldest first, with a Warning event.
func (r *AlertRuleReconciler) recordEffects(rule *cxv1alpha1.AlertRule, trs []alerting.Transition, now time.Time) {
	for _, e := range alerting.Record(rule, alerting.Effects(rule, trs, now), maxPendingEffects) {
		r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonDeliveryFailed,
			"%s dropped: more than %d effects are pending (lastError: %s)", alerting.DescribeEffect(e), maxPendingEffects, e.LastError)
	}
}

// runEffects performs the effects status.pendingEffects records, once the
// status that records them is stored, and removes those done. An effect
// that fails for a reason a retry can fix stays, with its attempts and
// last error, and the reconciliation is retried with backoff; one that
// fails for good is dropped with a Warning event. A manager that stops
// anywhere in between finds the effects in the status after its restart:
// the deterministic message keys and Case names make a repeat harmless.
func (r *AlertRuleReconciler) runEffects(ctx context.Context, rule *cxv1alpha1.AlertRule) (ctrl.Result, error) {
	var keep []cxv1alpha1.PendingEffect
	var errs []error
	for _, e := range rule.Status.PendingEffects {
		err := r.runEffect(ctx, rule, e)
		switch {
		case err == nil:
		case notify.IsPermanent(err):
			r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonDeliveryFailed, "%s failed and will not be retried: %v", alerting.DescribeEffect(e), err)
		default:
			e.Attempts++
			e.LastError = truncate(err.Error(), 1024)
			if e.Attempts == 1 {
				r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonDeliveryFailed, "%s failed; retrying: %v", alerting.DescribeEffect(e), err)
			}
			keep = append(keep, e)
			errs = append(errs, fmt.Errorf("%s: %w", alerting.DescribeEffect(e), err))
		}
	}
	rule.Status.PendingEffects = keep
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, fmt.Errorf("alertrule %s/%s: %w", rule.Namespace, rule.Name, err)
	}
	return ctrl.Result{}, nil
}

func (r *AlertRuleReconciler) runEffect(ctx context.Context, rule *cxv1alpha1.AlertRule, e cxv1alpha1.PendingEffect) error {
	log := ctrl.LoggerFrom(ctx)
	if e.Case != "" {
		if rule.Spec.Actions.OpenCase == nil {
			log.Info("Case not opened: the rule no longer has actions.openCase", "case", e.Case)
			return nil
		}
		return r.openStrategicCase(ctx, rule, alerting.StrategicCase(rule, e.Group))
	}
	msg := alerting.Message(rule, alerting.TransitionOf(e), e.At.Time)
	if r.Deliverer == nil {
		log.Info("no notification deliverer configured; message not sent", "event", msg.Event, "channel", e.Channel)
		return nil
	}
	if err := r.Deliverer.Deliver(ctx, rule.Namespace, e.Channel, msg); err != nil {
		return err
	}
	log.V(1).Info("notified", "event", msg.Event, "channel", e.Channel, "key", msg.Key)
	return nil
}

// openStrategicCase creates c, with its template's defaults applied (see
// cases.ApplyDefaults), unless the rule is throttled. AlreadyExists means
// an earlier attempt created it.
func (r *AlertRuleReconciler) openStrategicCase(ctx context.Context, rule *cxv1alpha1.AlertRule, c *cxv1alpha1.Case) error {
	if th := rule.Spec.Throttle; th != nil {
		existing, err := r.listRuleCases(ctx, rule)
		if err != nil {
			return err
		}
		created := make([]time.Time, 0, len(existing))
		for i := range existing {
			if existing[i].Name == c.Name {
				return nil // created by an earlier attempt
			}
			created = append(created, existing[i].CreationTimestamp.Time)
		}
		if _, _, throttled := alerting.Throttle(created, th.MaxCasesPerHour, r.now()); throttled {
			r.event(rule, corev1.EventTypeWarning, cxv1alpha1.ReasonThrottled, "Case %s not opened: the rule reached spec.throttle.maxCasesPerHour (%d)", c.Name, th.MaxCasesPerHour)
			return nil
		}
	}
	if err := r.applyTemplateDefaults(ctx, c); err != nil {
		return err
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

// applyTemplateDefaults fills the new Case's severity, closure goal,
// category and assignee from its template, as every opener of a Case does.
// A template that does not exist yet leaves them to the Case controller.
func (r *AlertRuleReconciler) applyTemplateDefaults(ctx context.Context, c *cxv1alpha1.Case) error {
	tmpl := &cxv1alpha1.CaseTemplate{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read case template %s: %w", c.Spec.Template, err)
	}
	cases.ApplyDefaults(c, tmpl, &r.router)
	return nil
}

func (r *AlertRuleReconciler) event(rule *cxv1alpha1.AlertRule, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(rule, nil, eventType, reason, "Evaluate", format, args...)
}
