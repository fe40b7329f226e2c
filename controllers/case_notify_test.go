package controllers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// notifyingTemplate notifies channel support of openings and closings,
// the assignee of assignments, and the case managers through channels
// support and managers when a Case is overdue or escalated.
func notifyingTemplate(ns string, detail cxv1alpha1.CustomerDetail) *cxv1alpha1.CaseTemplate {
	t := overdueTemplate(ns, cxv1alpha1.EscalationStep{Name: "tell-managers", After: cxv1alpha1.Duration{}, Notify: &cxv1alpha1.Recipients{CaseManagers: true}})
	t.Spec.Team.CaseManagers[0].Email = "maria@acme.example"
	t.Spec.CustomerDetail = detail
	t.Spec.Notifications = []cxv1alpha1.EventNotification{
		{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened, cxv1alpha1.EventClosed}, To: cxv1alpha1.Recipients{Channels: []string{"support"}}},
		{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventAssigned}, To: cxv1alpha1.Recipients{Assignee: true}},
		{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOverdue, cxv1alpha1.EventEscalated}, To: cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"support", "managers"}}},
	}
	return t
}

// records returns the Case's notification records as "event channel
// outcome key-suffix".
func records(c *cxv1alpha1.Case) []string {
	out := make([]string, 0, len(c.Status.Notifications))
	for _, n := range c.Status.Notifications {
		out = append(out, fmt.Sprintf("%s %s %s %s", n.Event, n.Channel, n.Outcome, strings.TrimPrefix(n.Key, string(c.UID))))
	}
	return out
}

// Lifecycle events notify the template's recipients once per idempotency
// key, however often the Case is reconciled; messages carry the link, the
// due time and no more about the customer than the template allows; people
// without a channel are named, not reached; a failed delivery is recorded
// and announced.
func TestCaseNotificationsOnce(t *testing.T) {
	ns := env.Namespace(t)
	create(t, notifyingTemplate(ns, cxv1alpha1.CustomerDetailIDOnly))
	caseDeliveries.failChannel(t, ns, "managers", notify.Permanent(errors.New(`NotificationChannel "managers" not found`)))
	c := newCase(ns, "notified", "overdue", &cxv1alpha1.Customer{ID: "C-9", Tier: "Gold", Attributes: map[string]string{"email": "ceo@globex.example"}})
	create(t, c)
	waitCase(t, c, "opening notified", func(c *cxv1alpha1.Case) bool { return len(c.Status.Notifications) >= 2 })
	for range 3 {
		poke(t, c)
		reconcileCase(t, c)
	}
	// What cannot be delivered is recorded at once; a delivery once it
	// is made (it was recorded as due before).
	want := []string{"Assigned  Skipped /Assigned/priya/g0", "Opened support Delivered /Opened"}
	if got := records(c); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("notifications after opening:\n got %q\nwant %q", got, want)
	}
	// Only the notifications of the deadlines to come are recorded ahead
	// (scheduled, with their dueAt); nothing is due.
	for _, n := range c.Status.PendingNotifications {
		if n.DueAt == nil || !n.DueAt.Equal(c.Status.DueAt) {
			t.Errorf("pending notification after delivery that is not scheduled for dueAt %v: %+v", c.Status.DueAt, n)
		}
	}
	if len(c.Status.PendingNotifications) != 4 {
		t.Errorf("%d scheduled notifications, want 4 (overdue and tell-managers, to support and managers): %+v", len(c.Status.PendingNotifications), c.Status.PendingNotifications)
	}
	if msg := c.Status.Notifications[0].Message; !strings.Contains(msg, "priya") || !strings.Contains(msg, "to.channels") {
		t.Errorf("skipped record %q should name the person and the fix", msg)
	}
	// The controller itself does not call the Deliverer again for a key
	// it has recorded (the Deliverer's own deduplication is the second
	// line, for a record lost with a failed status write).
	if n := caseDeliveries.calls("support", string(c.UID)+"/Opened"); n != 1 {
		t.Errorf("Deliver called %d times for the opening, want 1", n)
	}
	sent := caseDeliveries.in(ns)
	if len(sent) != 1 {
		t.Fatalf("deliveries %+v, want exactly the opening", sent)
	}
	m := sent[0].Msg
	if m.Key != string(c.UID)+"/Opened" || m.Event != "CaseOpened" || m.Link != caseBaseURL+"/namespaces/"+ns+"/cases/notified" {
		t.Errorf("opening message key %q event %q link %q", m.Key, m.Event, m.Link)
	}
	fields := map[string]string{}
	for _, f := range m.Fields {
		fields[f.Name] = f.Value
	}
	if fields["Customer"] != "C-9" || fields["Severity"] != "Normal" || fields["Due"] != c.Status.DueAt.UTC().Format(time.RFC3339) {
		t.Errorf("fields %v should name the customer, severity and due time", fields)
	}
	if all := m.Title + m.Text + fmt.Sprint(m.Fields, m.Data); strings.Contains(all, "Gold") || strings.Contains(all, "ceo@globex") {
		t.Errorf("customerDetail IDOnly, but the message carries the tier or attributes: %s", all)
	}

	caseClock.Set(t, c.Status.DueAt.Time)
	for range 3 {
		reconcileCase(t, c)
	}
	want = append(want,
		"Overdue support Delivered /Overdue/"+fmt.Sprint(c.Status.DueAt.Unix()), "Overdue managers Failed /Overdue/"+fmt.Sprint(c.Status.DueAt.Unix()),
		"Escalated support Delivered /Escalated/tell-managers", "Escalated managers Failed /Escalated/tell-managers")
	if got := records(c); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("notifications after the deadline:\n got %q\nwant %q", got, want)
	}
	if msg := c.Status.Notifications[3].Message; !strings.Contains(msg, `"managers" not found`) {
		t.Errorf("failed record message %q should carry the error", msg)
	}
	overdue := caseDeliveries.in(ns)[1].Msg
	if overdue.Event != "CaseOverdue" || !strings.Contains(overdue.Text, "maria <maria@acme.example>") {
		t.Errorf("overdue message %q / %q should name the case manager with their email", overdue.Event, overdue.Text)
	}
	if n := caseDeliveries.calls("managers", string(c.UID)+"/Escalated/tell-managers"); n != 1 {
		t.Errorf("Deliver called %d times for the escalation to the failing channel, want 1 (a failure is recorded, not retried)", n)
	}
	if n := len(caseDeliveries.in(ns)); n != 3 {
		t.Errorf("%d deliveries, want 3 (opening, overdue and escalation to support)", n)
	}
	eventually(t, "DeliveryFailed event", func() error { return findEvent(ns, c.Name, "Warning", cxv1alpha1.ReasonDeliveryFailed) })
}

