// Package touchpoint holds the pure decisions of a SurveyTouchpoint's
// status that are not Kubernetes plumbing: whether its collector's outbox
// is blocked, and the message that says why (Outbox, BlockedMessage); the
// collector's prediction and its PredictionReady condition as the
// touchpoint shows them (CopyPrediction). The SurveyTouchpoint
// controller reads the collector (internal/collectorclient), calls these
// and writes the status; they are tested without a cluster.
package touchpoint
