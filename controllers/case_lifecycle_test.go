package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// supportTemplate is the sample's installation-support template: Gold
// Urgent/24h (first response 1h), Silver High/48h, Bronze Normal/72h,
// default Normal/72h, first response 4h, routes emea -> lukas.meyer and
// Gold -> priya.nair, case managers maria.lopez and tom.becker.
func supportTemplate(ns string) *cxv1alpha1.CaseTemplate {
	t := template(ns, "installation-support")
	t.Spec.Team = cxv1alpha1.Team{
		CaseManagers: []cxv1alpha1.Subject{{Name: "maria.lopez", Email: "maria.lopez@acme.example"}, {Name: "tom.becker"}},
		Members:      []cxv1alpha1.Subject{{Name: "priya.nair", Email: "priya.nair@acme.example"}, {Name: "lukas.meyer"}},
	}
	t.Spec.Routes = []cxv1alpha1.Route{
		{Name: "emea", When: "metadata.region == 'emea'", Assignee: "lukas.meyer"},
		{Name: "gold", When: "customer.tier == 'Gold'", Assignee: "priya.nair"},
	}
	t.Spec.TierPolicies = []cxv1alpha1.TierPolicy{
		{Tier: "Gold", Severity: cxv1alpha1.SeverityUrgent, ClosureGoal: cxv1alpha1.Duration{Duration: 24 * time.Hour}, FirstResponseGoal: dur(time.Hour)},
		{Tier: "Silver", Severity: cxv1alpha1.SeverityHigh, ClosureGoal: cxv1alpha1.Duration{Duration: 48 * time.Hour}},
		{Tier: "Bronze", Severity: cxv1alpha1.SeverityNormal, ClosureGoal: cxv1alpha1.Duration{Duration: 72 * time.Hour}},
	}
	t.Spec.FirstResponseGoal = dur(4 * time.Hour)
	return t
}

// A new Case takes its category, severity, closure goal and assignee from
// its template (tier policy, first matching route, else the first case
// manager); what the Case sets itself wins. Deadlines count from the
// creation time.
func TestCaseTemplateDefaults(t *testing.T) {
	ns := env.Namespace(t)
	create(t, supportTemplate(ns))
	emea := newCase(ns, "gold-emea", "installation-support", &cxv1alpha1.Customer{ID: "C-1", Tier: "Gold"})
	emea.Spec.Source = &cxv1alpha1.CaseSource{Response: &cxv1alpha1.ResponseSnapshot{Metadata: map[string]string{"region": "emea"}}}
	explicit := newCase(ns, "explicit", "installation-support", &cxv1alpha1.Customer{ID: "C-5", Tier: "Silver"})
	explicit.Spec.Severity, explicit.Spec.Assignee, explicit.Spec.Category = cxv1alpha1.SeverityLow, "jonas.berg", "licensing"
	explicit.Spec.ClosureGoal = dur(2 * time.Hour)
	tests := []struct {
		c             *cxv1alpha1.Case
		severity      cxv1alpha1.Severity
		assignee      string
		category      string
		due, response time.Duration
	}{
		{emea, cxv1alpha1.SeverityUrgent, "lukas.meyer", "installation", 24 * time.Hour, time.Hour},
		{newCase(ns, "gold", "installation-support", &cxv1alpha1.Customer{ID: "C-2", Tier: "Gold"}), cxv1alpha1.SeverityUrgent, "priya.nair", "installation", 24 * time.Hour, time.Hour},
		{newCase(ns, "silver", "installation-support", &cxv1alpha1.Customer{ID: "C-3", Tier: "Silver"}), cxv1alpha1.SeverityHigh, "maria.lopez", "installation", 48 * time.Hour, 4 * time.Hour},
		{newCase(ns, "bronze", "installation-support", &cxv1alpha1.Customer{ID: "C-6", Tier: "Bronze"}), cxv1alpha1.SeverityNormal, "maria.lopez", "installation", 72 * time.Hour, 4 * time.Hour},
		{newCase(ns, "no-tier", "installation-support", &cxv1alpha1.Customer{ID: "C-4", Tier: "Platinum"}), cxv1alpha1.SeverityNormal, "maria.lopez", "installation", 72 * time.Hour, 4 * time.Hour},
		{explicit, cxv1alpha1.SeverityLow, "jonas.berg", "licensing", 2 * time.Hour, 4 * time.Hour},
	}
	for _, tc := range tests {
		create(t, tc.c)
	}
	for _, tc := range tests {
		c := tc.c
		waitOpened(t, c)
		if c.Spec.Severity != tc.severity || c.Spec.Assignee != tc.assignee || c.Spec.Category != tc.category {
			t.Errorf("%s: severity %s, assignee %s, category %s; want %s, %s, %s", c.Name,
				c.Spec.Severity, c.Spec.Assignee, c.Spec.Category, tc.severity, tc.assignee, tc.category)
		}
		opened := c.CreationTimestamp.Time
		if !c.Status.OpenedAt.Time.Equal(opened) {
			t.Errorf("%s: openedAt %v, want the creation time %v", c.Name, c.Status.OpenedAt, opened)
		}
		if got := c.Status.DueAt.Sub(opened); got != tc.due {
			t.Errorf("%s: dueAt is %v after opening, want %v", c.Name, got, tc.due)
		}
		if got := c.Status.FirstResponseDueAt.Sub(opened); got != tc.response {
			t.Errorf("%s: firstResponseDueAt is %v after opening, want %v", c.Name, got, tc.response)
		}
		if c.Status.ObservedAssignee != tc.assignee || c.Status.ObservedState != cxv1alpha1.CaseOpen {
			t.Errorf("%s: observed assignee %q state %q", c.Name, c.Status.ObservedAssignee, c.Status.ObservedState)
		}
	}
}

