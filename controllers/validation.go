package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// statusObject is a cxloop object with conditions and observedGeneration.
type statusObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	SetObservedGeneration(int64)
}

// validationReconciler is the shared skeleton of the controllers that judge
// an object valid or not: get (ignore not-found) -> snapshot -> deferred
// status patch -> check -> conditions. check may also fill kind-specific
// status fields; it returns an error only for transient failures, which are
// retried with backoff.
type validationReconciler[T statusObject] struct {
	client   client.Client
	recorder recorder.EventRecorder
	newObj   func() T
	check    func(ctx context.Context, obj T) (outcome, ctrl.Result, error)
}

func (r *validationReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := r.newObj()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before, ok := obj.DeepCopyObject().(T)
	if !ok {
		return ctrl.Result{}, fmt.Errorf("deep copy of %T", obj)
	}
	o, result, err := r.check(ctx, obj)
	if err != nil {
		// Leave the status as it was: a transient failure says nothing
		// about the object.
		return ctrl.Result{}, err
	}
	recordTransition(r.recorder, obj, before.GetConditions(), o)
	conds := obj.GetConditions()
	o.apply(&conds, obj.GetGeneration())
	obj.SetConditions(conds)
	obj.SetObservedGeneration(obj.GetGeneration())
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("patch status of %s: %w", req.NamespacedName, client.IgnoreNotFound(err))
	}
	if !o.ready {
		ctrl.LoggerFrom(ctx).V(1).Info("not ready", "reason", o.reason)
	}
	return result, nil
}
