package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CaseState is where a Case is in its life.
//
// Allowed moves: Open -> InProgress | PendingCustomer | Resolved;
// InProgress -> PendingCustomer | Resolved; PendingCustomer -> InProgress |
// Resolved; Resolved -> Closed | Reopened; Closed -> Reopened;
// Reopened -> InProgress | PendingCustomer | Resolved.
// +kubebuilder:validation:Enum=Open;InProgress;PendingCustomer;Resolved;Closed;Reopened
type CaseState string

// Case states.
const (
	CaseOpen            CaseState = "Open"
	CaseInProgress      CaseState = "InProgress"
	CasePendingCustomer CaseState = "PendingCustomer"
	CaseResolved        CaseState = "Resolved"
	CaseClosed          CaseState = "Closed"
	CaseReopened        CaseState = "Reopened"
)

// ActionType is the kind of an entry in a Case's action log.
// +kubebuilder:validation:Enum=Note;CustomerContacted;Reassigned;StateChanged;Escalated
type ActionType string

// Action types.
const (
	ActionNote              ActionType = "Note"
	ActionCustomerContacted ActionType = "CustomerContacted"
	ActionReassigned        ActionType = "Reassigned"
	ActionStateChanged      ActionType = "StateChanged"
	ActionEscalated         ActionType = "Escalated"
)

// CaseSpec is one customer issue to resolve.
// +kubebuilder:validation:XValidation:rule="self.state != 'Closed' || (has(self.resolution) && has(self.resolution.rootCause) && size(self.resolution.rootCause) > 0 && has(self.resolution.summary) && size(self.resolution.summary) > 0)",message="resolution.rootCause and resolution.summary are required to close a Case (state: Closed)",fieldPath=".resolution"
// +kubebuilder:validation:XValidation:rule="oldSelf.state == self.state || self.state in {'Open': ['InProgress', 'PendingCustomer', 'Resolved'], 'InProgress': ['PendingCustomer', 'Resolved'], 'PendingCustomer': ['InProgress', 'Resolved'], 'Resolved': ['Closed', 'Reopened'], 'Closed': ['Reopened'], 'Reopened': ['InProgress', 'PendingCustomer', 'Resolved']}[oldSelf.state]",messageExpression="'state cannot move from ' + oldSelf.state + ' to ' + self.state + '; from ' + oldSelf.state + ' a Case may move to ' + {'Open': 'InProgress, PendingCustomer or Resolved', 'InProgress': 'PendingCustomer or Resolved', 'PendingCustomer': 'InProgress or Resolved', 'Resolved': 'Closed or Reopened', 'Closed': 'Reopened', 'Reopened': 'InProgress, PendingCustomer or Resolved'}[oldSelf.state]",fieldPath=".state",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.actions) || (has(self.actions) && size(self.actions) >= size(oldSelf.actions) && oldSelf.actions.all(i, a, self.actions[i] == a))",message="actions is an append-only log: earlier entries cannot be edited or removed; add a new entry instead",fieldPath=".actions"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.template) == has(self.template) && (!has(self.template) || oldSelf.template == self.template)",message="template is immutable",fieldPath=".template"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.source) == has(self.source) && (!has(self.source) || oldSelf.source == self.source)",message="source is immutable: it records the response that opened the Case",fieldPath=".source"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.relatedResponses) || (has(self.relatedResponses) && size(self.relatedResponses) >= size(oldSelf.relatedResponses))",message="relatedResponses may only grow: responses merged into the Case stay listed",fieldPath=".relatedResponses"
type CaseSpec struct {
	// template is the CaseTemplate (same namespace) whose team, policies and
	// escalation apply. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Template string `json:"template"`

	// title summarises the issue.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title,omitempty"`

	// customer the Case is about. Empty for a strategic Case opened by an
	// aggregate rule.
	// +optional
	Customer *Customer `json:"customer,omitempty"`

	// source records the rule and response that opened the Case. Immutable.
	// +optional
	Source *CaseSource `json:"source,omitempty"`

	// severity: Low, Normal, High or Urgent. Set from the template's tier
	// policy when empty; a value set here wins.
	// +optional
	Severity Severity `json:"severity,omitempty"`

	// category of the issue; the template's category when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Category string `json:"category,omitempty"`

	// assignee is the user working the Case; set from the template's routes
	// when empty.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Assignee string `json:"assignee,omitempty"`

	// closureGoal overrides the policy's closure goal for this Case.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="closureGoal must be a positive duration such as 24h"
	ClosureGoal *Duration `json:"closureGoal,omitempty"`

	// state of the Case: Open, InProgress, PendingCustomer, Resolved, Closed
	// or Reopened.
	// +optional
	// +kubebuilder:default=Open
	State CaseState `json:"state,omitempty"`

	// actions is the append-only log of what people did.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=200
	Actions []CaseAction `json:"actions,omitempty"`

	// resolution is required to close the Case.
	// +optional
	Resolution *Resolution `json:"resolution,omitempty"`

	// relatedResponses are later responses ("<touchpoint>/<id>") that the
	// opening rule's dedup merged into this Case instead of opening
	// another; the list only grows.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	RelatedResponses []string `json:"relatedResponses,omitempty"`
}

