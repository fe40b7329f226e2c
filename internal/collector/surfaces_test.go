package collector

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// rawRequest sends a request to url with an optional bearer token and
// returns the status and body.
func rawRequest(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(raw)
}

var privateRoutes = []struct{ method, path, body string }{
	{http.MethodGet, "/v1/status", ""},
	{http.MethodGet, "/v1/metrics?window=36500d&groupBy=customer.tier", ""},
	{http.MethodPost, "/v1/invitations", `{"customer":{"id":"C-1"}}`},
	{http.MethodPost, "/v1/responses:batch", `{"responses":[]}`},
	{http.MethodPut, "/v1/archive/cases/c-1", `{"closedAt":"2026-11-01T00:00:00Z","case":{}}`},
	{http.MethodGet, "/v1/archive/cases/c-1", ""},
	{http.MethodPost, "/v1/erasures", `{"customer":{"id":"C-1"},"mode":"Delete"}`},
	{http.MethodGet, "/v1/erasures/er-1", ""},
}

// What an Ingress exposes (the public surface) serves responses and
// probes, and none of the private API: aggregates, status, invitation
// tokens, batch import, the archive and Prometheus metrics are not there.
func TestPublicSurfaceServesNoPrivateRoute(t *testing.T) {
	ts := startServer(t, testEngines[0], invitingTouchpoint("edge", nil, true), Options{})
	for _, r := range append(privateRoutes, struct{ method, path, body string }{http.MethodGet, "/metrics", ""}) {
		for _, token := range []string{"", testAPIToken} {
			if status, _, body := rawRequest(t, r.method, ts.URL+r.path, token, r.body); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
				t.Errorf("public %s %s (token %q): %d %s, want 404", r.method, r.path, token, status, body)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, _, _ := rawRequest(t, http.MethodGet, ts.URL+path, "", ""); status != http.StatusOK {
			t.Errorf("public %s: %d, want 200", path, status)
		}
	}
	// Without a token the touchpoint refuses the response: a customer
	// needs an invitation, and only a credentialed caller gets one.
	if status, _, body := rawRequest(t, http.MethodPost, ts.URL+"/v1/responses", "", string(must(json.Marshal(validResponse("r-1"))))); status != http.StatusUnauthorized {
		t.Errorf("public response without token: %d %s, want 401", status, body)
	}
}

// The private surface answers 401 without the credential or with a wrong
// one, and serves the touchpoint's and the program's credential.
func TestPrivateSurfaceRequiresCredential(t *testing.T) {
	ts := startServer(t, testEngines[0], invitingTouchpoint("edge", nil, true), Options{ProgramAPIToken: []byte("program-token-0123456789")})
	for _, r := range privateRoutes {
		for _, token := range []string{"", "not-the-token", testAPIToken[:len(testAPIToken)-1]} {
			status, h, body := rawRequest(t, r.method, ts.PrivateURL+r.path, token, r.body)
			if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" || !strings.Contains(body, "Authorization: Bearer") {
				t.Errorf("private %s %s (token %q): %d %s, want 401 saying how to authenticate", r.method, r.path, token, status, body)
			}
		}
	}
	for _, token := range []string{testAPIToken, "program-token-0123456789"} {
		status, _, body := rawRequest(t, http.MethodPost, ts.PrivateURL+"/v1/invitations", token, `{"customer":{"id":"C-1"}}`)
		if status != http.StatusCreated || !strings.Contains(body, `"token"`) {
			t.Errorf("invitation with credential %q: %d %s, want 201 with a token", token, status, body)
		}
	}
	// Operations metrics need no credential (no customer data) and carry
	// the Go runtime and process collectors.
	status, _, body := rawRequest(t, http.MethodGet, ts.PrivateURL+"/metrics", "", "")
	for _, series := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "cxloop_collector_unauthorized_requests_total"} {
		if status != http.StatusOK || !strings.Contains(body, series) {
			t.Errorf("/metrics: %d, want 200 with %s", status, series)
		}
	}
}

// A collector without any credential keeps its private API closed.
func TestPrivateSurfaceClosedWithoutCredential(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("closed"), Options{APIToken: []byte{}})
	status, _, body := rawRequest(t, http.MethodGet, ts.PrivateURL+"/v1/status", "anything", "")
	if status != http.StatusForbidden || !strings.Contains(body, "collector-api") {
		t.Errorf("status without configured credential: %d %s, want 403 naming the Secret", status, body)
	}
}

