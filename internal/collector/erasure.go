package collector

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// ErasureRequest is the body of POST /v1/erasures: erase one customer
// (the right to erasure).
type ErasureRequest struct {
	Customer struct {
		ID string `json:"id"`
	} `json:"customer"`
	// Mode is Redact (remove contact details and free text, keep the
	// scores) or Delete (remove everything about the customer).
	Mode string `json:"mode"`
}

// Erasure is the answer to an erasure request and a row of the erasure
// log: what was erased, without the customer's id or any personal data.
type Erasure = store.ErasureRecord

// maxErasureBytes bounds an erasure request's body.
const maxErasureBytes = 4 << 10

func (s *Server) erasureRoutes() {
	s.HandlePrivate("POST /v1/erasures", http.HandlerFunc(s.handleErasure))
	s.HandlePrivate("GET /v1/erasures/{id}", http.HandlerFunc(s.handleErasureGet))
}

func (s *Server) handleErasure(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	invalid := func(errs FieldErrors) {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid erasure request", Status: http.StatusBadRequest,
			Detail: `send {"customer": {"id": "..."}, "mode": "Redact" or "Delete"}; nothing was erased`, Errors: errs})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErasureBytes))
	if err != nil {
		writeTooLarge(w, maxErasureBytes, body, "an erasure request", "send only the customer id and the mode")
		return
	}
	if fe := checkText(body); fe != nil {
		invalid(FieldErrors{*fe})
		return
	}
	var req ErasureRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		invalid(FieldErrors{jsonError(err)})
		return
	}
	var errs FieldErrors
	if p := customerIDProblem(req.Customer.ID); p != "" {
		errs = append(errs, FieldError{Field: "customer.id", Message: p})
	}
	if req.Mode != store.ErasureRedact && req.Mode != store.ErasureDelete {
		errs = append(errs, FieldError{Field: "mode", Message: fmt.Sprintf("is %q; use Redact (remove contact details and free text, keep the scores) or Delete (remove the customer's responses and everything about them)", req.Mode)})
	}
	if errs != nil {
		invalid(errs)
		return
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	rec, err := s.opts.Store.EraseCustomer(r.Context(), store.Erasure{
		ID: "er-" + hex.EncodeToString(id[:]), Namespace: s.opts.Namespace, Touchpoint: st.tp.Name, CustomerID: req.Customer.ID, Mode: req.Mode, At: s.opts.Now(),
		IsContact:   func(k string) bool { return validate.IsContactKey(k, validate.ExtraContactKeys(st.tp)) },
		FreeText:    textQuestions(st.tp),
		RedactEvent: redactEventDetail(st.tp),
	})
	if err != nil {
		// No customer id in the log.
		s.opts.Log.Error(err, "erase customer", "touchpoint", st.tp.Name, "mode", req.Mode)
		writeStoreUnavailable(w, "the store could not erase the customer; nothing was erased, retry")
		return
	}
	s.opts.Log.Info("erased a customer", "touchpoint", st.tp.Name, "erasure", rec.ID, "mode", rec.Mode, "responses", rec.Responses)
	writeJSON(w, http.StatusOK, rec)
}

func (s *Server) handleErasureGet(w http.ResponseWriter, r *http.Request) {
	rec, err := s.opts.Store.GetErasure(r.Context(), s.opts.Namespace, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "No such erasure", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("no erasure %q in this program's erasure log", r.PathValue("id"))})
		return
	}
	if err != nil {
		writeStoreUnavailable(w, "the store could not be read; retry")
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// textQuestions are the ids of the touchpoint's free-text questions.
func textQuestions(tp *cxv1alpha1.SurveyTouchpoint) []string {
	var ids []string
	for _, q := range tp.Spec.Questions {
		if q.Type == cxv1alpha1.QuestionText {
			ids = append(ids, q.ID)
		}
	}
	return ids
}