// gauge reads a metric of the controller-runtime registry; -1 when absent.
func gauge(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range metricSeries(t, name, labels) {
		return m.GetGauge().GetValue()
	}
	return -1
}

// histogram reads a histogram's count and sum.
func histogram(t *testing.T, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	for _, m := range metricSeries(t, name, labels) {
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}
	return 0, 0
}

func metricSeries(t *testing.T, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// The open and overdue gauges count what the cluster holds; the histograms
// observe the time to first action and to closing.
func TestCaseMetrics(t *testing.T) {
	ns := env.Namespace(t)
	create(t, overdueTemplate(ns))
	var created []*cxv1alpha1.Case
	for i, sev := range []cxv1alpha1.Severity{cxv1alpha1.SeverityHigh, cxv1alpha1.SeverityHigh, cxv1alpha1.SeverityLow} {
		c := newCase(ns, fmt.Sprintf("m%d", i), "overdue", &cxv1alpha1.Customer{ID: fmt.Sprint(i)})
		c.Spec.Severity = sev
		create(t, c)
		created = append(created, c)
	}
	for _, c := range created {
		waitOpened(t, c)
	}
	labels := func(sev string) map[string]string {
		return map[string]string{"namespace": ns, "template": "overdue", "severity": sev}
	}
	eventually(t, "open gauges", func() error {
		if h, l := gauge(t, "cxloop_cases_open", labels("High")), gauge(t, "cxloop_cases_open", labels("Low")); h != 2 || l != 1 {
			return fmt.Errorf("open High %v Low %v, want 2 and 1", h, l)
		}
		return nil
	})

	first := created[0]
	opened := first.Status.OpenedAt.Time
	caseClock.Set(t, opened.Add(20*time.Minute))
	update(t, first, func(c *cxv1alpha1.Case) {
		c.Spec.Actions = []cxv1alpha1.CaseAction{{At: metav1.NewTime(opened.Add(5 * time.Minute)), By: "priya", Type: cxv1alpha1.ActionNote}}
		c.Spec.State = cxv1alpha1.CaseResolved
	})
	update(t, first, func(c *cxv1alpha1.Case) {
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "user-error", Summary: "explained"}
	})
	waitCase(t, first, "closed", func(c *cxv1alpha1.Case) bool { return c.Status.ClosedAt != nil })
	byTemplate := map[string]string{"namespace": ns, "template": "overdue"}
	// The manager observes right after writing the status the test reads.
	eventually(t, "histograms", func() error {
		if n, sum := histogram(t, "cxloop_case_time_to_close_seconds", byTemplate); n != 1 || sum != 1200 {
			return fmt.Errorf("time to close: %d observations summing %vs, want 1 of 1200s", n, sum)
		}
		if n, sum := histogram(t, "cxloop_case_time_to_first_action_seconds", byTemplate); n != 1 || sum != 300 {
			return fmt.Errorf("time to first action: %d observations summing %vs, want 1 of 300s", n, sum)
		}
		return nil
	})

	caseClock.Set(t, first.Status.DueAt.Add(time.Minute))
	for _, c := range created {
		reconcileCase(t, c)
	}
	eventually(t, "gauges after closing and the deadline", func() error {
		h, o := gauge(t, "cxloop_cases_open", labels("High")), gauge(t, "cxloop_cases_overdue", byTemplate)
		if h != 1 || o != 2 {
			return fmt.Errorf("open High %v overdue %v, want 1 and 2 (the closed Case counts in neither)", h, o)
		}
		return nil
	})
}
