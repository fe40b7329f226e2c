package metrics

import "time"

// PredictionSummary sets a touchpoint's predicted scores of a window beside
// what was measured in it: the interactions nobody asked about that the
// model scored, the responses to the predicted question, how many
// customers each covers, and the model that scored. Predicted scores are
// never part of an Aggregate.
type PredictionSummary struct {
	// Target is what is predicted: Detractor, BottomTwoBox or Mean.
	Target string `json:"target"`
	// Predicted counts the interactions scored whose last event is in the
	// window, PredictedCustomers their distinct customers, PredictedMean
	// the mean score (the expected share of detractors or bottom-two-box
	// answers, or the expected mean answer).
	Predicted          int64   `json:"predicted"`
	PredictedCustomers int64   `json:"predictedCustomers"`
	PredictedMean      float64 `json:"predictedMean"`
	// Measured counts the responses to the predicted question submitted in
	// the window, MeasuredCustomers (the customers asked who answered) their
	// distinct customers, MeasuredMean the measured share (or mean answer).
	Measured          int64   `json:"measured"`
	MeasuredCustomers int64   `json:"measuredCustomers"`
	MeasuredMean      float64 `json:"measuredMean"`
	// CoveredCustomers have a measured answer, a predicted score, or both.
	CoveredCustomers int64 `json:"coveredCustomers"`
	// Model is the model in use; nil when none was accepted.
	Model *PredictionModel `json:"model,omitempty"`
	// Refused says why nothing is predicted, when the last training was
	// refused.
	Refused string `json:"refused,omitempty"`
}

// PredictionModel is the quality of a model, measured at its training on
// customers it never saw.
type PredictionModel struct {
	TrainedAt time.Time `json:"trainedAt"`
	// Accuracy is the figure checked against the minimum: the lower of the
	// held-out and cross-validated AUC (probabilities) or R² (Mean).
	Accuracy float64 `json:"accuracy"`
	// Measure names it: AUC or R².
	Measure           string `json:"measure"`
	TrainingResponses int    `json:"trainingResponses"`
	HeldOutResponses  int    `json:"heldOutResponses"`
	// CalibrationError is the held-out mean gap between predicted and
	// observed rates (probabilities).
	CalibrationError float64 `json:"calibrationError,omitempty"`
}
