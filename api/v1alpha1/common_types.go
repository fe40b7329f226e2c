package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeyReference points at one key of a Secret in the object's namespace.
// Credentials are only ever given this way, never inline.
type SecretKeyReference struct {
	// name of the Secret in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// SecretReference points at a whole Secret in the object's namespace.
type SecretReference struct {
	// name of the Secret in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TouchpointSelection selects SurveyTouchpoints of the same namespace by name,
// by label, or both (the union).
// +kubebuilder:validation:XValidation:rule="(has(self.names) && size(self.names) > 0) || has(self.selector)",message="touchpoints must list names or set a selector"
type TouchpointSelection struct {
	// names of SurveyTouchpoints in the same namespace.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=253
	Names []string `json:"names,omitempty"`

	// selector matches SurveyTouchpoints by label. An empty selector ({})
	// selects every touchpoint of the namespace.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// Severity of a Case.
// +kubebuilder:validation:Enum=Low;Normal;High;Urgent
type Severity string

// Severities, lowest first.
const (
	SeverityLow    Severity = "Low"
	SeverityNormal Severity = "Normal"
	SeverityHigh   Severity = "High"
	SeverityUrgent Severity = "Urgent"
)

// KPI is a customer-experience metric computed from answers.
// +kubebuilder:validation:Enum=NPS;CSAT;CES
type KPI string

// KPIs. Definitions in docs/design.md: NPS is % promoters (9-10) minus %
// detractors (0-6); CSAT is the % of top-two-box answers; CES is the mean.
const (
	KPINPS  KPI = "NPS"
	KPICSAT KPI = "CSAT"
	KPICES  KPI = "CES"
)

// DeliveryResult is the outcome of one delivery to a NotificationChannel.
type DeliveryResult struct {
	// channel is the NotificationChannel name.
	// +required
	Channel string `json:"channel"`

	// time of the attempt.
	// +required
	Time metav1.Time `json:"time"`

	// outcome of the attempt.
	// +required
	Outcome DeliveryOutcome `json:"outcome"`

	// message gives details, for example the receiver's error.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// DeliveryOutcome of a notification or report delivery.
// +kubebuilder:validation:Enum=Delivered;Failed;Skipped
type DeliveryOutcome string

// Delivery outcomes.
const (
	DeliveryDelivered DeliveryOutcome = "Delivered"
	DeliveryFailed    DeliveryOutcome = "Failed"
	DeliverySkipped   DeliveryOutcome = "Skipped"
)
