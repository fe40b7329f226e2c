package cases

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Full detail adds the customer's attributes and the comment; IDAndTier
// (the default) adds tier and segment only; IDOnly the id alone.
func TestMessageCustomerDetail(t *testing.T) {
	c := newCase("Gold", nil)
	c.Spec.Customer.Segment = "enterprise"
	c.Spec.Customer.Attributes = map[string]string{"company": "Globex"}
	c.Spec.Source = &cxv1alpha1.CaseSource{Response: &cxv1alpha1.ResponseSnapshot{Comment: "installer froze"}}
	n := cxv1alpha1.PendingNotification{Key: "k", Event: cxv1alpha1.EventOpened, Channel: "support", Headline: "was opened", Note: "n"}
	for _, tc := range []struct {
		detail      cxv1alpha1.CustomerDetail
		has, hasNot []string
	}{
		{cxv1alpha1.CustomerDetailIDOnly, []string{"cust-1"}, []string{"Gold", "enterprise", "Globex", "froze"}},
		{cxv1alpha1.CustomerDetailIDAndTier, []string{"cust-1", "Gold", "enterprise"}, []string{"Globex", "froze"}},
		{"", []string{"cust-1", "Gold", "enterprise"}, []string{"Globex", "froze"}},
		{cxv1alpha1.CustomerDetailFull, []string{"cust-1", "Gold", "enterprise", "Globex", "installer froze"}, nil},
	} {
		tmpl := template()
		tmpl.Spec.CustomerDetail = tc.detail
		m := Message(c, tmpl, n, "")
		all := m.Title + m.Text + fmt.Sprint(m.Fields, m.Data)
		for _, s := range tc.has {
			if !strings.Contains(all, s) {
				t.Errorf("%q: message lacks %q: %s", tc.detail, s, all)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(all, s) {
				t.Errorf("%q: message must not carry %q: %s", tc.detail, s, all)
			}
		}
		if m.Link != "" || strings.Contains(m.Text, "Open the Case") {
			t.Errorf("no base URL, no link; got %q", m.Link)
		}
	}
}

// A message names its event, title, key, link, the people it is for and,
// through the people channel, its one recipient.
func TestMessageHeaders(t *testing.T) {
	c := newCase("", nil)
	c.Spec.Title = "Installer fails"
	c.Spec.Severity = cxv1alpha1.SeverityHigh
	for _, tc := range []struct {
		name      string
		n         cxv1alpha1.PendingNotification
		base      string
		wantLink  string
		wantTo    []string
		wantInTxt []string
	}{
		{
			name: "channel", base: "https://cx.example.com/",
			n:        cxv1alpha1.PendingNotification{Key: "case-uid/Overdue/1", Event: cxv1alpha1.EventOverdue, Channel: "support", Headline: "is overdue", Note: "not closed", For: []string{"maria <maria@acme.example>"}},
			wantLink: "https://cx.example.com/namespaces/acme/cases/install-1",
			wantInTxt: []string{"Case acme/install-1 is overdue: not closed.", "Title: Installer fails", "Customer: none (strategic Case)",
				"For: maria <maria@acme.example>", "Open the Case: https://cx.example.com/namespaces/acme/cases/install-1"},
		},
		{
			name:      "person",
			n:         cxv1alpha1.PendingNotification{Key: "case-uid/Opened/to/maria", Event: cxv1alpha1.EventOpened, Channel: "email", Headline: "was opened", To: "maria <maria@acme.example>"},
			wantTo:    []string{"maria <maria@acme.example>"},
			wantInTxt: []string{"Case acme/install-1 was opened"},
		},
	} {
		m := Message(c, template(), tc.n, tc.base)
		if m.Key != tc.n.Key || m.Event != "Case"+string(tc.n.Event) || m.Title != "Case install-1 "+tc.n.Headline || m.Severity != "High" {
			t.Errorf("%s: key %q event %q title %q severity %q", tc.name, m.Key, m.Event, m.Title, m.Severity)
		}
		if m.Link != tc.wantLink || !slices.Equal(m.To, tc.wantTo) {
			t.Errorf("%s: link %q to %q, want %q %q", tc.name, m.Link, m.To, tc.wantLink, tc.wantTo)
		}
		for _, s := range tc.wantInTxt {
			if !strings.Contains(m.Text, s) {
				t.Errorf("%s: text lacks %q:\n%s", tc.name, s, m.Text)
			}
		}
	}
}

// The Closed message says how the Case ended: root cause, summary and
// whether the customer recovered; the other events do not carry them.
func TestClosedMessageCarriesTheResolution(t *testing.T) {
	c := newCase("Gold", nil)
	recovered := true
	c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "documentation", Summary: "Sent the offline installer.", CustomerRecovered: &recovered}
	closed := Message(c, template(), cxv1alpha1.PendingNotification{Event: cxv1alpha1.EventClosed, Key: "k", Headline: "was closed", Note: "n"}, "")
	for _, want := range []string{"Root cause: documentation", "Summary: Sent the offline installer."} {
		if !strings.Contains(closed.Text, want) {
			t.Errorf("Closed message lacks %q:\n%s", want, closed.Text)
		}
	}
	fields := fmt.Sprint(closed.Fields)
	if !strings.Contains(fields, "Root cause documentation") || !strings.Contains(fields, "Customer recovered yes") {
		t.Errorf("Closed message fields lack the resolution: %s", fields)
	}
	overdue := Message(c, template(), cxv1alpha1.PendingNotification{Event: cxv1alpha1.EventOverdue, Key: "k2", Headline: "is overdue", Note: "n"}, "")
	if strings.Contains(overdue.Text+fmt.Sprint(overdue.Fields), "documentation") {
		t.Errorf("an Overdue message carries the resolution:\n%s", overdue.Text)
	}
}

