package controllers

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
)

// person is someone a notification names: a user or group of the
// template's team, with the email the team entry gives (may be empty).
type person struct{ name, email string }

func (p person) String() string {
	if p.email == "" {
		return p.name
	}
	return p.name + " <" + p.email + ">"
}

// persons are the people the recipients designate, each once: the
// assignee, the case managers, the members.
func persons(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, r cxv1alpha1.Recipients) []person {
	var out []person
	seen := map[string]bool{}
	add := func(name, email string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, person{name: name, email: email})
	}
	emailOf := func(name string) string {
		for _, s := range slices.Concat(t.Spec.Team.CaseManagers, t.Spec.Team.Members) {
			if s.Name == name {
				return s.Email
			}
		}
		return ""
	}
	if r.Assignee {
		add(c.Spec.Assignee, emailOf(c.Spec.Assignee))
	}
	if r.CaseManagers {
		for _, s := range t.Spec.Team.CaseManagers {
			add(s.Name, s.Email)
		}
	}
	if r.Team {
		for _, s := range t.Spec.Team.Members {
			add(s.Name, s.Email)
		}
	}
	return out
}

// people names the persons for messages to channels:
// "priya.nair <priya.nair@acme.example>".
func people(ps []person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// personKey is the idempotency key of the message a transition owes one
// person: the transition's key and the person's name.
func personKey(key string, p person) string { return key + "/to/" + p.name }

// caseLink is the page of the Case under the manager's base URL.
func caseLink(base string, c *cxv1alpha1.Case) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(c.Namespace) + "/cases/" + url.PathEscape(c.Name)
}

// buildCaseMessage renders a transition for people. It carries no more
// about the customer than the template's customerDetail allows: IDOnly the
// id; IDAndTier (the default) also tier and segment; Full also the
// attributes and the response's comment.
func buildCaseMessage(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, tr cases.Transition, to []string, baseURL string) notify.Message {
	detail := t.Spec.CustomerDetail
	if detail == "" {
		detail = cxv1alpha1.CustomerDetailIDAndTier
	}
	customer := "none (strategic Case)"
	if c.Spec.Customer != nil {
		customer = c.Spec.Customer.ID
	}
	due := "none"
	if c.Status.DueAt != nil {
		due = c.Status.DueAt.UTC().Format(time.RFC3339)
	}
	fields := []notify.Field{{Name: "Customer", Value: customer}}
	data := map[string]any{"namespace": c.Namespace, "case": c.Name, "event": string(tr.Event), "customer": map[string]any{"id": customer}}
	if cu := c.Spec.Customer; cu != nil && detail != cxv1alpha1.CustomerDetailIDOnly {
		fields = appendNonEmpty(fields, "Tier", cu.Tier)
		fields = appendNonEmpty(fields, "Segment", cu.Segment)
		data["customer"] = map[string]any{"id": cu.ID, "tier": cu.Tier, "segment": cu.Segment}
	}
	fields = append(fields,
		notify.Field{Name: "Severity", Value: string(c.Spec.Severity)},
		notify.Field{Name: "State", Value: string(cases.State(c))},
		notify.Field{Name: "Due", Value: due})
	fields = appendNonEmpty(fields, "Assignee", c.Spec.Assignee)
	fields = appendNonEmpty(fields, "For", strings.Join(to, ", "))
	res := resolutionOf(c, tr.Event)
	if res != nil {
		fields = appendNonEmpty(fields, "Root cause", res.RootCause)
		if res.CustomerRecovered != nil {
			fields = append(fields, notify.Field{Name: "Customer recovered", Value: map[bool]string{true: "yes", false: "no"}[*res.CustomerRecovered]})
		}
		data["resolution"] = map[string]any{"rootCause": res.RootCause, "summary": res.Summary, "customerRecovered": res.CustomerRecovered}
	}

	var text strings.Builder
	fmt.Fprintf(&text, "Case %s/%s %s: %s.\n", c.Namespace, c.Name, tr.Headline, tr.Note)
	if c.Spec.Title != "" {
		fmt.Fprintf(&text, "Title: %s\n", c.Spec.Title)
	}
	fmt.Fprintf(&text, "Customer: %s. Severity: %s. Due: %s.\n", customer, c.Spec.Severity, due)
	if len(to) > 0 {
		fmt.Fprintf(&text, "For: %s\n", strings.Join(to, ", "))
	}
	if res != nil {
		if res.RootCause != "" {
			fmt.Fprintf(&text, "Root cause: %s\n", res.RootCause)
		}
		if res.Summary != "" {
			fmt.Fprintf(&text, "Summary: %s\n", res.Summary)
		}
	}
	if detail == cxv1alpha1.CustomerDetailFull {
		appendFullDetail(c, &text, &fields)
	}
	link := caseLink(baseURL, c)
	if link != "" {
		fmt.Fprintf(&text, "Open the Case: %s\n", link)
	}
	return notify.Message{
		Key:      tr.Key,
		Event:    "Case" + string(tr.Event),
		Title:    fmt.Sprintf("Case %s %s", c.Name, tr.Headline),
		Text:     text.String(),
		Severity: string(c.Spec.Severity),
		Link:     link,
		Fields:   fields,
		Data:     data,
	}
}