// overdueTemplate has a 1h closure goal and no first-response goal.
func overdueTemplate(ns string, steps ...cxv1alpha1.EscalationStep) *cxv1alpha1.CaseTemplate {
	t := template(ns, "overdue")
	t.Spec.Team = cxv1alpha1.Team{
		CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}},
		Members:      []cxv1alpha1.Subject{{Name: "priya"}},
	}
	t.Spec.DefaultPolicy = &cxv1alpha1.CasePolicy{Severity: cxv1alpha1.SeverityNormal, ClosureGoal: cxv1alpha1.Duration{Duration: time.Hour}}
	t.Spec.Routes = []cxv1alpha1.Route{{Name: "all", When: "true", Assignee: "priya"}}
	t.Spec.Escalation = steps
	return t
}

// ladder notifies at the deadline, reassigns to a case manager an hour
// later and raises the severity two hours later.
func ladder() []cxv1alpha1.EscalationStep {
	return []cxv1alpha1.EscalationStep{
		{Name: "notify", After: cxv1alpha1.Duration{}, Notify: &cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"ops"}}},
		{Name: "reassign", After: cxv1alpha1.Duration{Duration: time.Hour}, ReassignToCaseManager: true},
		{Name: "raise", After: cxv1alpha1.Duration{Duration: 2 * time.Hour}, RaiseSeverityTo: cxv1alpha1.SeverityUrgent},
	}
}

func condition(c *cxv1alpha1.Case, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(c.Status.Conditions, typ)
}

func isTrue(c *cxv1alpha1.Case, typ string) bool {
	return apimeta.IsStatusConditionTrue(c.Status.Conditions, typ)
}

// The wake-up for the next deadline counts from the end of the
// reconciliation: deliveries at the deadline that took ten minutes do not
// make the next escalation step ten minutes late.
func TestCaseRequeueCountsFromTheEndOfTheReconciliation(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns, ladder()...))
	c := newCase(ns, "slow", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	due := c.Status.DueAt.Time
	caseClock.Set(t, due.Add(-time.Minute)) // the live manager waits

	clock := &testClock{now: due}
	r := caseReconciler()
	r.Now, r.Deliverer = clock.Now, slowDeliverer{next: caseDeliveries, clock: clock, took: 10 * time.Minute}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if clock.Now().Sub(due) < 10*time.Minute {
		t.Fatalf("nothing was delivered at dueAt")
	}
	// The next step, reassign, runs an hour after dueAt.
	if want := due.Add(time.Hour).Sub(clock.Now()); res.RequeueAfter != want {
		t.Errorf("RequeueAfter %v, want %v (to dueAt+1h from the end of the deliveries, %v)", res.RequeueAfter, want, clock.Now().Sub(due))
	}
}

