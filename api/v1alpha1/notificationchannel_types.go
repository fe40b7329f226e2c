package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChannelType is the kind of destination.
// +kubebuilder:validation:Enum=Email;Slack;Teams;Webhook;SMS
type ChannelType string

// Channel types.
const (
	ChannelTypeEmail   ChannelType = "Email"
	ChannelTypeSlack   ChannelType = "Slack"
	ChannelTypeTeams   ChannelType = "Teams"
	ChannelTypeWebhook ChannelType = "Webhook"
	// ChannelTypeSMS sends text messages to customers (survey invitations);
	// it carries no staff notifications.
	ChannelTypeSMS ChannelType = "SMS"
)

// SMTPSecurity is how the SMTP connection is protected.
// +kubebuilder:validation:Enum=StartTLS;TLS;None
type SMTPSecurity string

// SMTP security modes.
const (
	// SMTPStartTLS upgrades a plain connection (port 587); required.
	SMTPStartTLS SMTPSecurity = "StartTLS"
	// SMTPTLS connects with implicit TLS (port 465).
	SMTPTLS SMTPSecurity = "TLS"
	// SMTPNone sends in clear text; only for relays on a trusted network.
	SMTPNone SMTPSecurity = "None"
)

// NotificationChannelSpec says where messages go. Set the block matching
// type and no other. Credentials are only ever read from Secrets.
// +kubebuilder:validation:XValidation:rule="(self.type == 'Email') == has(self.email)",message="email must be set when type is Email, and only then",fieldPath=".email"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Slack') == has(self.slack)",message="slack must be set when type is Slack, and only then",fieldPath=".slack"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Teams') == has(self.teams)",message="teams must be set when type is Teams, and only then",fieldPath=".teams"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Webhook') == has(self.webhook)",message="webhook must be set when type is Webhook, and only then",fieldPath=".webhook"
// +kubebuilder:validation:XValidation:rule="(self.type == 'SMS') == has(self.sms)",message="sms must be set when type is SMS, and only then",fieldPath=".sms"
type NotificationChannelSpec struct {
	// type of the channel: Email, Slack, Teams, Webhook, or SMS (for
	// customers' survey invitations only).
	// +required
	Type ChannelType `json:"type"`

	// email sends over SMTP.
	// +optional
	Email *EmailChannel `json:"email,omitempty"`

	// slack posts to a Slack incoming webhook (Block Kit).
	// +optional
	Slack *SlackChannel `json:"slack,omitempty"`

	// teams posts an Adaptive Card to a Microsoft Teams workflow webhook.
	// +optional
	Teams *TeamsChannel `json:"teams,omitempty"`

	// webhook posts JSON signed per the Standard Webhooks convention.
	// +optional
	Webhook *WebhookChannel `json:"webhook,omitempty"`

	// sms sends text messages through an HTTP SMS gateway.
	// +optional
	SMS *SMSChannel `json:"sms,omitempty"`

	// rateLimit caps messages sent per minute; the rest wait.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=6000
	RateLimitPerMinute int32 `json:"rateLimitPerMinute,omitempty"`

	// allowPrivateDestinations permits URLs and SMTP hosts that resolve to
	// loopback, link-local or private (cluster-internal) addresses, which
	// are refused by default.
	// +optional
	AllowPrivateDestinations bool `json:"allowPrivateDestinations,omitempty"`
}

// SMSChannel sends text messages through an HTTP SMS gateway speaking the
// Twilio-style Messages API: a POST of the form fields To, From and Body to
// url with HTTP basic authentication (account id and token), answered 2xx
// when accepted. Each request carries an Idempotency-Key header (and
// I-Twilio-Idempotency-Token) that stays the same on retries.
type SMSChannel struct {
	// url of the gateway's Messages resource, for example
	// https://api.twilio.com/2010-04-01/Accounts/AC.../Messages.json.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url"`

	// from is the sender: an E.164 number such as +14155550100, or the
	// gateway's sender id.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	From string `json:"from"`

	// credentialsSecretRef names a Secret with keys username (the account
	// id) and password (the auth token).
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`
}

// EmailChannel sends email over SMTP.
type EmailChannel struct {
	// smtp server to send through.
	// +required
	SMTP SMTPServer `json:"smtp"`

	// from address of the messages.
	// +required
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^([^<>]*<)?[^@\s<>]+@[^@\s<>]+>?$`
	From string `json:"from"`

	// to addresses that receive every message sent to the channel, except
	// messages addressed to people (a CaseTemplate's peopleChannel), which
	// go to those people only.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:Pattern=`^[^@\s]+@[^@\s]+$`
	To []string `json:"to,omitempty"`
}

