package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
// no channel to go to), or status.pendingNotifications holds it as due (a
// scheduled notification, with dueAt, is not due yet).
func Notified(c *cxv1alpha1.Case, key, channel string) bool {
	for _, n := range c.Status.Notifications {
		if n.Key == key && n.Channel == channel {
			return true
		}
	}
	i := pendingIndex(c, key, channel)
	return i >= 0 && c.Status.PendingNotifications[i].DueAt == nil
}

// pendingIndex is the index of the key and channel in
// status.pendingNotifications, -1 when absent.
func pendingIndex(c *cxv1alpha1.Case, key, channel string) int {
	return slices.IndexFunc(c.Status.PendingNotifications, func(n cxv1alpha1.PendingNotification) bool {
		return n.Key == key && n.Channel == channel
	})
}

// MaxPendingNotifications bounds status.pendingNotifications (the CRD's
// MaxItems).
const MaxPendingNotifications = 50

// owed is one message a transition owes, or, with skip set, one it
// cannot deliver and why.
type owed struct {
	key, channel, to string
	forWhom          []string
	skip             string
}

// owes lists the messages a transition owes: one to each of its
// recipients' channels, and one to each person through the template's
// peopleChannel under a key of their own; a person without an email, or
// people with no channel to go to, are skips.
func owes(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, tr Transition) []owed {
	if tr.Event == "" {
		return nil
	}
	rcpt := Recipients(t, tr)
	ps := Persons(c, t, rcpt)
	forWhom := make([]string, len(ps))
	for i, p := range ps {
		forWhom[i] = p.String()
	}
	if len(rcpt.Channels) == 0 && len(ps) == 0 {
		return nil
	}
	if len(rcpt.Channels) == 0 && t.Spec.PeopleChannel == "" {
		return []owed{{key: tr.Key, skip: "no channel to deliver to: " + strings.Join(forWhom, ", ") +
			" have no NotificationChannel; set the template's peopleChannel (an email channel) or add channels to its notifications (to.channels)"}}
	}
	var out []owed
	for _, ch := range rcpt.Channels {
		out = append(out, owed{key: tr.Key, channel: ch, forWhom: forWhom})
	}
	if ch := t.Spec.PeopleChannel; ch != "" {
		for _, p := range ps {
			o := owed{key: PersonKey(tr.Key, p), channel: ch, forWhom: forWhom, to: p.String()}
			if p.Email == "" {
				o.skip = p.Name + " has no email in the template's team; add spec.team[].email"
			}
			out = append(out, o)
		}
	}
	return out
}

func (o owed) pending(tr Transition, at metav1.Time) cxv1alpha1.PendingNotification {
	return cxv1alpha1.PendingNotification{
		Key: o.key, Event: tr.Event, Channel: o.channel, Headline: truncate(tr.Headline, 512), Note: truncate(tr.Note, maxRecordMessage),
		For: o.forWhom, To: o.to, At: at,
	}
}

// RecordDue records in the Case's status what the transitions owe that it
// does not record yet, each under its deterministic key: a
// PendingNotification for each delivery to make (to each of the
// recipients' channels, and to each person with an email through the
// template's peopleChannel), to be delivered once this status is stored;
// a Skipped record for what cannot be delivered (no channel to go to, a
// person without an email, or, when canDeliver is false, no notifier).
// A delivery Schedule recorded ahead becomes due, with the transition's
// headline and note. Past MaxPendingNotifications due at once, the rest
// are recorded as Skipped.
func RecordDue(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, trs []Transition, now time.Time, canDeliver bool) {
	at := metav1.NewTime(now)
	skip := func(tr Transition, key, channel, why string) {
		c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{
			Event: tr.Event, Channel: channel, Time: at, Outcome: cxv1alpha1.DeliverySkipped, Key: key, Message: truncate(why, maxRecordMessage),
		})
	}
	for _, tr := range trs {
		for _, o := range owes(c, t, tr) {
			switch i := pendingIndex(c, o.key, o.channel); {
			case Notified(c, o.key, o.channel):
			case o.skip != "":
				skip(tr, o.key, o.channel, o.skip)
			case i >= 0: // scheduled: due now
				c.Status.PendingNotifications[i] = o.pending(tr, at)
			case !canDeliver:
				skip(tr, o.key, o.channel, "the manager has no notifier configured")
			case len(c.Status.PendingNotifications) >= MaxPendingNotifications:
				skip(tr, o.key, o.channel, fmt.Sprintf("more than %d notifications were due at once", MaxPendingNotifications))
			default:
				c.Status.PendingNotifications = append(c.Status.PendingNotifications, o.pending(tr, at))
			}
		}
	}
	TrimNotifications(c)
}