// The Case becomes Overdue exactly at dueAt: a second before, it is not
// and the controller asks to be woken at dueAt; at dueAt the manager sets
// the condition (with dueAt as its transition time) and a Warning event.
func TestCaseOverdueExactlyAtDueAt(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns))
	c := newCase(ns, "late", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	due := c.Status.DueAt.Time

	caseClock.Set(t, due.Add(-time.Second))
	res := reconcileCase(t, c)
	if res.RequeueAfter != time.Second {
		t.Errorf("a second before dueAt: RequeueAfter %v, want 1s", res.RequeueAfter)
	}
	if isTrue(c, cxv1alpha1.ConditionOverdue) {
		t.Fatalf("Overdue before dueAt: %+v", condition(c, cxv1alpha1.ConditionOverdue))
	}

	caseClock.Set(t, due)
	poke(t, c)
	waitCase(t, c, "Overdue", func(c *cxv1alpha1.Case) bool { return isTrue(c, cxv1alpha1.ConditionOverdue) })
	if cond := condition(c, cxv1alpha1.ConditionOverdue); !cond.LastTransitionTime.Time.Equal(due) || cond.Reason != cxv1alpha1.ReasonDeadlinePassed {
		t.Errorf("Overdue condition %+v, want reason DeadlinePassed at %v", cond, due)
	}
	eventually(t, "Warning event Overdue", func() error { return findEvent(ns, c.Name, "Warning", cxv1alpha1.ReasonOverdue) })
}

// findEvent finds an event about a Case.
func findEvent(ns, name, typ, reason string) error {
	var events eventsv1.EventList
	if err := env.Client.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		return err
	}
	var seen []string
	for _, e := range events.Items {
		if e.Regarding.Name == name && e.Type == typ && e.Reason == reason {
			return nil
		}
		seen = append(seen, e.Type+"/"+e.Reason)
	}
	return &notFound{what: typ + "/" + reason, seen: seen}
}

type notFound struct {
	what string
	seen []string
}

func (e *notFound) Error() string {
	return "no event " + e.what + " among " + strings.Join(e.seen, ", ")
}

// Each escalation step runs once, at its time, however often the Case is
// reconciled: notify at dueAt, reassign to the first case manager an hour
// later, raise the severity two hours later.
func TestCaseEscalationStepsRunOnce(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns, ladder()...))
	c := newCase(ns, "stuck", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	due := c.Status.DueAt.Time

	steps := func() []string {
		var s []string
		for _, e := range c.Status.Escalations {
			s = append(s, e.Step)
		}
		return s
	}
	for _, tc := range []struct {
		at       time.Duration
		steps    string
		assignee string
		severity cxv1alpha1.Severity
		next     time.Duration
	}{
		{at: 0, steps: "notify", assignee: "priya", severity: cxv1alpha1.SeverityNormal, next: time.Hour},
		{at: time.Hour, steps: "notify,reassign", assignee: "maria", severity: cxv1alpha1.SeverityNormal, next: time.Hour},
		{at: 3 * time.Hour, steps: "notify,reassign,raise", assignee: "maria", severity: cxv1alpha1.SeverityUrgent},
	} {
		caseClock.Set(t, due.Add(tc.at))
		var res = reconcileCase(t, c)
		for range 3 {
			poke(t, c)
			res = reconcileCase(t, c)
		}
		if got := strings.Join(steps(), ","); got != tc.steps {
			t.Errorf("at dueAt+%v: steps run %s, want %s", tc.at, got, tc.steps)
		}
		if c.Spec.Assignee != tc.assignee || c.Spec.Severity != tc.severity {
			t.Errorf("at dueAt+%v: assignee %s severity %s, want %s %s", tc.at, c.Spec.Assignee, c.Spec.Severity, tc.assignee, tc.severity)
		}
		if res.RequeueAfter != tc.next {
			t.Errorf("at dueAt+%v: RequeueAfter %v, want %v (the next step)", tc.at, res.RequeueAfter, tc.next)
		}
	}
	if !isTrue(c, cxv1alpha1.ConditionEscalated) {
		t.Errorf("Escalated condition: %+v", condition(c, cxv1alpha1.ConditionEscalated))
	}
	var sent []string
	for _, d := range caseDeliveries.in(ns) {
		if d.Msg.Event == "CaseEscalated" {
			sent = append(sent, d.Channel+":"+d.Msg.Key)
		}
	}
	if want := "ops:" + string(c.UID) + "/Escalated/notify"; strings.Join(sent, " ") != want {
		t.Errorf("escalation messages %v, want exactly %s", sent, want)
	}
	// The reassignment by escalation is an assignment.
	eventually(t, "Assigned event", func() error { return findEvent(ns, c.Name, "Normal", cxv1alpha1.ReasonAssigned) })
}

