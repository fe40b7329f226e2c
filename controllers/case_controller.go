package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
//     the Deliverer, once per idempotency key, recorded in
//     status.notifications.
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

	routes  cases.Router
	written writtenCases
}

// Reconcile advances one Case's lifecycle to now.
func (r *CaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cached := &cxv1alpha1.Case{}
	if err := r.Get(ctx, req.NamespacedName, cached); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	c := r.written.latest(cached)
	tmpl := &cxv1alpha1.CaseTemplate{}
	err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("get case template %s: %w", c.Spec.Template, err)
	}
	if err != nil {
		// Nothing to apply until the template exists; its creation brings
		// the Case back (watch on CaseTemplates).
		return ctrl.Result{}, r.patchValidation(ctx, c, validate.Case(c, nil))
	}
	now := r.now()
	desired := c.DeepCopy()
	plan := cases.Evaluate(desired, tmpl, now, &r.routes)
	if plan.RetentionEnded && r.APIReader != nil {
		// Archive and delete only what the API server holds now.
		live := &cxv1alpha1.Case{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, live); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		if live.ResourceVersion != c.ResourceVersion {
			c, desired = live, live.DeepCopy()
			plan = cases.Evaluate(desired, tmpl, now, &r.routes)
		}
	}
	return r.apply(ctx, c, desired, tmpl, plan, now)
}

// apply writes what evaluate decided: the spec (template defaults,
// escalation), the notifications, the archive, the status (in one patch),
// then events, metrics and the deletion of an archived Case.
func (r *CaseReconciler) apply(ctx context.Context, c, desired *cxv1alpha1.Case, tmpl *cxv1alpha1.CaseTemplate, plan *cases.Plan, now time.Time) (ctrl.Result, error) {
	base := c
	if plan.SpecChanged {
		obj := c.DeepCopy()
		obj.Spec = desired.Spec
		if err := r.Patch(ctx, obj, client.MergeFromWithOptions(c, client.MergeFromWithOptimisticLock{})); err != nil {
			return conflictIsRetry(fmt.Errorf("apply template defaults and escalation to case spec: %w", err))
		}
		base = obj
		desired.ObjectMeta = *obj.ObjectMeta.DeepCopy()
		r.written.remember(obj)
	}
	// Everything below was decided for this spec.
	for i := range desired.Status.Conditions {
		desired.Status.Conditions[i].ObservedGeneration = desired.Generation
	}
	var failures []cases.Transition
	for _, tr := range plan.Transitions {
		if tr.Event != "" {
			failures = append(failures, r.notifyTransition(ctx, desired, tmpl, tr, now)...)
		}
	}
	cases.TrimNotifications(desired)
	var archiveErr error
	if plan.RetentionEnded && desired.Status.ArchivedAt == nil {
		archiveErr = r.archive(ctx, desired, now)
	}

	o := problemsOutcome(validate.Case(desired, tmpl))
	recordTransition(r.Recorder, desired, base.Status.Conditions, o)
	o.apply(&desired.Status.Conditions, desired.Generation)
	desired.Status.ObservedGeneration = desired.Generation
	if !equality.Semantic.DeepEqual(base.Status, desired.Status) {
		if err := r.Status().Patch(ctx, desired, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return conflictIsRetry(fmt.Errorf("patch case status: %w", err))
		}
		r.written.remember(desired)
	}
	for _, tr := range append(plan.Transitions, failures...) {
		r.event(desired, tr)
	}
	observeLifecycle(desired, plan)
	if archiveErr != nil {
		return ctrl.Result{}, archiveErr
	}
	if plan.RetentionEnded && desired.Status.ArchivedAt != nil {
		return ctrl.Result{}, r.deleteArchived(ctx, desired)
	}
	return ctrl.Result{RequeueAfter: plan.RequeueAfter()}, nil
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

// conflictIsRetry turns an optimistic-lock conflict into a quiet retry: the
// update that caused it brings the Case back with the newer version.
func conflictIsRetry(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

// patchValidation records the Ready condition of a Case that cannot be
// worked yet (its template is missing).
func (r *CaseReconciler) patchValidation(ctx context.Context, c *cxv1alpha1.Case, problems validate.Problems) error {
	before := c.DeepCopy()
	o := problemsOutcome(problems)
	recordTransition(r.Recorder, c, before.Status.Conditions, o)
	o.apply(&c.Status.Conditions, c.Generation)
	c.Status.ObservedGeneration = c.Generation
	if err := r.Status().Patch(ctx, c, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("patch case status: %w", client.IgnoreNotFound(err))
	}
	return nil
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
	inf, err := mgr.GetCache().GetInformer(context.Background(), &cxv1alpha1.Case{})
	if err != nil {
		return fmt.Errorf("get case informer: %w", err)
	}
	if _, err := inf.AddEventHandler(r.written.watch()); err != nil {
		return fmt.Errorf("watch cases: %w", err)
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
