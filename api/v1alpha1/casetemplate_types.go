package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubjectKind is the kind of a person or group in a team.
// +kubebuilder:validation:Enum=User;Group
type SubjectKind string

// Subject kinds, as in RBAC.
const (
	SubjectUser  SubjectKind = "User"
	SubjectGroup SubjectKind = "Group"
)

// LifecycleEvent is a step in a Case's life that can notify people.
// +kubebuilder:validation:Enum=Opened;Assigned;StateChanged;Overdue;Escalated;Closed
type LifecycleEvent string

// Lifecycle events.
const (
	EventOpened       LifecycleEvent = "Opened"
	EventAssigned     LifecycleEvent = "Assigned"
	EventStateChanged LifecycleEvent = "StateChanged"
	EventOverdue      LifecycleEvent = "Overdue"
	EventEscalated    LifecycleEvent = "Escalated"
	EventClosed       LifecycleEvent = "Closed"
)

// EscalationTrigger is the deadline an escalation step counts from.
// +kubebuilder:validation:Enum=Overdue;FirstResponseMissed
type EscalationTrigger string

// Escalation triggers.
const (
	// TriggerOverdue counts from the closure deadline (status.dueAt).
	TriggerOverdue EscalationTrigger = "Overdue"
	// TriggerFirstResponseMissed counts from the first-response deadline.
	TriggerFirstResponseMissed EscalationTrigger = "FirstResponseMissed"
)

// CustomerDetail is how much about the customer a notification may carry.
// +kubebuilder:validation:Enum=IDOnly;IDAndTier;Full
type CustomerDetail string

// Customer detail levels.
const (
	// CustomerDetailIDOnly shows only the customer id.
	CustomerDetailIDOnly CustomerDetail = "IDOnly"
	// CustomerDetailIDAndTier adds tier and segment.
	CustomerDetailIDAndTier CustomerDetail = "IDAndTier"
	// CustomerDetailFull adds the customer's attributes and the comment.
	CustomerDetailFull CustomerDetail = "Full"
)

// CaseTemplateSpec declares how follow-up on a kind of issue works.
type CaseTemplateSpec struct {
	// category of the Cases, for example "installation".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Category string `json:"category"`

	// description of what the Cases are about.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Description string `json:"description,omitempty"`

	// team that works the Cases.
	// +required
	Team Team `json:"team"`

	// routes pick the assignee of a new Case: the first route whose when
	// expression is true wins; without a match the Case goes to the first
	// case manager.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Routes []Route `json:"routes,omitempty"`

	// tierPolicies set severity and deadlines by customer tier; the first
	// policy whose tier equals the customer's tier applies, else
	// defaultPolicy.
	// +optional
	// +listType=map
	// +listMapKey=tier
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self.all(p, self.exists_one(o, o.tier == p.tier))",message="tierPolicies: each tier may appear only once"
	TierPolicies []TierPolicy `json:"tierPolicies,omitempty"`

	// defaultPolicy applies to customers whose tier has no policy.
	// +optional
	// +kubebuilder:default={severity: Normal, closureGoal: "72h"}
	DefaultPolicy *CasePolicy `json:"defaultPolicy,omitempty"`

	// firstResponseGoal is how soon after opening someone must act on a
	// Case (first entry in its action log), unless its policy says
	// otherwise.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="firstResponseGoal must be a positive duration such as 4h"
	FirstResponseGoal *Duration `json:"firstResponseGoal,omitempty"`

	// escalation is the ladder of steps run once each when a Case stays
	// overdue (or without first response) for the step's after.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Escalation []EscalationStep `json:"escalation,omitempty"`

	// notifications say which lifecycle events notify whom.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Notifications []EventNotification `json:"notifications,omitempty"`

	// peopleChannel is an email NotificationChannel (same namespace) through
	// which the people that notifications and escalation steps name (the
	// assignee, caseManagers, team members) each get a message of their
	// own, at the email their team entry gives; the channel's own to list
	// is not used for them. Without it, people are only named in the
	// messages to channels.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PeopleChannel string `json:"peopleChannel,omitempty"`

	// customerDetail is how much about the customer notifications carry:
	// IDOnly, IDAndTier or Full.
	// +optional
	// +kubebuilder:default=IDAndTier
	CustomerDetail CustomerDetail `json:"customerDetail,omitempty"`

	// closure says what closing a Case requires.
	// +required
	Closure ClosureRequirements `json:"closure"`

	// retention of closed Cases in the API server before they are archived
	// to the program's store and deleted.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="retention must be a positive duration such as 720h"
	Retention *Duration `json:"retention,omitempty"`

	// value says what the customers of these Cases are worth and what
	// handling a Case costs, for the return on acting in reports' Cases
	// section (value at risk, recovered, cost, net return).
	// +optional
	Value *CaseValue `json:"value,omitempty"`

	// customerMessages are what the customer of a Case hears about it. The
	// collector of the touchpoint the Case came from sends them, since
	// only it holds the customer's contact details (they never enter the
	// Case), through the touchpoint's distribution channel: so only Cases
	// opened from an answer to an invitation it sent get them.
	// +optional
	CustomerMessages *CustomerMessages `json:"customerMessages,omitempty"`
}

