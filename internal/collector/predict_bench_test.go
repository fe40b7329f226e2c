package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// benchEventBatch is how many events one op posts and scores.
const benchEventBatch = 1000

// BenchmarkPredictionScoring sets the cost of scoring an unanswered
// interaction beside the cost of taking in its event, in one run, on one
// SQLite store that holds 2,000 answered interactions and an accepted
// model. "ingest" posts 1,000 new events per op to POST /v1/events:batch;
// "score" posts 1,000 (untimed), lets their join window pass, and times
// one PredictOnce: read the 90-day history of events and answers, join,
// score the new interactions, run the rule on predicted.* and store the
// scores with their outbox actions. Both report ns/event; "score" reads a
// history that grows by 1,000 events per op.
//
//	go test ./internal/collector -run '^$' -bench PredictionScoring -benchtime 5x
func BenchmarkPredictionScoring(b *testing.B) {
	ctx := context.Background()
	clock := testutil.NewClock(testNow)
	st := openTestSQLite(b, store.Config{Now: clock.Now})
	tp := predictingTouchpoint()
	tp.Spec.Prediction.RetrainEvery = &cxv1alpha1.Duration{Duration: 365 * 24 * time.Hour} // no retraining in a timed pass
	srv, err := NewServer(tp, Options{Namespace: "acme", Store: st, Now: clock.Now, APIToken: []byte(testAPIToken), Log: logr.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	srv.SetAlertRules([]cxv1alpha1.AlertRule{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "likely-gold-detractor"},
		Spec: cxv1alpha1.AlertRuleSpec{Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support"}},
			Condition: `predicted.detractor > 0.8 && customer.tier == "Gold"`,
			Actions:   cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "save"}}},
	}})
	post := privatePoster(srv.PrivateHandler())
	rng := rand.New(rand.NewPCG(3, 4))
	seq := 0
	// events makes n events; answer, when set, is called with each one's
	// customer, ticket and transfers.
	events := func(n int, at time.Time, answer func(customer, ticket string, transfers int)) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			seq++
			customer, ticket, transfers := fmt.Sprintf("c-%d", seq), fmt.Sprint(seq), rng.IntN(5)
			out[i] = map[string]any{"id": fmt.Sprintf("ev-%d", seq), "name": "ticket-closed", "occurredAt": at,
				"customer": map[string]any{"id": customer, "tier": []string{"Gold", "Silver"}[seq%2]},
				"metadata": map[string]any{"ticket": ticket, "transfers": fmt.Sprint(transfers)}}
			if answer != nil {
				answer(customer, ticket, transfers)
			}
		}
		return out
	}
	// 2,000 answered interactions whose detractor odds rise with transfers.
	var responses []map[string]any
	answered := events(2000, clock.Now().Add(-30*24*time.Hour), func(customer, ticket string, transfers int) {
		score := 9
		if rng.Float64() < 1/(1+math.Exp(2.5-1.5*float64(transfers))) {
			score = 3
		}
		responses = append(responses, map[string]any{"id": "r-" + ticket, "customer": map[string]any{"id": customer},
			"answers": map[string]any{"recommend": score, "resolved": true}, "metadata": map[string]any{"ticket": ticket},
			"submittedAt": clock.Now().Add(-29 * 24 * time.Hour)})
	})
	for i := 0; i < len(answered); i += benchEventBatch {
		post(b, "/v1/events:batch", map[string]any{"events": answered[i : i+benchEventBatch]})
		post(b, "/v1/responses:batch", map[string]any{"responses": responses[i : i+benchEventBatch]})
	}
	pass, err := srv.PredictOnce(ctx)
	if err != nil || pass.Result == nil || pass.Result.Model == nil {
		b.Fatalf("training: %+v, %v", pass, err)
	}

	var cpu cpuMeter
	b.Run("ingest", func(b *testing.B) {
		cpu = cpuMeter{}
		for range b.N {
			b.StopTimer()
			batch := map[string]any{"events": events(benchEventBatch, clock.Now().Add(-time.Minute), nil)}
			b.StartTimer()
			cpu.start()
			post(b, "/v1/events:batch", batch)
			cpu.stop()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEventBatch), "ns/event")
		cpu.report(b, b.N*benchEventBatch)
	})
	b.Run("score", func(b *testing.B) {
		cpu = cpuMeter{}
		scored := 0
		for range b.N {
			b.StopTimer()
			post(b, "/v1/events:batch", map[string]any{"events": events(benchEventBatch, clock.Now().Add(-time.Minute), nil)})
			clock.Advance(4 * 24 * time.Hour)
			b.StartTimer()
			cpu.start()
			pass, err := srv.PredictOnce(ctx)
			cpu.stop()
			if err != nil {
				b.Fatal(err)
			}
			scored += pass.Scored
		}
		cpu.report(b, scored)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(scored, 1)), "ns/event")
		b.ReportMetric(float64(scored)/float64(b.N), "scored/op")
	})
}

