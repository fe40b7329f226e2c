package cases

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// Person is someone a notification names: a user or group of the
// template's team, with the email the team entry gives (may be empty).
type Person struct{ Name, Email string }

// String is how messages name the person: "priya.nair <priya.nair@acme.example>".
func (p Person) String() string {
	if p.Email == "" {
		return p.Name
	}
	return p.Name + " <" + p.Email + ">"
}

// Persons are the people the recipients designate, each once: the
// assignee, the case managers, the members.
func Persons(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, r cxv1alpha1.Recipients) []Person {
	var out []Person
	seen := map[string]bool{}
	add := func(name, email string) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		out = append(out, Person{Name: name, Email: email})
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

// PersonKey is the idempotency key of the message a transition owes one
// person: the transition's key and the person's name.
func PersonKey(key string, p Person) string { return key + personKeySep + p.Name }

const personKeySep = "/to/"

// Link is the page of the Case under the manager's base URL, "" without
// one.
func Link(base string, c *cxv1alpha1.Case) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(c.Namespace) + "/cases/" + url.PathEscape(c.Name)
}

// Message renders a notification a Case owes for people. It carries no
// more about the customer than the template's customerDetail allows:
// IDOnly the id; IDAndTier (the default) also tier and segment; Full also
// the attributes and the response's comment. baseURL prefixes the link.
func Message(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, n cxv1alpha1.PendingNotification, baseURL string) notify.Message {
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
	to := strings.Join(n.For, ", ")
	fields := []notify.Field{{Name: "Customer", Value: customer}}
	data := map[string]any{"namespace": c.Namespace, "case": c.Name, "event": string(n.Event), "customer": map[string]any{"id": customer}}
	if cu := c.Spec.Customer; cu != nil && detail != cxv1alpha1.CustomerDetailIDOnly {
		fields = appendNonEmpty(fields, "Tier", cu.Tier)
		fields = appendNonEmpty(fields, "Segment", cu.Segment)
		data["customer"] = map[string]any{"id": cu.ID, "tier": cu.Tier, "segment": cu.Segment}
	}
	fields = append(fields,
		notify.Field{Name: "Severity", Value: string(c.Spec.Severity)},
		notify.Field{Name: "State", Value: string(State(c))},
		notify.Field{Name: "Due", Value: due})
	fields = appendNonEmpty(fields, "Assignee", c.Spec.Assignee)
	fields = appendNonEmpty(fields, "For", to)
	res := resolutionOf(c, n.Event)
	if res != nil {
		fields = appendNonEmpty(fields, "Root cause", res.RootCause)
		if res.CustomerRecovered != nil {
			fields = append(fields, notify.Field{Name: "Customer recovered", Value: map[bool]string{true: "yes", false: "no"}[*res.CustomerRecovered]})
		}
		data["resolution"] = map[string]any{"rootCause": res.RootCause, "summary": res.Summary, "customerRecovered": res.CustomerRecovered}
	}

	var text strings.Builder
	fmt.Fprintf(&text, "Case %s/%s %s: %s.\n", c.Namespace, c.Name, n.Headline, n.Note)
	if c.Spec.Title != "" {
		fmt.Fprintf(&text, "Title: %s\n", c.Spec.Title)
	}
	fmt.Fprintf(&text, "Customer: %s. Severity: %s. Due: %s.\n", customer, c.Spec.Severity, due)
	if to != "" {
		fmt.Fprintf(&text, "For: %s\n", to)
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
	link := Link(baseURL, c)
	if link != "" {
		fmt.Fprintf(&text, "Open the Case: %s\n", link)
	}
	msg := notify.Message{
		Key:      n.Key,
		Event:    "Case" + string(n.Event),
		Title:    fmt.Sprintf("Case %s %s", c.Name, n.Headline),
		Text:     text.String(),
		Severity: string(c.Spec.Severity),
		Link:     link,
		Fields:   fields,
		Data:     data,
	}
	if n.To != "" {
		msg.To = []string{n.To}
	}
	return msg
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
