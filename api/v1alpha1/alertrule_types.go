package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AlertKind says what an alert is for.
// +kubebuilder:validation:Enum=Escalation;Recognition
type AlertKind string

// Alert kinds.
const (
	// AlertEscalation is a problem to follow up: it may open a Case.
	AlertEscalation AlertKind = "Escalation"
	// AlertRecognition is praise ("wow" alert) sent to the people named in
	// the response; it never opens a Case.
	AlertRecognition AlertKind = "Recognition"
)

// AggregateMetric is what an aggregate rule computes over a window.
// +kubebuilder:validation:Enum=NPS;CSAT;CES;ResponseCount;Sentiment
type AggregateMetric string

// Aggregate metrics.
const (
	AggregateNPS           AggregateMetric = "NPS"
	AggregateCSAT          AggregateMetric = "CSAT"
	AggregateCES           AggregateMetric = "CES"
	AggregateResponseCount AggregateMetric = "ResponseCount"
	AggregateSentiment     AggregateMetric = "Sentiment"
)

// AlertRuleSpec declares when feedback needs action and what the action is.
// +kubebuilder:validation:XValidation:rule="has(self.condition) || has(self.aggregate)",message="set condition (a CEL expression evaluated on every response) or aggregate (a metric evaluated over a window)",fieldPath=".condition",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.condition) || !has(self.aggregate)",message="set condition (evaluated on every response) or aggregate (evaluated over a window), not both",fieldPath=".aggregate",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="self.kind != 'Recognition' || !has(self.actions.openCase)",message="actions.openCase: a Recognition rule sends praise and opens no case; remove openCase or use kind: Escalation",fieldPath=".actions.openCase",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.dedup) || has(self.actions.openCase)",message="dedup applies to cases: set actions.openCase or remove dedup",fieldPath=".dedup",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.dedup) || has(self.condition)",message="dedup applies to per-response rules (condition), not to aggregate rules",fieldPath=".dedup",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.aggregate) || !has(self.actions.notify) || self.actions.notify.all(n, !has(n.digest))",message="actions.notify[].digest groups the matches of per-response rules (condition); an aggregate rule sends one message per transition: remove digest",fieldPath=".actions.notify",reason=FieldValueForbidden
type AlertRuleSpec struct {
	// kind is Escalation (a problem to follow up) or Recognition (praise for
	// the frontline, a "wow" alert).
	// +optional
	// +kubebuilder:default=Escalation
	Kind AlertKind `json:"kind,omitempty"`

	// description says why the rule exists; it is included in notifications.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Description string `json:"description,omitempty"`

	// touchpoints whose responses the rule watches.
	// +required
	Touchpoints TouchpointSelection `json:"touchpoints"`

	// condition is a CEL expression evaluated on every response; the rule
	// matches when it is true. Variables: answers.<questionId> (typed by the
	// question: int for NPS/CSAT/CES/Rating, bool for YesNo, string for
	// Choice and Text, list(string) for multiple Choice), comment (string),
	// sentiment (double, -1..1), themes (list(string)), customer (id, tier,
	// segment, attributes), metadata (map(string, string)), touchpoint
	// (string) and submittedAt (timestamp). Functions: has_answer('id'),
	// has_theme('name'). Example: answers.completed == false.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Condition string `json:"condition,omitempty"`

	// aggregate evaluates a metric over a time window instead of each
	// response.
	// +optional
	Aggregate *AggregateCondition `json:"aggregate,omitempty"`

	// actions taken when the rule matches or fires.
	// +required
	Actions AlertActions `json:"actions"`

	// dedup keeps one open Case per key: while an open Case from the same
	// template for the same key exists within the window, a new match is
	// added to it as a related response instead of opening another.
	// +optional
	Dedup *DedupSpec `json:"dedup,omitempty"`

	// throttle caps the Cases this rule opens.
	// +optional
	Throttle *ThrottleSpec `json:"throttle,omitempty"`

	// suspend pauses the rule without deleting it.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// AggregateCondition is a condition on a metric computed over a window.
// +kubebuilder:validation:XValidation:rule="!has(self.question) || self.metric in ['NPS', 'CSAT', 'CES']",message="aggregate.question applies only to the NPS, CSAT and CES metrics",fieldPath=".question",reason=FieldValueForbidden
type AggregateCondition struct {
	// metric computed over the window: NPS, CSAT, CES, ResponseCount or
	// Sentiment (mean comment sentiment).
	// +required
	Metric AggregateMetric `json:"metric"`

	// question id the metric is computed from; by default every question
	// feeding that KPI in the selected touchpoints.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Question string `json:"question,omitempty"`

	// window the metric covers, ending now, for example 24h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="aggregate.window must be a positive duration such as 24h"
	Window Duration `json:"window"`

	// every is how often the manager evaluates the rule.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && (self.matches('[1-9][0-9.]*[dw]') || duration(self) >= duration('10s'))",message="aggregate.every must be at least 10s"
	Every *Duration `json:"every,omitempty"`

	// minResponses below which the window is not evaluated (too few answers
	// to mean anything).
	// +optional
	// +kubebuilder:default=30
	// +kubebuilder:validation:Minimum=1
	MinResponses int32 `json:"minResponses,omitempty"`

	// condition is a CEL expression over value (double, this window),
	// previous (double, the window before), delta (value - previous),
	// count (int, responses in the window) and group (string, with
	// groupBy). Example: value < 30.0 || delta < -10.0.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Condition string `json:"condition"`

	// groupBy evaluates the condition per group: metadata.<key>,
	// customer.tier, customer.segment or customer.attributes.<key>.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^(metadata\.[A-Za-z0-9_-]+|customer\.tier|customer\.segment|customer\.attributes\.[A-Za-z0-9_-]+)$`
	GroupBy string `json:"groupBy,omitempty"`
}

// AlertActions are what happens when a rule matches.
// +kubebuilder:validation:XValidation:rule="(has(self.notify) && size(self.notify) > 0) || has(self.openCase)",message="actions must notify at least one channel (actions.notify) or open a case (actions.openCase)"
type AlertActions struct {
	// notify sends a message to these NotificationChannels.
	// +optional
	// +listType=map
	// +listMapKey=channel
	// +kubebuilder:validation:MaxItems=20
	Notify []NotifyAction `json:"notify,omitempty"`

	// openCase opens a Case from a CaseTemplate.
	// +optional
	OpenCase *OpenCaseAction `json:"openCase,omitempty"`
}

// NotifyAction sends to one channel.
type NotifyAction struct {
	// channel is the NotificationChannel name in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Channel string `json:"channel"`

	// digest groups this channel's messages: instead of one message per
	// matching response, the channel gets at most one message per interval
	// listing every response that matched in it. Each match is counted
	// once, however often its response is retried. Without digest, every
	// match is sent as it happens. Only for rules with a condition: an
	// aggregate rule already sends one message per transition.
	// +optional
	Digest *NotifyDigest `json:"digest,omitempty"`
}

// NotifyDigest sends a channel one message per interval with every match
// of the interval in it.
type NotifyDigest struct {
	// every is the interval, at least 1m, for example 15m, 1h or 1d.
	// Intervals are aligned on the clock (an hourly digest covers 09:00 to
	// 10:00 UTC) and a digest is sent when its interval ends, only when
	// something matched.
	// +required
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && (self.matches('[1-9][0-9.]*[dw]') || duration(self) >= duration('1m'))",message="digest.every must be at least 1m, for example 15m, 1h or 1d"
	Every Duration `json:"every"`
}

// OpenCaseAction opens a Case.
type OpenCaseAction struct {
	// template is the CaseTemplate name in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Template string `json:"template"`

	// title of the Case; by default the rule's description or name.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title,omitempty"`
}

// DedupSpec merges matches with the same key into one open Case.
type DedupSpec struct {
	// key is a CEL expression over the response giving the dedup key, for
	// example customer.id.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key"`

	// window within which an open Case absorbs new matches, for example 72h.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="dedup.window must be a positive duration such as 72h"
	Window Duration `json:"window"`
}

// ThrottleSpec caps the Cases opened by a rule.
type ThrottleSpec struct {
	// maxCasesPerHour opened by this rule; past it the rule reports
	// Throttled and one notification says so.
	// +required
	// +kubebuilder:validation:Minimum=1
	MaxCasesPerHour int32 `json:"maxCasesPerHour"`
}

// AlertRuleStatus is the observed state of a rule.
type AlertRuleStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (False with reason InvalidExpression and the
	// compiler's message when the rule does not compile), Throttled, Firing.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// selectedTouchpoints are the touchpoints the rule currently watches.
	// +optional
	// +listType=set
	SelectedTouchpoints []string `json:"selectedTouchpoints,omitempty"`

	// matches counts responses (or evaluations) that matched.
	// +optional
	Matches int64 `json:"matches,omitempty"`

	// lastMatchTime is when the rule last matched.
	// +optional
	LastMatchTime *metav1.Time `json:"lastMatchTime,omitempty"`

	// casesOpened counts Cases opened by this rule.
	// +optional
	CasesOpened int64 `json:"casesOpened,omitempty"`

	// lastEvaluationTime of an aggregate rule.
	// +optional
	LastEvaluationTime *metav1.Time `json:"lastEvaluationTime,omitempty"`

	// firing lists the groups (one entry without group when not grouped)
	// whose aggregate condition is breached.
	// +optional
	// +listType=atomic
	Firing []FiringGroup `json:"firing,omitempty"`
	// pendingEffects are the notifications and Cases that firing and
	// resolved groups owe and that are not done yet. An effect is recorded
	// here in the same write as the transition that owes it, before it is
	// performed, and removed once it is done (or failed for good), so a
	// manager stopped at any point performs it after its restart, once.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MaxItems=256
	PendingEffects []PendingEffect `json:"pendingEffects,omitempty"`
}

// PendingEffect is one notification or Case an aggregate transition owes.
type PendingEffect struct {
	// key identifies the effect, deterministically: the message's
	// idempotency key and the channel ("<key>@<channel>"), or
	// "case/<name>" for a Case.
	// +kubebuilder:validation:MaxLength=512
	Key string `json:"key"`
	// channel is the NotificationChannel to notify; empty for a Case.
	// +optional
	Channel string `json:"channel,omitempty"`
	// case is the name of the Case to open; empty for a notification.
	// +optional
	Case string `json:"case,omitempty"`
	// group is the firing group as the transition saw it.
	Group FiringGroup `json:"group"`
	// resolved is true when the group stopped firing (a Resolved message).
	// +optional
	Resolved bool `json:"resolved,omitempty"`
	// at is when the transition happened.
	At metav1.Time `json:"at"`
	// attempts counts the attempts that failed for a reason a retry can
	// fix.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// lastError is the last failure a retry can fix, as the manager saw it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// FiringGroup is a breached aggregate condition.
type FiringGroup struct {
	// group value, empty when the rule has no groupBy.
	// +optional
	Group string `json:"group,omitempty"`
	// groupBy the group was found under (spec.aggregate.groupBy at the
	// time): a group found under another groupBy resolves.
	// +optional
	GroupBy string `json:"groupBy,omitempty"`
	// since is when the breach began.
	Since metav1.Time `json:"since"`
	// value of the metric at the last evaluation.
	Value float64 `json:"value"`
	// previous value (the window before).
	// +optional
	Previous *float64 `json:"previous,omitempty"`
	// count of responses in the window.
	Count int64 `json:"count"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ar;alert,categories=cx
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Matches",type=integer,JSONPath=`.status.matches`
// +kubebuilder:printcolumn:name="Cases",type=integer,JSONPath=`.status.casesOpened`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AlertRule says which feedback needs action (a condition on one response,
// or on an aggregate over a window) and what to do: notify channels, open a
// Case.
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name: an AlertRule name may have at most 63 characters, because the Cases it opens carry it in the label cx.cxloop.io/rule; choose a shorter name"
type AlertRule struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the rule.
	// +required
	Spec AlertRuleSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status AlertRuleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AlertRuleList is a list of AlertRules.
type AlertRuleList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertRule `json:"items"`
}

func init() {
	register(&AlertRule{}, &AlertRuleList{})
}
