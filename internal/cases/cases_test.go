package cases

import (
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func dur(d time.Duration) cxv1alpha1.Duration   { return cxv1alpha1.Duration{Duration: d} }
func durp(d time.Duration) *cxv1alpha1.Duration { return &cxv1alpha1.Duration{Duration: d} }

// template is the seed scenario's installation-support template: tier
// policies Gold/Silver, a 4h first-response goal, a route for EMEA and a
// two-step ladder.
func template() *cxv1alpha1.CaseTemplate {
	return &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "install", UID: "tmpl-uid", Generation: 1},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team: cxv1alpha1.Team{
				CaseManagers: []cxv1alpha1.Subject{{Name: "maria", Email: "maria@acme.example"}},
				Members:      []cxv1alpha1.Subject{{Name: "li"}},
			},
			Routes: []cxv1alpha1.Route{{Name: "emea", When: "metadata.region == 'emea'", Assignee: "jonas"}},
			TierPolicies: []cxv1alpha1.TierPolicy{
				{Tier: "Gold", Severity: cxv1alpha1.SeverityUrgent, ClosureGoal: dur(24 * time.Hour), FirstResponseGoal: durp(time.Hour)},
				{Tier: "Silver", Severity: cxv1alpha1.SeverityHigh, ClosureGoal: dur(48 * time.Hour)},
			},
			DefaultPolicy:     &cxv1alpha1.CasePolicy{Severity: cxv1alpha1.SeverityNormal, ClosureGoal: dur(72 * time.Hour)},
			FirstResponseGoal: durp(4 * time.Hour),
			Escalation: []cxv1alpha1.EscalationStep{
				{Name: "no-answer", Trigger: cxv1alpha1.TriggerFirstResponseMissed, After: dur(0), Notify: &cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"pager"}}},
				{Name: "late", Trigger: cxv1alpha1.TriggerOverdue, After: dur(2 * time.Hour), ReassignToCaseManager: true, RaiseSeverityTo: cxv1alpha1.SeverityUrgent},
			},
			Notifications: []cxv1alpha1.EventNotification{
				{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened, cxv1alpha1.EventOverdue}, To: cxv1alpha1.Recipients{Assignee: true, Channels: []string{"support", "email"}}},
				{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventEscalated}, To: cxv1alpha1.Recipients{Channels: []string{"support"}}},
			},
		},
	}
}

func newCase(tier string, meta map[string]string) *cxv1alpha1.Case {
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "install-1", UID: "case-uid", Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       cxv1alpha1.CaseSpec{Template: "install"},
	}
	if tier != "" {
		c.Spec.Customer = &cxv1alpha1.Customer{ID: "cust-1", Tier: tier}
	}
	if meta != nil {
		c.Spec.Source = &cxv1alpha1.CaseSource{Response: &cxv1alpha1.ResponseSnapshot{Metadata: meta}}
	}
	return c
}

func reasons(p *Plan) []string {
	var out []string
	for _, tr := range p.Transitions {
		out = append(out, tr.Reason)
	}
	return out
}

