package v1alpha1

// DistributionChannel is how an invitation reaches the customer.
// +kubebuilder:validation:Enum=Email;SMS
type DistributionChannel string

// Distribution channels.
const (
	DistributionEmail DistributionChannel = "Email"
	DistributionSMS   DistributionChannel = "SMS"
)

// DistributionSpec says which business events invite customers to the
// survey, when, through which channel and with which words. The business
// system posts its events to the collector's POST /v1/events; the
// collector keeps the invitations it schedules in its store and sends each
// exactly once.
// +kubebuilder:validation:XValidation:rule="!self.events.exists(e, e.channel == 'Email') || has(self.email)",message="distribution.email (the NotificationChannel to send with) is required when an event invites by Email",fieldPath=".email",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!self.events.exists(e, e.channel == 'SMS') || has(self.sms)",message="distribution.sms (the NotificationChannel to send with) is required when an event invites by SMS",fieldPath=".sms",reason=FieldValueRequired
type DistributionSpec struct {
	// events that invite, by name, for example "upgrade-downloaded".
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Events []InvitingEvent `json:"events"`

	// email sends email invitations through an Email NotificationChannel
	// (its SMTP server and from address; its to list is not used).
	// +optional
	Email *ChannelRef `json:"email,omitempty"`

	// sms sends text-message invitations through an SMS
	// NotificationChannel.
	// +optional
	SMS *ChannelRef `json:"sms,omitempty"`

	// messages per locale. The customer's locale picks one (else the
	// first). Placeholders: {firstName}, {name}, {link} (the survey link)
	// and {touchpoint} (the survey's title).
	// +required
	// +listType=map
	// +listMapKey=locale
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Messages []InvitationMessage `json:"messages"`

	// reminder, when set, is sent once, after this long, to a customer who
	// has not answered and has not unsubscribed.
	// +optional
	Reminder *ReminderSpec `json:"reminder,omitempty"`

	// linkTTL is how long the survey link in an invitation stays valid.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="distribution.linkTTL must be a positive duration such as 168h or 7d"
	LinkTTL *Duration `json:"linkTTL,omitempty"`

	// quietHours: no SMS is sent between start and end in the customer's
	// time zone (an invitation due then waits for end).
	// +optional
	QuietHours *QuietHours `json:"quietHours,omitempty"`

	// defaultTimeZone (IANA, for example "Europe/Berlin") of customers whose
	// event names none.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	DefaultTimeZone string `json:"defaultTimeZone,omitempty"`
}

// InvitingEvent is one business event that invites.
type InvitingEvent struct {
	// name of the event as the business system posts it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`
	Name string `json:"name"`

	// delay after the event's time before the invitation is sent, for
	// example 72h or 3d.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-')",message="delay must not be negative"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	Delay *Duration `json:"delay,omitempty"`

	// channel of the invitation: Email or SMS.
	// +optional
	// +kubebuilder:default=Email
	Channel DistributionChannel `json:"channel,omitempty"`
}

// ChannelRef names a NotificationChannel of the same namespace.
type ChannelRef struct {
	// channel is the NotificationChannel's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Channel string `json:"channel"`
}

// InvitationMessage is the invitation's wording in one locale.
type InvitationMessage struct {
	// locale (BCP 47), for example "en" or "de".
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`
	Locale string `json:"locale"`

	// subject of the email.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Subject string `json:"subject,omitempty"`

	// body of the email (plain text; the HTML part adds the first
	// question's scale as links and the unsubscribe link).
	// +optional
	// +kubebuilder:validation:MaxLength=5000
	Body string `json:"body,omitempty"`

	// sms is the text message; keep it short and include {link}.
	// +optional
	// +kubebuilder:validation:MaxLength=600
	SMS string `json:"sms,omitempty"`

	// reminderSubject of the reminder email; defaults to subject.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	ReminderSubject string `json:"reminderSubject,omitempty"`
}

// ReminderSpec is the single reminder.
type ReminderSpec struct {
	// after the invitation was sent.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="reminder.after must be a positive duration such as 48h or 2d"
	After Duration `json:"after"`
}

// QuietHours is a daily window, in the customer's local time, without SMS.
type QuietHours struct {
	// start of the quiet window, "HH:MM" (24-hour clock), for example "21:00".
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// end of the quiet window, "HH:MM", for example "08:00" (the next day
	// when before start).
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`
}

// InvitationCounts are the touchpoint's invitations by state.
type InvitationCounts struct {
	// scheduled invitations and reminders waiting to be sent.
	Scheduled int64 `json:"scheduled"`
	// sent invitations and reminders.
	Sent int64 `json:"sent"`
	// reminded: reminders sent (counted in sent too).
	Reminded int64 `json:"reminded"`
	// failed: could not be sent (no retry helps: a refused address, a
	// missing channel).
	Failed int64 `json:"failed"`
	// skipped: not sent by rule (sampling, contact frequency, unsubscribed,
	// already answered).
	Skipped int64 `json:"skipped"`
	// answered invitations.
	Answered int64 `json:"answered"`
	// acknowledged: acknowledgements of new Cases sent to their customers
	// (a CaseTemplate's customerMessages; not counted in sent).
	// +optional
	Acknowledged int64 `json:"acknowledged,omitempty"`
	// followUpsWaiting: follow-ups of open Cases, waiting for the Case to
	// close (a CaseTemplate's customerMessages.followUp).
	// +optional
	FollowUpsWaiting int64 `json:"followUpsWaiting,omitempty"`
	// followUpsSent: follow-ups sent after their Case closed (not counted
	// in sent).
	// +optional
	FollowUpsSent int64 `json:"followUpsSent,omitempty"`
	// followUpsAnswered: follow-ups the customer answered.
	// +optional
	FollowUpsAnswered int64 `json:"followUpsAnswered,omitempty"`
	// followUpsExpired: follow-ups not sent because the Case was not
	// closed within followUp.keepContactFor, so the customer's contact
	// details were erased first.
	// +optional
	FollowUpsExpired int64 `json:"followUpsExpired,omitempty"`
}
