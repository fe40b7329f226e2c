package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// PredictionTarget is what a touchpoint's prediction estimates for an
// interaction nobody asked about.
// +kubebuilder:validation:Enum=Detractor;BottomTwoBox;Mean
type PredictionTarget string

// Prediction targets.
const (
	// PredictionDetractor is the probability that the customer would answer
	// the NPS question with 0-6 (logistic regression).
	PredictionDetractor PredictionTarget = "Detractor"
	// PredictionBottomTwoBox is the probability that the customer would
	// answer the CSAT (or Rating) question in the two lowest values of its
	// scale (logistic regression).
	PredictionBottomTwoBox PredictionTarget = "BottomTwoBox"
	// PredictionMean is the expected answer to the CES (or Rating) question
	// on its scale (linear regression).
	PredictionMean PredictionTarget = "Mean"
)

// FeatureType is how a feature's value enters the model.
// +kubebuilder:validation:Enum=Number;Category
type FeatureType string

// Feature types.
const (
	// FeatureNumber enters as it is; a missing value takes the training mean.
	FeatureNumber FeatureType = "Number"
	// FeatureCategory is one-hot encoded over the values seen in training;
	// the most frequent value is the reference the others are compared with.
	FeatureCategory FeatureType = "Category"
)

// FeatureAggregate combines a feature's values over an interaction's events.
// +kubebuilder:validation:Enum=Last;Sum;Max;Count
type FeatureAggregate string

// Feature aggregates.
const (
	// FeatureLast takes the latest event's value.
	FeatureLast FeatureAggregate = "Last"
	// FeatureSum adds the events' values (missing counts as 0).
	FeatureSum FeatureAggregate = "Sum"
	// FeatureMax takes the largest value.
	FeatureMax FeatureAggregate = "Max"
	// FeatureCount counts the interaction's events (of event, if set): repeat
	// contacts, for example.
	FeatureCount FeatureAggregate = "Count"
)

// PredictionSpec declares a model that predicts, from business events and
// customer attributes, how a customer who was never asked would have
// answered one of the touchpoint's questions. The collector trains it on the
// interactions that did get a response, evaluates it on customers it never
// saw, and scores every interaction without a response only while the model
// meets minimumAccuracy. Predicted scores are stored apart from responses and
// never enter measured KPIs.
// +kubebuilder:validation:XValidation:rule="self.target == 'Mean' || !has(self.minimumAccuracy) || !has(self.minimumAccuracy.rSquared)",message="minimumAccuracy.rSquared applies only to target Mean; a probability target is judged by minimumAccuracy.auc",fieldPath=".minimumAccuracy.rSquared",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="self.target != 'Mean' || !has(self.minimumAccuracy) || !has(self.minimumAccuracy.auc)",message="minimumAccuracy.auc applies only to the probability targets Detractor and BottomTwoBox; target Mean is judged by minimumAccuracy.rSquared",fieldPath=".minimumAccuracy.auc",reason=FieldValueForbidden
type PredictionSpec struct {
	// question is the id of the question whose answer is predicted: an NPS
	// question for target Detractor, a CSAT or Rating question for
	// BottomTwoBox, a CES or Rating question for Mean.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Question string `json:"question"`

	// target is what is predicted: Detractor (probability of an NPS answer of
	// 0-6), BottomTwoBox (probability of one of the two lowest answers) or
	// Mean (the expected answer, for CES).
	// +required
	Target PredictionTarget `json:"target"`

	// events are the names of the business events (POST /v1/events) that
	// describe an interaction, for example ticket-closed. Empty: every event.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=100
	Events []string `json:"events,omitempty"`

	// join says how events make up an interaction and how responses answer
	// it.
	// +optional
	// +kubebuilder:default={window: "72h"}
	Join *PredictionJoin `json:"join,omitempty"`

	// features are the model's inputs, from event metadata and customer
	// attributes.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Features []PredictionFeature `json:"features"`

	// retrainEvery is how often the model is trained again on the responses
	// that arrived since. A change of target, events, join or features
	// retrains at once.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && (self.matches('[1-9][0-9.]*[hdw]') || duration(self) >= duration('1m'))",message="prediction.retrainEvery must be at least 1m, for example 24h"
	RetrainEvery *Duration `json:"retrainEvery,omitempty"`

	// minTrainingResponses is the fewest responses joined to interactions
	// the model is trained on; with fewer, nothing is predicted.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=50
	// +kubebuilder:validation:Maximum=10000000
	MinTrainingResponses int32 `json:"minTrainingResponses,omitempty"`

	// minimumAccuracy below which the model is refused and nothing is
	// predicted. It is checked against the lower of the held-out and the
	// cross-validated figure.
	// +optional
	MinimumAccuracy *PredictionAccuracy `json:"minimumAccuracy,omitempty"`
}

