package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func (s *Server) handleInvitation(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	if s.signer == nil || !st.policy.invitationsOn {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invitations are off", Status: http.StatusNotFound,
			Detail: "this touchpoint issues no invitation tokens; set spec.invitations with a signingKeySecretRef"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err != nil {
		writeProblem(w, Problem{Type: problemTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge})
		return
	}
	if fe := checkText(body); fe != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid invitation request", Status: http.StatusBadRequest, Errors: FieldErrors{*fe}})
		return
	}
	var req InvitationRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid invitation request", Status: http.StatusBadRequest, Errors: FieldErrors{jsonError(err)}})
		return
	}
	// The same rules as a response's customer.id, so a token is never
	// issued for an id no response could carry.
	if idProblem := customerIDProblem(req.Customer.ID); idProblem != "" {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid invitation request", Status: http.StatusBadRequest,
			Errors: FieldErrors{{Field: "customer.id", Message: idProblem}}})
		return
	}
	answer, err := s.decideInvitation(r, st, req.Customer.ID)
	if err != nil {
		s.opts.Log.Error(err, "decide invitation", "touchpoint", st.tp.Name)
		writeStoreUnavailable(w, "retry later")
		return
	}
	status := http.StatusOK
	if answer.Invite {
		status = http.StatusCreated
	}
	writeJSON(w, status, answer)
}

// customerIDProblem says what is wrong with a customer id a caller sent
// ("" when nothing), by the rules of a response's customer.id.
func customerIDProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > rules.MaxCustomerIDLength:
		return fmt.Sprintf("is longer than %d characters", rules.MaxCustomerIDLength)
	}
	return ""
}

// decideInvitation applies sampling, quarantine and the invitation cap, in
// that order, and issues a token when all pass. Sampling is a function of
// customer and day; quarantine and cap are decided by the store in the
// transaction that records the invitation, under a per-customer lock, so
// concurrent requests on any number of replicas never exceed them.
func (s *Server) decideInvitation(r *http.Request, st *state, customer string) (InvitationAnswer, error) {
	ans, p, err := s.planInvitationToken(st, customer)
	if err != nil || p == nil {
		return ans, err
	}
	dec, err := s.opts.Store.IssueInvitation(r.Context(), *p.Invitation, p.Limits)
	if err != nil {
		return InvitationAnswer{}, err
	}
	return s.invitationAnswer(st, ans, dec), nil
}

// planInvitationToken applies sampling and, when the customer is sampled,
// returns a new token and the invitation the store must issue (deciding
// quarantine and cap) before the token is valid.
func (s *Server) planInvitationToken(st *state, customer string) (InvitationAnswer, *store.PreparedMessage, error) {
	now := s.opts.Now()
	p := st.policy
	if p.samplingRate < 1 && s.opts.Random(customer, now) >= p.samplingRate {
		return InvitationAnswer{Reason: ReasonNotSampled, Detail: fmt.Sprintf("only %.0f%% of eligible customers are asked", p.samplingRate*100)}, nil, nil
	}
	scope := st.tp.Name
	if p.programScope {
		scope = ""
	}
	token, claims, err := s.signer.Issue(s.opts.Namespace, st.tp.Name, customer, now, p.tokenTTL)
	if err != nil {
		return InvitationAnswer{}, nil, err
	}
	exp := time.Unix(claims.ExpiresAt, 0).UTC()
	return InvitationAnswer{Invite: true, Token: token, ExpiresAt: &exp}, &store.PreparedMessage{
		Token: token, TokenID: claims.ID,
		Invitation: &store.Invitation{TokenID: claims.ID, Touchpoint: st.tp.Name, CustomerID: customer, IssuedAt: now, ExpiresAt: exp},
		Limits:     store.ContactLimits{Scope: scope, Quarantine: p.quarantine, Cap: p.maxCount, CapWindow: p.maxWindow},
	}, nil
}

// invitationAnswer is the answer for a planned token once the store
// decided on its invitation: the token is valid only if it was recorded.
func (s *Server) invitationAnswer(st *state, planned InvitationAnswer, dec store.ContactDecision) InvitationAnswer {
	now, p := s.opts.Now(), st.policy
	switch dec.Reason {
	case store.ContactQuarantined:
		next := dec.Last.Add(p.quarantine)
		return InvitationAnswer{Reason: ReasonQuarantined, NextEligibleAt: &next,
			Detail: fmt.Sprintf("the customer was invited %s ago; the quarantine is %s", now.Sub(dec.Last).Round(time.Minute), p.quarantine)}
	case store.ContactCapReached:
		return InvitationAnswer{Reason: ReasonCapReached,
			Detail: fmt.Sprintf("the customer was invited %d times in the last %s; the cap is %d", dec.Count, p.maxWindow, p.maxCount)}
	}
	return planned
}
