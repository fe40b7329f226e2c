package collector

import "github.com/cxloop/cxloop/internal/collectorclient"

// The wire types of the collector's API live in collectorclient, which the
// manager and reports link instead of this server.
type (
	// Problem is an RFC 7807 problem document.
	Problem = collectorclient.Problem
	// FieldError is one offending field of a request.
	FieldError = collectorclient.FieldError
	// FieldErrors are all the problems of one request.
	FieldErrors = collectorclient.FieldErrors
	// Status is the body of GET /v1/status.
	Status = collectorclient.Status
	// ArchiveRequest is the body of PUT /v1/archive/cases/{name}.
	ArchiveRequest = collectorclient.ArchiveRequest
	// ArchivedCase is the answer of GET /v1/archive/cases/{name}.
	ArchivedCase = collectorclient.ArchivedCase
	// InvitationRequest is the body of POST /v1/invitations.
	InvitationRequest = collectorclient.InvitationRequest
	// InvitationAnswer says whether to survey the customer now.
	InvitationAnswer = collectorclient.InvitationAnswer
	// MetricsQuery is the query of GET /v1/metrics.
	MetricsQuery = collectorclient.MetricsQuery
)

// Reasons not to invite.
const (
	ReasonNotSampled  = collectorclient.ReasonNotSampled
	ReasonQuarantined = collectorclient.ReasonQuarantined
	ReasonCapReached  = collectorclient.ReasonCapReached
)
