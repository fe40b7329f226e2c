package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSaveResponses: 64 concurrent writers (like 64 HTTP handlers),
// each saving one response at a time, every tenth with an outbox action.
//
//	go test ./internal/store -run '^$' -bench SaveResponses -benchtime 20000x
func BenchmarkSaveResponses(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			var commits, responses, commitNanos atomic.Int64
			s, _ := e.open(b, Config{OnCommit: func(c CommitStats) {
				commits.Add(1)
				responses.Add(int64(c.Responses))
				commitNanos.Add(int64(c.Duration))
			}})
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					r := newResponse("bench", fmt.Sprintf("resp-%d", i), t0)
					if i%10 == 0 {
						r.Actions = []NewAction{{Kind: ActionNotify, Payload: json.RawMessage(`{"channel":"team"}`)}}
					}
					res, err := s.SaveResponses(ctx, []NewResponse{r})
					if err != nil || res[0].Status != StatusStored {
						b.Errorf("save: %v %+v", err, res)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "responses/s")
			if n := commits.Load(); n > 0 {
				b.ReportMetric(float64(responses.Load())/float64(n), "responses/commit")
				b.ReportMetric(float64(commitNanos.Load())/float64(n)/1e6, "ms/commit")
			}
		})
	}
}

// aggSeedVersion changes when the benchmark's seed data changes.
const aggSeedVersion = 3

// BenchmarkAggregate1M aggregates 1,000,000 responses of 10 touchpoints on
// SQLite, grouped by a metadata key. The seeded database is cached under
// os.TempDir() (keyed by schema and seed version), so only the first run
// pays for seeding.
//
//	go test ./internal/store -run '^$' -bench Aggregate1M -benchtime 5x
func BenchmarkAggregate1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(os.TempDir(), fmt.Sprintf("cxloop-store-bench-aggregate-1m-schema%d-seed%d.db", LatestSchemaVersion(), aggSeedVersion))
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := seedAggregateBench(path, n); err != nil {
			b.Fatalf("seed: %v", err)
		}
		b.Logf("seeded %d responses into %s in %v", n, path, time.Since(start).Round(time.Millisecond))
	}
	s, err := Open(context.Background(), Config{Driver: DriverSQLite, Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tps := make([]string, 10)
	for i := range tps {
		tps[i] = fmt.Sprintf("touchpoint-%d", i)
	}
	q := AggregateQuery{
		Touchpoints: tps, From: t0.Add(-90 * 24 * time.Hour), To: t0.Add(time.Hour), GroupBy: "metadata.store",
		Questions: []QuestionSpec{
			{ID: "nps", Kind: KindNPS},
			{ID: "ease", Kind: KindNumeric, ScaleMin: 1, ScaleMax: 10},
			{ID: "completed", Kind: KindYesNo},
		},
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := s.Aggregate(context.Background(), q)
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Total().Responses; got != n {
			b.Fatalf("aggregated %d responses, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "responses/s")
}

// seedAggregateBench writes n responses in large transactions straight
// through the writer connection, then renames the file into place.
func seedAggregateBench(path string, n int) error {
	partial := path + ".partial"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(partial + suffix)
	}
	ctx := context.Background()
	st, err := Open(ctx, Config{Driver: DriverSQLite, Path: partial, Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	s, ok := st.(*sqliteStore)
	if !ok {
		return fmt.Errorf("%T is not the SQLite store", st)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	themes := []string{`[]`, `[]`, `[]`, `["install"]`, `["docs"]`, `["refund","billing"]`}
	const perTx = 100_000
	for done := 0; done < n; done += perTx {
		tx, err := s.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO responses (touchpoint, response_id, customer_id, customer_tier,
			customer_segment, customer_attributes, answers, comment, sentiment, themes, metadata, submitted_at, received_at)
			VALUES (?, ?, ?, ?, '', jsonb('{}'), jsonb(?), '', ?, jsonb(?), jsonb(?), ?, ?)`)
		if err != nil {
			tx.Rollback() //nolint:errcheck // the error that made us roll back matters more
			return err
		}
		for i := done; i < min(done+perTx, n); i++ {
			// Responses arrive about in the order they were given, over 60 days.
			submitted := t0.Add(-60*24*time.Hour + time.Duration(i)*(60*24*time.Hour/time.Duration(n)) + time.Duration(rng.Int64N(int64(time.Hour))))
			answers := fmt.Sprintf(`{"nps":%d,"ease":%d,"completed":%t}`, rng.IntN(11), 1+rng.IntN(10), rng.IntN(4) != 0)
			var sentiment any
			if rng.IntN(3) != 0 {
				sentiment = rng.Float64()*2 - 1
			}
			metadata := fmt.Sprintf(`{"store":"store-%02d","agent":"agent-%03d"}`, rng.IntN(20), rng.IntN(200))
			if _, err := stmt.ExecContext(ctx, fmt.Sprintf("touchpoint-%d", i%10), fmt.Sprintf("resp-%07d", i),
				fmt.Sprintf("cust-%d", rng.IntN(100_000)), []string{"Gold", "Silver", "Bronze"}[rng.IntN(3)],
				answers, sentiment, themes[rng.IntN(len(themes))], metadata, micros(submitted), micros(submitted)); err != nil {
				tx.Rollback() //nolint:errcheck // the error that made us roll back matters more
				return err
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if _, err := s.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(partial + suffix)
	}
	return os.Rename(partial, path)
}
