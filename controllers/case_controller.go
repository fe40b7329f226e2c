package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/validate"
)

// indexCaseTemplate indexes Cases by spec.template so a template change finds
// its Cases without listing the namespace.
const indexCaseTemplate = "spec.template"

// caseWorkers is how many Cases are reconciled at once. A reconciliation
// mostly waits: on the API server (whose commits batch better with more
// writes in flight) and on notification receivers. With 8 workers,
// 10,000 Cases falling due over 30s were handled at half the rate of 32.
const caseWorkers = 32

// CaseArchiver keeps a closed Case after its object is deleted (the
// program's store, through the collector API).
type CaseArchiver interface {
	ArchiveCase(ctx context.Context, c *cxv1alpha1.Case) error
}

// CaseReconciler runs the lifecycle of Cases:
//
//   - On a new Case it applies the CaseTemplate: category, severity and
//     closure goal from the first tier policy matching the customer's tier
//     (else the default policy), assignee from the first matching route
//     (else the first case manager). Values set on the Case win. It records
//     openedAt (the creation time), dueAt and firstResponseDueAt.
//   - It records firstActionAt, closedAt and timeToClose, and clears the
//     closing on reopening.
//   - At dueAt (and firstResponseDueAt) it sets Overdue
//     (FirstResponseOverdue) with a Warning event, and runs the template's
//     escalation ladder: each step once per Case, never on a Resolved or
//     Closed Case, and never retroactively (see internal/cases).
//   - It notifies the template's recipients of lifecycle events through
//     the Deliverer, once per idempotency key: a notification is recorded
//     as due in status.pendingNotifications in the status write that
//     stores its transition, delivered once that write is stored, then
//     moved to status.notifications, so a manager stopped in between
//     delivers it after its restart. The notifications of the deadlines
//     ahead are recorded earlier, scheduled (cases.Schedule), so at the
//     deadline they are delivered before the one write that stores the
//     transition and marks them done.
//   - A closed Case past its template's retention is archived, then
//     deleted.
//   - It checks the Case against its template (Ready): the template exists
//     and a closed Case's root cause is one the template allows.
//
// It wakes up at the next deadline (RequeueAfter, from Now), never polls.
type CaseReconciler struct {
	client.Client
	// APIReader reads a Case past the cache before it is archived and
	// deleted.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Deliverer sends notifications; without one they are recorded as
	// Skipped.
	Deliverer notify.Deliverer
	// Archiver archives closed Cases; without one closed Cases are kept.
	Archiver CaseArchiver
	// NotificationBaseURL prefixes the links in messages:
	// <base>/namespaces/<ns>/cases/<name>.
	NotificationBaseURL string

	routes    cases.Router
	delivered deliveryMemory
}

// Reconcile advances one Case's lifecycle to now, on the shared skeleton
// (see reconciler): the steps decide and record, in the one status write,
// the transitions and the notifications they owe; once that status is
// stored, the notifications are delivered and marked done, the events
// emitted and an archived Case deleted.
func (r *CaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	run := &caseRun{r: r}
	sk := reconciler[*cxv1alpha1.Case]{
		client: r.Client, recorder: r.Recorder,
		newObj:         func() *cxv1alpha1.Case { return &cxv1alpha1.Case{} },
		steps:          run.steps,
		afterPatch:     run.afterPatch,
		optimisticLock: true,
	}
	result, err := sk.Reconcile(ctx, req)
	if err == nil && run.plan != nil && !run.plan.Next.IsZero() {
		// The wake-up counts from now, after the writes: a RequeueAfter
		// computed before them would wake the Case as late as they took
		// (under load, a good part of a second).
		requeueWithin(&result, max(run.plan.Next.Sub(r.now()), time.Millisecond))
	}
	return result, err
}

// caseRun is one reconciliation of a Case: what its steps decided, for
// what runs once the status is stored.
type caseRun struct {
	r    *CaseReconciler
	tmpl *cxv1alpha1.CaseTemplate
	plan *cases.Plan
	// failures are the deliveries made before the status write that
	// failed, announced once it is stored.
	failures []cases.Transition
}

