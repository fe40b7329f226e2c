package collector

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// credentialed lets a request through when it carries one of the
// collector's credentials as its bearer token.
func (s *Server) credentialed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(s.opts.APIToken) == 0 && len(s.opts.ProgramAPIToken) == 0 {
			writeProblem(w, Problem{Type: problemUnauthorized, Title: "Private API disabled", Status: http.StatusForbidden,
				Detail: "this collector has no API credential; the SurveyTouchpoint controller provides one in the Secret <touchpoint>-collector-api"})
			return
		}
		if !s.validCredential(r) {
			s.metrics.unauthorized.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="cxloop-collector"`)
			writeProblem(w, Problem{Type: problemUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
				Detail: "send the token of the Secret <touchpoint>-collector-api (or cxloop-program-api) as Authorization: Bearer <token>"})
			return
		}
		h(w, r)
	}
}

func (s *Server) validCredential(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return false
	}
	match := 0
	for _, want := range [][]byte{s.opts.APIToken, s.opts.ProgramAPIToken} {
		if len(want) > 0 {
			match |= subtle.ConstantTimeCompare([]byte(token), want)
		}
	}
	return match == 1
}
