package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Channel is where a touchpoint meets the customer.
// +kubebuilder:validation:Enum=Web;Email;SMS;InApp;Kiosk;Phone;Chat;QRCode
type Channel string

// Channels.
const (
	ChannelWeb    Channel = "Web"
	ChannelEmail  Channel = "Email"
	ChannelSMS    Channel = "SMS"
	ChannelInApp  Channel = "InApp"
	ChannelKiosk  Channel = "Kiosk"
	ChannelPhone  Channel = "Phone"
	ChannelChat   Channel = "Chat"
	ChannelQRCode Channel = "QRCode"
)

// QuestionType decides how an answer is validated, typed in rule expressions
// and aggregated.
// +kubebuilder:validation:Enum=NPS;CSAT;CES;Rating;YesNo;Choice;Text
type QuestionType string

// Question types.
const (
	// QuestionNPS is "how likely are you to recommend", an integer 0-10.
	QuestionNPS QuestionType = "NPS"
	// QuestionCSAT is a satisfaction rating, an integer on 1-5 by default.
	QuestionCSAT QuestionType = "CSAT"
	// QuestionCES is a customer-effort score, an integer on 1-7 by default
	// (higher is easier).
	QuestionCES QuestionType = "CES"
	// QuestionRating is any other integer rating; it needs a scale.
	QuestionRating QuestionType = "Rating"
	// QuestionYesNo is a boolean answer.
	QuestionYesNo QuestionType = "YesNo"
	// QuestionChoice picks one (or, with allowMultiple, several) of choices.
	QuestionChoice QuestionType = "Choice"
	// QuestionText is free text.
	QuestionText QuestionType = "Text"
)

// StorageType selects where a touchpoint's collector stores responses.
// +kubebuilder:validation:Enum=Embedded;PostgreSQL
type StorageType string

// Storage types.
const (
	// StorageEmbedded is a SQLite file on the collector's volume (one replica).
	StorageEmbedded StorageType = "Embedded"
	// StoragePostgreSQL is a PostgreSQL database shared by many replicas and
	// by all touchpoints that name the same DSN.
	StoragePostgreSQL StorageType = "PostgreSQL"
)

// ContactScope is the set of surveys counted by contact-frequency rules.
// +kubebuilder:validation:Enum=Touchpoint;Program
type ContactScope string

// Contact scopes.
const (
	// ContactScopeTouchpoint counts only this touchpoint's invitations.
	ContactScopeTouchpoint ContactScope = "Touchpoint"
	// ContactScopeProgram counts the invitations of every touchpoint sharing
	// the same PostgreSQL store.
	ContactScopeProgram ContactScope = "Program"
)