// Customer identifies whom a Case or response is about.
type Customer struct {
	// id of the customer in the company's systems.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ID string `json:"id"`

	// tier of the customer, for example Gold; selects the tier policy.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Tier string `json:"tier,omitempty"`

	// segment of the customer, for example "enterprise".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Segment string `json:"segment,omitempty"`

	// attributes of the customer, for example region, or contact details
	// (email, phone, name) that retention erases.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Attributes map[string]string `json:"attributes,omitempty"`
}

// CaseSource is the origin of a Case.
type CaseSource struct {
	// rule is the AlertRule that opened the Case.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Rule string `json:"rule,omitempty"`

	// ruleKind is the kind of that rule.
	// +optional
	RuleKind AlertKind `json:"ruleKind,omitempty"`

	// touchpoint that received the response.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Touchpoint string `json:"touchpoint,omitempty"`

	// responseID is the triggering response's id in the store.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ResponseID string `json:"responseID,omitempty"`

	// response is a snapshot of the triggering response.
	// +optional
	Response *ResponseSnapshot `json:"response,omitempty"`

	// prediction is set when the Case was opened on a predicted score of a
	// customer who was never asked (no response): what was predicted and
	// how accurate the model was.
	// +optional
	Prediction *PredictionSource `json:"prediction,omitempty"`
}

// PredictionSource is the predicted score a Case was opened on.
type PredictionSource struct {
	// interactionID is the interaction (customer and events) scored.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	InteractionID string `json:"interactionID"`

	// target is what was predicted: Detractor, BottomTwoBox or Mean.
	// +required
	Target PredictionTarget `json:"target"`

	// score is the prediction: a probability for Detractor and
	// BottomTwoBox, the expected answer for Mean.
	// +required
	Score float64 `json:"score"`

	// accuracy is the model's held-out AUC (probabilities) or R² (Mean)
	// when it scored.
	// +required
	Accuracy float64 `json:"accuracy"`

	// trainedAt is when the model was trained.
	// +required
	TrainedAt metav1.Time `json:"trainedAt"`
}

// ResponseSnapshot is a copy of a response at the time the Case opened.
type ResponseSnapshot struct {
	// answers by question id: numbers, booleans, strings or lists of
	// strings.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Answers map[string]apiextensionsv1.JSON `json:"answers,omitempty"`

	// comment of the response.
	// +optional
	// +kubebuilder:validation:MaxLength=20000
	Comment string `json:"comment,omitempty"`

	// sentiment of the comment from -1 (negative) to 1 (positive).
	// +optional
	Sentiment *float64 `json:"sentiment,omitempty"`

	// themes detected in the response.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	Themes []string `json:"themes,omitempty"`

	// metadata of the response (store, agent, channel...).
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Metadata map[string]string `json:"metadata,omitempty"`

	// submittedAt is when the customer answered.
	// +optional
	SubmittedAt *metav1.Time `json:"submittedAt,omitempty"`
}