// resolutionOf is the Case's resolution for the Closed event, so that the
// people told of the end read how it ended; nil for the other events.
func resolutionOf(c *cxv1alpha1.Case, ev cxv1alpha1.LifecycleEvent) *cxv1alpha1.Resolution {
	if ev != cxv1alpha1.EventClosed {
		return nil
	}
	return c.Spec.Resolution
}

func appendNonEmpty(fields []notify.Field, name, value string) []notify.Field {
	if value == "" {
		return fields
	}
	return append(fields, notify.Field{Name: name, Value: value})
}

// appendFullDetail adds the customer's attributes and the comment.
func appendFullDetail(c *cxv1alpha1.Case, text *strings.Builder, fields *[]notify.Field) {
	if cu := c.Spec.Customer; cu != nil {
		for _, k := range slices.Sorted(maps.Keys(cu.Attributes)) {
			*fields = append(*fields, notify.Field{Name: k, Value: cu.Attributes[k]})
			fmt.Fprintf(text, "%s: %s\n", k, cu.Attributes[k])
		}
	}
	if src := c.Spec.Source; src != nil && src.Response != nil && src.Response.Comment != "" {
		fmt.Fprintf(text, "Comment: %s\n", src.Response.Comment)
	}
}

// notifyTransition delivers a transition to its recipients' channels and
// records each delivery in status.notifications. Deliveries already
// recorded under the same key are not repeated; the Deliverer also drops a
// Key it has delivered to a channel, so a delivery whose record was lost
// (a failed status patch) is not sent twice either. The Deliverer retries
// transient failures itself; what it returns is recorded as Failed and
// announced with a Warning event, and not retried.
func (r *CaseReconciler) notifyTransition(ctx context.Context, c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, tr cases.Transition, now time.Time) []cases.Transition {
	rcpt := cases.Recipients(t, tr)
	ps := persons(c, t, rcpt)
	to := people(ps)
	if len(rcpt.Channels) == 0 && len(ps) == 0 {
		return nil
	}
	record := func(key, channel string, outcome cxv1alpha1.DeliveryOutcome, message string) {
		c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{
			Event: tr.Event, Channel: channel, Time: metav1.NewTime(now), Outcome: outcome,
			Key: key, Message: truncate(message, 1024),
		})
	}
	var failures []cases.Transition
	deliver := func(key, ch string, msg notify.Message, delivered string) {
		if r.Deliverer == nil {
			record(key, ch, cxv1alpha1.DeliverySkipped, "the manager has no notifier configured")
			return
		}
		if err := r.Deliverer.Deliver(ctx, c.Namespace, ch, msg); err != nil {
			record(key, ch, cxv1alpha1.DeliveryFailed, err.Error())
			failures = append(failures, cases.Transition{Warning: true, Reason: cxv1alpha1.ReasonDeliveryFailed,
				Note: fmt.Sprintf("%s notification to channel %s failed: %v", tr.Event, ch, err)})
			return
		}
		record(key, ch, cxv1alpha1.DeliveryDelivered, delivered)
	}
	if len(rcpt.Channels) == 0 && t.Spec.PeopleChannel == "" {
		if !cases.Notified(c, tr.Key, "") {
			record(tr.Key, "", cxv1alpha1.DeliverySkipped, "no channel to deliver to: "+strings.Join(to, ", ")+
				" have no NotificationChannel; set the template's peopleChannel (an email channel) or add channels to its notifications (to.channels)")
		}
		return nil
	}
	msg := buildCaseMessage(c, t, tr, to, r.NotificationBaseURL)
	for _, ch := range rcpt.Channels {
		if !cases.Notified(c, tr.Key, ch) {
			deliver(tr.Key, ch, msg, "for "+orNobody(to))
		}
	}
	// Each person with an email gets a message of their own through the
	// template's people channel, under a key of their own.
	if ch := t.Spec.PeopleChannel; ch != "" {
		for _, p := range ps {
			key := personKey(tr.Key, p)
			if cases.Notified(c, key, ch) {
				continue
			}
			if p.email == "" {
				record(key, ch, cxv1alpha1.DeliverySkipped, p.name+" has no email in the template's team; add spec.team[].email")
				continue
			}
			pm := msg
			pm.Key, pm.To = key, []string{p.String()}
			deliver(key, ch, pm, "to "+p.name)
		}
	}
	return failures
}

func orNobody(to []string) string {
	if len(to) == 0 {
		return "the channel"
	}
	return strings.Join(to, ", ")
}
