package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// throttleWindow is the period of spec.throttle.maxCasesPerHour: a Case
// counts while its creation is at most an hour before now, as the
// collectors count it when they decide to open one.
const throttleWindow = time.Hour

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

	cond := metav1.Condition{Type: cxv1alpha1.ConditionThrottled, Status: metav1.ConditionFalse, ObservedGeneration: rule.Generation,
		Reason: cxv1alpha1.ReasonNoThrottle, Message: "spec.throttle is not set: the rule opens a Case for every match"}
	var clearIn time.Duration
	if th := rule.Spec.Throttle; th != nil {
		inHour, clearsAt, throttled := throttleState(created, th.MaxCasesPerHour, now)
		cond.Reason = cxv1alpha1.ReasonBelowLimit
		cond.Message = fmt.Sprintf("%d of at most %d Cases opened in the last hour", inHour, th.MaxCasesPerHour)
		if throttled {
			cond.Status, cond.Reason = metav1.ConditionTrue, cxv1alpha1.ReasonThrottled
			cond.Message = fmt.Sprintf("%d Cases opened in the last hour reach spec.throttle.maxCasesPerHour (%d): matches open no Case until %s; "+
				"raise the limit if the volume is expected", inHour, th.MaxCasesPerHour, clearsAt.UTC().Format(time.RFC3339))
			// Requeue a second after: Cases count up to an hour old inclusive,
			// and creation times have a resolution of one second.
			clearIn = clearsAt.Sub(now) + time.Second
		}
	}
	apimeta.SetStatusCondition(&rule.Status.Conditions, cond)
	return clearIn, nil
}

// throttleState counts the creation times within the hour before now
// (inclusive), and says whether they reach limit and, if so, when they
// will have dropped below it (the creation of the Case whose aging out
// brings the count under limit, plus an hour).
func throttleState(created []time.Time, limit int32, now time.Time) (inHour int, clearsAt time.Time, throttled bool) {
	var recent []time.Time
	for _, t := range created {
		if !t.Before(now.Add(-throttleWindow)) {
			recent = append(recent, t)
		}
	}
	inHour = len(recent)
	if limit <= 0 || inHour < int(limit) {
		return inHour, time.Time{}, false
	}
	sort.Slice(recent, func(i, j int) bool { return recent[i].Before(recent[j]) })
	return inHour, recent[inHour-int(limit)].Add(throttleWindow), true
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
