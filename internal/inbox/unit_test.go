package inbox

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDueInWords(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		due  time.Time
		want string
	}{
		{now.Add(3*time.Hour + 40*time.Minute), "due in 3 h"},
		{now.Add(40 * time.Minute), "due in 40 min"},
		{now.Add(20 * time.Second), "due in <1 min"},
		{now.Add(72 * time.Hour), "due in 3 d"},
		{now.Add(47 * time.Hour), "due in 47 h"},
		{now, "overdue <1 min"},
		{now.Add(-2*24*time.Hour - time.Hour), "overdue 2 d"},
		{now.Add(-5 * time.Hour), "overdue 5 h"},
		{time.Time{}, "no deadline yet"},
	} {
		if got := dueInWords(now, tc.due); got != tc.want {
			t.Errorf("dueInWords(%v) = %q, want %q", tc.due.Sub(now), got, tc.want)
		}
	}
}

func TestProxyAuth(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	auth := ProxyAuth{Trusted: trusted}
	req := func(remote string, h map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/cases", nil)
		r.RemoteAddr = remote
		for k, v := range h {
			r.Header.Set(k, v)
		}
		return r
	}
	id, err := auth.Identify(req("10.1.2.3:5555", map[string]string{"X-Forwarded-User": "priya", "X-Forwarded-Groups": "b, a,b", "X-Forwarded-Email": "p@x"}))
	if err != nil || id.User != "priya" || !slices.Equal(id.Groups, []string{"a", "b"}) || id.Email != "p@x" {
		t.Errorf("from the proxy: %+v, %v; want priya in groups a, b", id, err)
	}
	for _, tc := range []struct {
		name, remote string
		h            map[string]string
		want         string
	}{
		{"not from the proxy", "192.168.1.9:4000", map[string]string{"X-Forwarded-User": "priya"}, "did not come through the authenticating proxy"},
		{"no user", "127.0.0.1:4000", nil, "sent no user name"},
		{"system user", "127.0.0.1:4000", map[string]string{"X-Forwarded-User": "system:admin"}, "system: users"},
		{"system group", "127.0.0.1:4000", map[string]string{"X-Forwarded-User": "eve", "X-Forwarded-Groups": "staff,system:masters"}, "system: groups"},
	} {
		if _, err := auth.Identify(req(tc.remote, tc.h)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("a bad CIDR is accepted")
	}
	prefixed := ProxyAuth{Trusted: trusted, UserPrefix: "oidc:", GroupPrefix: "oidc:"}
	if id, _ := prefixed.Identify(req("127.0.0.1:1", map[string]string{"X-Forwarded-User": "p", "X-Forwarded-Groups": "g"})); id.User != "oidc:p" || id.Groups[0] != "oidc:g" {
		t.Errorf("prefixes: %+v", id)
	}
}

// TestFormsNeedTokenAndSameOrigin posts to a change endpoint without
// reaching the API server: a missing or foreign token and a cross-site
// request are refused before anything is read.
func TestFormsNeedTokenAndSameOrigin(t *testing.T) {
	s := &Server{opts: Options{Auth: ProxyAuth{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, Clock: time.Now}, csrf: []byte("k")}
	h := s.Handler()
	post := func(token string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/namespaces/ns/cases/c/actions", strings.NewReader("kind=call&csrf="+token))
		r.RemoteAddr = "127.0.0.1:3000"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Forwarded-User", "priya")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := post("", nil); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "token") {
		t.Errorf("no token: %d %s", w.Code, w.Body)
	}
	if w := post(csrfToken([]byte("k"), Identity{User: "maria"}), nil); w.Code != http.StatusForbidden {
		t.Errorf("another person's token: %d", w.Code)
	}
	if w := post(csrfToken([]byte("k"), Identity{User: "priya"}), map[string]string{"Sec-Fetch-Site": "cross-site"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site post: %d", w.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "/cases", nil)
	r.RemoteAddr = "203.0.113.7:1"
	r.Header.Set("X-Forwarded-User", "priya")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("identity headers from outside the proxy: %d, want 401", w.Code)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
}
