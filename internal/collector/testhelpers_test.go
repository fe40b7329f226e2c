package collector

import (
	"github.com/cxloop/cxloop/internal/collectorclient"

	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
)

// envTestPostgresDSN names the PostgreSQL the tests use (the same variable
// as the store's tests); .ci/run starts one.
const envTestPostgresDSN = "CXLOOP_TEST_POSTGRES_DSN"

const skipPostgres = "PostgreSQL tests skipped: set " + envTestPostgresDSN + " (make test in CI starts PostgreSQL)"

// testSigningKey signs the invitation tokens of the tests.
var testSigningKey = []byte("0123456789abcdef0123456789abcdef-test")

// testAPIToken is the private surface's credential in tests.
const testAPIToken = "test-api-token-0123456789abcdef"

// testEngine opens fresh, isolated stores of one real engine.
type testEngine struct {
	name string
	open func(t testing.TB, cfg store.Config) store.Store
}

var testEngines = []testEngine{
	{name: store.DriverSQLite, open: openTestSQLite},
	{name: store.DriverPostgres, open: openTestPostgres},
}

// forEachEngine runs fn against SQLite and PostgreSQL, in parallel.
func forEachEngine(t *testing.T, fn func(t *testing.T, e testEngine)) {
	t.Helper()
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// openTestSQLite opens a new SQLite store in t's temporary directory.
func openTestSQLite(t testing.TB, cfg store.Config) store.Store {
	t.Helper()
	cfg.Driver, cfg.Path = store.DriverSQLite, filepath.Join(t.TempDir(), "responses.db")
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openTestPostgres opens a store in a fresh schema of the test PostgreSQL,
// dropped when t ends; it skips t when no PostgreSQL is configured.
func openTestPostgres(t testing.TB, cfg store.Config) store.Store {
	t.Helper()
	dsn := testPostgresDSN(t)
	cfg.Driver, cfg.DSN, cfg.Schema = store.DriverPostgres, dsn, testutil.PostgresSchema(t, dsn, "cxloop_collector_test_")
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testPostgresDSN returns the test PostgreSQL's DSN or skips t.
func testPostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envTestPostgresDSN)
	if dsn == "" {
		t.Skip(skipPostgres)
	}
	return dsn
}

// feedbackTouchpoint is a touchpoint with one question of each kind the
// tests need, a 100-character comment and text analytics.
func feedbackTouchpoint(name string) *cxv1alpha1.SurveyTouchpoint {
	return &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme", Generation: 1},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "recommend", Text: "How likely are you to recommend us?", Type: cxv1alpha1.QuestionNPS, Required: true},
				{ID: "ease", Text: "How easy was it?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 5}},
				{ID: "resolved", Text: "Was your issue resolved?", Type: cxv1alpha1.QuestionYesNo, Required: true},
				{ID: "contact", Text: "How did you reach us?", Type: cxv1alpha1.QuestionChoice,
					Choices: []cxv1alpha1.Choice{{Value: "web"}, {Value: "phone"}, {Value: "store"}}},
				{ID: "improve", Text: "What should we improve?", Type: cxv1alpha1.QuestionText, MaxLength: ptr.To[int32](200)},
			},
			Comment: &cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 100},
			TextAnalytics: &cxv1alpha1.TextAnalyticsSpec{Sentiment: true, Themes: []cxv1alpha1.Theme{
				{Name: "billing", Keywords: []string{"invoice", "charge", "refund"}},
				{Name: "speed", Keywords: []string{"slow", "fast", "quick"}},
			}},
		},
	}
}

// validResponse is a response feedbackTouchpoint accepts; tests change it.
func validResponse(id string) map[string]any {
	return map[string]any{
		"id": id,
		"customer": map[string]any{"id": "C-" + id, "tier": "Gold",
			"attributes": map[string]any{"email": id + "@example.com", "plan": "pro"}},
		"answers":  map[string]any{"recommend": 9, "ease": 4, "resolved": true, "contact": "web", "improve": "nothing"},
		"comment":  "all good",
		"metadata": map[string]any{"store": "berlin"},
	}
}

// testServer is a collector Server behind a real HTTP server on loopback,
// with its real store and clock.
type testServer struct {
	*Server
	// URL serves the public surface, PrivateURL the private one, as
	// cxloop collector does on its two ports.
	URL        string
	PrivateURL string
	Store      store.Store
	Clock      *testutil.Clock
	// Token is sent as the bearer credential to the private surface;
	// empty sends none.
	Token string
}

