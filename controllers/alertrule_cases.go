package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Reasons of the Throttled condition.
const (
	// ReasonThrottled: the Cases the rule opened in the last hour reached
	// spec.throttle.maxCasesPerHour; collectors open no more until the
	// oldest of them is an hour old.
	ReasonThrottled = "Throttled"
	// ReasonBelowLimit: spec.throttle is set and not reached.
	ReasonBelowLimit = "BelowLimit"
	// ReasonNoThrottle: spec.throttle is not set.
	ReasonNoThrottle = "NoThrottle"
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
		Reason: ReasonNoThrottle, Message: "spec.throttle is not set: the rule opens a Case for every match"}
	var clearIn time.Duration
	if th := rule.Spec.Throttle; th != nil {
		inHour, clearsAt, throttled := throttleState(created, th.MaxCasesPerHour, now)
		cond.Reason = ReasonBelowLimit
		cond.Message = fmt.Sprintf("%d of at most %d Cases opened in the last hour", inHour, th.MaxCasesPerHour)
		if throttled {
			cond.Status, cond.Reason = metav1.ConditionTrue, ReasonThrottled
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

// strategicCase is the Case an aggregate rule opens for a firing group: no
// customer (it is for a cross-functional team), the rule in spec.source and
// in the labels collectors put on the Cases they open. Its name derives
// from rule, group and since, so creating it twice (a retry, a restart)
// makes one Case.
func strategicCase(rule *cxv1alpha1.AlertRule, f cxv1alpha1.FiringGroup) *cxv1alpha1.Case {
	oc := rule.Spec.Actions.OpenCase
	kind := rule.Spec.Kind
	if kind == "" {
		kind = cxv1alpha1.AlertEscalation
	}
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rule.Namespace,
			Name:      strategicCaseName(rule.Name, f.Group, f.Since.Time),
			Labels:    map[string]string{cxv1alpha1.LabelRule: rule.Name, cxv1alpha1.LabelTemplate: oc.Template},
		},
		Spec: cxv1alpha1.CaseSpec{
			Template: oc.Template,
			Title:    strategicCaseTitle(rule, f),
			Source:   &cxv1alpha1.CaseSource{Rule: rule.Name, RuleKind: kind},
		},
	}
}

// strategicCaseName is <rule>-<hash of rule, group and since>.
func strategicCaseName(rule, group string, since time.Time) string {
	sum := sha256.Sum256([]byte(rule + "\x00" + group + "\x00" + since.UTC().Format(time.RFC3339)))
	return truncateName(rule, 200) + "-" + hex.EncodeToString(sum[:])[:12]
}

// strategicCaseTitle says which metric breached, with its value and window:
// "<title or rule>: NPS 12.5 over 24h for metadata.store=north (previous
// 48.0)".
func strategicCaseTitle(rule *cxv1alpha1.AlertRule, f cxv1alpha1.FiringGroup) string {
	agg := rule.Spec.Aggregate
	prefix := rule.Spec.Actions.OpenCase.Title
	if prefix == "" {
		prefix = rule.Name
	}
	s := fmt.Sprintf("%s: %s", prefix, breachSummary(agg, f))
	return truncate(s, 200)
}

// breachSummary is "NPS 12.5 over 24h for metadata.store=north (previous
// 48.0)".
func breachSummary(agg *cxv1alpha1.AggregateCondition, f cxv1alpha1.FiringGroup) string {
	s := fmt.Sprintf("%s %s over %s", agg.Metric, formatValue(agg.Metric, f.Value), shortDuration(agg.Window.Duration))
	if agg.GroupBy != "" {
		s += " for " + groupLabel(agg, f.Group)
	}
	if f.Previous != nil {
		s += fmt.Sprintf(" (previous %s)", formatValue(agg.Metric, *f.Previous))
	}
	return s
}

// truncateName shortens a name prefix without leaving a trailing dash or
// dot, which object names may not end in.
func truncateName(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	for len(s) > 0 && (s[len(s)-1] == '-' || s[len(s)-1] == '.') {
		s = s[:len(s)-1]
	}
	return s
}