// steps evaluates the Case against its template and now (cases.Evaluate),
// writes the spec changes of the template defaults (on a Case its opener
// did not default) and of escalations, records the notifications due, and
// archives a closed Case past its retention.
func (run *caseRun) steps(ctx context.Context, c *cxv1alpha1.Case) (outcome, ctrl.Result, error) {
	r := run.r
	tmpl := &cxv1alpha1.CaseTemplate{}
	err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl)
	if client.IgnoreNotFound(err) != nil {
		return outcome{}, ctrl.Result{}, fmt.Errorf("get case template %s: %w", c.Spec.Template, err)
	}
	if err != nil {
		// Nothing to apply until the template exists; its creation brings
		// the Case back (watch on CaseTemplates). Notifications due stay
		// due.
		return problemsOutcome(validate.Case(c, nil)), ctrl.Result{}, nil
	}
	now := r.now()
	cached := c.DeepCopy()
	plan := cases.Evaluate(c, tmpl, now, &r.routes)
	if plan.RetentionEnded {
		// Archive and delete only from what the API server holds now.
		if err := r.checkLive(ctx, cached); err != nil {
			return outcome{}, ctrl.Result{}, err
		}
	}
	if plan.SpecChanged {
		obj := cached.DeepCopy()
		obj.Spec = c.Spec
		if err := r.Patch(ctx, obj, client.MergeFromWithOptions(cached, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return outcome{}, ctrl.Result{}, errConflict
			}
			return outcome{}, ctrl.Result{}, fmt.Errorf("apply template defaults and escalation to case spec: %w", err)
		}
		c.ObjectMeta = *obj.ObjectMeta.DeepCopy()
		// Everything the plan decided was for this spec.
		for i := range c.Status.Conditions {
			c.Status.Conditions[i].ObservedGeneration = c.Generation
		}
	}
	cases.RecordDue(c, tmpl, plan.Transitions, now, r.Deliverer != nil)
	cases.Schedule(c, tmpl, now, r.Deliverer != nil)
	run.tmpl, run.plan = tmpl, plan
	// What the stored status already records as due (scheduled ahead for
	// this deadline, or left pending by an earlier run) is delivered now
	// and marked done in this reconciliation's one status write; what was
	// recorded just now waits for that write (afterPatch).
	run.failures = r.deliver(ctx, c, tmpl, cases.DeliverableNow(cached, c))
	if plan.RetentionEnded && c.Status.ArchivedAt == nil {
		if err := r.archive(ctx, c, now); err != nil {
			return outcome{}, ctrl.Result{}, err
		}
	}
	// The next deadline (plan.Next) is requeued by Reconcile, from the
	// time the writes are done.
	return problemsOutcome(validate.Case(c, tmpl)), ctrl.Result{}, nil
}

// checkLive returns errConflict when the API server holds a newer Case
// than the one read from the cache: a cache behind the controller's own
// writes would archive and delete a reopened Case.
func (r *CaseReconciler) checkLive(ctx context.Context, cached *cxv1alpha1.Case) error {
	if r.APIReader == nil {
		return nil
	}
	live := &cxv1alpha1.Case{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), live); err != nil {
		if apierrors.IsNotFound(err) {
			return errConflict
		}
		return fmt.Errorf("read case %s/%s: %w", cached.Namespace, cached.Name, err)
	}
	if live.ResourceVersion != cached.ResourceVersion {
		return errConflict
	}
	return nil
}