func TestApplyDefaults(t *testing.T) {
	tests := []struct {
		name         string
		tier         string
		meta         map[string]string
		preset       func(*cxv1alpha1.Case)
		tmpl         func(*cxv1alpha1.CaseTemplate)
		wantSeverity cxv1alpha1.Severity
		wantGoal     time.Duration
		wantAssignee string
		wantHow      string
	}{
		{name: "gold tier policy", tier: "Gold", wantSeverity: cxv1alpha1.SeverityUrgent, wantGoal: 24 * time.Hour, wantAssignee: "maria",
			wantHow: "from tier policy Gold; assigned to maria by the fallback to the first case manager"},
		{name: "unknown tier takes the default policy", tier: "Bronze", wantSeverity: cxv1alpha1.SeverityNormal, wantGoal: 72 * time.Hour, wantAssignee: "maria",
			wantHow: "from default policy"},
		{name: "no customer takes the default policy", wantSeverity: cxv1alpha1.SeverityNormal, wantGoal: 72 * time.Hour, wantAssignee: "maria"},
		{name: "built-in policy without defaultPolicy", tier: "Bronze", tmpl: func(t *cxv1alpha1.CaseTemplate) { t.Spec.DefaultPolicy = nil },
			wantSeverity: cxv1alpha1.SeverityNormal, wantGoal: DefaultClosureGoal, wantAssignee: "maria", wantHow: "from built-in default policy"},
		{name: "matching route", tier: "Silver", meta: map[string]string{"region": "emea"}, wantSeverity: cxv1alpha1.SeverityHigh, wantGoal: 48 * time.Hour,
			wantAssignee: "jonas", wantHow: "assigned to jonas by route emea"},
		{name: "values set on the Case win", tier: "Gold", preset: func(c *cxv1alpha1.Case) {
			c.Spec.Severity, c.Spec.ClosureGoal, c.Spec.Assignee, c.Spec.Category = cxv1alpha1.SeverityLow, durp(time.Hour), "sam", "other"
		}, wantSeverity: cxv1alpha1.SeverityLow, wantGoal: time.Hour, wantAssignee: "sam"},
		{name: "nobody to assign", tmpl: func(t *cxv1alpha1.CaseTemplate) { t.Spec.Team.CaseManagers = nil },
			wantSeverity: cxv1alpha1.SeverityNormal, wantGoal: 72 * time.Hour, wantAssignee: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := template()
			if tt.tmpl != nil {
				tt.tmpl(tmpl)
			}
			c := newCase(tt.tier, tt.meta)
			if tt.preset != nil {
				tt.preset(c)
			}
			_, how := ApplyDefaults(c, tmpl, &Router{})
			if c.Spec.Severity != tt.wantSeverity || c.Spec.ClosureGoal.Duration != tt.wantGoal || c.Spec.Assignee != tt.wantAssignee {
				t.Errorf("severity %s goal %s assignee %q; want %s %s %q", c.Spec.Severity, c.Spec.ClosureGoal.Duration, c.Spec.Assignee, tt.wantSeverity, tt.wantGoal, tt.wantAssignee)
			}
			if tt.preset == nil && c.Spec.Category != "installation" {
				t.Errorf("category %q, want the template's", c.Spec.Category)
			}
			if !strings.Contains(how, tt.wantHow) {
				t.Errorf("how = %q, want it to contain %q", how, tt.wantHow)
			}
		})
	}
}

// opened returns a Gold Case evaluated at its creation, and that plan.
func opened(t *testing.T) (*cxv1alpha1.Case, *Plan) {
	t.Helper()
	c := newCase("Gold", nil)
	p := Evaluate(c, template(), t0, nil)
	return c, p
}

func TestEvaluateOpening(t *testing.T) {
	c, p := opened(t)
	if !p.SpecChanged {
		t.Error("the template defaults changed the spec, SpecChanged is false")
	}
	if got, want := c.Status.OpenedAt.Time, t0; !got.Equal(want) {
		t.Errorf("openedAt %s, want the creation %s", got, want)
	}
	if got, want := c.Status.DueAt.Time, t0.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("dueAt %s, want %s (Gold: 24h)", got, want)
	}
	if got, want := c.Status.FirstResponseDueAt.Time, t0.Add(time.Hour); !got.Equal(want) {
		t.Errorf("firstResponseDueAt %s, want %s (Gold's own 1h wins over the template's 4h)", got, want)
	}
	if !slices.Equal(reasons(p), []string{cxv1alpha1.ReasonOpened, ""}) {
		t.Errorf("transitions %q, want Opened and an Assigned notification without its own event", reasons(p))
	}
	if p.Transitions[0].Key != "case-uid/Opened" || p.Transitions[1].Key != "case-uid/Assigned/maria/g0" {
		t.Errorf("keys %q %q", p.Transitions[0].Key, p.Transitions[1].Key)
	}
	if got, want := p.RequeueAfter(), time.Hour; got != want {
		t.Errorf("next wake-up in %s, want %s (the first-response deadline)", got, want)
	}
	cond := apimeta.FindStatusCondition(c.Status.Conditions, cxv1alpha1.ConditionOverdue)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != cxv1alpha1.ReasonWithinDeadline {
		t.Errorf("Overdue = %+v, want False/WithinDeadline", cond)
	}
	// Evaluated again at the same time, nothing new happens.
	again := Evaluate(c, template(), t0, nil)
	if len(again.Transitions) != 0 || again.SpecChanged {
		t.Errorf("second evaluation: transitions %q, spec changed %v; want none", reasons(again), again.SpecChanged)
	}
}

