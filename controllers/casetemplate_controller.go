package controllers

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// CaseTemplateReconciler checks that a template's route expressions compile
// and the channels it notifies exist.
type CaseTemplateReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

func (r *CaseTemplateReconciler) check(ctx context.Context, t *cxv1alpha1.CaseTemplate) (outcome, ctrl.Result, error) {
	problems, err := validate.CheckCaseTemplate(ctx, clientNamespace{c: r.Client, namespace: t.Namespace}, t)
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	return problemsOutcome(problems), ctrl.Result{}, nil
}

// SetupWithManager registers the controller; templates are re-checked when
// a channel of their namespace appears or goes.
func (r *CaseTemplateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.CaseTemplateList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.CaseTemplate{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(createOrDelete())).
		Named("casetemplate").
		Complete(&reconciler[*cxv1alpha1.CaseTemplate]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.CaseTemplate { return &cxv1alpha1.CaseTemplate{} },
			steps:  r.check,
		})
}