// SurveyTouchpointSpec declares a listening post on the customer journey.
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || self.storage.type != 'Embedded' || !has(self.collector) || !has(self.collector.replicas) || self.collector.replicas == 1",message="collector.replicas must be 1 with the Embedded store (a SQLite file has one writer); set storage.type: PostgreSQL to run more replicas",fieldPath=".collector.replicas"
// +kubebuilder:validation:XValidation:rule="!has(self.prediction) || self.questions.exists(q, q.id == self.prediction.question && (self.prediction.target == 'Detractor' ? q.type == 'NPS' : (self.prediction.target == 'BottomTwoBox' ? q.type in ['CSAT', 'Rating'] : q.type in ['CES', 'Rating'])))",message="prediction.question must name a question of this touchpoint: an NPS question for target Detractor, a CSAT or Rating question for BottomTwoBox, a CES or Rating question for Mean",fieldPath=".prediction.question"
// +kubebuilder:validation:XValidation:rule="!has(self.distribution) || (has(self.invitations) && has(self.invitations.signingKeySecretRef))",message="distribution needs invitations.signingKeySecretRef: the links it sends carry signed invitation tokens",fieldPath=".distribution"
// +kubebuilder:validation:XValidation:rule="!has(self.survey) || !has(self.survey.publicLink) || !self.survey.publicLink.enabled || !has(self.invitations) || !self.invitations.requireToken",message="survey.publicLink cannot be enabled while invitations.requireToken is true: the public link has no invitation token",fieldPath=".survey.publicLink"
// +kubebuilder:validation:XValidation:rule="!has(self.contactPolicy) || !has(self.contactPolicy.scope) || self.contactPolicy.scope != 'Program' || (has(self.storage) && self.storage.type == 'PostgreSQL')",message="contactPolicy.scope: Program needs storage.type: PostgreSQL, the store the program's touchpoints share",fieldPath=".contactPolicy.scope"
type SurveyTouchpointSpec struct {
	// displayName is the touchpoint's name for people, shown in reports.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	DisplayName string `json:"displayName,omitempty"`

	// journeyStage names the step of the customer journey this touchpoint
	// listens at, for example "post-installation" or "renewal".
	// +optional
	// +kubebuilder:validation:MaxLength=100
	JourneyStage string `json:"journeyStage,omitempty"`

	// channel is where customers answer: Web, Email, SMS, InApp, Kiosk,
	// Phone, Chat or QRCode.
	// +required
	Channel Channel `json:"channel"`

	// questions asked, in order. Each id is unique within the touchpoint and
	// is how rules refer to the answer (answers.<id>).
	// +required
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(q, self.exists_one(o, o.id == q.id))",message="questions: every question id must be unique within the touchpoint"
	Questions []Question `json:"questions"`

	// comment configures the free-text comment that comes with a response.
	// +optional
	// +kubebuilder:default={enabled: true, maxLength: 2000}
	Comment *CommentSpec `json:"comment,omitempty"`

	// staffDirectory lets a Recognition rule reach the employee a response
	// praises (the metadata employee, agent, technician, associate or
	// staff) with a message of their own.
	// +optional
	StaffDirectory *StaffDirectory `json:"staffDirectory,omitempty"`

	// contactPolicy protects customers from survey fatigue: sampling,
	// quarantine after a survey and a cap on invitations per window.
	// +optional
	ContactPolicy *ContactPolicy `json:"contactPolicy,omitempty"`

	// invitations configures signed, expiring survey tokens handed out by
	// the collector's /v1/invitations endpoint.
	// +optional
	Invitations *InvitationSpec `json:"invitations,omitempty"`

	// distribution invites customers after business events (POST
	// /v1/events): which events, after what delay, by email or SMS, with
	// which message, one reminder, quiet hours.
	// +optional
	Distribution *DistributionSpec `json:"distribution,omitempty"`

	// survey configures the hosted survey page: its texts, their
	// translations, and the public link.
	// +optional
	Survey *SurveyPageSpec `json:"survey,omitempty"`

	// collector sizes the ingestion service deployed for this touchpoint.
	// +optional
	// +kubebuilder:default={replicas: 1}
	Collector *CollectorSpec `json:"collector,omitempty"`

	// storage says where responses are kept.
	// +optional
	// +kubebuilder:default={type: Embedded}
	Storage *StorageSpec `json:"storage,omitempty"`

	// retention says how long responses and customer contact details are
	// kept.
	// +optional
	// +kubebuilder:default={responses: "8760h", contactDetails: "2160h"}
	Retention *RetentionSpec `json:"retention,omitempty"`

	// textAnalytics configures sentiment scoring and theme detection on
	// comments and text answers.
	// +optional
	// +kubebuilder:default={sentiment: true}
	TextAnalytics *TextAnalyticsSpec `json:"textAnalytics,omitempty"`

	// prediction declares a model that predicts the answer of customers
	// who were never asked, from business events; see PredictionSpec.
	// +optional
	Prediction *PredictionSpec `json:"prediction,omitempty"`
}

