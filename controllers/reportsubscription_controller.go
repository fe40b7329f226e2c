package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/validate"
)

// RunNowAnnotation triggers a report run when set to a new value (for
// example a timestamp), suspended or not:
//
//	kubectl annotate reportsubscription weekly cx.cxloop.io/run-now="$(date +%s)" --overwrite
//
// The value acted on is recorded in status.lastManualTrigger, so each value
// runs once.
const RunNowAnnotation = "cx.cxloop.io/run-now"

// defaultStartingDeadline is spec.startingDeadline when unset (the CRD
// default).
const defaultStartingDeadline = time.Hour

// maxConcurrentReports is how many subscriptions reconcile (and run) at once.
const maxConcurrentReports = 4

// ReportSubscriptionReconciler validates a subscription (schedule, time
// zone, touchpoints, channels) and runs it: at each cron activation in its
// time zone, and once per new value of the run-now annotation, it builds the
// report, keeps it as JSON in an owned ConfigMap, delivers it to every
// channel and records the outcome in status.
type ReportSubscriptionReconciler struct {
	client.Client
	// APIReader reads a subscription past the cache before a run recorded
	// as due by an earlier reconciliation is finished.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Source reads the touchpoints' aggregates.
	Source report.Source
	// Deliverer sends the report; without one deliveries are Skipped and
	// the run Failed.
	Deliverer notify.Deliverer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// BaseURL, when set, makes the link of chat messages
	// <BaseURL>/namespaces/<ns>/reports/<name>.
	BaseURL string
}

func (r *ReportSubscriptionReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile validates the subscription, runs the report when it is due and
// requeues at the next run; the shared reconciler gets the object
// and patches conditions and status once.
func (r *ReportSubscriptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var touchpoints []cxv1alpha1.SurveyTouchpoint
	v := reconciler[*cxv1alpha1.ReportSubscription]{
		client: r.Client, recorder: r.Recorder,
		newObj: func() *cxv1alpha1.ReportSubscription { return &cxv1alpha1.ReportSubscription{} },
		steps: func(ctx context.Context, rs *cxv1alpha1.ReportSubscription) (outcome, ctrl.Result, error) {
			o, res, selected, err := r.checkAndRun(ctx, rs)
			touchpoints = selected
			return o, res, err
		},
		afterPatch: func(ctx context.Context, rs *cxv1alpha1.ReportSubscription) (ctrl.Result, error) {
			return r.runPending(ctx, rs, touchpoints)
		},
		// A run is recorded as due under the lock: a reconciliation from
		// a stale cache does not decide it twice.
		optimisticLock: true,
	}
	return v.Reconcile(ctx, req)
}

// checkAndRun validates rs and, when it is ready, schedules it: a run due
// is recorded in status.pendingRun. It returns the selected touchpoints.
func (r *ReportSubscriptionReconciler) checkAndRun(ctx context.Context, rs *cxv1alpha1.ReportSubscription) (outcome, ctrl.Result, []cxv1alpha1.SurveyTouchpoint, error) {
	if rs.Status.PendingRun != nil && r.APIReader != nil {
		// Finish a run an earlier reconciliation recorded only from what
		// the API server holds now: a cache behind the write that cleared
		// it would run it twice.
		live := &cxv1alpha1.ReportSubscription{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rs), live); err != nil {
			return outcome{}, ctrl.Result{}, nil, fmt.Errorf("read report subscription: %w", client.IgnoreNotFound(err))
		}
		if live.ResourceVersion != rs.ResourceVersion {
			return outcome{}, ctrl.Result{}, nil, errConflict
		}
	}
	o, touchpoints, err := r.check(ctx, rs)
	if err != nil {
		return outcome{}, ctrl.Result{}, nil, err
	}
	if !o.ready {
		rs.Status.NextRunTime = nil
		return o, ctrl.Result{}, touchpoints, nil
	}
	return o, r.schedule(ctx, rs), touchpoints, nil
}