// CaseAction is one entry of the action log.
type CaseAction struct {
	// at is when the action happened.
	// +required
	At metav1.Time `json:"at"`

	// by is the user who acted; admission checks it is the requesting user.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by"`

	// type of the action: Note, CustomerContacted, Reassigned, StateChanged
	// or Escalated.
	// +required
	Type ActionType `json:"type"`

	// text describing the action.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	Text string `json:"text,omitempty"`

	// timeSpent is the work the action took, for example 30m; reports
	// count it at the template's value.costPerHour.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	TimeSpent *Duration `json:"timeSpent,omitempty"`
}

// Resolution records how a Case ended.
type Resolution struct {
	// rootCause is one of the template's closure.rootCauses.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	RootCause string `json:"rootCause,omitempty"`

	// summary of what was done.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	Summary string `json:"summary,omitempty"`

	// customerRecovered says whether the customer is satisfied again.
	// +optional
	CustomerRecovered *bool `json:"customerRecovered,omitempty"`
}

// CaseStatus is the observed state of a Case.
type CaseStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Overdue, FirstResponseOverdue, Escalated.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// openedAt is when the controller first saw the Case.
	// +optional
	OpenedAt *metav1.Time `json:"openedAt,omitempty"`

	// dueAt is the closure deadline.
	// +optional
	DueAt *metav1.Time `json:"dueAt,omitempty"`

	// firstResponseDueAt is the first-response deadline.
	// +optional
	FirstResponseDueAt *metav1.Time `json:"firstResponseDueAt,omitempty"`

	// firstActionAt is when the first action was logged.
	// +optional
	FirstActionAt *metav1.Time `json:"firstActionAt,omitempty"`

	// closedAt is when the Case was closed.
	// +optional
	ClosedAt *metav1.Time `json:"closedAt,omitempty"`

	// timeToClose is closedAt minus openedAt.
	// +optional
	TimeToClose *Duration `json:"timeToClose,omitempty"`

	// escalations are the ladder steps that have run.
	// +optional
	// +listType=map
	// +listMapKey=step
	Escalations []EscalationRecord `json:"escalations,omitempty"`

	// notifications sent for this Case, newest last (the latest 50).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Notifications []NotificationRecord `json:"notifications,omitempty"`

	// pendingNotifications are the notifications lifecycle transitions owe
	// that are not delivered yet. Each is recorded here in the status write
	// that stores the transition, before it is delivered, and moves to
	// notifications once delivered (or failed), so a manager stopped in
	// between delivers it after its restart, once. Entries with dueAt are
	// scheduled for a future deadline and not due yet.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	PendingNotifications []PendingNotification `json:"pendingNotifications,omitempty"`

	// archivedAt is when the closed Case was archived to the store.
	// +optional
	ArchivedAt *metav1.Time `json:"archivedAt,omitempty"`

	// observedState is spec.state as of observedGeneration; a different
	// spec.state is a state change the controller has not yet acted on
	// (events, notifications, closedAt).
	// +optional
	ObservedState CaseState `json:"observedState,omitempty"`

	// observedAssignee is spec.assignee as of observedGeneration; a
	// different spec.assignee is an assignment not yet notified.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ObservedAssignee string `json:"observedAssignee,omitempty"`

	// knownEscalationSteps records when the controller first saw each step
	// of the template's escalation ladder for this Case (the Case's
	// openedAt for steps the template had when the Case opened). A step
	// runs only if its time (deadline plus after) is not earlier than the
	// time it became known: adding a step to a template never runs it
	// retroactively on Cases already past its time.
	// +optional
	// +listType=map
	// +listMapKey=step
	// +kubebuilder:validation:MaxItems=20
	KnownEscalationSteps []KnownEscalationStep `json:"knownEscalationSteps,omitempty"`
}

