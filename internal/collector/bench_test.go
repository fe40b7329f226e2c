package collector

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// ingestClients is how many client connections post at once.
const ingestClients = 64

// benchSeq numbers the responses of all benchmark runs, so ids are unique.
var benchSeq atomic.Int64

// BenchmarkIngest posts single responses to POST /v1/responses over a real
// HTTP server on loopback from 64 concurrent keep-alive connections, and
// reports throughput and the p50 and p99 latency of one request. "bare" is
// the ceiling without durability: the collector's own decoding, validation
// and text analytics, then 202 without storing. "sqlite" and "postgres" run
// the collector's handler, which answers 202 once the response is committed
// (SQLite: WAL with synchronous=FULL; both: group commit).
//
//	go test ./internal/collector -run '^$' -bench Ingest -benchtime 20000x
//
// BenchmarkIngestOneRule is the same with one rule that opens a Case for
// the detractors (7 responses in 11), so the durable path also writes
// outbox actions; bare evaluates the rule too. Targets (issue 17): SQLite
// at least 0.6 of bare with p99 under 2x bare's, PostgreSQL at least 0.3.
func BenchmarkIngest(b *testing.B) { benchIngest(b, nil) }

func BenchmarkIngestOneRule(b *testing.B) {
	benchIngest(b, []cxv1alpha1.AlertRule{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "detractor"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"bench"}},
			Condition:   "answers.recommend <= 6",
			Actions:     cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "support"}},
		},
	}})
}

func benchIngest(b *testing.B, alertRules []cxv1alpha1.AlertRule) {
	b.Run("bare", func(b *testing.B) {
		srv := benchServer(b, openTestSQLite(b, store.Config{}), nil, alertRules)
		runIngest(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := srv.opts.Now()
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				writeProblem(w, Problem{Type: problemTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge})
				return
			}
			nr, errs, tokenErr := srv.prepare(srv.state.Load(), body, now)
			if errs != nil || tokenErr != nil {
				writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid response", Status: http.StatusBadRequest, Errors: errs})
				return
			}
			writeJSON(w, http.StatusAccepted, Receipt{ID: nr.ID, Status: "accepted", ReceivedAt: now})
		}))
	})
	for _, e := range testEngines {
		b.Run(e.name, func(b *testing.B) {
			var commits, responses, busy atomic.Int64
			var srv atomic.Pointer[Server]
			st := e.open(b, store.Config{OnCommit: func(c store.CommitStats) {
				commits.Add(1)
				responses.Add(int64(c.Responses))
				busy.Add(int64(c.Duration))
				if s := srv.Load(); s != nil {
					s.ObserveCommit(c)
				}
			}})
			s := benchServer(b, st, &srv, alertRules)
			elapsed := runIngest(b, s.Handler())
			if n := commits.Load(); n > 0 {
				b.ReportMetric(float64(responses.Load())/float64(n), "responses/commit")
				b.ReportMetric(float64(busy.Load())/float64(n)/1e3, "us/commit")
			}
			if elapsed > 0 {
				b.ReportMetric(float64(busy.Load())/float64(elapsed), "commit-busy")
			}
		})
	}
}

func benchServer(b *testing.B, st store.Store, commits *atomic.Pointer[Server], alertRules []cxv1alpha1.AlertRule) *Server {
	b.Helper()
	s, err := NewServer(feedbackTouchpoint("bench"), Options{Namespace: "acme", Store: st})
	if err != nil {
		b.Fatal(err)
	}
	if len(alertRules) > 0 {
		if skipped := s.SetAlertRules(alertRules); len(skipped) > 0 {
			b.Fatalf("rules not compiled: %v", skipped)
		}
	}
	if commits != nil {
		commits.Store(s)
	}
	return s
}

// runIngest posts b.N responses to h from ingestClients goroutines and
// reports responses/s, the p50 and p99 latency of one request and the
// process's CPU time per response (handlers, committer and clients; the
// load generator's share is the same in every mode). It returns how long
// the posting took.
func runIngest(b *testing.B, h http.Handler) time.Duration {
	hs := httptest.NewServer(h)
	defer hs.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: ingestClients, MaxConnsPerHost: ingestClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := hs.URL + "/v1/responses"

	var next atomic.Int64
	latencies := make([][]time.Duration, ingestClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, cpuOK := testutil.CPUTime()
	start := time.Now()
	for g := range ingestClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				body := fmt.Appendf(nil, `{"id":"bench-%d","customer":{"id":"C%d","tier":"Gold","attributes":{"email":"a@example.com"}},`+
					`"answers":{"recommend":%d,"ease":4,"resolved":true,"contact":"web"},"comment":"Quick and friendly, but the invoice was wrong.",`+
					`"metadata":{"store":"berlin"}}`, benchSeq.Add(1), g, g%11)
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Errorf("post: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("status %d, want 202", resp.StatusCode)
					return
				}
				latencies[g] = append(latencies[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := testutil.CPUTime()
	b.StopTimer()
	all := slices.Concat(latencies...)
	if len(all) == 0 {
		return elapsed
	}
	if cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(len(all)), "cpu-us/response")
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "responses/s")
	b.ReportMetric(ms(all[len(all)*50/100]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
	return elapsed
}