// No step runs on a Resolved or Closed Case, however late.
func TestCaseNoEscalationWhenResolvedOrClosed(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns, ladder()...))
	resolved := newCase(ns, "resolved", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	closed := newCase(ns, "closed", "overdue", &cxv1alpha1.Customer{ID: "C-2"})
	create(t, resolved, closed)
	for _, c := range []*cxv1alpha1.Case{resolved, closed} {
		waitOpened(t, c)
		update(t, c, func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseResolved })
	}
	update(t, closed, func(c *cxv1alpha1.Case) {
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "installer-defect", Summary: "patched"}
	})
	waitCase(t, closed, "closedAt", func(c *cxv1alpha1.Case) bool { return c.Status.ClosedAt != nil })

	caseClock.Set(t, resolved.Status.DueAt.Add(10*time.Hour))
	for _, c := range []*cxv1alpha1.Case{resolved, closed} {
		reconcileCase(t, c)
		reconcileCase(t, c)
		if len(c.Status.Escalations) != 0 || isTrue(c, cxv1alpha1.ConditionEscalated) {
			t.Errorf("%s: escalations ran on a %s Case: %+v", c.Name, c.Spec.State, c.Status.Escalations)
		}
	}
	// Resolved but not closed by its deadline: overdue all the same.
	if !isTrue(resolved, cxv1alpha1.ConditionOverdue) {
		t.Errorf("resolved Case past dueAt should be Overdue: %+v", condition(resolved, cxv1alpha1.ConditionOverdue))
	}
	if isTrue(closed, cxv1alpha1.ConditionOverdue) {
		t.Errorf("Case closed before dueAt is not Overdue: %+v", condition(closed, cxv1alpha1.ConditionOverdue))
	}
}