// pendingOf lists status.pendingNotifications as "key@channel".
func pendingOf(c *cxv1alpha1.Case) []string {
	var out []string
	for _, n := range c.Status.PendingNotifications {
		out = append(out, n.Key+"@"+n.Channel)
	}
	return out
}

// recordsOf lists status.notifications as "key@channel outcome".
func recordsOf(c *cxv1alpha1.Case) []string {
	var out []string
	for _, n := range c.Status.Notifications {
		out = append(out, fmt.Sprintf("%s@%s %s", n.Key, n.Channel, n.Outcome))
	}
	return out
}

// RecordDue records each delivery a transition owes as pending, once per
// key and channel, and what cannot be delivered as Skipped with the fix.
func TestRecordDue(t *testing.T) {
	opened := Transition{Event: cxv1alpha1.EventOpened, Key: "case-uid/Opened", Headline: "was opened", Note: "how"}
	escalated := Transition{Event: cxv1alpha1.EventEscalated, Key: "case-uid/Escalated/no-answer", Headline: "was escalated", Step: &template().Spec.Escalation[0]}
	stateChanged := Transition{Event: cxv1alpha1.EventStateChanged, Key: "case-uid/StateChanged"}
	for _, tc := range []struct {
		name        string
		tmpl        func(*cxv1alpha1.CaseTemplate)
		trs         []Transition
		canDeliver  bool
		wantPending []string
		wantRecords []string
		wantMessage string
	}{
		{
			name: "channels", trs: []Transition{opened}, canDeliver: true,
			wantPending: []string{"case-uid/Opened@support", "case-uid/Opened@email"},
		},
		{
			name: "no notifier", trs: []Transition{opened},
			wantRecords: []string{"case-uid/Opened@support Skipped", "case-uid/Opened@email Skipped"},
			wantMessage: "no notifier configured",
		},
		{
			name: "an escalation's own recipients", trs: []Transition{escalated}, canDeliver: true,
			wantPending: []string{"case-uid/Escalated/no-answer@support", "case-uid/Escalated/no-answer@pager"},
		},
		{
			name: "nobody to tell", trs: []Transition{stateChanged}, canDeliver: true,
		},
		{
			name: "people without a channel",
			tmpl: func(t *cxv1alpha1.CaseTemplate) {
				t.Spec.Notifications = []cxv1alpha1.EventNotification{{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened}, To: cxv1alpha1.Recipients{CaseManagers: true}}}
			},
			trs: []Transition{opened}, canDeliver: true,
			wantRecords: []string{"case-uid/Opened@ Skipped"},
			wantMessage: "set the template's peopleChannel",
		},
		{
			name: "people through the people channel",
			tmpl: func(t *cxv1alpha1.CaseTemplate) {
				t.Spec.PeopleChannel = "mail"
				t.Spec.Notifications = []cxv1alpha1.EventNotification{{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened}, To: cxv1alpha1.Recipients{CaseManagers: true, Team: true}}}
			},
			trs: []Transition{opened}, canDeliver: true,
			wantPending: []string{"case-uid/Opened/to/maria@mail"},
			wantRecords: []string{"case-uid/Opened/to/li@mail Skipped"},
			wantMessage: "li has no email in the template's team",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := template()
			if tc.tmpl != nil {
				tc.tmpl(tmpl)
			}
			c := newCase("", nil)
			RecordDue(c, tmpl, tc.trs, t0, tc.canDeliver)
			if got := pendingOf(c); !slices.Equal(got, tc.wantPending) {
				t.Errorf("pending %q, want %q", got, tc.wantPending)
			}
			if got := recordsOf(c); !slices.Equal(got, tc.wantRecords) {
				t.Errorf("records %q, want %q", got, tc.wantRecords)
			}
			if tc.wantMessage != "" && (len(c.Status.Notifications) == 0 || !strings.Contains(c.Status.Notifications[0].Message, tc.wantMessage)) {
				t.Errorf("records %+v, want a message with %q", c.Status.Notifications, tc.wantMessage)
			}
			// The same transitions again (a retry, a restart) owe nothing
			// more.
			before := c.DeepCopy()
			RecordDue(c, tmpl, tc.trs, t0.Add(1), tc.canDeliver)
			if !slices.Equal(pendingOf(c), pendingOf(before)) || !slices.Equal(recordsOf(c), recordsOf(before)) {
				t.Errorf("recorded again: pending %q records %q", pendingOf(c), recordsOf(c))
			}
		})
	}
}

