package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// ReportSubscriptionReconciler checks that a subscription's schedule and
// time zone parse and that its touchpoints and channels exist.
type ReportSubscriptionReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=cx.cxloop.io,resources=reportsubscriptions,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=reportsubscriptions/status,verbs=get;update;patch

func (r *ReportSubscriptionReconciler) check(ctx context.Context, rs *cxv1alpha1.ReportSubscription) (outcome, ctrl.Result, error) {
	problems := validate.ReportSubscription(rs)

	var touchpoints cxv1alpha1.SurveyTouchpointList
	if err := r.List(ctx, &touchpoints, client.InNamespace(rs.Namespace)); err != nil {
		return outcome{}, ctrl.Result{}, fmt.Errorf("list touchpoints: %w", err)
	}
	_, selProblems := validate.SelectTouchpoints(rs.Spec.Touchpoints, touchpoints.Items)
	problems = append(problems, selProblems...)

	refs := references{ctx: ctx, c: r.Client, namespace: rs.Namespace}
	for i, ch := range rs.Spec.Channels {
		refs.require(fmt.Sprintf("spec.channels[%d]", i), ch, &cxv1alpha1.NotificationChannel{})
	}
	if refs.err != nil {
		return outcome{}, ctrl.Result{}, refs.err
	}
	return problemsOutcome(append(problems, refs.problems...)), ctrl.Result{}, nil
}

// SetupWithManager registers the controller.
func (r *ReportSubscriptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.ReportSubscriptionList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.ReportSubscription{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.SurveyTouchpoint{}, all, builder.WithPredicates(predicate.Or(createOrDelete(), predicate.LabelChangedPredicate{}))).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(createOrDelete())).
		Named("reportsubscription").
		Complete(&validationReconciler[*cxv1alpha1.ReportSubscription]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.ReportSubscription { return &cxv1alpha1.ReportSubscription{} },
			check:  r.check,
		})
}