// Question is one question of a touchpoint.
// +kubebuilder:validation:XValidation:rule="!has(self.scale) || self.scale.min < self.scale.max",message="scale.min must be below scale.max",fieldPath=".scale"
// +kubebuilder:validation:XValidation:rule="self.type != 'NPS' || !has(self.scale) || (self.scale.min == 0 && self.scale.max == 10)",message="an NPS question is always on the 0-10 scale; remove scale or set min: 0, max: 10",fieldPath=".scale"
// +kubebuilder:validation:XValidation:rule="self.type != 'Rating' || has(self.scale)",message="a Rating question needs a scale (min and max)",fieldPath=".scale",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.scale) || self.type in ['NPS', 'CSAT', 'CES', 'Rating']",message="scale applies only to NPS, CSAT, CES and Rating questions",fieldPath=".scale",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="(self.type == 'Choice') == (has(self.choices) && size(self.choices) > 0)",message="choices must be set for a Choice question, and only for a Choice question",fieldPath=".choices"
// +kubebuilder:validation:XValidation:rule="!has(self.allowMultiple) || !self.allowMultiple || self.type == 'Choice'",message="allowMultiple applies only to Choice questions",fieldPath=".allowMultiple",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.maxLength) || self.type == 'Text'",message="maxLength applies only to Text questions",fieldPath=".maxLength",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.kpi) || (self.type in ['NPS', 'CSAT', 'CES'] ? self.kpi == self.type : (self.type == 'Rating' && self.kpi in ['CSAT', 'CES']))",message="kpi: an NPS, CSAT or CES question feeds only the KPI of its own type, a Rating question may feed CSAT or CES, and YesNo, Choice and Text questions feed no KPI",fieldPath=".kpi"
// +kubebuilder:validation:XValidation:rule="!has(self.driver) || !self.driver || self.type in ['Rating', 'CSAT', 'CES']",message="driver applies only to Rating, CSAT and CES questions",fieldPath=".driver",reason=FieldValueForbidden
type Question struct {
	// id identifies the answer in responses and rule expressions
	// (answers.<id>): a letter followed by letters, digits or underscores.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_]*$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while'])",message="id is a reserved word of the rule language; pick another id"
	ID string `json:"id"`

	// text of the question as the customer sees it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=500
	Text string `json:"text"`

	// type of the question: NPS (0-10), CSAT (1-5 by default), CES (1-7 by
	// default), Rating (integer on scale), YesNo, Choice or Text.
	// +required
	Type QuestionType `json:"type"`

	// scale of a numeric question. Defaults: NPS 0-10, CSAT 1-5, CES 1-7;
	// a Rating question must set it.
	// +optional
	Scale *Scale `json:"scale,omitempty"`

	// choices of a Choice question.
	// +optional
	// +listType=map
	// +listMapKey=value
	// +kubebuilder:validation:MaxItems=50
	Choices []Choice `json:"choices,omitempty"`

	// allowMultiple lets a Choice question take a list of values.
	// +optional
	AllowMultiple bool `json:"allowMultiple,omitempty"`

	// maxLength of a Text answer in characters.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxLength *int32 `json:"maxLength,omitempty"`

	// required rejects a response without an answer to this question.
	// +optional
	Required bool `json:"required,omitempty"`

	// kpi names the KPI this question feeds in reports and aggregate rules.
	// NPS, CSAT and CES questions feed the KPI of their type by default; a
	// Rating question may feed CSAT (top-two-box of its scale) or CES (mean).
	// +optional
	KPI KPI `json:"kpi,omitempty"`

	// driver marks a Rating, CSAT or CES question as an attribute whose
	// influence on the KPI the key-driver analysis of reports measures.
	// +optional
	Driver bool `json:"driver,omitempty"`
}