// CustomerMessages are the messages to the customer of a Case.
// +kubebuilder:validation:XValidation:rule="has(self.acknowledgement) || has(self.followUp)",message="give acknowledgement, followUp or both",fieldPath=".acknowledgement",reason=FieldValueRequired
type CustomerMessages struct {
	// acknowledgement is sent when a Case opens, in the customer's locale
	// (the first entry for a locale without one). Placeholders:
	// {firstName} (the customer's), {ownerFirstName} (the first name of
	// the Case's assignee, from the user name: "maria.lopez" is Maria) and
	// {expectContactBy} (the first-response deadline, else the closure
	// deadline, in the customer's time zone). A customer who unsubscribed
	// gets none.
	// +optional
	// +listType=map
	// +listMapKey=locale
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Acknowledgement []CustomerMessageText `json:"acknowledgement,omitempty"`

	// followUp is the short survey sent after the Case is closed: "did we
	// solve it?", answered yes or no in the message itself or on the
	// survey page. The answer sets the Case's
	// spec.resolution.customerRecovered, unless a person set it first,
	// and so counts in reports' recovered Cases.
	// +optional
	FollowUp *FollowUp `json:"followUp,omitempty"`
}

// FollowUp is the survey sent to the customer after a Case closes.
type FollowUp struct {
	// after is how long after the Case is closed the follow-up is sent,
	// for example 24h (so that the fix had time to work).
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-')",message="after cannot be negative; 0s sends the follow-up when the Case closes"
	After *Duration `json:"after,omitempty"`

	// keepContactFor is how long after the Case opened the collector keeps
	// the customer's contact details for the follow-up. A Case not closed
	// by then gets no follow-up (counted in the touchpoint's
	// status.invitations.followUpsExpired), and its customer's details are
	// erased.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="keepContactFor must be a positive duration such as 720h"
	KeepContactFor *Duration `json:"keepContactFor,omitempty"`

	// linkTTL is how long the answer links work after the follow-up was
	// sent; a link is also used up by its first answer.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="linkTTL must be a positive duration such as 168h"
	LinkTTL *Duration `json:"linkTTL,omitempty"`

	// messages per locale, sent in the locale of the invitation the Case
	// came from (the first entry for a locale without one). Placeholders:
	// {firstName}, {question}, {yesLink} and {noLink} (links that open the
	// page with the answer chosen) and {link} (the page). An email body
	// without {yesLink} gets the question and both links appended; an SMS
	// without a link gets {link} appended.
	// +required
	// +listType=map
	// +listMapKey=locale
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Messages []FollowUpText `json:"messages"`
}

// FollowUpText is the follow-up in one locale.
// +kubebuilder:validation:XValidation:rule="(has(self.subject) && has(self.body)) || has(self.sms)",message="give subject and body (for email) or sms (for SMS)",fieldPath=".subject",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.sms) || !self.sms.contains('{yesLink}') || self.sms.contains('{noLink}')",message="an sms with {yesLink} needs {noLink} too, or use {link}",fieldPath=".sms"
type FollowUpText struct {
	// locale (BCP 47), for example "en" or "de".
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`
	Locale string `json:"locale"`

	// question asked on the page and in the email, for example "Did we
	// solve your problem?".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Question string `json:"question"`

	// subject of the email.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Subject string `json:"subject,omitempty"`

	// body of the email (plain text).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=5000
	Body string `json:"body,omitempty"`

	// sms is the text message.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=600
	SMS string `json:"sms,omitempty"`
}

// CustomerMessageText is a message to the customer in one locale: an email
// (subject and body) and the text for SMS.
// +kubebuilder:validation:XValidation:rule="(has(self.subject) && has(self.body)) || has(self.sms)",message="give subject and body (for email) or sms (for SMS)",fieldPath=".subject",reason=FieldValueRequired
type CustomerMessageText struct {
	// locale (BCP 47), for example "en" or "de".
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`
	Locale string `json:"locale"`

	// subject of the email.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=200
	Subject string `json:"subject,omitempty"`

	// body of the email (plain text).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=5000
	Body string `json:"body,omitempty"`

	// sms is the text message.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=600
	SMS string `json:"sms,omitempty"`
}