// A step added to the template after its time had passed for a Case never
// runs on it; a step added before its time runs at its time.
func TestCaseEscalationNotRetroactive(t *testing.T) {
	ns := env.Namespace(t)
	tmpl := overdueTemplate(ns)
	create(t, tmpl)
	c := newCase(ns, "old", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	due := c.Status.DueAt.Time

	changed := due.Add(3 * time.Hour)
	caseClock.Set(t, changed)
	reconcileCase(t, c) // overdue, no ladder yet
	update(t, tmpl, func(tm *cxv1alpha1.CaseTemplate) {
		tm.Spec.Escalation = []cxv1alpha1.EscalationStep{
			{Name: "past", After: cxv1alpha1.Duration{Duration: 2 * time.Hour}, ReassignToCaseManager: true},
			{Name: "future", After: cxv1alpha1.Duration{Duration: 4 * time.Hour}, RaiseSeverityTo: cxv1alpha1.SeverityHigh},
		}
	})
	eventually(t, "template change seen", func() error {
		res := reconcileCase(t, c)
		if len(c.Status.KnownEscalationSteps) != 2 {
			return &notFound{what: "known steps"}
		}
		if res.RequeueAfter != time.Hour {
			// A conflict with the manager's own reconciliation is retried.
			return fmt.Errorf("RequeueAfter %v, want 1h (step future)", res.RequeueAfter)
		}
		return nil
	})
	for _, k := range c.Status.KnownEscalationSteps {
		if !k.Since.Time.Equal(changed) {
			t.Errorf("step %s known since %v, want %v (when the Case first saw it)", k.Step, k.Since, changed)
		}
	}
	caseClock.Set(t, due.Add(4*time.Hour))
	reconcileCase(t, c)
	reconcileCase(t, c)
	if len(c.Status.Escalations) != 1 || c.Status.Escalations[0].Step != "future" {
		t.Errorf("escalations %+v, want only step future", c.Status.Escalations)
	}
	if c.Spec.Assignee != "priya" || c.Spec.Severity != cxv1alpha1.SeverityHigh {
		t.Errorf("assignee %s severity %s: the past step must not reassign, the future one raises to High", c.Spec.Assignee, c.Spec.Severity)
	}
}

// Closing records closedAt and timeToClose; reopening clears them and
// recomputes Overdue against the clock.
func TestCaseCloseAndReopen(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns))
	c := newCase(ns, "reopened", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	opened, due := c.Status.OpenedAt.Time, c.Status.DueAt.Time

	caseClock.Set(t, opened.Add(30*time.Minute))
	update(t, c, func(c *cxv1alpha1.Case) {
		c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: metav1.NewTime(opened.Add(10 * time.Minute)), By: "priya", Type: cxv1alpha1.ActionCustomerContacted})
		c.Spec.State = cxv1alpha1.CaseResolved
	})
	update(t, c, func(c *cxv1alpha1.Case) {
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "installer-defect", Summary: "patched"}
	})
	waitCase(t, c, "closed", func(c *cxv1alpha1.Case) bool { return c.Status.ClosedAt != nil })
	if !c.Status.ClosedAt.Time.Equal(opened.Add(30*time.Minute)) || c.Status.TimeToClose.Duration != 30*time.Minute {
		t.Errorf("closedAt %v timeToClose %v, want opening+30m and 30m", c.Status.ClosedAt, c.Status.TimeToClose)
	}
	if !c.Status.FirstActionAt.Time.Equal(opened.Add(10 * time.Minute)) {
		t.Errorf("firstActionAt %v, want the first action's time", c.Status.FirstActionAt)
	}
	if c.Status.ObservedState != cxv1alpha1.CaseClosed {
		t.Errorf("observedState %s", c.Status.ObservedState)
	}

	caseClock.Set(t, due.Add(time.Minute))
	reconcileCase(t, c)
	if isTrue(c, cxv1alpha1.ConditionOverdue) {
		t.Errorf("a Case closed in time stays not overdue after dueAt: %+v", condition(c, cxv1alpha1.ConditionOverdue))
	}
	update(t, c, func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseReopened })
	waitCase(t, c, "reopened", func(c *cxv1alpha1.Case) bool { return c.Status.ObservedState == cxv1alpha1.CaseReopened })
	if c.Status.ClosedAt != nil || c.Status.TimeToClose != nil {
		t.Errorf("reopening must clear closedAt and timeToClose: %v %v", c.Status.ClosedAt, c.Status.TimeToClose)
	}
	if !isTrue(c, cxv1alpha1.ConditionOverdue) {
		t.Errorf("reopened past dueAt: Overdue %+v, want True", condition(c, cxv1alpha1.ConditionOverdue))
	}
	eventually(t, "Reopened event", func() error { return findEvent(ns, c.Name, "Normal", cxv1alpha1.ReasonReopened) })
}

