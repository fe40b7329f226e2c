package collector

import (
	"encoding/json"
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
