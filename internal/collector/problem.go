package collector

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Problem types, stable URIs clients can switch on.
const (
	problemInvalidResponse = "https://cxloop.io/problems/invalid-response"
	problemTooLarge        = "https://cxloop.io/problems/body-too-large"
	problemUnauthorized    = "https://cxloop.io/problems/invalid-token"
	problemRateLimited     = "https://cxloop.io/problems/rate-limited"
	problemUnavailable     = "https://cxloop.io/problems/unavailable"
	problemInvalidQuery    = "https://cxloop.io/problems/invalid-query"
	problemMethod          = "https://cxloop.io/problems/method-not-allowed"
	problemConflict        = "https://cxloop.io/problems/id-conflict"
)

// writeProblem answers with application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStoreUnavailable answers 503 when the store cannot be reached.
func writeStoreUnavailable(w http.ResponseWriter, detail string) {
	writeProblem(w, Problem{Type: problemUnavailable, Title: "Store unreachable", Status: http.StatusServiceUnavailable, Detail: detail})
}

// writeTooLarge answers 413 naming the limit and, from the part of the body
// read before the limit, the field it was in.
func writeTooLarge(w http.ResponseWriter, limit int64, read []byte, what, fix string) {
	detail := fmt.Sprintf("%s may hold at most %d bytes", what, limit)
	var errs FieldErrors
	if field := fieldAt(read, len(read)); field != "" {
		detail += fmt.Sprintf("; it went over in field %s", field)
		errs = FieldErrors{{Field: field, Message: fmt.Sprintf("the body went over the limit of %d bytes here; shorten it", limit)}}
	}
	writeProblem(w, Problem{Type: problemTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge,
		Detail: detail + "; " + fix, Errors: errs, Limit: limit})
}