func TestEvaluateDefaultsAppliedByTheOpener(t *testing.T) {
	c := newCase("Silver", nil)
	ApplyDefaults(c, template(), nil)
	p := Evaluate(c, template(), t0, nil)
	if p.SpecChanged {
		t.Error("defaults were applied at creation, yet the evaluation changed the spec")
	}
	if got, want := c.Status.DueAt.Time, t0.Add(48*time.Hour); !got.Equal(want) {
		t.Errorf("dueAt %s, want %s", got, want)
	}
}

func TestEvaluateDeadlinesAndEscalation(t *testing.T) {
	type step struct {
		at          time.Duration // after t0
		mutate      func(*cxv1alpha1.Case)
		wantReasons []string
		wantNext    time.Duration // after at; 0 for none
		check       func(t *testing.T, c *cxv1alpha1.Case, p *Plan)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "first response missed, then overdue, then the late step", steps: []step{
			{at: time.Hour, wantReasons: []string{cxv1alpha1.ReasonFirstResponseOverdue, cxv1alpha1.ReasonEscalated}, wantNext: 23 * time.Hour,
				check: func(t *testing.T, c *cxv1alpha1.Case, p *Plan) {
					if !apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionFirstResponseOverdue) {
						t.Error("FirstResponseOverdue is not True")
					}
					if p.Transitions[1].Key != "case-uid/Escalated/no-answer" {
						t.Errorf("escalation key %q", p.Transitions[1].Key)
					}
				}},
			{at: 2 * time.Hour, wantReasons: nil, wantNext: 22 * time.Hour},
			{at: 24 * time.Hour, wantReasons: []string{cxv1alpha1.ReasonOverdue}, wantNext: 2 * time.Hour},
			{at: 25 * time.Hour, mutate: func(c *cxv1alpha1.Case) { c.Spec.Assignee = "sam" }, wantReasons: []string{cxv1alpha1.ReasonAssigned}, wantNext: time.Hour},
			{at: 26 * time.Hour, wantReasons: []string{cxv1alpha1.ReasonEscalated, cxv1alpha1.ReasonAssigned},
				check: func(t *testing.T, c *cxv1alpha1.Case, p *Plan) {
					if c.Spec.Assignee != "maria" || c.Spec.Severity != cxv1alpha1.SeverityUrgent || !p.SpecChanged {
						t.Errorf("late step: assignee %q severity %s changed %v; want maria, Urgent, true", c.Spec.Assignee, c.Spec.Severity, p.SpecChanged)
					}
					if !apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionEscalated) {
						t.Error("Escalated is not True")
					}
				}},
			{at: 30 * time.Hour, wantReasons: nil},
		}},
		{name: "a first action stops the first-response clock", steps: []step{
			{at: 30 * time.Minute, mutate: func(c *cxv1alpha1.Case) {
				c.Spec.Actions = []cxv1alpha1.CaseAction{{At: metav1.NewTime(t0.Add(20 * time.Minute)), By: "maria"}}
			}, wantReasons: []string{cxv1alpha1.ReasonFirstActionLogged}, wantNext: 23*time.Hour + 30*time.Minute,
				check: func(t *testing.T, c *cxv1alpha1.Case, p *Plan) {
					if p.TimeToFirstAction == nil || *p.TimeToFirstAction != 20*time.Minute {
						t.Errorf("timeToFirstAction %v, want 20m", p.TimeToFirstAction)
					}
				}},
			{at: 2 * time.Hour, wantReasons: nil, wantNext: 22 * time.Hour},
		}},
		{name: "closed in time: never overdue, retention wakes it", steps: []step{
			{at: 10 * time.Hour, mutate: func(c *cxv1alpha1.Case) {
				c.Spec.Actions = []cxv1alpha1.CaseAction{{At: metav1.NewTime(t0.Add(10 * time.Minute)), By: "maria"}}
				c.Spec.State = cxv1alpha1.CaseClosed
			}, wantReasons: []string{cxv1alpha1.ReasonFirstActionLogged, cxv1alpha1.ReasonStateChanged, cxv1alpha1.ReasonClosed}, wantNext: DefaultRetention,
				check: func(t *testing.T, c *cxv1alpha1.Case, p *Plan) {
					if c.Status.TimeToClose.Duration != 10*time.Hour || p.TimeToClose == nil {
						t.Errorf("timeToClose %v", c.Status.TimeToClose)
					}
				}},
			{at: 30 * time.Hour, wantReasons: nil, wantNext: DefaultRetention - 20*time.Hour,
				check: func(t *testing.T, c *cxv1alpha1.Case, _ *Plan) {
					if apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionOverdue) {
						t.Error("closed before its deadline, yet Overdue")
					}
				}},
			{at: 10*time.Hour + DefaultRetention, wantReasons: nil, check: func(t *testing.T, _ *cxv1alpha1.Case, p *Plan) {
				if !p.RetentionEnded {
					t.Error("retention ended, RetentionEnded is false")
				}
			}},
		}},
		{name: "resolved: no escalation runs", steps: []step{
			{at: 5 * time.Minute, mutate: func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseResolved }, wantReasons: []string{cxv1alpha1.ReasonStateChanged}, wantNext: 55 * time.Minute},
			{at: 48 * time.Hour, wantReasons: []string{cxv1alpha1.ReasonOverdue, cxv1alpha1.ReasonFirstResponseOverdue},
				check: func(t *testing.T, c *cxv1alpha1.Case, _ *Plan) {
					if len(c.Status.Escalations) != 0 {
						t.Errorf("escalations ran on a Resolved Case: %+v", c.Status.Escalations)
					}
				}},
		}},
		{name: "reopened: the closing is cleared", steps: []step{
			{at: time.Minute, mutate: func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseClosed },
				wantReasons: []string{cxv1alpha1.ReasonStateChanged, cxv1alpha1.ReasonClosed}, wantNext: DefaultRetention},
			{at: 2 * time.Minute, mutate: func(c *cxv1alpha1.Case) { c.Spec.State = cxv1alpha1.CaseInProgress },
				wantReasons: []string{cxv1alpha1.ReasonStateChanged, cxv1alpha1.ReasonReopened}, wantNext: 58 * time.Minute,
				check: func(t *testing.T, c *cxv1alpha1.Case, _ *Plan) {
					if c.Status.ClosedAt != nil || c.Status.TimeToClose != nil {
						t.Error("closedAt/timeToClose kept on reopening")
					}
				}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := opened(t)
			for _, s := range tt.steps {
				if s.mutate != nil {
					s.mutate(c)
					c.Generation++
				}
				c.Status.ObservedGeneration = c.Generation
				p := Evaluate(c, template(), t0.Add(s.at), nil)
				if !slices.Equal(reasons(p), s.wantReasons) {
					t.Fatalf("at +%s: transitions %q, want %q", s.at, reasons(p), s.wantReasons)
				}
				if got := p.RequeueAfter(); got != s.wantNext {
					t.Errorf("at +%s: next wake-up in %s, want %s", s.at, got, s.wantNext)
				}
				if s.check != nil {
					s.check(t, c, p)
				}
			}
		})
	}
}