// A Case without an action by its first-response deadline gets
// FirstResponseOverdue and runs the FirstResponseMissed steps; one with an
// action in time does not.
func TestCaseFirstResponseMissed(t *testing.T) {
	ns := env.Namespace(t)
	tmpl := overdueTemplate(ns, cxv1alpha1.EscalationStep{
		Name: "nudge", Trigger: cxv1alpha1.TriggerFirstResponseMissed, After: cxv1alpha1.Duration{},
		Notify: &cxv1alpha1.Recipients{Assignee: true, Channels: []string{"ops"}},
	})
	tmpl.Spec.FirstResponseGoal = dur(15 * time.Minute)
	create(t, tmpl)
	silent := newCase(ns, "silent", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	answered := newCase(ns, "answered", "overdue", &cxv1alpha1.Customer{ID: "C-2"})
	create(t, silent, answered)
	waitOpened(t, silent)
	waitOpened(t, answered)
	update(t, answered, func(c *cxv1alpha1.Case) {
		c.Spec.Actions = []cxv1alpha1.CaseAction{{At: metav1.NewTime(c.CreationTimestamp.Add(5 * time.Minute)), By: "priya", Type: cxv1alpha1.ActionNote}}
	})
	waitCase(t, answered, "first action", func(c *cxv1alpha1.Case) bool { return c.Status.FirstActionAt != nil })

	caseClock.Set(t, silent.Status.OpenedAt.Add(time.Minute))
	if res := reconcileCase(t, silent); res.RequeueAfter != 14*time.Minute {
		t.Errorf("RequeueAfter %v, want 14m (the first-response deadline)", res.RequeueAfter)
	}
	caseClock.Set(t, silent.Status.FirstResponseDueAt.Time)
	for _, c := range []*cxv1alpha1.Case{silent, answered} {
		reconcileCase(t, c)
		reconcileCase(t, c)
	}
	if !isTrue(silent, cxv1alpha1.ConditionFirstResponseOverdue) || len(silent.Status.Escalations) != 1 {
		t.Errorf("silent: FirstResponseOverdue %+v, escalations %+v; want True and step nudge",
			condition(silent, cxv1alpha1.ConditionFirstResponseOverdue), silent.Status.Escalations)
	}
	if isTrue(answered, cxv1alpha1.ConditionFirstResponseOverdue) || len(answered.Status.Escalations) != 0 {
		t.Errorf("answered: FirstResponseOverdue %+v, escalations %+v; want neither",
			condition(answered, cxv1alpha1.ConditionFirstResponseOverdue), answered.Status.Escalations)
	}
}

// A closed Case stays for the template's retention, is then archived to
// the store, and deleted.
func TestCaseArchivedThenDeletedAfterRetention(t *testing.T) {
	st := caseArchive.use(t)
	ns := env.Namespace(t)
	tmpl := overdueTemplate(ns)
	tmpl.Spec.Retention = dur(2 * time.Hour)
	create(t, tmpl)
	c := newCase(ns, "done", "overdue", &cxv1alpha1.Customer{ID: "C-1"})
	createOpened(t, c)
	update(t, c, func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseResolved })
	update(t, c, func(c *cxv1alpha1.Case) {
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "user-error", Summary: "explained", CustomerRecovered: ptr.To(true)}
	})
	waitCase(t, c, "closed", func(c *cxv1alpha1.Case) bool { return c.Status.ClosedAt != nil })
	closedAt := c.Status.ClosedAt.Time

	caseClock.Set(t, closedAt.Add(2*time.Hour-time.Second))
	if res := reconcileCase(t, c); res.RequeueAfter != time.Second {
		t.Errorf("before the end of retention: RequeueAfter %v, want 1s", res.RequeueAfter)
	}
	if _, err := st.GetArchivedCase(context.Background(), ns, c.Name); err == nil {
		t.Fatal("archived before the end of retention")
	}
	caseClock.Set(t, closedAt.Add(2*time.Hour))
	poke(t, c)
	eventually(t, "case deleted", func() error {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), &cxv1alpha1.Case{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return &notFound{what: "deletion"}
	})
	a, err := st.GetArchivedCase(context.Background(), ns, c.Name)
	if err != nil {
		t.Fatalf("archived case: %v", err)
	}
	var doc cxv1alpha1.Case
	if err := json.Unmarshal(a.Doc, &doc); err != nil {
		t.Fatalf("archived document: %v", err)
	}
	if doc.Spec.Resolution == nil || doc.Spec.Resolution.Summary != "explained" || doc.Status.ArchivedAt == nil || !a.ClosedAt.Equal(closedAt) {
		t.Errorf("archived document %+v (closedAt %v), want the closed Case with archivedAt", doc, a.ClosedAt)
	}
}

// Without a working archive the closed Case is kept.
func TestCaseKeptWhenArchiveFails(t *testing.T) {
	ns := env.Namespace(t) // no archive store: ArchiveCase fails
	tmpl := overdueTemplate(ns)
	tmpl.Spec.Retention = dur(time.Hour)
	create(t, tmpl)
	c := newCase(ns, "kept", "overdue", nil)
	c.Spec.State = cxv1alpha1.CaseClosed
	c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "user-error", Summary: "duplicate"}
	create(t, c)
	waitCase(t, c, "closed", func(c *cxv1alpha1.Case) bool { return c.Status.ClosedAt != nil })
	caseClock.Set(t, c.Status.ClosedAt.Add(2*time.Hour))
	_, err := caseReconciler().Reconcile(context.Background(), reconcileRequest(c))
	if err == nil || !strings.Contains(err.Error(), "archive closed case") {
		t.Errorf("reconcile error %v, want the archive failure", err)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatalf("the Case must be kept when archiving fails: %v", err)
	}
	if c.Status.ArchivedAt != nil {
		t.Errorf("archivedAt %v set although archiving failed", c.Status.ArchivedAt)
	}
}