// KnownEscalationStep is when an escalation step became known to a Case.
type KnownEscalationStep struct {
	// step name from the template.
	Step string `json:"step"`
	// since is when the controller first saw the step for this Case.
	Since metav1.Time `json:"since"`
}

// EscalationRecord is a ladder step that ran.
type EscalationRecord struct {
	// step name from the template.
	Step string `json:"step"`
	// at is when it ran.
	At metav1.Time `json:"at"`
	// message says what it did.
	// +optional
	Message string `json:"message,omitempty"`
}

// NotificationRecord is one notification about a Case.
type NotificationRecord struct {
	// event that caused it.
	Event LifecycleEvent `json:"event"`
	// channel it went to.
	Channel string `json:"channel"`
	// time it was sent.
	Time metav1.Time `json:"time"`
	// outcome of the delivery.
	Outcome DeliveryOutcome `json:"outcome"`
	// key is the idempotency key of the message (case UID, event and step):
	// a retried reconcile finds it here and does not notify twice.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
	// message gives details: who the notification names, or why it failed
	// or was skipped.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// PendingNotification is one message a Case's transition owes one
// channel, as decided when the transition happened.
type PendingNotification struct {
	// key is the message's idempotency key (the transition's, or for a
	// message to one person through the template's peopleChannel,
	// "<key>/to/<name>").
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
	// event that caused it.
	Event LifecycleEvent `json:"event"`
	// channel to deliver to.
	// +kubebuilder:validation:MaxLength=253
	Channel string `json:"channel"`
	// headline says what happened ("is overdue"), for the title.
	// +kubebuilder:validation:MaxLength=512
	Headline string `json:"headline"`
	// note details it, for the text.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Note string `json:"note,omitempty"`
	// for names the people the transition notifies ("priya <priya@acme.example>").
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=512
	For []string `json:"for,omitempty"`
	// to is the one person a message through the peopleChannel goes to;
	// empty for a message to a channel.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	To string `json:"to,omitempty"`
	// at is when the transition happened (for a scheduled notification,
	// when it was scheduled).
	At metav1.Time `json:"at"`
	// dueAt marks a scheduled notification: one a time-driven transition
	// (overdue, a missed first response, an escalation step) will owe at
	// this deadline if the Case still waits then. It is recorded in the
	// status write that sets the deadline, so that at the deadline the
	// controller delivers it and records the transition and the delivery
	// in one write; it is dropped when the deadline changes or the Case no
	// longer waits. Empty on a notification due now.
	// +optional
	DueAt *metav1.Time `json:"dueAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cxcase,categories=cx
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.spec.title`
// +kubebuilder:printcolumn:name="Customer",type=string,JSONPath=`.spec.customer.id`
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.spec.severity`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Assignee",type=string,JSONPath=`.spec.assignee`
// +kubebuilder:printcolumn:name="Due",type=string,JSONPath=`.status.dueAt`,description="When the Case is due (RFC 3339, UTC); kubectl cx cases shows it as 'in 3h' or '2h overdue'"
// +kubebuilder:printcolumn:name="Overdue",type=string,JSONPath=`.status.conditions[?(@.type=="Overdue")].status`
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.spec.template`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Case is one customer issue to resolve: who it is about, what triggered it,
// who owns it, by when, what was done and how it ended.
type Case struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the Case as people work it.
	// +required
	Spec CaseSpec `json:"spec"`

	// status is computed by the controller.
	// +optional
	Status CaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CaseList is a list of Cases.
type CaseList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Case `json:"items"`
}

func init() {
	register(&Case{}, &CaseList{})
}
