package alerting

import (
	"fmt"
	"sort"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// ThrottleWindow is the period of spec.throttle.maxCasesPerHour: a Case
// counts while its creation is at most an hour before now, as the
// collectors count it when they decide to open one.
const ThrottleWindow = time.Hour

// Throttle counts the creation times within the hour before now
// (inclusive), and says whether they reach limit and, if so, when they
// will have dropped below it (the creation of the Case whose aging out
// brings the count under limit, plus an hour).
func Throttle(created []time.Time, limit int32, now time.Time) (inHour int, clearsAt time.Time, throttled bool) {
	var recent []time.Time
	for _, t := range created {
		if !t.Before(now.Add(-ThrottleWindow)) {
			recent = append(recent, t)
		}
	}
	inHour = len(recent)
	if limit <= 0 || inHour < int(limit) {
		return inHour, time.Time{}, false
	}
	sort.Slice(recent, func(i, j int) bool { return recent[i].Before(recent[j]) })
	return inHour, recent[inHour-int(limit)].Add(ThrottleWindow), true
}

// ThrottledCondition is the rule's Throttled condition given the creation
// times of the Cases it opened, and how long until a throttled rule clears
// (0 when it is not throttled).
func ThrottledCondition(rule *cxv1alpha1.AlertRule, created []time.Time, now time.Time) (metav1.Condition, time.Duration) {
	cond := metav1.Condition{Type: cxv1alpha1.ConditionThrottled, Status: metav1.ConditionFalse, ObservedGeneration: rule.Generation,
		Reason: cxv1alpha1.ReasonNoThrottle, Message: "spec.throttle is not set: the rule opens a Case for every match"}
	th := rule.Spec.Throttle
	if th == nil {
		return cond, 0
	}
	inHour, clearsAt, throttled := Throttle(created, th.MaxCasesPerHour, now)
	cond.Reason = cxv1alpha1.ReasonBelowLimit
	cond.Message = fmt.Sprintf("%d of at most %d Cases opened in the last hour", inHour, th.MaxCasesPerHour)
	if !throttled {
		return cond, 0
	}
	cond.Status, cond.Reason = metav1.ConditionTrue, cxv1alpha1.ReasonThrottled
	cond.Message = fmt.Sprintf("%d Cases opened in the last hour reach spec.throttle.maxCasesPerHour (%d): matches open no Case until %s; "+
		"raise the limit if the volume is expected", inHour, th.MaxCasesPerHour, clearsAt.UTC().Format(time.RFC3339))
	// Requeue a second after: Cases count up to an hour old inclusive,
	// and creation times have a resolution of one second.
	return cond, clearsAt.Sub(now) + time.Second
}

// RecordCases sets the rule's status from the creation times of the Cases
// labelled with it: casesOpened counts them (closed Cases deleted after
// their template's retention no longer count), lastMatchTime moves to the
// latest (never back) and the Throttled condition is set. It returns how
// long until a throttled rule clears (0 when it is not throttled).
func RecordCases(rule *cxv1alpha1.AlertRule, created []time.Time, now time.Time) time.Duration {
	rule.Status.CasesOpened = int64(len(created))
	for _, t := range created {
		AdvanceLastMatch(rule, t)
	}
	cond, clearIn := ThrottledCondition(rule, created, now)
	apimeta.SetStatusCondition(&rule.Status.Conditions, cond)
	return clearIn
}

// AdvanceLastMatch sets status.lastMatchTime to t if it is later.
func AdvanceLastMatch(rule *cxv1alpha1.AlertRule, t time.Time) {
	if t.IsZero() {
		return
	}
	if last := rule.Status.LastMatchTime; last == nil || last.Before(&metav1.Time{Time: t}) {
		rule.Status.LastMatchTime = &metav1.Time{Time: t}
	}
}