// afterPatch runs once the status that records the transitions is
// stored: it delivers the notifications due, emits the transitions'
// events, observes the metrics and deletes a Case that was archived.
func (run *caseRun) afterPatch(ctx context.Context, c *cxv1alpha1.Case) (ctrl.Result, error) {
	r := run.r
	if run.plan == nil {
		return ctrl.Result{}, nil // no template
	}
	failures := append(run.failures, r.deliver(ctx, c, run.tmpl, cases.DueNow(c))...)
	for _, tr := range append(run.plan.Transitions, failures...) {
		r.event(c, tr)
	}
	observeLifecycle(c, run.plan)
	if run.plan.RetentionEnded && c.Status.ArchivedAt != nil {
		return ctrl.Result{}, r.deleteArchived(ctx, c)
	}
	return ctrl.Result{}, nil
}

// archive stores the closed Case through the Archiver and records
// archivedAt. Without an Archiver, closed Cases are kept.
func (r *CaseReconciler) archive(ctx context.Context, c *cxv1alpha1.Case, now time.Time) error {
	if r.Archiver == nil {
		ctrl.LoggerFrom(ctx).V(1).Info("retention ended but no archiver is configured; keeping the closed case")
		return nil
	}
	at := metav1.NewTime(now)
	c.Status.ArchivedAt = &at
	if err := r.Archiver.ArchiveCase(ctx, c); err != nil {
		c.Status.ArchivedAt = nil
		return fmt.Errorf("archive closed case %s/%s: %w", c.Namespace, c.Name, err)
	}
	r.event(c, cases.Transition{Reason: cxv1alpha1.ReasonArchived, Note: "retention ended: archived to the store; deleting the Case"})
	return nil
}

// deleteArchived deletes a Case that was archived, unless it changed since
// (a reopening after the archive keeps it).
func (r *CaseReconciler) deleteArchived(ctx context.Context, c *cxv1alpha1.Case) error {
	err := r.Delete(ctx, c, client.Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion})
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) {
		return nil // changed since archived: the update brings it back
	}
	return fmt.Errorf("delete archived case %s/%s: %w", c.Namespace, c.Name, err)
}

func (r *CaseReconciler) event(c *cxv1alpha1.Case, tr cases.Transition) {
	if r.Recorder == nil || tr.Reason == "" {
		return
	}
	eventType := corev1.EventTypeNormal
	if tr.Warning {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(c, nil, eventType, tr.Reason, "Lifecycle", "%s", truncate(tr.Note, 1000))
}

func (r *CaseReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ArchiveDocument is the JSON a CaseArchiver stores for a Case: the whole
// object, as the API server would return it.
func ArchiveDocument(c *cxv1alpha1.Case) ([]byte, error) {
	obj := c.DeepCopy()
	obj.APIVersion, obj.Kind = cxv1alpha1.GroupVersion.String(), "Case"
	obj.ManagedFields = nil
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode case %s/%s: %w", c.Namespace, c.Name, err)
	}
	return b, nil
}

// SetupWithManager registers the controller, the spec.template index and
// the Case metrics. A Case is reconciled when its spec or annotations
// change (not on its own status writes), when its template changes, and at
// its next deadline.
func (r *CaseReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &cxv1alpha1.Case{}, indexCaseTemplate,
		func(o client.Object) []string {
			if c, ok := o.(*cxv1alpha1.Case); ok {
				return []string{c.Spec.Template}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("index cases by template: %w", err)
	}
	if err := registerCaseMetrics(mgr.GetCache()); err != nil {
		return fmt.Errorf("register case metrics: %w", err)
	}
	if r.Recorder != nil {
		paced := newPacedRecorder(r.Recorder, mgr.GetScheme())
		if err := mgr.Add(paced); err != nil {
			return fmt.Errorf("add case event writer: %w", err)
		}
		r.Recorder = paced
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.Case{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&cxv1alpha1.CaseTemplate{}, handler.EnqueueRequestsFromMapFunc(r.casesOfTemplate)).
		WithOptions(controller.Options{MaxConcurrentReconciles: caseWorkers}).
		Named("case").
		Complete(r)
}

func (r *CaseReconciler) casesOfTemplate(ctx context.Context, o client.Object) []reconcile.Request {
	var list cxv1alpha1.CaseList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexCaseTemplate: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list cases of template", "template", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}