// BenchmarkPredictionPass sets the cost of one scoring pass over a large
// history with few new events, on each engine: one store holds 20,000 answered
// and 10,000 scored interactions and an accepted model; each op posts 50
// new interactions whose join window has passed (untimed, an hour after
// the last op) and times one PredictOnce. "full" forgets the scoring
// cursor first, so the pass reads the whole 90-day history, joins and
// looks up every interaction, as every pass did before the cursor (and as
// the first pass of a model still does); "incremental" reads only the
// customers with something new. Both report CPU (of this process: on
// PostgreSQL the server's is not counted) and wall time per pass.
//
//	go test ./internal/collector -run '^$' -bench PredictionPass -benchtime 10x
func BenchmarkPredictionPass(b *testing.B) {
	for _, e := range testEngines {
		b.Run(e.name, func(b *testing.B) { benchPredictionPass(b, e) })
	}
}

func benchPredictionPass(b *testing.B, e testEngine) {
	ctx := context.Background()
	clock := testutil.NewClock(testNow)
	st := e.open(b, store.Config{Now: clock.Now})
	tp := predictingTouchpoint()
	tp.Spec.Prediction.RetrainEvery = &cxv1alpha1.Duration{Duration: 365 * 24 * time.Hour}
	srv, err := NewServer(tp, Options{Namespace: "acme", Store: st, Now: clock.Now, APIToken: []byte(testAPIToken), Log: logr.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	post := func(path string, body any) { privatePoster(srv.PrivateHandler())(b, path, body) }
	rng := rand.New(rand.NewPCG(5, 6))
	seq := 0
	batch := func(n int, at time.Time, answered bool) {
		events := make([]map[string]any, n)
		var responses []map[string]any
		for i := range events {
			seq++
			ticket, transfers := fmt.Sprint(seq), rng.IntN(5)
			events[i] = map[string]any{"id": "ev-" + ticket, "name": "ticket-closed", "occurredAt": at,
				"customer": map[string]any{"id": "c-" + ticket, "tier": "Gold"}, "metadata": map[string]any{"ticket": ticket, "transfers": fmt.Sprint(transfers)}}
			if answered {
				score := 9
				if rng.Float64() < 1/(1+math.Exp(2.5-1.5*float64(transfers))) {
					score = 3
				}
				responses = append(responses, map[string]any{"id": "r-" + ticket, "customer": map[string]any{"id": "c-" + ticket},
					"answers": map[string]any{"recommend": score, "resolved": true}, "metadata": map[string]any{"ticket": ticket},
					"submittedAt": at.Add(time.Hour)})
			}
		}
		post("/v1/events:batch", map[string]any{"events": events})
		if answered {
			post("/v1/responses:batch", map[string]any{"responses": responses})
		}
	}
	for i := range 30 {
		batch(1000, clock.Now().Add(-time.Duration(60-i)*24*time.Hour), i < 20)
	}
	clock.Advance(time.Hour)
	if pass, err := srv.PredictOnce(ctx); err != nil || pass.Result == nil || pass.Result.Model == nil || pass.Scored != 10000 {
		b.Fatalf("setup: %+v, %v", pass, err)
	}
	model := srv.prediction.last.Load().Model.TrainedAt
	for _, mode := range []string{"full", "incremental"} {
		b.Run(mode, func(b *testing.B) {
			var cpu cpuMeter
			read, scored := 0, 0
			for range b.N {
				b.StopTimer()
				clock.Advance(time.Hour)
				batch(50, clock.Now().Add(-4*24*time.Hour), false)
				if mode == "full" {
					if err := st.SaveScoringCursor(ctx, store.ScoringCursor{Namespace: "acme", Touchpoint: "support", ModelTrainedAt: model.Add(-time.Second)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				cpu.start()
				pass, err := srv.PredictOnce(ctx)
				cpu.stop()
				if err != nil || pass.Incremental != (mode == "incremental") {
					b.Fatalf("pass %+v, %v", pass, err)
				}
				read, scored = read+pass.Interactions, scored+pass.Scored
			}
			if cpu.ok {
				b.ReportMetric(float64(cpu.total.Nanoseconds())/float64(b.N), "cpu-ns/pass")
			}
			b.ReportMetric(float64(read)/float64(b.N), "read/pass")
			b.ReportMetric(float64(scored)/float64(b.N), "scored/pass")
		})
	}
}

// privatePoster posts JSON to the private surface h with the test's
// credential, in process, and fails on anything but 200.
func privatePoster(h http.Handler) func(b *testing.B, path string, body any) {
	return func(b *testing.B, path string, body any) {
		raw, _ := json.Marshal(body)
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+testAPIToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// cpuMeter adds up the process's CPU time over the timed parts only: on a
// loaded machine the wall time is not the cost.
type cpuMeter struct {
	at, total time.Duration
	ok        bool
}

func (m *cpuMeter) start() { m.at, m.ok = testutil.CPUTime() }

func (m *cpuMeter) stop() {
	if now, ok := testutil.CPUTime(); ok && m.ok {
		m.total += now - m.at
	}
}

func (m *cpuMeter) report(b *testing.B, events int) {
	if m.ok && events > 0 {
		b.ReportMetric(float64(m.total.Nanoseconds())/float64(events), "cpu-ns/event")
	}
}
