package cases

import (
	"slices"
	"strings"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// MaxNotificationRecords bounds status.notifications (the CRD's MaxItems);
// TrimNotifications keeps the newest.
const MaxNotificationRecords = 50

// Recipients merges the template's notifications for the transition's
// event and, for an escalation, the step's own notify. A transition
// without an event notifies nobody.
func Recipients(t *cxv1alpha1.CaseTemplate, tr Transition) cxv1alpha1.Recipients {
	var r cxv1alpha1.Recipients
	if tr.Event == "" {
		return r
	}
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
		if slices.Contains(n.Events, tr.Event) {
			merge(n.To)
		}
	}
	if tr.Step != nil && tr.Step.Notify != nil {
		merge(*tr.Step.Notify)
	}
	return r
}

// Notified reports whether status.notifications records the key for the
// channel, whatever the outcome ("" is the record of a notification with
// no channel to go to).
func Notified(c *cxv1alpha1.Case, key, channel string) bool {
	for _, n := range c.Status.Notifications {
		if n.Key == key && n.Channel == channel {
			return true
		}
	}
	return false
}

// Due is one notification a transition owes to one channel.
type Due struct {
	Transition Transition
	Channel    string
}

// NotificationsDue lists the deliveries the transitions owe that
// status.notifications does not record yet: one per channel of each
// transition's Recipients, in order.
func NotificationsDue(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, trs []Transition) []Due {
	var out []Due
	for _, tr := range trs {
		for _, ch := range Recipients(t, tr).Channels {
			if !Notified(c, tr.Key, ch) {
				out = append(out, Due{Transition: tr, Channel: ch})
			}
		}
	}
	return out
}

// TrimNotifications keeps the newest MaxNotificationRecords records.
func TrimNotifications(c *cxv1alpha1.Case) {
	if n := len(c.Status.Notifications); n > MaxNotificationRecords {
		c.Status.Notifications = slices.Clone(c.Status.Notifications[n-MaxNotificationRecords:])
	}
}

// DescribeRecipients names recipients for messages: "the assignee, the
// case managers, channels support-slack".
func DescribeRecipients(r cxv1alpha1.Recipients) string {
	var parts []string
	if r.Assignee {
		parts = append(parts, "the assignee")
	}
	if r.Team {
		parts = append(parts, "the team")
	}
	if r.CaseManagers {
		parts = append(parts, "the case managers")
	}
	if len(r.Channels) > 0 {
		parts = append(parts, "channels "+strings.Join(r.Channels, ", "))
	}
	return strings.Join(parts, ", ")
}