// Scale of a numeric question; answers are integers from min to max.
type Scale struct {
	// min is the lowest answer.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Min int32 `json:"min"`

	// max is the highest answer.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Max int32 `json:"max"`

	// minLabel describes the lowest answer, for example "Very difficult".
	// +optional
	// +kubebuilder:validation:MaxLength=100
	MinLabel string `json:"minLabel,omitempty"`

	// maxLabel describes the highest answer, for example "Very easy".
	// +optional
	// +kubebuilder:validation:MaxLength=100
	MaxLabel string `json:"maxLabel,omitempty"`
}

// Choice is one answer of a Choice question.
type Choice struct {
	// value stored in the response and used in rules.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Value string `json:"value"`

	// label shown to the customer; defaults to value.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Label string `json:"label,omitempty"`
}

// StaffDirectory maps the employees responses name to their addresses.
type StaffDirectory struct {
	// channel is the email NotificationChannel (same namespace) the praise
	// goes through; its own to list is not used for it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Channel string `json:"channel"`

	// people by the id the response metadata gives (for example a
	// technician id).
	// +required
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	People []StaffMember `json:"people"`
}

// StaffMember is one employee of a StaffDirectory.
type StaffMember struct {
	// id as responses name the employee (metadata employee, agent,
	// technician, associate or staff).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ID string `json:"id"`

	// email of the employee.
	// +required
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email"`
}

// CommentSpec configures the free-text comment of a response.
type CommentSpec struct {
	// enabled accepts a comment with each response.
	// +optional
	// +kubebuilder:default=true
	Enabled bool `json:"enabled"`

	// maxLength of the comment in characters.
	// +optional
	// +kubebuilder:default=2000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20000
	MaxLength int32 `json:"maxLength,omitempty"`
}

// ContactPolicy limits how often one customer is asked.
type ContactPolicy struct {
	// samplingRate is the share of eligible customers invited, from 0 to 1
	// (1 invites everyone eligible).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	SamplingRate *float64 `json:"samplingRate,omitempty"`

	// quarantine is how long a customer is not invited again after being
	// invited, as a Go duration such as 720h (30 days).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="quarantine must be a positive duration such as 720h"
	Quarantine *Duration `json:"quarantine,omitempty"`

	// maxInvitations caps the invitations per customer within a window.
	// +optional
	MaxInvitations *InvitationCap `json:"maxInvitations,omitempty"`

	// scope of the counting: Touchpoint (this touchpoint only) or Program
	// (every touchpoint sharing this PostgreSQL store).
	// +optional
	// +kubebuilder:default=Touchpoint
	Scope ContactScope `json:"scope,omitempty"`
}

// InvitationCap is "at most count invitations per window".
type InvitationCap struct {
	// count of invitations allowed per customer within window.
	// +required
	// +kubebuilder:validation:Minimum=1
	Count int32 `json:"count"`

	// window over which invitations are counted, for example 2160h (90 days).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="maxInvitations.window must be a positive duration such as 2160h"
	Window Duration `json:"window"`
}

// InvitationSpec configures signed survey tokens.
type InvitationSpec struct {
	// requireToken rejects (401) a response without a valid, unexpired,
	// unused invitation token for its customer.
	// +optional
	RequireToken bool `json:"requireToken,omitempty"`

	// tokenTTL is how long an invitation token stays valid.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="invitations.tokenTTL must be a positive duration such as 168h"
	TokenTTL *Duration `json:"tokenTTL,omitempty"`

	// signingKeySecretRef is the Secret key holding the HMAC key that signs
	// tokens (at least 32 random bytes).
	// +required
	SigningKeySecretRef SecretKeyReference `json:"signingKeySecretRef"`
}

