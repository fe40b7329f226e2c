package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
)

// pageClients is how many browsers load or submit the page at once.
const pageClients = 32

// BenchmarkSurveyPage loads (GET /s/{token}) and submits (POST, stored in
// SQLite with synchronous=FULL, then 303) the survey page over a real HTTP
// server on loopback from 32 concurrent keep-alive connections, and reports
// requests/s and p50/p99 latency. "bare" is the ceiling: a handler that
// answers a page of the same size with the same headers, without
// verifying a token or rendering.
//
//	go test ./internal/collector -run '^$' -bench SurveyPage -benchtime 5000x
func BenchmarkSurveyPage(b *testing.B) {
	tp := pageTouchpoint(true, nil)
	st := openTestSQLite(b, store.Config{})
	s, err := NewServer(tp, Options{Namespace: "acme", Store: st, SigningKey: testSigningKey, APIToken: []byte(testAPIToken)})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	// Tokens issued up front, one per request (a submitted link is used).
	tokens := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			tok, claims, err := s.signer.Issue("acme", tp.Name, fmt.Sprintf("C-%d-%d", benchSeq.Add(1), i), time.Now(), time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if err := st.RecordInvitation(context.Background(), store.Invitation{TokenID: claims.ID, Touchpoint: tp.Name,
				CustomerID: claims.Customer, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			out[i] = tok
		}
		return out
	}
	sample := tokens(1)[0]
	page := mustGet(b, hs.URL+"/s/"+sample)

	b.Run("bare", func(b *testing.B) {
		bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			pageHeaders(w)
			_, _ = io.WriteString(w, page)
		}))
		defer bare.Close()
		runPageRequests(b, func(c *http.Client, _ int) (*http.Response, error) { return c.Get(bare.URL + "/s/" + sample) }, http.StatusOK)
	})
	b.Run("get", func(b *testing.B) {
		runPageRequests(b, func(c *http.Client, _ int) (*http.Response, error) { return c.Get(hs.URL + "/s/" + sample) }, http.StatusOK)
	})
	b.Run("submit", func(b *testing.B) {
		toks := tokens(b.N)
		runPageRequests(b, func(c *http.Client, i int) (*http.Response, error) {
			form := url.Values{"a.recommend": {"3"}, "a.resolved": {"no"}, "comment": {"It hung at 80%."},
				formFieldCSRF: {s.formKey("survey", tokenClaimsID(toks[i]))}}
			return c.PostForm(hs.URL+"/s/"+toks[i], form)
		}, http.StatusSeeOther)
	})
}

func tokenClaimsID(tok string) string {
	var s Server
	c, _ := s.readToken(tok)
	return c.ID
}

func mustGet(b *testing.B, u string) string {
	b.Helper()
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET page: %d", resp.StatusCode)
	}
	return string(body)
}

// runPageRequests runs b.N requests from pageClients goroutines; redirects
// are not followed, so a submit is measured up to its 303.
func runPageRequests(b *testing.B, do func(c *http.Client, i int) (*http.Response, error), want int) {
	tr := &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var next atomic.Int64
	latencies := make([][]time.Duration, pageClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range pageClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				resp, err := do(client, i)
				if err != nil {
					b.Errorf("request: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != want {
					b.Errorf("status %d, want %d", resp.StatusCode, want)
					return
				}
				latencies[g] = append(latencies[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "requests/s")
	b.ReportMetric(ms(all[len(all)*50/100]), "p50-ms")
	b.ReportMetric(ms(all[len(all)*99/100]), "p99-ms")
}

// discardSender accepts every message.
type discardSender struct{ n atomic.Int64 }

func (d *discardSender) SendToCustomer(context.Context, string, string, notify.CustomerMessage) error {
	d.n.Add(1)
	return nil
}

// BenchmarkScheduledInvitations schedules 100,000 invitations (events
// through the store, 72h ahead) in SQLite, then sends them all when due,
// and reports the store's size on disk per invitation and in all, the send
// rate (sampling and contact frequency decided, token issued and recorded,
// message rendered, state written) with the process's CPU time per
// message (user and system, which a loaded machine does not inflate as
// it does the rate), and the process's resident memory after sending.
// CXLOOP_BENCH_INVITATIONS changes the count.
//
//	go test ./internal/collector -run '^$' -bench ScheduledInvitations -benchtime 1x
func BenchmarkScheduledInvitations(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("CXLOOP_BENCH_INVITATIONS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		path := filepath.Join(dir, "responses.db")
		clock := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		now := func() time.Time { return clock }
		st, err := store.Open(context.Background(), store.Config{Driver: store.DriverSQLite, Path: path, Now: now})
		if err != nil {
			b.Fatal(err)
		}
		sender := &discardSender{}
		s, err := NewServer(distributingTouchpoint(), Options{Namespace: "acme", Store: st, SigningKey: testSigningKey,
			PublicURL: "https://survey.example.com/install", CustomerSender: sender, Now: now})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.StartTimer()
		t0, cpu0 := time.Now(), cpuTime()
		for i := range n {
			e := EventRequest{ID: fmt.Sprintf("ev-%d", i), Name: "upgrade-downloaded",
				Customer: EventCustomer{ID: fmt.Sprintf("C-%d", i), Tier: "Gold", Email: fmt.Sprintf("c%d@example.com", i), FirstName: "Ada"}}
			msg, _, _ := s.planInvitation(s.state.Load(), &e, clock)
			if _, _, err := st.RecordEvent(ctx, store.Event{Namespace: "acme", Touchpoint: "install", ID: e.ID, Name: e.Name,
				CustomerID: e.Customer.ID, OccurredAt: clock, ReceivedAt: clock, Outcome: OutcomeScheduled, BodyHash: "h"}, msg); err != nil {
				b.Fatal(err)
			}
		}
		scheduled, scheduleCPU := time.Since(t0), cpuTime()-cpu0
		size := dirSize(dir)
		clock = clock.Add(72 * time.Hour)
		t1, cpu1 := time.Now(), cpuTime()
		sent, err := s.SendDue(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sending, sendCPU := time.Since(t1), cpuTime()-cpu1
		b.StopTimer()
		if sent != n || sender.n.Load() != int64(n) {
			b.Fatalf("handled %d, sent %d, want %d", sent, sender.n.Load(), n)
		}
		b.ReportMetric(float64(n)/scheduled.Seconds(), "scheduled/s")
		b.ReportMetric(float64(n)/sending.Seconds(), "sent/s")
		b.ReportMetric(float64(scheduleCPU.Nanoseconds())/float64(n), "schedule-cpu-ns/invitation")
		b.ReportMetric(float64(sendCPU.Nanoseconds())/float64(n), "send-cpu-ns/invitation")
		b.ReportMetric(float64(size)/float64(n), "store-bytes/invitation")
		b.ReportMetric(float64(size)/(1<<20), "store-MiB")
		b.ReportMetric(rssMiB(), "rss-MiB")
		_ = st.Close()
	}
}

func dirSize(dir string) int64 {
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return total
}

// cpuTime is the user and system CPU time the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB is the process's peak resident set size.
func rssMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}