// Done moves a pending notification to the records with its outcome, and
// a record keeps it from being due again.
func TestDone(t *testing.T) {
	tmpl := template()
	tmpl.Spec.PeopleChannel = "mail"
	c := newCase("", nil)
	c.Spec.Assignee = "maria"
	opened := Transition{Event: cxv1alpha1.EventOpened, Key: "case-uid/Opened", Headline: "was opened"}
	RecordDue(c, tmpl, []Transition{opened}, t0, true)
	if got := pendingOf(c); !slices.Equal(got, []string{"case-uid/Opened@support", "case-uid/Opened@email", "case-uid/Opened/to/maria@mail"}) {
		t.Fatalf("pending %q", got)
	}
	pending := slices.Clone(c.Status.PendingNotifications)
	Done(c, pending[0], t0, cxv1alpha1.DeliveryDelivered, "")
	Done(c, pending[1], t0, cxv1alpha1.DeliveryFailed, errors.New(`NotificationChannel "email" not found`).Error())
	Done(c, pending[2], t0, cxv1alpha1.DeliveryDelivered, "")
	if len(c.Status.PendingNotifications) != 0 || c.Status.PendingNotifications != nil {
		t.Errorf("pending after done: %q", pendingOf(c))
	}
	want := []string{"case-uid/Opened@support Delivered", "case-uid/Opened@email Failed", "case-uid/Opened/to/maria@mail Delivered"}
	if got := recordsOf(c); !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	msgs := []string{c.Status.Notifications[0].Message, c.Status.Notifications[1].Message, c.Status.Notifications[2].Message}
	if msgs[0] != "for maria <maria@acme.example>" || !strings.Contains(msgs[1], `"email" not found`) || msgs[2] != "to maria" {
		t.Errorf("record messages %q", msgs)
	}
	RecordDue(c, tmpl, []Transition{opened}, t0, true)
	if len(c.Status.PendingNotifications) != 0 {
		t.Errorf("a recorded notification is due again: %q", pendingOf(c))
	}
}

// Past MaxPendingNotifications due at once, the rest are Skipped, never
// silently lost.
func TestRecordDueBound(t *testing.T) {
	tmpl := template()
	c := newCase("", nil)
	var trs []Transition
	for i := range MaxPendingNotifications {
		trs = append(trs, Transition{Event: cxv1alpha1.EventOpened, Key: fmt.Sprintf("k%d", i)})
	}
	RecordDue(c, tmpl, trs, t0, true)
	if n := len(c.Status.PendingNotifications); n != MaxPendingNotifications {
		t.Errorf("%d pending, want %d", n, MaxPendingNotifications)
	}
	if n := len(c.Status.Notifications); n != MaxPendingNotifications {
		t.Errorf("%d skipped, want %d", n, MaxPendingNotifications)
	}
	if !strings.Contains(c.Status.Notifications[0].Message, "were due at once") {
		t.Errorf("skipped record %q should say why", c.Status.Notifications[0].Message)
	}
}