// CaseValue is the worth of a template's customers and the cost of its
// Cases, in one currency.
// +kubebuilder:validation:XValidation:rule="has(self.customerAttribute) || (has(self.perTier) && size(self.perTier) > 0) || has(self.defaultValue)",message="value needs customerAttribute, perTier or defaultValue to put a value on a customer",fieldPath=".customerAttribute",reason=FieldValueRequired
type CaseValue struct {
	// currency of every amount, an ISO 4217 code such as EUR.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency"`

	// customerAttribute is the customer attribute that holds the customer's
	// value as a number, for example annualRevenue. A Case whose customer
	// lacks it (or holds no number) takes perTier, then defaultValue.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	CustomerAttribute string `json:"customerAttribute,omitempty"`

	// perTier is the value of a customer by tier.
	// +optional
	// +listType=map
	// +listMapKey=tier
	// +kubebuilder:validation:MaxItems=20
	PerTier []TierValue `json:"perTier,omitempty"`

	// defaultValue of a customer with no attribute and no tier value.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DefaultValue *float64 `json:"defaultValue,omitempty"`

	// costPerCase is the cost of handling one Case, whatever it took.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CostPerCase *float64 `json:"costPerCase,omitempty"`

	// costPerHour is the cost of an hour of work, counted over the
	// timeSpent of the Case's action log.
	// +optional
	// +kubebuilder:validation:Minimum=0
	CostPerHour *float64 `json:"costPerHour,omitempty"`
}

// TierValue is the value of a customer of one tier.
type TierValue struct {
	// tier of the customer, for example Gold.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier"`

	// value of such a customer.
	// +required
	// +kubebuilder:validation:Minimum=0
	Value float64 `json:"value"`
}

// Team works a template's Cases.
// +kubebuilder:validation:XValidation:rule="has(self.caseManagers) && size(self.caseManagers) > 0",message="team.caseManagers must name at least one case manager (a user or group who owns, reassigns and closes cases)",fieldPath=".caseManagers",reason=FieldValueRequired
type Team struct {
	// caseManagers own the Cases: they may reassign, change severity and
	// close; escalations reassign to them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	CaseManagers []Subject `json:"caseManagers,omitempty"`

	// members work the Cases: they log actions and move Cases between the
	// open states.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Members []Subject `json:"members,omitempty"`
}

// Subject is a user or a group, as Kubernetes authentication names them.
type Subject struct {
	// kind is User or Group.
	// +optional
	// +kubebuilder:default=User
	Kind SubjectKind `json:"kind,omitempty"`

	// name as the API server authenticates it (user name or group name).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// email where the person or group receives notifications.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email,omitempty"`
}

// Route assigns matching Cases to someone.
type Route struct {
	// name of the route.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// when is a CEL expression over the Case: customer (id, tier, segment,
	// attributes), and of the triggering response metadata
	// (map(string, string)), answers (map(string, dyn)), comment, sentiment,
	// themes and touchpoint; plus rule, severity and category. Example:
	// metadata.region == 'emea'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	When string `json:"when"`

	// assignee user name given the Case.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Assignee string `json:"assignee"`
}

// CasePolicy is a severity and deadlines.
type CasePolicy struct {
	// severity of the Case: Low, Normal, High or Urgent.
	// +required
	Severity Severity `json:"severity"`

	// closureGoal is how long after opening the Case must be closed; it
	// sets status.dueAt.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="closureGoal must be a positive duration such as 24h"
	ClosureGoal Duration `json:"closureGoal"`

	// firstResponseGoal overrides the template's firstResponseGoal.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="firstResponseGoal must be a positive duration such as 4h"
	FirstResponseGoal *Duration `json:"firstResponseGoal,omitempty"`
}