// Routes added with HandlePublic are on the public surface only, behind
// the per-client rate limit.
func TestHandlePublicAddsRateLimitedRoute(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("pages"), Options{RateLimit: 1, RateBurst: 1})
	ts.HandlePublic("GET /kiosk/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "kiosk "+r.PathValue("id"))
	}))
	if status, _, body := rawRequest(t, http.MethodGet, ts.URL+"/kiosk/abc", "", ""); status != http.StatusOK || body != "kiosk abc" {
		t.Errorf("public /kiosk/abc: %d %q", status, body)
	}
	if status, _, _ := rawRequest(t, http.MethodGet, ts.URL+"/kiosk/abc", "", ""); status != http.StatusTooManyRequests {
		t.Errorf("second request within the burst of 1: %d, want 429", status)
	}
	if status, _, _ := rawRequest(t, http.MethodGet, ts.PrivateURL+"/kiosk/abc", testAPIToken, ""); status != http.StatusNotFound {
		t.Errorf("private /kiosk/abc: %d, want 404", status)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Behind trusted proxies the client is the last untrusted address of
// X-Forwarded-For; from anyone else the header is ignored, so a client
// cannot pick its own rate-limit bucket.
func TestClientKeyTrustsOnlyConfiguredProxies(t *testing.T) {
	tp := feedbackTouchpoint("proxied")
	tp.Spec.Collector = &cxv1alpha1.CollectorSpec{TrustedProxies: []string{"10.0.0.0/8", "fd00::/8"}}
	ts := startServer(t, testEngines[0], tp, Options{})
	for _, c := range []struct{ remote, xff, want string }{
		{"10.1.2.3:5000", "203.0.113.9, 10.0.0.7", "203.0.113.9"},
		{"10.1.2.3:5000", "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{"[fd00::1]:5000", "203.0.113.10", "203.0.113.10"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"192.0.2.50:5000", "203.0.113.9", "192.0.2.50"},
	} {
		r, err := http.NewRequest(http.MethodPost, "/v1/responses", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := ts.clientKey(r); got != c.want {
			t.Errorf("remote %s, X-Forwarded-For %q: client %q, want %q", c.remote, c.xff, got, c.want)
		}
	}
}

// With Profiling, Go's runtime profiles are on the private surface only,
// behind the credential; without it they are nowhere.
func TestProfilingIsPrivateAndOffByDefault(t *testing.T) {
	const heap = "/debug/pprof/heap?debug=1"
	ts := startServer(t, testEngines[0], feedbackTouchpoint("profiled"), Options{Profiling: true})
	for _, token := range []string{"", "not-the-token"} {
		if status, _, body := rawRequest(t, http.MethodGet, ts.PrivateURL+heap, token, ""); status != http.StatusUnauthorized {
			t.Errorf("private %s (token %q): %d %s, want 401", heap, token, status, body)
		}
	}
	if status, _, body := rawRequest(t, http.MethodGet, ts.PrivateURL+heap, testAPIToken, ""); status != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("private %s with the credential: %d %.200s, want 200 with the heap profile", heap, status, body)
	}
	if status, _, body := rawRequest(t, http.MethodGet, ts.PrivateURL+"/debug/pprof/profile?seconds=1", testAPIToken, ""); status != http.StatusOK || len(body) == 0 {
		t.Errorf("CPU profile with the credential: %d, %d bytes; want 200 with a profile", status, len(body))
	}
	for _, token := range []string{"", testAPIToken} {
		if status, _, _ := rawRequest(t, http.MethodGet, ts.URL+heap, token, ""); status != http.StatusNotFound {
			t.Errorf("public %s (token %q): %d, want 404", heap, token, status)
		}
	}
	off := startServer(t, testEngines[0], feedbackTouchpoint("plain"), Options{})
	if status, _, _ := rawRequest(t, http.MethodGet, off.PrivateURL+heap, testAPIToken, ""); status != http.StatusNotFound {
		t.Errorf("private %s without Profiling: %d, want 404", heap, status)
	}
}
