package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/validate"
)

// conflictRetry is how soon a reconciliation whose status patch lost a race
// (the rule changed since it was read) runs again.
const conflictRetry = time.Second

// AlertRuleReconciler keeps AlertRules' status and evaluates aggregate
// rules.
//
//   - Every rule is compiled against the touchpoints it selects: an invalid
//     rule is Ready=False with the compiler's message while the valid ones
//     keep working; a suspended rule is Ready=False/Suspended.
//   - status.casesOpened counts the Cases labelled cx.cxloop.io/rule=<name>
//     (collectors put the label on the Cases they open; the controller
//     watches Cases, so the count follows them), status.lastMatchTime is the
//     newest of their creations, and Throttled is True while the Cases
//     created in the last hour reach spec.throttle.maxCasesPerHour, with a
//     requeue at the time it clears. status.matches belongs to the
//     collectors and is never written here.
//   - An aggregate rule (spec.aggregate) of a Ready rule is evaluated every
//     spec.aggregate.every from the collectors of its touchpoints (see
//     internal/alerting); a group fires once and resolves once, each with one
//     notification to the rule's channels, and a firing group opens one
//     Case (actions.openCase). Firing state lives in status.firing, so a
//     restart notifies nobody twice. The Firing condition summarises the
//     last evaluation: True/Breached, False/NotBreached, or
//     False/InsufficientResponses when no group reached minResponses; the
//     message lists the groups skipped for too few responses.
//   - A collector that cannot be read skips the evaluation (nothing fires or
//     resolves on missing data): Ready stays as validation says, Firing gets
//     reason CollectorUnreachable (status Unknown, or True while groups
//     fire) with a message naming the touchpoints and their errors,
//     lastEvaluationTime records the attempt, and the next attempt comes
//     one period later.
//
// Status is patched once per reconciliation, with the resourceVersion read
// (a stale read, from the cache or a concurrent writer, loses and retries).
// The notifications and Cases a transition owes are recorded in
// status.pendingEffects in that same write, performed only once it is
// stored, and removed when done: a crash or a leader change in between
// loses none of them.
type AlertRuleReconciler struct {
	client.Client
	// APIReader reads a rule past the cache before an evaluation, so that
	// it starts from the controller's own last write.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Source reads collectors' aggregates (default collectorclient.HTTPSource at
	// the collectors' private surface, with the touchpoint's API token).
	Source AggregateSource
	// Deliverer sends AggregateFiring and AggregateResolved messages;
	// without one they are logged and dropped.
	Deliverer notify.Deliverer
	// Now is the clock (default time.Now).
	Now func() time.Time

	router cases.Router
}

