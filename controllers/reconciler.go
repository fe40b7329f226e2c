package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// statusObject is a cxloop object with conditions and observedGeneration.
type statusObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// reconciler is the one skeleton of the cxloop controllers, in the manner
// of Flux's: get (ignore not-found) -> snapshot -> deferred single status
// patch -> the kind's ordered steps -> summary conditions.
//
//   - steps decides and fills the status. It returns the outcome (Ready,
//     Reconciling, Stalled) and the requeue; an error is transient: the
//     deferred patch still writes Ready=False and Reconciling=True with
//     reason ProgressingWithRetry and the error as message, a Warning event
//     says so (once per distinct error), and the request is retried with
//     backoff. A spec no retry can fix is an outcome, not an error.
//   - The status is written once, only when it changed: a resync that
//     finds nothing new writes nothing. With optimisticLock the write is
//     an update of the status subresource carrying the resourceVersion
//     read (else a merge patch), and a conflict (the object changed
//     since) is a quiet requeue rather than an error.
//   - A step that finds the object it was given stale (or that loses an
//     optimistic-lock race writing the spec) returns errConflict: nothing
//     is written and the request is retried quietly. A step that writes
//     the spec itself (the Case's escalation) takes the metadata the write
//     returned; the status patch then locks on that version.
//   - afterPatch runs once the status is stored: effects recorded as due in
//     that status are performed there, never before their record is
//     durable. It may change the status again (marking effects done); a
//     change is patched on its own.
type reconciler[T statusObject] struct {
	client   client.Client
	recorder recorder.EventRecorder
	newObj   func() T
	// reload, when set, may replace the cached object with a fresher read
	// (for instance past the cache before an evaluation).
	reload func(ctx context.Context, obj T) error
	// steps are the kind's ordered reconciliation steps.
	steps func(ctx context.Context, obj T) (outcome, ctrl.Result, error)
	// afterPatch performs what the stored status records as due.
	afterPatch func(ctx context.Context, obj T) (ctrl.Result, error)
	// optimisticLock writes the status with the resourceVersion read.
	optimisticLock bool
}

// errConflict marks a status patch that lost an optimistic-lock race.
var errConflict = errors.New("the object changed since it was read")

func (r *reconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := r.newObj()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.reload != nil {
		if err := r.reload(ctx, obj); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	before, ok := obj.DeepCopyObject().(T)
	if !ok {
		return ctrl.Result{}, fmt.Errorf("deep copy of %T", obj)
	}
	patched := false
	defer func() {
		if patched {
			return
		}
		if err := r.patchStatus(ctx, before, obj, r.optimisticLock); err != nil {
			result, retErr = patchFailed(ctx, err, retErr)
		}
	}()

	o, result, err := r.steps(ctx, obj)
	if errors.Is(err, errConflict) {
		// The steps found the cache behind (or lost a race writing the
		// spec): what they decided is not written, and the object comes
		// back with the newer version.
		patched = true
		return patchFailed(ctx, err, nil)
	}
	if err != nil {
		o = outcome{reconciling: true, transient: true, reason: cxv1alpha1.ReasonProgressingWithRetry, message: truncate(err.Error(), maxConditionMessage)}
		retErr = err
	}
	recordTransition(r.recorder, obj, before.GetConditions(), o)
	conds := obj.GetConditions()
	o.apply(&conds, obj.GetGeneration())
	obj.SetConditions(conds)
	obj.SetObservedGeneration(obj.GetGeneration())
	if !o.ready && !o.transient {
		ctrl.LoggerFrom(ctx).V(1).Info("not ready", "reason", o.reason)
	}
	if retErr != nil || r.afterPatch == nil {
		return result, retErr
	}

	// Store the status first, then perform what it records as due.
	patched = true
	if err := r.patchStatus(ctx, before, obj, r.optimisticLock); err != nil {
		return patchFailed(ctx, err, nil)
	}
	stored, ok := obj.DeepCopyObject().(T)
	if !ok {
		return ctrl.Result{}, fmt.Errorf("deep copy of %T", obj)
	}
	after, err := r.afterPatch(ctx, obj)
	requeueWithin(&result, after.RequeueAfter)
	// What afterPatch changed (effects done) is patched without the lock:
	// its fields have no other writer, and a conflict with a writer of
	// other fields must not make the effects run again.
	if perr := r.patchStatus(ctx, stored, obj, false); perr != nil {
		return patchFailed(ctx, perr, err)
	}
	return result, err
}

// patchFailed turns a failed status patch into the reconciliation's
// result: a conflict is a quiet, quick retry (the change that caused it
// brings the object back); other errors join err.
func patchFailed(ctx context.Context, patchErr, err error) (ctrl.Result, error) {
	if errors.Is(patchErr, errConflict) && err == nil {
		ctrl.LoggerFrom(ctx).V(1).Info("status changed since read; retrying")
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, errors.Join(err, patchErr)
}

// patchStatus writes obj's status when it differs from before's; lock
// makes the write carry the resourceVersion read.
//
// A locked write is an update of the status subresource, not a merge
// patch: guarded by the resourceVersion, both store the same status (the
// status subresource takes nothing else from the request), but a merge
// patch costs the API server an encoding of the stored object, the patch
// applied to it and a decoding of the result on top of the update's one
// decoding. The object is sent without its managedFields, which the API
// server ignores on a subresource (it keeps the stored ones, with this
// write's fields added), and which are half of a Case's bytes.
func (r *reconciler[T]) patchStatus(ctx context.Context, before, obj T, lock bool) error {
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	var err error
	if lock {
		err = updateStatus(ctx, r.client, obj)
	} else {
		err = r.client.Status().Patch(ctx, obj, client.MergeFrom(before))
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile: nothing to record
		}
		if apierrors.IsConflict(err) {
			return errConflict
		}
		return fmt.Errorf("write status of %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// updateStatus updates obj's status, conditional on obj's resourceVersion
// (the one read, or the one a step's spec write returned), and takes the
// stored object back into obj. It sends obj without its managedFields.
func updateStatus(ctx context.Context, c client.Client, obj client.Object) error {
	managed := obj.GetManagedFields()
	obj.SetManagedFields(nil)
	err := c.Status().Update(ctx, obj)
	if err != nil || obj.GetManagedFields() == nil {
		obj.SetManagedFields(managed)
	}
	return err
}