// CollectorSpec sizes the ingestion service.
type CollectorSpec struct {
	// replicas of the collector. More than one needs storage.type PostgreSQL.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the collector container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// rateLimit is the per-client request rate above which the public
	// surface answers 429 (default 20 per second, burst 40).
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// trustedProxies are the CIDRs of the proxies in front of the
	// collector (an Ingress controller, a load balancer). For a request
	// from one of them the client is the last address in X-Forwarded-For
	// that is not a trusted proxy; otherwise it is the connection's
	// address, and X-Forwarded-For is ignored.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="trustedProxies must be CIDRs such as 10.0.0.0/8 or fd00::/8"
	TrustedProxies []string `json:"trustedProxies,omitempty"`

	// profiling serves Go's runtime profiles (CPU, heap, goroutines) under
	// /debug/pprof/ on the collector's private surface (port 8081), behind
	// its bearer token, for finding where a collector spends its time. Off
	// by default: the goroutine and heap profiles name the code paths
	// under way.
	// +optional
	Profiling bool `json:"profiling,omitempty"`
}

// RateLimit is a token bucket.
type RateLimit struct {
	// requestsPerSecond allowed per client on average.
	// +required
	// +kubebuilder:validation:Minimum=1
	RequestsPerSecond int32 `json:"requestsPerSecond"`

	// burst allowed above the average.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Burst int32 `json:"burst,omitempty"`
}

// StorageSpec says where responses are kept.
// +kubebuilder:validation:XValidation:rule="self.type != 'PostgreSQL' || has(self.postgres)",message="storage.postgres (the DSN Secret) is required when storage.type is PostgreSQL",fieldPath=".postgres",reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="self.type != 'Embedded' || !has(self.postgres)",message="storage.postgres is set but storage.type is Embedded; set storage.type: PostgreSQL or remove storage.postgres",fieldPath=".postgres",reason=FieldValueForbidden
type StorageSpec struct {
	// type of the store: Embedded (SQLite on the collector's volume) or
	// PostgreSQL.
	// +optional
	// +kubebuilder:default=Embedded
	Type StorageType `json:"type,omitempty"`

	// embedded configures the volume of the Embedded store.
	// +optional
	Embedded *EmbeddedStorage `json:"embedded,omitempty"`

	// postgres configures the PostgreSQL store.
	// +optional
	Postgres *PostgresStorage `json:"postgres,omitempty"`
}

// EmbeddedStorage is the collector's volume.
type EmbeddedStorage struct {
	// size of the PersistentVolumeClaim.
	// +optional
	// +kubebuilder:default="1Gi"
	Size *resource.Quantity `json:"size,omitempty"`

	// storageClassName of the PersistentVolumeClaim; the cluster default
	// when empty.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// PostgresStorage is a PostgreSQL database.
type PostgresStorage struct {
	// dsnSecretRef is the Secret key holding the connection string
	// (postgres://user:password@host:5432/db?sslmode=require).
	// +required
	DSNSecretRef SecretKeyReference `json:"dsnSecretRef"`
}

// RetentionSpec bounds how long data is kept.
type RetentionSpec struct {
	// responses older than this are deleted, with the business events and
	// predicted scores that occurred before; for example 8760h (one year).
	// +optional
	// +kubebuilder:default="8760h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="retention.responses must be a positive duration such as 8760h"
	Responses *Duration `json:"responses,omitempty"`

	// contactDetails: customer contact attributes (email, phone, name) are
	// erased from responses older than this, for example 2160h (90 days).
	// +optional
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="retention.contactDetails must be a positive duration such as 2160h"
	ContactDetails *Duration `json:"contactDetails,omitempty"`

	// contactAttributes are customer attribute keys that hold contact
	// details, besides the built-in ones (email, phone, mobile, name,
	// first/last/full name, address and their variants). Keys match
	// whatever their case and punctuation ("E-Mail" is email). They are
	// erased with contactDetails, never copied into Cases, and refused as
	// groupBy.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=100
	ContactAttributes []string `json:"contactAttributes,omitempty"`

	// archive: closed Cases archived in the touchpoint's store are deleted
	// this long after they closed; the responses' retention when unset.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="retention.archive must be a positive duration such as 730d"
	Archive *Duration `json:"archive,omitempty"`
}

// TextAnalyticsSpec configures comment analysis.
type TextAnalyticsSpec struct {
	// sentiment scores each comment from -1 (negative) to 1 (positive).
	// +optional
	// +kubebuilder:default=true
	Sentiment bool `json:"sentiment"`

	// themes detected by keywords in comments and text answers; rules see
	// them as themes and has_theme('<name>').
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Themes []Theme `json:"themes,omitempty"`
}

// Theme is a topic recognised by keywords.
type Theme struct {
	// name of the theme, for example "refund".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$`
	Name string `json:"name"`

	// keywords or phrases that mark the theme, matched case-insensitively
	// on word boundaries.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=100
	Keywords []string `json:"keywords"`
}

// SurveyTouchpointStatus is the observed state of a touchpoint's collector.
type SurveyTouchpointStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpoint is the collector's in-cluster URL.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// readyReplicas of the collector.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// responses counts stored responses, as read from the collector.
	// +optional
	Responses *ResponseCounts `json:"responses,omitempty"`

	// invitations counts the invitations sent on business events, as read
	// from the collector.
	// +optional
	Invitations *InvitationCounts `json:"invitations,omitempty"`

	// outbox shows actions (cases, notifications) waiting for dispatch.
	// +optional
	Outbox *OutboxStatus `json:"outbox,omitempty"`

	// prediction is the quality of the current prediction model; the
	// PredictionReady condition says whether it is in use.
	// +optional
	Prediction *PredictionStatus `json:"prediction,omitempty"`
}