func TestEscalationIsNotRetroactive(t *testing.T) {
	c, _ := opened(t)
	tmpl := template()
	tmpl.Spec.Escalation = nil
	Evaluate(c, tmpl, t0.Add(25*time.Hour), nil) // overdue, no ladder yet
	// A step added after its time had passed does not run for this Case;
	// one added in time does.
	tmpl.Spec.Escalation = []cxv1alpha1.EscalationStep{
		{Name: "past", Trigger: cxv1alpha1.TriggerOverdue, After: dur(0)},
		{Name: "future", Trigger: cxv1alpha1.TriggerOverdue, After: dur(3 * time.Hour)},
	}
	p := Evaluate(c, tmpl, t0.Add(26*time.Hour), nil)
	if len(p.Transitions) != 0 || p.RequeueAfter() != time.Hour {
		t.Fatalf("transitions %q, next %s; want none and 1h", reasons(p), p.RequeueAfter())
	}
	p = Evaluate(c, tmpl, t0.Add(27*time.Hour), nil)
	if len(c.Status.Escalations) != 1 || c.Status.Escalations[0].Step != "future" {
		t.Fatalf("escalations %+v, want only future", c.Status.Escalations)
	}
	if !slices.Equal(reasons(p), []string{cxv1alpha1.ReasonEscalated}) {
		t.Errorf("transitions %q", reasons(p))
	}
}

