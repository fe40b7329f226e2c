package v1alpha1

// SurveyPageSpec configures the hosted survey page the collector serves to
// customers: at /s/{token} for an invitation link, and at /p for the public
// link of a touchpoint without invitations (a QR code on a receipt, a kiosk).
type SurveyPageSpec struct {
	// publicURL is the collector's public surface as customers reach it
	// (the Ingress), for example https://survey.acme.example/upgrade-install:
	// the links of invitations and the public link's QR code start with it.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s?#]+$`
	PublicURL string `json:"publicURL,omitempty"`

	// title shown at the top of the page; defaults to spec.displayName, then
	// to the touchpoint's name.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title,omitempty"`

	// intro is a short paragraph shown above the questions.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Intro string `json:"intro,omitempty"`

	// thankYou is shown once the customer has answered.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	ThankYou string `json:"thankYou,omitempty"`

	// defaultLocale is the language (BCP 47, for example "en" or "de-CH")
	// of the question texts, labels and the texts above. The page is shown
	// in the invitation's locale, else the best match of the browser's
	// Accept-Language among defaultLocale and the translations.
	// +optional
	// +kubebuilder:default=en
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`
	DefaultLocale string `json:"defaultLocale,omitempty"`

	// translations of the page and question texts, one per locale.
	// Missing texts fall back to the defaultLocale's.
	// +optional
	// +listType=map
	// +listMapKey=locale
	// +kubebuilder:validation:MaxItems=50
	Translations []SurveyTranslation `json:"translations,omitempty"`

	// publicLink serves the survey without an invitation at /p, for
	// touchpoints whose customers are not invited one by one (receipts,
	// kiosks, posters). Anyone may answer it: every submission needs a form
	// the collector issued, and each client address may submit at most
	// submissionsPerHour forms.
	// +optional
	PublicLink *PublicLinkSpec `json:"publicLink,omitempty"`
}

// SurveyTranslation is the page's texts in one locale.
type SurveyTranslation struct {
	// locale of these texts (BCP 47), for example "de" or "fr-CA".
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`
	Locale string `json:"locale"`

	// title in this locale.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title,omitempty"`

	// intro in this locale.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	Intro string `json:"intro,omitempty"`

	// thankYou in this locale.
	// +optional
	// +kubebuilder:validation:MaxLength=1000
	ThankYou string `json:"thankYou,omitempty"`

	// questions' texts in this locale, by question id.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=50
	Questions []QuestionTranslation `json:"questions,omitempty"`
}

// QuestionTranslation is one question's texts in one locale.
type QuestionTranslation struct {
	// id of the question in spec.questions.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	ID string `json:"id"`

	// text of the question.
	// +optional
	// +kubebuilder:validation:MaxLength=500
	Text string `json:"text,omitempty"`

	// minLabel of the scale.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	MinLabel string `json:"minLabel,omitempty"`

	// maxLabel of the scale.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	MaxLabel string `json:"maxLabel,omitempty"`

	// choices' labels, by value.
	// +optional
	// +listType=map
	// +listMapKey=value
	// +kubebuilder:validation:MaxItems=50
	Choices []Choice `json:"choices,omitempty"`
}

// PublicLinkSpec configures the public survey link.
type PublicLinkSpec struct {
	// enabled serves the public link at /p and its QR code at /p/qr.svg and
	// /p/qr.png.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// submissionsPerHour is how many answers one client address may submit
	// per hour through the public link.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	SubmissionsPerHour int32 `json:"submissionsPerHour,omitempty"`
}
