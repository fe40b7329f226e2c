package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/store"
)

// metricsServer serves installTouchpoint on a real SQLite store at testNow.
func metricsServer(t *testing.T) (*httptest.Server, store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "r.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := NewServer(installTouchpoint(), Options{Namespace: "acme", Store: st, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, st
}

func postJSON(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// GET /v1/metrics answers with aggregates that count exactly the responses
// of the window, per group, and that the client decodes.
func TestMetricsAPIAggregatesTheWindowPerGroup(t *testing.T) {
	ts, _ := metricsServer(t)
	posts := []struct {
		store     string
		recommend int
		ago       time.Duration
	}{
		{"berlin", 10, time.Hour}, {"berlin", 9, 2 * time.Hour}, {"berlin", 3, 3 * time.Hour},
		{"paris", 7, time.Hour}, {"paris", 0, 30 * time.Hour},
		{"paris", 10, 9 * 24 * time.Hour}, // outside a 7-day window
	}
	for i, p := range posts {
		body := fmt.Sprintf(`{"id":"r-%d","customer":{"id":"C%d"},"answers":{"completed":true,"recommend":%d,"ease":8},
			"metadata":{"store":%q},"submittedAt":%q}`, i, i, p.recommend, p.store, testNow.Add(-p.ago).Format(time.RFC3339))
		if resp := postJSON(t, ts.URL+"/v1/responses", body); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post %d: %s", i, resp.Status)
		}
	}
	c := NewClient(nil)
	res, err := c.Metrics(context.Background(), ts.URL, MetricsQuery{From: testNow.Add(-7 * 24 * time.Hour), To: testNow.Add(time.Minute), GroupBy: "metadata.store"})
	if err != nil {
		t.Fatal(err)
	}
	berlin, paris := res.Groups["berlin"].Question("recommend"), res.Groups["paris"].Question("recommend")
	if berlin.Promoters != 2 || berlin.Detractors != 1 || berlin.Passives != 0 {
		t.Errorf("berlin NPS counts = %+v, want 2 promoters, 1 detractor", berlin)
	}
	if paris.Promoters != 0 || paris.Passives != 1 || paris.Detractors != 1 {
		t.Errorf("paris NPS counts = %+v, want 1 passive, 1 detractor (the 9-day-old promoter is outside the window)", paris)
	}
	if got := res.Groups["berlin"].Question("completed"); got.Yes != 3 {
		t.Errorf("berlin completed = %+v, want 3 yes", got)
	}

	// The default window is the last 7 days, ungrouped.
	resp, err := http.Get(ts.URL + "/v1/metrics?window=24h")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("window=24h: %s", resp.Status)
	}
	res, err = c.Metrics(context.Background(), ts.URL, MetricsQuery{From: testNow.Add(-24 * time.Hour), To: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Groups[""].Responses; got != 4 {
		t.Errorf("responses in the last 24h = %d, want 4", got)
	}
}

// A bad query is answered 400 naming the parameter and the fix.
func TestMetricsAPIRejectsBadQueries(t *testing.T) {
	ts, _ := metricsServer(t)
	for query, want := range map[string]string{
		"window=7x":                           `"field":"window"`,
		"window=-1h":                          "must be positive",
		"from=yesterday":                      `"field":"from"`,
		"groupBy=store":                       "use metadata.\\u003ckey\\u003e",
		"window=1h&from=2026-11-01T00:00:00Z": "give window or from, not both",
		"from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z": "must be before to",
	} {
		resp, err := http.Get(ts.URL + "/v1/metrics?" + query)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %s %s, want 400 containing %s", query, resp.Status, body, want)
		}
	}
	_, err := NewClient(nil).Metrics(context.Background(), ts.URL, MetricsQuery{GroupBy: "nope"})
	if !IsClientError(err) || !strings.Contains(err.Error(), "groupBy") {
		t.Errorf("client error = %v, want a client error naming groupBy", err)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