func TestNotificationsDue(t *testing.T) {
	c, p := opened(t)
	tmpl := template()
	due := NotificationsDue(c, tmpl, p.Transitions)
	var got []string
	for _, d := range due {
		got = append(got, d.Transition.Key+" -> "+d.Channel)
	}
	want := []string{"case-uid/Opened -> support", "case-uid/Opened -> email"}
	if !slices.Equal(got, want) {
		t.Fatalf("due %q, want %q", got, want)
	}
	// Recorded deliveries are not due again, whatever their outcome.
	c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{
		Event: cxv1alpha1.EventOpened, Channel: "support", Key: "case-uid/Opened", Outcome: cxv1alpha1.DeliveryFailed,
	})
	due = NotificationsDue(c, tmpl, p.Transitions)
	if len(due) != 1 || due[0].Channel != "email" {
		t.Errorf("after a recorded delivery to support: due %+v, want email alone", due)
	}
	// An escalation adds its step's own recipients to the template's.
	step := tmpl.Spec.Escalation[0]
	r := Recipients(tmpl, Transition{Event: cxv1alpha1.EventEscalated, Step: &step})
	if !slices.Equal(r.Channels, []string{"support", "pager"}) || !r.CaseManagers || r.Assignee {
		t.Errorf("escalation recipients %+v", r)
	}
	if got := DescribeRecipients(r); got != "the case managers, channels support, pager" {
		t.Errorf("DescribeRecipients = %q", got)
	}
	// A transition without an event notifies nobody.
	if r := Recipients(tmpl, Transition{Reason: cxv1alpha1.ReasonReopened}); len(r.Channels) != 0 {
		t.Errorf("Reopened notifies %+v", r)
	}
}

func TestTrimNotifications(t *testing.T) {
	c := &cxv1alpha1.Case{}
	for i := range MaxNotificationRecords + 5 {
		c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{Key: string(rune('a' + i%26))})
	}
	last := c.Status.Notifications[len(c.Status.Notifications)-1]
	TrimNotifications(c)
	if len(c.Status.Notifications) != MaxNotificationRecords || c.Status.Notifications[MaxNotificationRecords-1] != last {
		t.Errorf("kept %d records, want the newest %d", len(c.Status.Notifications), MaxNotificationRecords)
	}
}

// A reassignment or escalation logged in the actions (the admission webhook
// writes them) is not a first response: the first-response deadline still
// runs until someone works the Case.
func TestFirstActionIgnoresOwnershipEntries(t *testing.T) {
	c, _ := opened(t)
	c.Spec.Actions = []cxv1alpha1.CaseAction{
		{At: metav1.NewTime(t0.Add(10 * time.Minute)), By: "maria", Type: cxv1alpha1.ActionReassigned, Text: "assignee: jonas → li"},
		{At: metav1.NewTime(t0.Add(20 * time.Minute)), By: "maria", Type: cxv1alpha1.ActionEscalated, Text: "severity: High → Urgent"},
	}
	Evaluate(c, template(), t0.Add(30*time.Minute), nil)
	if c.Status.FirstActionAt != nil {
		t.Fatalf("firstActionAt = %s after only ownership entries, want unset", c.Status.FirstActionAt)
	}
	c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: metav1.NewTime(t0.Add(40 * time.Minute)), By: "li", Type: cxv1alpha1.ActionStateChanged, Text: "state: Open → InProgress"})
	Evaluate(c, template(), t0.Add(45*time.Minute), nil)
	if c.Status.FirstActionAt == nil || !c.Status.FirstActionAt.Time.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("firstActionAt = %v, want li's state change at +40m", c.Status.FirstActionAt)
	}
}