// SMTPServer is an SMTP submission server.
type SMTPServer struct {
	// host name of the server.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// port of the server.
	// +optional
	// +kubebuilder:default=587
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// security: StartTLS (default), TLS or None.
	// +optional
	// +kubebuilder:default=StartTLS
	Security SMTPSecurity `json:"security,omitempty"`

	// credentialsSecretRef names a Secret with keys username and password;
	// no authentication when empty.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`
}

// SlackChannel is a Slack incoming webhook.
type SlackChannel struct {
	// webhookURLSecretRef is the Secret key holding the incoming-webhook URL
	// (the URL itself is the credential).
	// +required
	WebhookURLSecretRef SecretKeyReference `json:"webhookURLSecretRef"`
}

// TeamsChannel is a Microsoft Teams workflow webhook.
type TeamsChannel struct {
	// webhookURLSecretRef is the Secret key holding the workflow URL (the
	// URL carries its signature).
	// +required
	WebhookURLSecretRef SecretKeyReference `json:"webhookURLSecretRef"`
}

// WebhookChannel is a generic HTTPS endpoint.
// The url rules sit on the object, not on the field, so that a rejected URL
// (which may carry a password) is not echoed back in the error message.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlSecretRef)",message="webhook needs exactly one of url or urlSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.url) || self.url.matches('^https?://')",message="webhook.url must start with https:// or http://",fieldPath=".url"
// +kubebuilder:validation:XValidation:rule="!has(self.url) || !self.url.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",message="webhook.url must not carry credentials (user:password@); put the URL in a Secret and set webhook.urlSecretRef instead",fieldPath=".url"
type WebhookChannel struct {
	// url of the endpoint, when it carries no credentials.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// urlSecretRef is the Secret key holding the URL, for endpoints whose
	// URL is itself a credential.
	// +optional
	URLSecretRef *SecretKeyReference `json:"urlSecretRef,omitempty"`

	// signingSecretRef is the Secret key holding the signing secret
	// ("whsec_" followed by base64, or raw bytes); messages carry
	// webhook-id, webhook-timestamp and webhook-signature headers.
	// +required
	SigningSecretRef SecretKeyReference `json:"signingSecretRef"`

	// headersSecretRef names a Secret whose keys and values are sent as
	// extra HTTP headers (for example Authorization).
	// +optional
	HeadersSecretRef *SecretReference `json:"headersSecretRef,omitempty"`
}

// NotificationChannelStatus is the observed state of a channel.
type NotificationChannelStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (False when a Secret is missing, a destination is
	// refused, or deliveries keep failing).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastDelivery is the last attempt.
	// +optional
	LastDelivery *DeliveryResult `json:"lastDelivery,omitempty"`

	// consecutiveFailures since the last successful delivery.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// delivered counts successful deliveries.
	// +optional
	Delivered int64 `json:"delivered,omitempty"`

	// failed counts failed deliveries (after retries).
	// +optional
	Failed int64 `json:"failed,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nc,categories=cx
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Delivery",type=date,JSONPath=`.status.lastDelivery.time`
// +kubebuilder:printcolumn:name="Failures",type=integer,JSONPath=`.status.consecutiveFailures`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// NotificationChannel is a destination for alerts, case notifications and
// reports: email, Slack, Microsoft Teams or a signed webhook.
type NotificationChannel struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the channel.
	// +required
	Spec NotificationChannelSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status NotificationChannelStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// NotificationChannelList is a list of NotificationChannels.
type NotificationChannelList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NotificationChannel `json:"items"`
}

func init() {
	register(&NotificationChannel{}, &NotificationChannelList{})
}
