package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

const (
	benchResponses   = 1_000_000
	benchTouchpoints = 10
	// benchSeedVersion names the data set; change it when the seed changes.
	benchSeedVersion = 1
)

// benchEnd is the run time of the benchmark's report: the responses cover
// the eight weeks before it.
var benchEnd = time.Date(2026, time.March, 9, 8, 0, 0, 0, time.UTC)

func benchTouchpointList() []cxv1alpha1.SurveyTouchpoint {
	tps := make([]cxv1alpha1.SurveyTouchpoint, benchTouchpoints)
	for i := range tps {
		tps[i] = cxv1alpha1.SurveyTouchpoint{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("touchpoint-%d", i), Namespace: "bench"},
			Spec: cxv1alpha1.SurveyTouchpointSpec{Channel: cxv1alpha1.ChannelWeb, Questions: []cxv1alpha1.Question{
				{ID: "nps", Text: "Recommend?", Type: cxv1alpha1.QuestionNPS},
				{ID: "ease", Text: "Ease", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 10), KPI: cxv1alpha1.KPICES},
				{ID: "completed", Text: "Completed?", Type: cxv1alpha1.QuestionYesNo},
				{ID: "docs", Text: "Documentation", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true},
				{ID: "support", Text: "Support", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true},
			}},
		}
	}
	return tps
}

// benchStore opens the benchmark's SQLite file, filling it on first use
// with benchResponses responses through the store's bulk SaveResponses.
// The file is kept in the temp directory (named by schema and seed
// version), so later runs reuse it.
func benchStore(b *testing.B) store.Store {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("cxloop-report-bench-schema%d-seed%d.db", store.LatestSchemaVersion(), benchSeedVersion))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := seedBench(ctx, path); err != nil {
			b.Fatalf("seed %s: %v", path, err)
		}
		b.Logf("filled %s with %d responses in %v", path, benchResponses, time.Since(start).Round(time.Millisecond))
	}
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

func seedBench(ctx context.Context, path string) error {
	partial := path + ".partial"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(partial + suffix)
	}
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: partial, Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 5))
	tiers := []string{"Gold", "Silver", "Bronze"}
	themes := [][]string{nil, nil, nil, {"install"}, {"docs"}, {"refund", "billing"}}
	start := benchEnd.AddDate(0, 0, -56)
	const batch = 50_000
	for done := 0; done < benchResponses; done += batch {
		rs := make([]store.NewResponse, 0, batch)
		for i := done; i < min(done+batch, benchResponses); i++ {
			docs, support := 1+rng.IntN(5), 1+rng.IntN(5)
			answers, _ := json.Marshal(map[string]any{
				"nps": min(10, docs+support-2+rng.IntN(3)), "ease": 1 + rng.IntN(10), "completed": rng.IntN(4) != 0,
				"docs": docs, "support": support,
			})
			var sentiment *float64
			if rng.IntN(3) != 0 {
				s := rng.Float64()*2 - 1
				sentiment = &s
			}
			rs = append(rs, store.NewResponse{
				Touchpoint: fmt.Sprintf("touchpoint-%d", i%benchTouchpoints),
				ID:         fmt.Sprintf("r-%07d", i),
				Customer:   store.Customer{ID: fmt.Sprintf("c-%d", rng.IntN(100_000)), Tier: tiers[rng.IntN(len(tiers))]},
				Answers:    answers,
				Sentiment:  sentiment,
				Themes:     themes[rng.IntN(len(themes))],
				Metadata:   map[string]string{"store": fmt.Sprintf("store-%02d", rng.IntN(20))},
				// In submission order over the eight weeks.
				SubmittedAt: start.Add(time.Duration(i) * (56 * 24 * time.Hour / benchResponses)),
			})
		}
		res, err := st.SaveResponses(ctx, rs)
		if err != nil {
			_ = st.Close()
			return err
		}
		for _, r := range res {
			if r.Status != store.StatusStored {
				_ = st.Close()
				return fmt.Errorf("save: %v: %w", r.Status, r.Err)
			}
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(partial + suffix)
	}
	return os.Rename(partial, path)
}

// BenchmarkReport1M builds and renders a report with every section over
// 1,000,000 responses of 10 touchpoints in one SQLite store: the KPIs of
// the week and the week before, eight weekly trend points, segments by
// tier, key drivers, themes and goals, as HTML with charts, text and JSON.
func BenchmarkReport1M(b *testing.B) {
	st := benchStore(b)
	sub := fixtureSubscription()
	sub.Spec.Touchpoints = cxv1alpha1.TouchpointSelection{Selector: &metav1.LabelSelector{}}
	sub.Spec.TimeZone = "UTC"
	tps := benchTouchpointList()
	in := report.Input{Subscription: sub, Touchpoints: tps, Cases: fixtureCases(), Source: source(st), End: benchEnd}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	cpuStart, cpuOK := testutil.CPUTime()
	for b.Loop() {
		r, err := report.Build(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := report.Render(r); err != nil {
			b.Fatal(err)
		}
		var trend int64
		for _, s := range r.Sections {
			if s.Trend != nil {
				for _, n := range s.Trend.Responses {
					trend += n
				}
			}
		}
		if trend != benchResponses {
			b.Fatalf("the trend counted %d responses, want %d", trend, benchResponses)
		}
	}
	b.ReportMetric(float64(benchResponses)*float64(b.N)/time.Since(start).Seconds(), "responses/s")
	// CPU time per report: on a busy machine the wall time says more about
	// the neighbours than about the report.
	if cpuEnd, ok := testutil.CPUTime(); ok && cpuOK {
		b.ReportMetric((cpuEnd-cpuStart).Seconds()/float64(b.N), "cpu-s/op")
	}
}