// ResponseCounts summarises stored responses.
type ResponseCounts struct {
	// total responses stored.
	Total int64 `json:"total"`
	// last24h responses the collector received in the last 24 hours (an
	// import of old responses counts when it arrives): is the touchpoint
	// getting traffic?
	Last24h int64 `json:"last24h"`
	// lastResponseTime is when the collector received the newest response.
	// +optional
	LastResponseTime *metav1.Time `json:"lastResponseTime,omitempty"`
}

// OutboxStatus describes the collector's transactional outbox.
type OutboxStatus struct {
	// depth is the number of actions not yet dispatched.
	Depth int64 `json:"depth"`
	// oldestAge is the age of the oldest undispatched action.
	// +optional
	OldestAge *Duration `json:"oldestAge,omitempty"`

	// lastError is the collector's last failed attempt to dispatch an
	// action (a Case the API server refused, a channel that failed).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`

	// lastErrorTime is when it failed.
	// +optional
	LastErrorTime *metav1.Time `json:"lastErrorTime,omitempty"`

	// refusals counts the attempts refused in a row (403, 422 or another
	// permanent error) since the last success.
	// +optional
	Refusals int32 `json:"refusals,omitempty"`

	// blocked is true when the outbox cannot drain: its oldest action is
	// older than the manager's threshold (--outbox-blocked-after, 15m by
	// default) or attempts are refused repeatedly. Ready is then False
	// with reason OutboxBlocked and the last error.
	// +optional
	Blocked bool `json:"blocked,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tp;touchpoint,categories=cx
// +kubebuilder:printcolumn:name="Channel",type=string,JSONPath=`.spec.channel`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Responses",type=integer,JSONPath=`.status.responses.total`
// +kubebuilder:printcolumn:name="Outbox",type=integer,JSONPath=`.status.outbox.depth`
// +kubebuilder:printcolumn:name="Blocked",type=boolean,JSONPath=`.status.outbox.blocked`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// SurveyTouchpoint is a listening post on the customer journey: where and
// what customers are asked, and the collector that receives their answers.
type SurveyTouchpoint struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the touchpoint.
	// +required
	Spec SurveyTouchpointSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status SurveyTouchpointStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// SurveyTouchpointList is a list of SurveyTouchpoints.
type SurveyTouchpointList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SurveyTouchpoint `json:"items"`
}

func init() {
	register(&SurveyTouchpoint{}, &SurveyTouchpointList{})
}
