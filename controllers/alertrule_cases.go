package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
)

// listRuleCases returns the Cases labelled as opened by rule.
func (r *AlertRuleReconciler) listRuleCases(ctx context.Context, rule *cxv1alpha1.AlertRule) ([]cxv1alpha1.Case, error) {
	var cases cxv1alpha1.CaseList
	if err := r.List(ctx, &cases, client.InNamespace(rule.Namespace), client.MatchingLabels{cxv1alpha1.LabelRule: rule.Name}); err != nil {
		return nil, fmt.Errorf("list cases of rule %s (label %s): %w", rule.Name, cxv1alpha1.LabelRule, err)
	}
	return cases.Items, nil
}

// caseStatus sets status.casesOpened, status.lastMatchTime and the
// Throttled condition from the Cases labelled with the rule
// (alerting.RecordCases). It returns how long until a throttled rule
// clears (0 when it is not throttled).
func (r *AlertRuleReconciler) caseStatus(ctx context.Context, rule *cxv1alpha1.AlertRule, now time.Time) (time.Duration, error) {
	cases, err := r.listRuleCases(ctx, rule)
	if err != nil {
		return 0, err
	}
	created := make([]time.Time, 0, len(cases))
	for i := range cases {
		created = append(created, cases[i].CreationTimestamp.Time)
	}
	return alerting.RecordCases(rule, created, now), nil
}
