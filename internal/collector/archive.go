package collector

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxloop/cxloop/internal/store"
)

// maxArchiveBytes bounds an archived Case document.
const maxArchiveBytes = 4 << 20

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

// authorized checks the manager's bearer token. The archive holds whole
// Cases (customer data), so it is closed when the collector has no token.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if len(s.opts.APIToken) == 0 {
		writeProblem(w, Problem{Type: problemUnauthorized, Title: "Archive API disabled", Status: http.StatusForbidden,
			Detail: "this collector has no API token (" + EnvAPIToken + "); the SurveyTouchpoint controller provides one"})
		return false
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), s.opts.APIToken) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cxloop-collector"`)
		writeProblem(w, Problem{Type: problemUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "send the collector's API token as Authorization: Bearer <token>"})
		return false
	}
	return true
}

func (s *Server) handleArchivePut(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	name := r.PathValue("name")
	var req ArchiveRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxArchiveBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid archive request", Status: http.StatusBadRequest, Errors: FieldErrors{jsonError(err)}})
		return
	}
	var errs FieldErrors
	if len(req.Case) == 0 || !json.Valid(req.Case) {
		errs = append(errs, FieldError{Field: "case", Message: "is required: the Case object as JSON"})
	}
	if req.ClosedAt.IsZero() {
		errs = append(errs, FieldError{Field: "closedAt", Message: "is required: when the Case was closed (RFC 3339)"})
	}
	if errs != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid archive request", Status: http.StatusBadRequest, Errors: errs})
		return
	}
	if err := s.opts.Store.ArchiveCase(r.Context(), s.opts.Namespace, name, req.ClosedAt, req.Case); err != nil {
		s.opts.Log.Error(err, "archive case", "case", name)
		writeStoreUnavailable(w, "the store could not archive the Case; retry")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleArchiveGet(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	a, err := s.opts.Store.GetArchivedCase(r.Context(), s.opts.Namespace, r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Not archived", Status: http.StatusNotFound,
			Detail: fmt.Sprintf("no archived Case %q in this program's store", r.PathValue("name"))})
		return
	}
	if err != nil {
		writeStoreUnavailable(w, "the store could not be read; retry")
		return
	}
	writeJSON(w, http.StatusOK, ArchivedCase{Namespace: a.Namespace, Name: a.Name, ClosedAt: a.ClosedAt, ArchivedAt: a.ArchivedAt, Case: a.Doc})
}

// ArchiveCase stores a closed Case's JSON in the collector's store.
func (c *Client) ArchiveCase(ctx context.Context, endpoint, token, name string, closedAt time.Time, doc []byte) error {
	body, err := json.Marshal(ArchiveRequest{ClosedAt: closedAt, Case: doc})
	if err != nil {
		return fmt.Errorf("encode archive request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(endpoint, "/")+"/v1/archive/cases/"+url.PathEscape(name), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("collector request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return c.do(req, nil)
}

// ArchivedCase reads a Case from the collector's archive.
func (c *Client) ArchivedCase(ctx context.Context, endpoint, token, name string) (*ArchivedCase, error) {
	var out ArchivedCase
	if err := c.get(ctx, endpoint, "/v1/archive/cases/"+url.PathEscape(name), token, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