// startServer opens a store of engine e and serves tp. Options left zero
// get the test's defaults: namespace acme, the test signing key and a clock
// at testNow shared with the store.
func startServer(t testing.TB, e testEngine, tp *cxv1alpha1.SurveyTouchpoint, opts Options) *testServer {
	t.Helper()
	clock := testutil.NewClock(testNow)
	var srv atomic.Pointer[Server]
	st := e.open(t, store.Config{Now: clock.Now, OnCommit: func(c store.CommitStats) {
		if s := srv.Load(); s != nil {
			s.ObserveCommit(c)
		}
	}})
	return serveStore(t, st, clock, &srv, tp, opts)
}

// serveStore serves tp from an already open store (several touchpoints may
// share one); commits is where the store's OnCommit looks for the server.
func serveStore(t testing.TB, st store.Store, clock *testutil.Clock, commits *atomic.Pointer[Server], tp *cxv1alpha1.SurveyTouchpoint, opts Options) *testServer {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = "acme"
	}
	if opts.SigningKey == nil {
		opts.SigningKey = testSigningKey
	}
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.APIToken == nil {
		opts.APIToken = []byte(testAPIToken)
	}
	opts.Store = st
	opts.Log = logr.Discard()
	s, err := NewServer(tp, opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	if commits != nil {
		commits.Store(s)
	}
	hs := httptest.NewServer(s.PublicHandler())
	t.Cleanup(hs.Close)
	ps := httptest.NewServer(s.PrivateHandler())
	t.Cleanup(ps.Close)
	return &testServer{Server: s, URL: hs.URL, PrivateURL: ps.URL, Store: st, Clock: clock, Token: string(opts.APIToken)}
}

// target is the private surface with the test's credential.
func (ts *testServer) target() collectorclient.Target {
	return collectorclient.Target{Endpoint: ts.PrivateURL, Token: ts.Token}
}

// httpAnswer is a response of the API with its body read.
type httpAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request with body (a string, bytes, or a value encoded as
// JSON) and reads the answer. Paths of the private surface go to it with
// ts.Token; the others to the public surface.
func (ts *testServer) do(t testing.TB, method, path string, body any) httpAnswer {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode request: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, pattern := ts.private.Handler(req); pattern != "" && !strings.HasPrefix(pattern, "GET /healthz") && !strings.HasPrefix(pattern, "GET /readyz") {
		if req, err = http.NewRequest(method, ts.PrivateURL+path, r); err != nil {
			t.Fatal(err)
		}
		if ts.Token != "" {
			req.Header.Set("Authorization", "Bearer "+ts.Token)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer of %s %s: %v", method, path, err)
	}
	return httpAnswer{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (ts *testServer) post(t testing.TB, path string, body any) httpAnswer {
	t.Helper()
	return ts.do(t, http.MethodPost, path, body)
}

func (ts *testServer) get(t testing.TB, path string) httpAnswer {
	t.Helper()
	return ts.do(t, http.MethodGet, path, nil)
}

// receipt checks a 202 answer and returns its receipt.
func (a httpAnswer) receipt(t testing.TB) Receipt {
	t.Helper()
	if a.Status != http.StatusAccepted {
		t.Fatalf("status %d, want 202; body %s", a.Status, a.Body)
	}
	var r Receipt
	if err := json.Unmarshal(a.Body, &r); err != nil {
		t.Fatalf("decode receipt %s: %v", a.Body, err)
	}
	return r
}

// problem checks an RFC 7807 answer with the given status and returns it.
func (a httpAnswer) problem(t testing.TB, status int) Problem {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status %d, want %d; body %s", a.Status, status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(a.Body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", a.Body, err)
	}
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Errorf("problem %+v lacks its type, title or status %d", p, status)
	}
	return p
}

// invitation asks POST /v1/invitations for customer.
func (ts *testServer) invitation(t testing.TB, customer string) (int, InvitationAnswer) {
	t.Helper()
	a := ts.post(t, "/v1/invitations", map[string]any{"customer": map[string]any{"id": customer}})
	var ans InvitationAnswer
	if err := json.Unmarshal(a.Body, &ans); err != nil {
		t.Fatalf("decode invitation answer (%d) %s: %v", a.Status, a.Body, err)
	}
	return a.Status, ans
}

// total is the number of responses of touchpoint in st.
func total(t testing.TB, st store.Store, touchpoint string) int64 {
	t.Helper()
	n, _, _, err := st.Counts(context.Background(), touchpoint, time.Time{})
	if err != nil {
		t.Fatalf("count responses: %v", err)
	}
	return n
}

// metricValue returns the value of the sample named series (name with
// labels exactly as exposed, e.g. `x_total{result="accepted"}`) in a
// Prometheus text exposition, and whether it is there.
func metricValue(exposition, series string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}
