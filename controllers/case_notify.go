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
	"github.com/cxloop/cxloop/internal/notify"
)

// maxNotificationRecords bounds status.notifications (the CRD's MaxItems).
const maxNotificationRecords = 50

// recipientsOf merges the template's notifications for the transition's
// event and, for an escalation, the step's own notify.
func recipientsOf(t *cxv1alpha1.CaseTemplate, tr caseTransition) cxv1alpha1.Recipients {
	var r cxv1alpha1.Recipients
	merge := func(o cxv1alpha1.Recipients) {
		r.Assignee = r.Assignee || o.Assignee
		r.Team = r.Team || o.Team
		r.CaseManagers = r.CaseManagers || o.CaseManagers
		for _, ch := range o.Channels {
			if !slices.Contains(r.Channels, ch) {
				r.Channels = append(r.Channels, ch)
			}
		}
	}
	for _, n := range t.Spec.Notifications {
		if slices.Contains(n.Events, tr.event) {
			merge(n.To)
		}
	}
	if tr.step != nil && tr.step.Notify != nil {
		merge(*tr.step.Notify)
	}
	return r
}

// people names the persons and groups the recipients designate, with the
// email the template gives for them: "priya.nair <priya.nair@acme.example>".
// The Deliverer addresses NotificationChannels only, so people are named in
// the message that goes to the channels.
func people(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, r cxv1alpha1.Recipients) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name, email string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		if email != "" {
			name += " <" + email + ">"
		}
		out = append(out, name)
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
func buildCaseMessage(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, tr caseTransition, to []string, baseURL string) notify.Message {
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
	data := map[string]any{"namespace": c.Namespace, "case": c.Name, "event": string(tr.event), "customer": map[string]any{"id": customer}}
	if cu := c.Spec.Customer; cu != nil && detail != cxv1alpha1.CustomerDetailIDOnly {
		fields = appendNonEmpty(fields, "Tier", cu.Tier)
		fields = appendNonEmpty(fields, "Segment", cu.Segment)
		data["customer"] = map[string]any{"id": cu.ID, "tier": cu.Tier, "segment": cu.Segment}
	}
	fields = append(fields,
		notify.Field{Name: "Severity", Value: string(c.Spec.Severity)},
		notify.Field{Name: "State", Value: string(stateOf(c))},
		notify.Field{Name: "Due", Value: due})
	fields = appendNonEmpty(fields, "Assignee", c.Spec.Assignee)
	fields = appendNonEmpty(fields, "For", strings.Join(to, ", "))

	var text strings.Builder
	fmt.Fprintf(&text, "Case %s/%s %s: %s.\n", c.Namespace, c.Name, tr.headline, tr.note)
	if c.Spec.Title != "" {
		fmt.Fprintf(&text, "Title: %s\n", c.Spec.Title)
	}
	fmt.Fprintf(&text, "Customer: %s. Severity: %s. Due: %s.\n", customer, c.Spec.Severity, due)
	if len(to) > 0 {
		fmt.Fprintf(&text, "For: %s\n", strings.Join(to, ", "))
	}
	if detail == cxv1alpha1.CustomerDetailFull {
		appendFullDetail(c, &text, &fields)
	}
	link := caseLink(baseURL, c)
	if link != "" {
		fmt.Fprintf(&text, "Open the Case: %s\n", link)
	}
	return notify.Message{
		Key:      tr.key,
		Event:    "Case" + string(tr.event),
		Title:    fmt.Sprintf("Case %s %s", c.Name, tr.headline),
		Text:     text.String(),
		Severity: string(c.Spec.Severity),
		Link:     link,
		Fields:   fields,
		Data:     data,
	}
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

// notified reports whether status.notifications records the key for the
// channel (whatever the outcome: a permanent failure is not retried).
func notified(c *cxv1alpha1.Case, key, channel string) bool {
	for _, n := range c.Status.Notifications {
		if n.Key == key && n.Channel == channel {
			return true
		}
	}
	return false
}

// notifyTransition delivers a transition to its recipients' channels and
// records each delivery in status.notifications. Deliveries already
// recorded under the same key are not repeated; the Deliverer also drops a
// Key it has delivered to a channel, so a delivery whose record was lost
// (a failed status patch) is not sent twice either. The Deliverer retries
// transient failures itself; what it returns is recorded as Failed and
// announced with a Warning event, and not retried.
func (r *CaseReconciler) notifyTransition(ctx context.Context, c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, tr caseTransition, now time.Time) []caseTransition {
	rcpt := recipientsOf(t, tr)
	to := people(c, t, rcpt)
	if len(rcpt.Channels) == 0 && len(to) == 0 {
		return nil
	}
	record := func(channel string, outcome cxv1alpha1.DeliveryOutcome, message string) {
		c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{
			Event: tr.event, Channel: channel, Time: metav1.NewTime(now), Outcome: outcome,
			Key: tr.key, Message: truncate(message, 1024),
		})
	}
	var failures []caseTransition
	if len(rcpt.Channels) == 0 {
		if !notified(c, tr.key, "") {
			record("", cxv1alpha1.DeliverySkipped, "no channel to deliver to: "+strings.Join(to, ", ")+
				" have no NotificationChannel; add channels to the template's notifications (to.channels)")
		}
		return nil
	}
	msg := buildCaseMessage(c, t, tr, to, r.NotificationBaseURL)
	for _, ch := range rcpt.Channels {
		if notified(c, tr.key, ch) {
			continue
		}
		if r.Deliverer == nil {
			record(ch, cxv1alpha1.DeliverySkipped, "the manager has no notifier configured")
			continue
		}
		if err := r.Deliverer.Deliver(ctx, c.Namespace, ch, msg); err != nil {
			record(ch, cxv1alpha1.DeliveryFailed, err.Error())
			failures = append(failures, caseTransition{warning: true, reason: cxv1alpha1.ReasonDeliveryFailed,
				note: fmt.Sprintf("%s notification to channel %s failed: %v", tr.event, ch, err)})
			continue
		}
		record(ch, cxv1alpha1.DeliveryDelivered, "for "+orNobody(to))
	}
	return failures
}

func orNobody(to []string) string {
	if len(to) == 0 {
		return "the channel"
	}
	return strings.Join(to, ", ")
}

// trimNotifications keeps the newest records.
func trimNotifications(c *cxv1alpha1.Case) {
	if n := len(c.Status.Notifications); n > maxNotificationRecords {
		c.Status.Notifications = slices.Clone(c.Status.Notifications[n-maxNotificationRecords:])
	}
}
