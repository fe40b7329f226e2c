package alerting

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// Events of aggregate rules, as notify.Message.Event.
const (
	EventFiring   = "AggregateFiring"
	EventResolved = "AggregateResolved"
)

// Key is the idempotency key of a transition's message: the rule's UID,
// the group and the time it began firing identify one breach.
func Key(rule *cxv1alpha1.AlertRule, tr Transition) string {
	key := fmt.Sprintf("aggregate/%s/%s/%s", rule.UID, tr.Group.Group, tr.Group.Since.UTC().Format(time.RFC3339))
	if tr.Resolved {
		key += "/resolved"
	}
	return key
}

// Message renders a transition for people; at is when it happened (the
// evaluation's now).
func Message(rule *cxv1alpha1.AlertRule, tr Transition, at time.Time) notify.Message {
	agg := rule.Spec.Aggregate
	f := tr.Group
	window := ShortDuration(agg.Window.Duration)
	summary := BreachSummary(agg, f)
	msg := notify.Message{
		Key:   Key(rule, tr),
		Event: EventFiring,
		Title: fmt.Sprintf("%s (rule %s)", summary, rule.Name),
		Fields: []notify.Field{
			{Name: "Rule", Value: rule.Namespace + "/" + rule.Name},
			{Name: "Metric", Value: fmt.Sprintf("%s over %s", agg.Metric, window)},
			{Name: "Value", Value: FormatValue(agg.Metric, f.Value)},
			{Name: "Responses", Value: fmt.Sprintf("%d", f.Count)},
		},
		Data: map[string]any{
			"namespace": rule.Namespace, "rule": rule.Name, "metric": string(agg.Metric), "window": window,
			"value": f.Value, "count": f.Count, "since": f.Since.UTC().Format(time.RFC3339), "condition": agg.Condition,
		},
	}
	if rule.Spec.Kind != cxv1alpha1.AlertRecognition {
		msg.Severity = string(cxv1alpha1.SeverityHigh)
	}
	if agg.GroupBy != "" {
		msg.Fields = append(msg.Fields, notify.Field{Name: "Group", Value: GroupLabel(agg, f.Group)})
		msg.Data["groupBy"], msg.Data["group"] = agg.GroupBy, f.Group
	}
	previous := "no previous window with enough responses"
	if f.Previous != nil {
		previous = fmt.Sprintf("%s (change %+.1f)", FormatValue(agg.Metric, *f.Previous), f.Value-*f.Previous)
		msg.Data["previous"] = *f.Previous
	}
	msg.Fields = append(msg.Fields, notify.Field{Name: "Previous window", Value: previous})

	var text strings.Builder
	if tr.Resolved {
		msg.Event = EventResolved
		msg.Severity = ""
		msg.Title = "Resolved: " + msg.Title
		fmt.Fprintf(&text, "AlertRule %s/%s no longer fires for %s: its condition %q is false.\n", rule.Namespace, rule.Name, GroupLabel(agg, f.Group), agg.Condition)
		fmt.Fprintf(&text, "Firing since %s, resolved at %s.\n", f.Since.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		msg.Data["resolvedAt"] = at.UTC().Format(time.RFC3339)
	} else {
		fmt.Fprintf(&text, "AlertRule %s/%s fires for %s: its condition %q is true.\n", rule.Namespace, rule.Name, GroupLabel(agg, f.Group), agg.Condition)
		fmt.Fprintf(&text, "Since %s.\n", f.Since.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&text, "%s over the last %s: %s, from %d responses; previous window: %s.\n", agg.Metric, window, FormatValue(agg.Metric, f.Value), f.Count, previous)
	if rule.Spec.Description != "" {
		text.WriteString(rule.Spec.Description + "\n")
	}
	msg.Text = text.String()
	return msg
}

// StrategicCase is the Case an aggregate rule opens for a firing group: no
// customer (it is for a cross-functional team), the rule in spec.source and
// in the labels collectors put on the Cases they open. Its name derives
// from rule, group and since (StrategicCaseName), so creating it twice (a
// retry, a restart) makes one Case. The rule must have
// spec.actions.openCase.
func StrategicCase(rule *cxv1alpha1.AlertRule, f cxv1alpha1.FiringGroup) *cxv1alpha1.Case {
	oc := rule.Spec.Actions.OpenCase
	kind := rule.Spec.Kind
	if kind == "" {
		kind = cxv1alpha1.AlertEscalation
	}
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: rule.Namespace,
			Name:      StrategicCaseName(rule.Name, f.Group, f.Since.Time),
			Labels:    map[string]string{cxv1alpha1.LabelRule: rule.Name, cxv1alpha1.LabelTemplate: oc.Template},
		},
		Spec: cxv1alpha1.CaseSpec{
			Template: oc.Template,
			Title:    strategicCaseTitle(rule, f),
			Source:   &cxv1alpha1.CaseSource{Rule: rule.Name, RuleKind: kind},
		},
	}
}

