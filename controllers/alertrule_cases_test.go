package controllers

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// labelledCase is a Case as a collector opens it for rule.
func labelledCase(ns, name, rule, tmpl string) *cxv1alpha1.Case {
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			cxv1alpha1.LabelRule: rule, cxv1alpha1.LabelTemplate: tmpl, cxv1alpha1.LabelTouchpoint: "upgrade-install",
		}},
		Spec: cxv1alpha1.CaseSpec{
			Template: tmpl,
			Customer: &cxv1alpha1.Customer{ID: "C-" + name, Tier: "Gold"},
			Source:   &cxv1alpha1.CaseSource{Rule: rule, RuleKind: cxv1alpha1.AlertEscalation, Touchpoint: "upgrade-install", ResponseID: name},
		},
	}
}

// A per-response rule's status follows the Cases labelled with its name:
// casesOpened and lastMatchTime, and Throttled once the Cases of the last
// hour reach maxCasesPerHour, with a wake-up when the oldest of them ages
// out. Deleting Cases updates the count.
func TestAlertRuleCountsItsCasesAndThrottles(t *testing.T) {
	ns := env.Namespace(t)
	create(t, touchpoint(ns, "upgrade-install", nil), webhookChannel(ns, "support", "support-webhook"), template(ns, "install-followup"))
	r := rule(ns, "installation-failed", "answers.completed == false", "upgrade-install")
	r.Spec.Actions.OpenCase = &cxv1alpha1.OpenCaseAction{Template: "install-followup"}
	r.Spec.Throttle = &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 2}
	create(t, r)
	waitReady(t, r, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if c := apimeta.FindStatusCondition(r.Status.Conditions, cxv1alpha1.ConditionThrottled); c == nil || c.Status != metav1.ConditionFalse || c.Reason != cxv1alpha1.ReasonBelowLimit {
		t.Errorf("Throttled = %+v, want False/%s before any Case", c, cxv1alpha1.ReasonBelowLimit)
	}

	create(t, labelledCase(ns, "case-1", r.Name, "install-followup"), labelledCase(ns, "case-2", r.Name, "install-followup"),
		labelledCase(ns, "case-3", r.Name, "install-followup"), labelledCase(ns, "other-rule", "completed-late", "install-followup"))
	var created []time.Time
	for _, name := range []string{"case-1", "case-2", "case-3"} {
		c := &cxv1alpha1.Case{}
		if err := get(ns, name, c); err != nil {
			t.Fatal(err)
		}
		created = append(created, c.CreationTimestamp.Time)
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })

	eventually(t, "casesOpened and Throttled from the labelled Cases", func() error {
		if err := get(ns, r.Name, r); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(r.Status.Conditions, cxv1alpha1.ConditionThrottled)
		if r.Status.CasesOpened != 3 || c == nil || c.Status != metav1.ConditionTrue || c.Reason != cxv1alpha1.ReasonThrottled {
			return fmt.Errorf("casesOpened = %d, Throttled = %+v; want 3 and True/%s", r.Status.CasesOpened, c, cxv1alpha1.ReasonThrottled)
		}
		return nil
	})
	if r.Status.LastMatchTime == nil || !r.Status.LastMatchTime.Time.Equal(created[2]) {
		t.Errorf("lastMatchTime = %v, want the newest Case's creation %s", r.Status.LastMatchTime, created[2])
	}
	if r.Status.Matches != 0 {
		t.Errorf("matches = %d, want 0: matches belong to the collectors", r.Status.Matches)
	}

	// The rule wakes up when it clears: three Cases, limit two, so when the
	// second oldest is an hour old (plus the second of timestamp resolution).
	now := created[2].Add(10 * time.Minute)
	direct := &AlertRuleReconciler{Client: env.Client, Now: func() time.Time { return now }}
	res, _ := reconcileRule(t, direct, r)
	if want := created[1].Add(time.Hour + time.Second).Sub(now); res.RequeueAfter != want {
		t.Errorf("RequeueAfter = %s, want %s (until the second oldest Case is an hour old)", res.RequeueAfter, want)
	}

	for _, name := range []string{"case-1", "case-2"} {
		if err := env.Client.Delete(context.Background(), &cxv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "count after deleting two Cases", func() error {
		if err := get(ns, r.Name, r); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(r.Status.Conditions, cxv1alpha1.ConditionThrottled)
		if r.Status.CasesOpened != 1 || c == nil || c.Status != metav1.ConditionFalse || c.Reason != cxv1alpha1.ReasonBelowLimit {
			return fmt.Errorf("casesOpened = %d, Throttled = %+v; want 1 and False/%s", r.Status.CasesOpened, c, cxv1alpha1.ReasonBelowLimit)
		}
		return nil
	})
}