func (r *AlertRuleReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile validates the rule, counts its Cases, evaluates it when it is
// an aggregate rule whose period has come, and stores the status with the
// effects its transitions owe; then it performs those effects (see
// runEffects).
func (r *AlertRuleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	now := r.now()
	sk := reconciler[*cxv1alpha1.AlertRule]{
		client: r.Client, recorder: r.Recorder, optimisticLock: true,
		newObj: func() *cxv1alpha1.AlertRule { return &cxv1alpha1.AlertRule{} },
		reload: func(ctx context.Context, rule *cxv1alpha1.AlertRule) error {
			// An evaluation starts from the controller's own last write.
			if alerting.Due(rule, now) && r.APIReader != nil {
				return r.APIReader.Get(ctx, req.NamespacedName, rule)
			}
			return nil
		},
		steps: func(ctx context.Context, rule *cxv1alpha1.AlertRule) (outcome, ctrl.Result, error) {
			return r.steps(ctx, rule, now)
		},
		afterPatch: r.runEffects,
	}
	return sk.Reconcile(ctx, req)
}

// steps checks the rule, counts its Cases and evaluates it when due,
// recording the effects of its transitions in status.pendingEffects.
func (r *AlertRuleReconciler) steps(ctx context.Context, rule *cxv1alpha1.AlertRule, now time.Time) (outcome, ctrl.Result, error) {
	before := slices.Clone(rule.Status.Conditions)
	due := alerting.Due(rule, now)
	o, selected, err := r.check(ctx, rule)
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	var result ctrl.Result
	clearIn, err := r.caseStatus(ctx, rule, now)
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	requeueWithin(&result, clearIn)

	switch {
	case rule.Spec.Aggregate == nil:
		// No longer (or never) an aggregate rule.
		rule.Status.Firing = nil
		apimeta.RemoveStatusCondition(&rule.Status.Conditions, cxv1alpha1.ConditionFiring)
	case !o.ready:
		// Invalid or suspended: not evaluated; firing groups stay as they
		// were until the rule is evaluated again. Watches bring it back.
	case due:
		trs := r.evaluateAggregate(ctx, rule, selected, now)
		for _, tr := range trs {
			ctrl.LoggerFrom(ctx).Info("aggregate rule transition", "group", tr.Group.Group, "resolved", tr.Resolved, "value", tr.Group.Value)
		}
		r.recordEffects(rule, trs, now)
		requeueWithin(&result, alerting.Next(rule, now))
	default:
		requeueWithin(&result, alerting.Next(rule, now))
	}
	recordFiringTransition(r.Recorder, rule, before)
	return o, result, nil
}

// requeueWithin shortens result's RequeueAfter to d (d > 0).
func requeueWithin(result *ctrl.Result, d time.Duration) {
	if d > 0 && (result.RequeueAfter == 0 || d < result.RequeueAfter) {
		result.RequeueAfter = d
	}
}

// recordFiringTransition emits an event when Firing or Throttled changes
// status (not on every evaluation).
func recordFiringTransition(rec recorder.EventRecorder, rule *cxv1alpha1.AlertRule, before []metav1.Condition) {
	if rec == nil {
		return
	}
	for _, t := range []string{cxv1alpha1.ConditionFiring, cxv1alpha1.ConditionThrottled} {
		now := apimeta.FindStatusCondition(rule.Status.Conditions, t)
		if now == nil {
			continue
		}
		prev := apimeta.FindStatusCondition(before, t)
		if prev != nil && prev.Status == now.Status && prev.Reason == now.Reason {
			continue
		}
		if prev == nil && now.Status == metav1.ConditionFalse {
			continue
		}
		eventType := corev1.EventTypeNormal
		if now.Status != metav1.ConditionFalse {
			eventType = corev1.EventTypeWarning
		}
		rec.Eventf(rule, nil, eventType, now.Reason, "Evaluate", "%s", truncate(now.Message, 1000))
	}
}

// check validates the rule against the touchpoints it selects and the
// channels and template it names. It fills status.selectedTouchpoints and
// returns the selected touchpoints; an error is transient.
func (r *AlertRuleReconciler) check(ctx context.Context, rule *cxv1alpha1.AlertRule) (outcome, []cxv1alpha1.SurveyTouchpoint, error) {
	problems, selected, err := validate.CheckAlertRule(ctx, clientNamespace{c: r.Client, namespace: rule.Namespace}, rule)
	if err != nil {
		return outcome{}, nil, err
	}
	rule.Status.SelectedTouchpoints = touchpointNames(selected)

	o := problemsOutcome(problems)
	if o.ready {
		o.message = fmt.Sprintf("compiled against %d touchpoint(s)", len(selected))
		if rule.Spec.Suspend {
			o = outcome{reason: cxv1alpha1.ReasonSuspended, message: "the rule is suspended (spec.suspend: true): valid, but not evaluated"}
		}
	}
	return o, selected, nil
}

func touchpointNames(tps []cxv1alpha1.SurveyTouchpoint) []string {
	if len(tps) == 0 {
		return nil
	}
	names := make([]string, 0, len(tps))
	for _, tp := range tps {
		names = append(names, tp.Name)
	}
	return names
}

// casesToRule maps a Case to the rule named by its cx.cxloop.io/rule label.
func casesToRule(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[cxv1alpha1.LabelRule]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// caseCountChanged passes Case creations and deletions, and updates that
// change the rule label: what casesOpened and Throttled depend on.
func caseCountChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetLabels()[cxv1alpha1.LabelRule] != e.ObjectNew.GetLabels()[cxv1alpha1.LabelRule]
		},
	}
}

// SetupWithManager registers the controller. Rules are re-validated when a
// touchpoint (its questions type the answers), template or channel of their
// namespace changes, and recount their Cases when a Case labelled with
// their name comes or goes.
func (r *AlertRuleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.AlertRuleList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.AlertRule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.SurveyTouchpoint{}, all, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&cxv1alpha1.CaseTemplate{}, all, builder.WithPredicates(createOrDelete())).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(createOrDelete())).
		Watches(&cxv1alpha1.Case{}, handler.EnqueueRequestsFromMapFunc(casesToRule), builder.WithPredicates(caseCountChanged())).
		Named("alertrule").
		Complete(r)
}
