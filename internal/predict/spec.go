package predict

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Target is what a model predicts for an interaction.
type Target string

const (
	// TargetDetractor is the probability that the customer's NPS answer
	// would be a detractor (0-6).
	TargetDetractor Target = "Detractor"
	// TargetBottomTwoBox is the probability that the customer's CSAT answer
	// would be in the two lowest values of the scale (1-2 on 1-5).
	TargetBottomTwoBox Target = "BottomTwoBox"
	// TargetMean is the expected answer itself (the mean CES on its scale).
	TargetMean Target = "Mean"
)

// Probability reports whether the target is a probability (logistic
// regression, AUC) rather than a mean (linear regression, error).
func (t Target) Probability() bool { return t == TargetDetractor || t == TargetBottomTwoBox }

// Kind is how a feature's value enters the model.
type Kind string

const (
	// Number features enter as they are (missing values take the training
	// mean).
	Number Kind = "Number"
	// Category features are one-hot encoded over the values seen in
	// training; the most frequent value is the reference.
	Category Kind = "Category"
)

// Aggregate combines a feature's values over the events of one interaction.
type Aggregate string

const (
	// Last takes the value of the latest event that has it (the default).
	Last Aggregate = "Last"
	// Sum adds the values of all events (missing counts as 0).
	Sum Aggregate = "Sum"
	// Max takes the largest value.
	Max Aggregate = "Max"
	// Count counts the interaction's events (of the feature's Event, if set).
	Count Aggregate = "Count"
)

// Feature is one input of the model.
type Feature struct {
	// Name is how status and effects call the feature ("transfers").
	Name string `json:"name"`
	// Source is where the value comes from: "metadata.<key>" of an event,
	// "customer.tier", "customer.segment" or "customer.attributes.<key>".
	// Unused for Count.
	Source string `json:"source,omitempty"`
	// Event, if set, takes the value only from events of this name.
	Event string `json:"event,omitempty"`
	// Kind is Number (the default) or Category.
	Kind Kind `json:"kind"`
	// Aggregate combines the values of the interaction's events.
	Aggregate Aggregate `json:"aggregate,omitempty"`
}

// Spec declares a prediction.
type Spec struct {
	// Target is what is predicted.
	Target Target `json:"target"`
	// ScaleMin and ScaleMax are the target question's scale (for the bottom
	// two boxes of CSAT).
	ScaleMin int `json:"scaleMin"`
	ScaleMax int `json:"scaleMax"`
	// Events are the event names that make up interactions; empty means all.
	Events []string `json:"events,omitempty"`
	// InteractionKey is the metadata key (on events and responses) that
	// carries the interaction id. Events of one customer with the same id
	// form one interaction; without the key each event is an interaction.
	InteractionKey string `json:"interactionKey,omitempty"`
	// Window is how long after an interaction's last event a response of
	// the same customer still answers it.
	Window time.Duration `json:"window"`
	// Features are the model's inputs, in order.
	Features []Feature `json:"features"`
	// L2 is the ridge penalty on the standardized coefficients (default 1).
	L2 float64 `json:"l2,omitempty"`

	// MinTrainingResponses refuses a model trained on fewer responses.
	MinTrainingResponses int `json:"-"`
	// MinAUC refuses a probability model whose held-out or cross-validated
	// AUC (the lower of the two) is below it.
	MinAUC float64 `json:"-"`
	// MinRSquared refuses a mean model whose held-out or cross-validated R²
	// (the lower) is below it.
	MinRSquared float64 `json:"-"`
}

// Defaults of a Spec's optional fields.
const (
	DefaultL2                   = 1.0
	DefaultMinTrainingResponses = 200
	DefaultMinAUC               = 0.7
	DefaultMinRSquared          = 0.2
	// HeldOutPercent of customers are kept out of training for evaluation.
	HeldOutPercent = 20
	// Folds of the cross-validation on the training customers.
	Folds = 5
	// minHeldOut is the fewest held-out responses (and of each class, for a
	// probability) an accuracy is measured on.
	minHeldOut = 20
)

func (s Spec) withDefaults() Spec {
	s.Features = slices.Clone(s.Features)
	if s.L2 <= 0 {
		s.L2 = DefaultL2
	}
	if s.MinTrainingResponses <= 0 {
		s.MinTrainingResponses = DefaultMinTrainingResponses
	}
	if s.MinAUC <= 0 {
		s.MinAUC = DefaultMinAUC
	}
	if s.MinRSquared <= 0 {
		s.MinRSquared = DefaultMinRSquared
	}
	if s.ScaleMin == 0 && s.ScaleMax == 0 {
		switch s.Target {
		case TargetDetractor:
			s.ScaleMax = 10
		case TargetBottomTwoBox:
			s.ScaleMin, s.ScaleMax = 1, 5
		default:
			s.ScaleMin, s.ScaleMax = 1, 7
		}
	}
	for i := range s.Features {
		if s.Features[i].Aggregate == "" {
			s.Features[i].Aggregate = Last
		}
		if s.Features[i].Kind == "" {
			s.Features[i].Kind = Number
		}
	}
	return s
}