// PredictionJoin joins events into interactions and responses to them.
type PredictionJoin struct {
	// interactionKey is the metadata key, on events and responses, that
	// carries the interaction id (for example ticketId). A customer's events
	// with the same id are one interaction, and a response with the id
	// answers it. Without it every event is an interaction of its own.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	InteractionKey string `json:"interactionKey,omitempty"`

	// window is how long after an interaction's last event a response of the
	// same customer (without the interaction id) still answers it.
	// +optional
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="prediction.join.window must be a positive duration such as 72h"
	Window Duration `json:"window,omitempty"`
}

// PredictionFeature is one input of the model.
// +kubebuilder:validation:XValidation:rule="self.aggregate == 'Count' ? !has(self.source) : has(self.source)",message="source is required, except for aggregate Count, which counts events and reads no field",fieldPath=".source"
// +kubebuilder:validation:XValidation:rule="self.type == 'Number' || self.aggregate == 'Last'",message="a Category feature takes the Last value; Sum, Max and Count need type Number",fieldPath=".aggregate"
type PredictionFeature struct {
	// name of the feature as status and reports show it ("transfers").
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// source of the value: metadata.<key> of an event, customer.tier,
	// customer.segment or customer.attributes.<key>.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	// +kubebuilder:validation:Pattern=`^(metadata\.[A-Za-z0-9_.-]+|customer\.(tier|segment)|customer\.attributes\.[A-Za-z0-9_.-]+)$`
	Source string `json:"source,omitempty"`

	// event, if set, takes the value only from events of this name.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Event string `json:"event,omitempty"`

	// type is Number (as it is) or Category (one-hot encoded).
	// +optional
	// +kubebuilder:default=Number
	Type FeatureType `json:"type,omitempty"`

	// aggregate combines the values of the interaction's events: Last, Sum,
	// Max, or Count (of events, no source).
	// +optional
	// +kubebuilder:default=Last
	Aggregate FeatureAggregate `json:"aggregate,omitempty"`
}

// PredictionAccuracy is the least quality a model must show on data it was
// not trained on.
type PredictionAccuracy struct {
	// auc is the minimum area under the ROC curve of a probability target
	// (0.5 is a coin toss, 1 perfect). Default 0.7.
	// +optional
	// +kubebuilder:validation:Minimum=0.5
	// +kubebuilder:validation:Maximum=1
	AUC *float64 `json:"auc,omitempty"`

	// rSquared is the minimum share of the answers' variance a Mean target
	// explains (0 is no better than the average answer). Default 0.2.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	RSquared *float64 `json:"rSquared,omitempty"`
}

// PredictionStatus is the quality of the touchpoint's current model, as
// the collector measured it at the last training.
type PredictionStatus struct {
	// trainedAt is when the model was last trained (accepted or refused).
	// +optional
	TrainedAt *metav1.Time `json:"trainedAt,omitempty"`

	// trainingResponses counts the responses joined to interactions that
	// the model was fitted on.
	// +optional
	TrainingResponses int64 `json:"trainingResponses,omitempty"`

	// heldOutResponses counts the responses of customers kept out of
	// training that the model was evaluated on.
	// +optional
	HeldOutResponses int64 `json:"heldOutResponses,omitempty"`

	// auc is the held-out area under the ROC curve of a probability target.
	// +optional
	AUC *float64 `json:"auc,omitempty"`

	// crossValidatedAUC is the mean AUC over the cross-validation folds of
	// the training customers.
	// +optional
	CrossValidatedAUC *float64 `json:"crossValidatedAUC,omitempty"`

	// brier is the held-out mean squared error of the probabilities.
	// +optional
	Brier *float64 `json:"brier,omitempty"`

	// calibrationError is the held-out mean gap, weighted by count, between
	// predicted and observed rates over tenths of probability.
	// +optional
	CalibrationError *float64 `json:"calibrationError,omitempty"`

	// rSquared is the held-out share of the answers' variance a Mean target
	// explains.
	// +optional
	RSquared *float64 `json:"rSquared,omitempty"`

	// rmse is the held-out root mean squared error of a Mean target.
	// +optional
	RMSE *float64 `json:"rmse,omitempty"`

	// topEffects are the model's largest feature effects in words, for
	// example "each +1 transfers raises detractor odds 1.80x".
	// +optional
	// +kubebuilder:validation:MaxItems=10
	TopEffects []string `json:"topEffects,omitempty"`

	// predicted counts the interactions scored so far.
	// +optional
	Predicted int64 `json:"predicted,omitempty"`
}