// runPending performs the run status.pendingRun records, once that status
// is stored, and clears it. A run cut short by the manager stopping stays
// pending: the restarted manager runs it, under the same key.
func (r *ReportSubscriptionReconciler) runPending(ctx context.Context, rs *cxv1alpha1.ReportSubscription, touchpoints []cxv1alpha1.SurveyTouchpoint) (ctrl.Result, error) {
	p := rs.Status.PendingRun
	if p == nil || !apimeta.IsStatusConditionTrue(rs.Status.Conditions, cxv1alpha1.ConditionReady) {
		return ctrl.Result{}, nil
	}
	if !r.run(ctx, rs, touchpoints, p.At.Time, p.Key) {
		return ctrl.Result{}, ctx.Err()
	}
	rs.Status.PendingRun = nil
	if next := rs.Status.NextRunTime; next != nil {
		// Counted from the clock after the run: a run that took minutes
		// must not make the next one as late.
		return ctrl.Result{RequeueAfter: max(next.Sub(r.now()), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// check runs validate.CheckReportSubscription (schedule, time zone, goals,
// touchpoints, channels, case templates); it returns the selected
// touchpoints.
func (r *ReportSubscriptionReconciler) check(ctx context.Context, rs *cxv1alpha1.ReportSubscription) (outcome, []cxv1alpha1.SurveyTouchpoint, error) {
	problems, selected, err := validate.CheckReportSubscription(ctx, clientNamespace{c: r.Client, namespace: rs.Namespace}, rs)
	if err != nil {
		return outcome{}, nil, err
	}
	return problemsOutcome(problems), selected, nil
}

// schedule runs the report when a cron activation is due (within the
// starting deadline) or the run-now annotation has a new value, and sets
// nextRunTime and the requeue to the next activation.
func (r *ReportSubscriptionReconciler) schedule(ctx context.Context, rs *cxv1alpha1.ReportSubscription) ctrl.Result {
	log := ctrl.LoggerFrom(ctx)
	sched, problems := validate.Schedule(rs.Spec.Schedule, rs.Spec.TimeZone)
	if len(problems) > 0 {
		// check reported them; nothing to schedule.
		return ctrl.Result{}
	}
	now := r.now()
	deadline := defaultStartingDeadline
	if d := rs.Spec.StartingDeadline; d != nil && d.Duration > 0 {
		deadline = d.Duration
	}
	base := rs.CreationTimestamp.Time
	if last := rs.Status.LastRunTime; last != nil && last.After(base) {
		base = last.Time
	}

	var due time.Time
	if !rs.Spec.Suspend {
		var missed time.Time
		due, missed = report.DueActivation(sched, base, now, deadline)
		if due.IsZero() && !missed.IsZero() {
			log.Info("missed report run skipped", "scheduledFor", missed, "startingDeadline", deadline)
			r.eventf(rs, corev1.EventTypeWarning, cxv1alpha1.ReasonMissedRun,
				"the run scheduled for %s was missed by more than startingDeadline %s (the manager was down?); skipped, the next run is on schedule",
				missed.In(sched.Location()).Format(time.RFC3339), deadline)
		}
	}
	trigger := rs.Annotations[RunNowAnnotation]
	manual := trigger != "" && trigger != rs.Status.LastManualTrigger

	if !due.IsZero() || manual {
		// A scheduled run covers the window ending at its scheduled time
		// (whole hours for "0 8 * * MON"), a manual one the window ending
		// now.
		runAt, key := due, report.RunKey(rs, due, "")
		if due.IsZero() {
			runAt, key = now, report.RunKey(rs, now, trigger)
		}
		// Recorded as due; runPending runs it once this is stored.
		rs.Status.PendingRun = &cxv1alpha1.PendingReportRun{At: metav1.Time{Time: runAt}, Key: key}
		rs.Status.LastRunTime = metaTime(runAt)
		if manual {
			rs.Status.LastManualTrigger = trigger
		}
	}

	if rs.Spec.Suspend {
		rs.Status.NextRunTime = nil
		return ctrl.Result{}
	}
	from := now
	if last := rs.Status.LastRunTime; last != nil && last.After(from) {
		from = last.Time
	}
	next := sched.Next(from)
	if next.IsZero() {
		rs.Status.NextRunTime = nil
		return ctrl.Result{}
	}
	rs.Status.NextRunTime = metaTime(next)
	// Counted from the clock after the run: a run that took minutes must
	// not make the next one as late.
	return ctrl.Result{RequeueAfter: max(next.Sub(r.now()), time.Second)}
}

// eventf records an event about rs, when there is a recorder.
func (r *ReportSubscriptionReconciler) eventf(rs *cxv1alpha1.ReportSubscription, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(rs, nil, eventType, reason, "Run", format, args...)
	}
}

// SetupWithManager registers the controller.
func (r *ReportSubscriptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.ReportSubscriptionList{}))
	return ctrl.NewControllerManagedBy(mgr).
		// Spec changes and the run-now annotation; not the status this
		// controller writes.
		For(&cxv1alpha1.ReportSubscription{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&cxv1alpha1.SurveyTouchpoint{}, all, builder.WithPredicates(predicate.Or(createOrDelete(), predicate.LabelChangedPredicate{}))).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(createOrDelete())).
		Watches(&cxv1alpha1.CaseTemplate{}, all, builder.WithPredicates(createOrDelete())).
		Named("reportsubscription").
		// A run waits for its deliveries; other subscriptions need not.
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrentReports}).
		Complete(r)
}