// Schedule records ahead, in status.pendingNotifications with their dueAt,
// the notifications the Case's upcoming transitions (Upcoming) will owe,
// and drops those scheduled earlier that no upcoming transition owes any
// more (the deadline moved, the Case was closed or answered, a step ran
// or left the template, the recipients changed). Call it after RecordDue.
// A notification recorded ahead is stored before its deadline, so at the
// deadline it can be delivered before the status write that records the
// transition and marks it done: one write instead of two. Nothing is
// scheduled without a notifier, nor past MaxPendingNotifications; what a
// transition cannot deliver is recorded when it happens.
func Schedule(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, now time.Time, canDeliver bool) {
	var keep, scheduled []cxv1alpha1.PendingNotification
	for _, n := range c.Status.PendingNotifications {
		if n.DueAt == nil {
			keep = append(keep, n)
		}
	}
	if canDeliver {
		for _, e := range Upcoming(c, t, now) {
			due := metav1.NewTime(e.At)
			for _, o := range owes(c, t, e.Transition) {
				if o.skip != "" || Notified(c, o.key, o.channel) || len(keep)+len(scheduled) >= MaxPendingNotifications {
					continue
				}
				n := o.pending(e.Transition, metav1.NewTime(now))
				if i := pendingIndex(c, o.key, o.channel); i >= 0 {
					n.At = c.Status.PendingNotifications[i].At // scheduled before
				}
				n.DueAt = &due
				scheduled = append(scheduled, n)
			}
		}
	}
	c.Status.PendingNotifications = append(keep, scheduled...)
	if len(c.Status.PendingNotifications) == 0 {
		c.Status.PendingNotifications = nil
	}
}

// DueNow lists the notifications status.pendingNotifications holds as
// due now (not scheduled).
func DueNow(c *cxv1alpha1.Case) []cxv1alpha1.PendingNotification {
	var out []cxv1alpha1.PendingNotification
	for _, n := range c.Status.PendingNotifications {
		if n.DueAt == nil {
			out = append(out, n)
		}
	}
	return out
}

// DeliverableNow lists the notifications due in c whose record the stored
// Case already holds (due, or scheduled ahead by Schedule): their record
// is durable, so they may be delivered before the status write that
// marks them done. The others are delivered once c's status is stored.
func DeliverableNow(stored, c *cxv1alpha1.Case) []cxv1alpha1.PendingNotification {
	var out []cxv1alpha1.PendingNotification
	for _, n := range DueNow(c) {
		if pendingIndex(stored, n.Key, n.Channel) >= 0 {
			out = append(out, n)
		}
	}
	return out
}

// Done moves a pending notification to status.notifications with the
// outcome of its delivery. message says why a delivery failed or was
// skipped; a Delivered record says whom the message was for.
func Done(c *cxv1alpha1.Case, n cxv1alpha1.PendingNotification, now time.Time, outcome cxv1alpha1.DeliveryOutcome, message string) {
	c.Status.PendingNotifications = slices.DeleteFunc(slices.Clone(c.Status.PendingNotifications), func(p cxv1alpha1.PendingNotification) bool {
		return p.Key == n.Key && p.Channel == n.Channel
	})
	if len(c.Status.PendingNotifications) == 0 {
		c.Status.PendingNotifications = nil
	}
	if outcome == cxv1alpha1.DeliveryDelivered {
		switch {
		case n.To != "":
			message = "to " + personName(n.Key)
		case len(n.For) == 0:
			message = "for the channel"
		default:
			message = "for " + strings.Join(n.For, ", ")
		}
	}
	c.Status.Notifications = append(c.Status.Notifications, cxv1alpha1.NotificationRecord{
		Event: n.Event, Channel: n.Channel, Time: metav1.NewTime(now), Outcome: outcome, Key: n.Key, Message: truncate(message, maxRecordMessage),
	})
	TrimNotifications(c)
}

// personName is the name a person key ends with.
func personName(key string) string {
	if i := strings.LastIndex(key, personKeySep); i >= 0 {
		return key[i+len(personKeySep):]
	}
	return ""
}

// maxRecordMessage is the API's bound on a record's message.
const maxRecordMessage = 1024

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len(" …")] + " …"
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
