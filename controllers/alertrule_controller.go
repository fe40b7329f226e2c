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

// AlertRuleReconciler compiles AlertRules against the touchpoints they
// select and reports the result in status: an invalid rule is Ready=False
// with the compiler's message while the valid ones keep working.
type AlertRuleReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
}

// +kubebuilder:rbac:groups=cx.cxloop.io,resources=alertrules,verbs=get;list;watch
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=alertrules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cx.cxloop.io,resources=surveytouchpoints;casetemplates;notificationchannels,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

func (r *AlertRuleReconciler) check(ctx context.Context, rule *cxv1alpha1.AlertRule) (outcome, ctrl.Result, error) {
	var touchpoints cxv1alpha1.SurveyTouchpointList
	if err := r.List(ctx, &touchpoints, client.InNamespace(rule.Namespace)); err != nil {
		return outcome{}, ctrl.Result{}, fmt.Errorf("list touchpoints: %w", err)
	}
	selected, problems := validate.SelectTouchpoints(rule.Spec.Touchpoints, touchpoints.Items)
	rule.Status.SelectedTouchpoints = touchpointNames(selected)
	problems = append(problems, validate.AlertRule(rule, selected)...)

	refs := references{ctx: ctx, c: r.Client, namespace: rule.Namespace}
	for i, n := range rule.Spec.Actions.Notify {
		refs.require(fmt.Sprintf("spec.actions.notify[%d].channel", i), n.Channel, &cxv1alpha1.NotificationChannel{})
	}
	if oc := rule.Spec.Actions.OpenCase; oc != nil {
		refs.require("spec.actions.openCase.template", oc.Template, &cxv1alpha1.CaseTemplate{})
	}
	if refs.err != nil {
		return outcome{}, ctrl.Result{}, refs.err
	}
	problems = append(problems, refs.problems...)

	o := problemsOutcome(problems)
	if o.ready {
		o.message = fmt.Sprintf("compiled against %d touchpoint(s)", len(selected))
		if rule.Spec.Suspend {
			o = outcome{reason: cxv1alpha1.ReasonSuspended, message: "the rule is suspended (spec.suspend: true): valid, but not evaluated"}
		}
	}
	return o, ctrl.Result{}, nil
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

// SetupWithManager registers the controller. Rules are re-validated when a
// touchpoint (its questions type the answers), template or channel of their
// namespace changes.
func (r *AlertRuleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.AlertRuleList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.AlertRule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.SurveyTouchpoint{}, all, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&cxv1alpha1.CaseTemplate{}, all, builder.WithPredicates(createOrDelete())).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(createOrDelete())).
		Named("alertrule").
		Complete(&validationReconciler[*cxv1alpha1.AlertRule]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.AlertRule { return &cxv1alpha1.AlertRule{} },
			check:  r.check,
		})
}
