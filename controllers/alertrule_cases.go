package controllers

import (
	"context"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
// Throttled condition from the Cases labelled with the rule. It returns how
// long until a throttled rule clears (0 when it is not throttled).
//
// casesOpened counts the rule's Cases that exist: closed Cases deleted after
// their template's retention no longer count. lastMatchTime never moves
// back.
func (r *AlertRuleReconciler) caseStatus(ctx context.Context, rule *cxv1alpha1.AlertRule, now time.Time) (time.Duration, error) {
	cases, err := r.listRuleCases(ctx, rule)
	if err != nil {
		return 0, err
	}
	created := make([]time.Time, 0, len(cases))
	for i := range cases {
		created = append(created, cases[i].CreationTimestamp.Time)
	}
	rule.Status.CasesOpened = int64(len(cases))
	for _, t := range created {
		advanceLastMatch(rule, t)
	}

	cond, clearIn := alerting.ThrottledCondition(rule, created, now)
	apimeta.SetStatusCondition(&rule.Status.Conditions, cond)
	return clearIn, nil
}

// advanceLastMatch sets status.lastMatchTime to t if it is later.
func advanceLastMatch(rule *cxv1alpha1.AlertRule, t time.Time) {
	if t.IsZero() {
		return
	}
	if last := rule.Status.LastMatchTime; last == nil || last.Before(&metav1.Time{Time: t}) {
		rule.Status.LastMatchTime = &metav1.Time{Time: t}
	}
}
