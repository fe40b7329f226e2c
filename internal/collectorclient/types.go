package collectorclient

import (
	"encoding/json"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Problem is an RFC 7807 problem document, the body of every error answer.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists every offending field of an invalid request.
	Errors FieldErrors `json:"errors,omitempty"`
	// Limit is the limit a 413 or 429 answer refers to (bytes, requests
	// per second).
	Limit int64 `json:"limit,omitempty"`
}

// FieldError is one offending field of a request.
type FieldError struct {
	// Field is the JSON path, e.g. "answers.ease".
	Field string `json:"field"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

// FieldErrors are all the problems of one request, sorted by field.
type FieldErrors []FieldError

func (fe FieldErrors) Error() string {
	parts := make([]string, 0, len(fe))
	for _, e := range fe {
		parts = append(parts, e.Field+": "+e.Message)
	}
	return strings.Join(parts, "; ")
}

// Status is the body of GET /v1/status, read by the manager for the
// touchpoint's status.
type Status struct {
	Touchpoint       string     `json:"touchpoint"`
	Generation       int64      `json:"generation"`
	Total            int64      `json:"total"`
	Last24h          int64      `json:"last24h"`
	LastResponseTime *time.Time `json:"lastResponseTime,omitempty"`
	OutboxDepth      int64      `json:"outboxDepth"`
	OutboxOldest     *time.Time `json:"outboxOldest,omitempty"`
	// OutboxLastError is the dispatcher's last failed attempt, at
	// OutboxLastErrorTime; OutboxRefusals counts the attempts refused in a
	// row (403, 422, permanent) since the last success.
	OutboxLastError     string     `json:"outboxLastError,omitempty"`
	OutboxLastErrorTime *time.Time `json:"outboxLastErrorTime,omitempty"`
	OutboxRefusals      int        `json:"outboxRefusals,omitempty"`
	// StoreError, when set, is why the collector cannot write to its store
	// right now (its /readyz fails meanwhile).
	StoreError string `json:"storeError,omitempty"`
	// Invitations counts the invitations and reminders sent on business
	// events, when the touchpoint has any.
	Invitations *InvitationCounts `json:"invitations,omitempty"`
	// Prediction is the quality of the touchpoint's prediction model and
	// PredictionCondition its PredictionReady condition, when the
	// touchpoint declares spec.prediction.
	Prediction          *cxv1alpha1.PredictionStatus `json:"prediction,omitempty"`
	PredictionCondition *metav1.Condition            `json:"predictionCondition,omitempty"`
}

// InvitationCounts are a touchpoint's scheduled invitations and reminders
// by state.
type InvitationCounts struct {
	Scheduled int64 `json:"scheduled"`
	Sent      int64 `json:"sent"`
	Reminded  int64 `json:"reminded"`
	Failed    int64 `json:"failed"`
	Skipped   int64 `json:"skipped"`
	Answered  int64 `json:"answered"`
	// Acknowledged: acknowledgements of Cases sent (not in Sent).
	Acknowledged int64 `json:"acknowledged,omitempty"`
	// FollowUps* count the follow-ups of closed Cases: waiting for the
	// Case to close, sent, answered, and not sent because the contact
	// details expired first.
	FollowUpsWaiting  int64 `json:"followUpsWaiting,omitempty"`
	FollowUpsSent     int64 `json:"followUpsSent,omitempty"`
	FollowUpsAnswered int64 `json:"followUpsAnswered,omitempty"`
	FollowUpsExpired  int64 `json:"followUpsExpired,omitempty"`
}

// ArchiveRequest is the body of PUT /v1/archive/cases/{name}.
type ArchiveRequest struct {
	// ClosedAt is when the Case was closed.
	ClosedAt time.Time `json:"closedAt"`
	// Case is the Case object as JSON.
	Case json.RawMessage `json:"case"`
}

// ArchivedCase is the answer of GET /v1/archive/cases/{name}.
type ArchivedCase struct {
	Namespace  string          `json:"namespace"`
	Name       string          `json:"name"`
	ClosedAt   time.Time       `json:"closedAt"`
	ArchivedAt time.Time       `json:"archivedAt"`
	Case       json.RawMessage `json:"case"`
}

// InvitationRequest is the body of POST /v1/invitations.
type InvitationRequest struct {
	Customer struct {
		ID string `json:"id"`
	} `json:"customer"`
}

// InvitationAnswer says whether to survey the customer now.
type InvitationAnswer struct {
	// Invite is true when the customer may be surveyed now.
	Invite bool `json:"invite"`
	// Token to put in the response, with its expiry, when Invite is true.
	Token     string     `json:"token,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Reason not to invite: NotSampled, Quarantined or CapReached.
	Reason string `json:"reason,omitempty"`
	// Detail explains the reason for a person.
	Detail string `json:"detail,omitempty"`
	// NextEligibleAt is when the customer may be asked again, when known.
	NextEligibleAt *time.Time `json:"nextEligibleAt,omitempty"`
}

// Reasons not to invite.
const (
	ReasonNotSampled  = "NotSampled"
	ReasonQuarantined = "Quarantined"
	ReasonCapReached  = "CapReached"
)