// StrategicCaseName is <rule>-<hash of rule, group and since>.
func StrategicCaseName(rule, group string, since time.Time) string {
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
	s := fmt.Sprintf("%s: %s", prefix, BreachSummary(agg, f))
	return truncate(s, 200)
}

// BreachSummary is "NPS 12.5 over 24h for metadata.store=north (previous
// 48.0)".
func BreachSummary(agg *cxv1alpha1.AggregateCondition, f cxv1alpha1.FiringGroup) string {
	s := fmt.Sprintf("%s %s over %s", agg.Metric, FormatValue(agg.Metric, f.Value), ShortDuration(agg.Window.Duration))
	if agg.GroupBy != "" {
		s += " for " + GroupLabel(agg, f.Group)
	}
	if f.Previous != nil {
		s += fmt.Sprintf(" (previous %s)", FormatValue(agg.Metric, *f.Previous))
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

// Effects lists what transitions owe, as entries of
// status.pendingEffects: a message to each of the rule's channels, and a
// Case for each group that began firing when the rule has
// actions.openCase. at is when the transitions happened. The keys are
// deterministic, so recording the same transition twice records one
// effect.
func Effects(rule *cxv1alpha1.AlertRule, trs []Transition, at time.Time) []cxv1alpha1.PendingEffect {
	var out []cxv1alpha1.PendingEffect
	for _, tr := range trs {
		base := cxv1alpha1.PendingEffect{Group: tr.Group, Resolved: tr.Resolved, At: metav1.NewTime(at.Truncate(time.Second))}
		for _, n := range rule.Spec.Actions.Notify {
			e := base
			e.Key, e.Channel = Key(rule, tr)+"@"+n.Channel, n.Channel
			out = append(out, e)
		}
		if !tr.Resolved && rule.Spec.Actions.OpenCase != nil {
			e := base
			e.Case = StrategicCaseName(rule.Name, tr.Group.Group, tr.Group.Since.Time)
			e.Key = "case/" + e.Case
			out = append(out, e)
		}
	}
	return out
}

// Record adds effects to status.pendingEffects, once per key, keeping at
// most limit (the oldest go first). It returns the effects it dropped.
func Record(rule *cxv1alpha1.AlertRule, effects []cxv1alpha1.PendingEffect, limit int) (dropped []cxv1alpha1.PendingEffect) {
	for _, e := range effects {
		known := false
		for _, p := range rule.Status.PendingEffects {
			if p.Key == e.Key {
				known = true
				break
			}
		}
		if !known {
			rule.Status.PendingEffects = append(rule.Status.PendingEffects, e)
		}
	}
	if n := len(rule.Status.PendingEffects); n > limit {
		dropped = append(dropped, rule.Status.PendingEffects[:n-limit]...)
		rule.Status.PendingEffects = append([]cxv1alpha1.PendingEffect(nil), rule.Status.PendingEffects[n-limit:]...)
	}
	return dropped
}

// TransitionOf is the transition a pending effect came from.
func TransitionOf(e cxv1alpha1.PendingEffect) Transition {
	return Transition{Group: e.Group, Resolved: e.Resolved}
}

// DescribeEffect names a pending effect for events and errors: the Case
// it creates, or the notification and its channel, with the group of a
// grouped rule ("AggregateFiring notification for group emea to channel
// ops").
func DescribeEffect(e cxv1alpha1.PendingEffect) string {
	if e.Case != "" {
		return "create Case " + e.Case
	}
	event := EventFiring
	if e.Resolved {
		event = EventResolved
	}
	group := ""
	if e.Group.Group != "" {
		group = " for group " + e.Group.Group
	}
	return fmt.Sprintf("%s notification%s to channel %s", event, group, e.Channel)
}