// Validate reports every problem of the spec, naming the field.
func (s Spec) Validate() error {
	s = s.withDefaults()
	var errs []error
	switch s.Target {
	case TargetDetractor, TargetBottomTwoBox, TargetMean:
	default:
		errs = append(errs, fmt.Errorf("target: %q is not one of Detractor, BottomTwoBox, Mean", s.Target))
	}
	if s.Window <= 0 {
		errs = append(errs, errors.New("window: must be positive"))
	}
	if len(s.Features) == 0 {
		errs = append(errs, errors.New("features: at least one feature is required"))
	}
	seen := map[string]bool{}
	for i, f := range s.Features {
		p := fmt.Sprintf("features[%d]", i)
		if f.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", p))
		} else if seen[f.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is declared twice", p, f.Name))
		}
		seen[f.Name] = true
		if f.Kind != Number && f.Kind != Category {
			errs = append(errs, fmt.Errorf("%s.kind: %q is not Number or Category", p, f.Kind))
		}
		switch f.Aggregate {
		case "", Last, Max, Sum:
			if _, _, err := parseSource(f.Source); err != nil {
				errs = append(errs, fmt.Errorf("%s.source: %w", p, err))
			}
			if f.Kind == Category && (f.Aggregate == Sum || f.Aggregate == Max) {
				errs = append(errs, fmt.Errorf("%s.aggregate: %s needs a Number feature", p, f.Aggregate))
			}
		case Count:
			if f.Kind != Number {
				errs = append(errs, fmt.Errorf("%s.kind: Count is a Number", p))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.aggregate: %q is not one of Last, Sum, Max, Count", p, f.Aggregate))
		}
	}
	return errors.Join(errs...)
}

// source kinds
const (
	fromMetadata = iota
	fromTier
	fromSegment
	fromAttribute
)

func parseSource(src string) (int, string, error) {
	switch {
	case src == "customer.tier":
		return fromTier, "", nil
	case src == "customer.segment":
		return fromSegment, "", nil
	case strings.HasPrefix(src, "customer.attributes.") && len(src) > len("customer.attributes."):
		return fromAttribute, strings.TrimPrefix(src, "customer.attributes."), nil
	case strings.HasPrefix(src, "metadata.") && len(src) > len("metadata."):
		return fromMetadata, strings.TrimPrefix(src, "metadata."), nil
	}
	return 0, "", fmt.Errorf("%q is not metadata.<key>, customer.tier, customer.segment or customer.attributes.<key>", src)
}

// Reads returns the event metadata keys and customer attribute keys the
// spec reads: its features' sources and the interaction key. They are
// all an event has to keep for the spec.
func (s Spec) Reads() (metadata, attributes []string) {
	if s.InteractionKey != "" {
		metadata = append(metadata, s.InteractionKey)
	}
	for _, f := range s.Features {
		kind, key, err := parseSource(f.Source)
		switch {
		case err != nil || f.Aggregate == Count:
		case kind == fromMetadata && !slices.Contains(metadata, key):
			metadata = append(metadata, key)
		case kind == fromAttribute && !slices.Contains(attributes, key):
			attributes = append(attributes, key)
		}
	}
	return metadata, attributes
}

// Fingerprint identifies the parts of the spec that shape a model: a model
// trained under another fingerprint must be retrained before it is used.
func (s Spec) Fingerprint() string {
	s = s.withDefaults()
	b, _ := json.Marshal(s) // the gates are json:"-": changing them re-judges, not retrains
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Due reports whether a model must be (re)trained now, and why: it never
// was, the spec changed since the last training, or the last one is older
// than every. last is the previous training's result (nil if none); a
// refused result counts too, so a refused model is retried every interval
// and at once when the spec changes.
func Due(s Spec, last *Result, every time.Duration, now time.Time) (bool, string) {
	switch {
	case last == nil:
		return true, "never trained"
	case last.Fingerprint != s.Fingerprint():
		return true, "the prediction spec changed since the last training"
	case every > 0 && now.Sub(last.TrainedAt) >= every:
		return true, "the retrain interval passed"
	}
	return false, ""
}
