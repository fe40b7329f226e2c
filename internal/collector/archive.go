package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cxloop/cxloop/internal/store"
)

// maxArchiveBytes bounds an archived Case document.
const maxArchiveBytes = 4 << 20

func (s *Server) handleArchivePut(w http.ResponseWriter, r *http.Request) {
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
