package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// indexCaseTemplate indexes Cases by spec.template so a template change finds
// its Cases without listing the namespace.
const indexCaseTemplate = "spec.template"

// CaseReconciler checks a Case against its template: the template exists
// and a closed Case's root cause is one the template allows.
type CaseReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=cx.cxloop.io,resources=cases,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=cases/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=casetemplates,verbs=get;list;watch

func (r *CaseReconciler) check(ctx context.Context, c *cxv1alpha1.Case) (outcome, ctrl.Result, error) {
	tmpl := &cxv1alpha1.CaseTemplate{}
	err := r.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl)
	if client.IgnoreNotFound(err) != nil {
		return outcome{}, ctrl.Result{}, fmt.Errorf("get case template %s: %w", c.Spec.Template, err)
	}
	if err != nil {
		return problemsOutcome(validate.Problems{{
			Field:   "spec.template",
			Reason:  cxv1alpha1.ReasonReferenceNotFound,
			Message: fmt.Sprintf("CaseTemplate %q not found in namespace %s; create it or fix the name", c.Spec.Template, c.Namespace),
		}}), ctrl.Result{}, nil
	}
	return problemsOutcome(validate.Case(c, tmpl)), ctrl.Result{}, nil
}

// SetupWithManager registers the controller and the spec.template index.
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
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.Case{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.CaseTemplate{}, handler.EnqueueRequestsFromMapFunc(r.casesOfTemplate)).
		Named("case").
		Complete(&validationReconciler[*cxv1alpha1.Case]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.Case { return &cxv1alpha1.Case{} },
			check:  r.check,
		})
}

func (r *CaseReconciler) casesOfTemplate(ctx context.Context, o client.Object) []reconcile.Request {
	var cases cxv1alpha1.CaseList
	if err := r.List(ctx, &cases, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexCaseTemplate: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "list cases of template", "template", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(cases.Items))
	for i := range cases.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&cases.Items[i])})
	}
	return reqs
}