// TierPolicy is the policy for one customer tier.
type TierPolicy struct {
	// tier as given in responses (customer.tier), for example Gold.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier"`

	// severity of the Case: Low, Normal, High or Urgent.
	// +required
	Severity Severity `json:"severity"`

	// closureGoal is how long after opening the Case must be closed.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="closureGoal must be a positive duration such as 24h"
	ClosureGoal Duration `json:"closureGoal"`

	// firstResponseGoal overrides the template's firstResponseGoal.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="firstResponseGoal must be a positive duration such as 4h"
	FirstResponseGoal *Duration `json:"firstResponseGoal,omitempty"`
}

// EscalationStep is one rung of the escalation ladder.
// +kubebuilder:validation:XValidation:rule="(has(self.notify) && ((has(self.notify.assignee) && self.notify.assignee) || (has(self.notify.team) && self.notify.team) || (has(self.notify.caseManagers) && self.notify.caseManagers) || (has(self.notify.channels) && size(self.notify.channels) > 0))) || (has(self.reassignToCaseManager) && self.reassignToCaseManager) || has(self.raiseSeverityTo)",message="an escalation step must notify someone, reassign to a case manager or raise the severity"
type EscalationStep struct {
	// name of the step, recorded in the Case's status when it runs.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// trigger is the missed deadline the step counts from: Overdue (closure
	// goal) or FirstResponseMissed.
	// +optional
	// +kubebuilder:default=Overdue
	Trigger EscalationTrigger `json:"trigger,omitempty"`

	// after is how long past the deadline the step runs; 0s runs it at the
	// deadline.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+)$`
	After Duration `json:"after"`

	// notify these recipients.
	// +optional
	Notify *Recipients `json:"notify,omitempty"`

	// reassignToCaseManager gives the Case to the template's first case
	// manager.
	// +optional
	ReassignToCaseManager bool `json:"reassignToCaseManager,omitempty"`

	// raiseSeverityTo sets the Case's severity, if it is lower.
	// +optional
	RaiseSeverityTo Severity `json:"raiseSeverityTo,omitempty"`
}

// Recipients of a notification.
type Recipients struct {
	// assignee of the Case.
	// +optional
	Assignee bool `json:"assignee,omitempty"`

	// team members of the template.
	// +optional
	Team bool `json:"team,omitempty"`

	// caseManagers of the template.
	// +optional
	CaseManagers bool `json:"caseManagers,omitempty"`

	// channels are NotificationChannel names in the same namespace.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	Channels []string `json:"channels,omitempty"`
}

// EventNotification sends lifecycle events to recipients.
// +kubebuilder:validation:XValidation:rule="(has(self.to.assignee) && self.to.assignee) || (has(self.to.team) && self.to.team) || (has(self.to.caseManagers) && self.to.caseManagers) || (has(self.to.channels) && size(self.to.channels) > 0)",message="to must name at least one recipient: assignee, team, caseManagers or channels",fieldPath=".to",reason=FieldValueRequired
type EventNotification struct {
	// events that notify.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	Events []LifecycleEvent `json:"events"`

	// to whom.
	// +required
	To Recipients `json:"to"`
}

// ClosureRequirements say what closing a Case takes.
type ClosureRequirements struct {
	// rootCauses a closed Case must pick from, for example
	// "documentation-gap".
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=100
	RootCauses []string `json:"rootCauses"`

	// requireCustomerRecovered makes resolution.customerRecovered mandatory
	// on close.
	// +optional
	RequireCustomerRecovered bool `json:"requireCustomerRecovered,omitempty"`
}

// CaseTemplateStatus is the observed state of a template.
type CaseTemplateStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (False with the message when a route expression
	// does not compile or a channel is missing).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ct,categories=cx
// +kubebuilder:printcolumn:name="Category",type=string,JSONPath=`.spec.category`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// CaseTemplate declares how follow-up works for a kind of customer issue:
// the team, routing, severity and deadlines by customer tier, escalation,
// notifications and what closing requires.
type CaseTemplate struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the template.
	// +required
	Spec CaseTemplateSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status CaseTemplateStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CaseTemplateList is a list of CaseTemplates.
type CaseTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CaseTemplate `json:"items"`
}

func init() {
	register(&CaseTemplate{}, &CaseTemplateList{})
}
