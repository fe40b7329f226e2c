package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cxloop/cxloop/internal/testutil"
)

// legacyDatabase creates a database as schema 0001 left it, with one
// response (r-1, seq 2, after r-0) with one action and one invitation of touchpoint
// checkout, and returns how to open it with this build.
func legacyDatabase(t *testing.T, engine string, now time.Time) func(Config) (Store, error) {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations(engine)
	if err != nil {
		t.Fatal(err)
	}
	var (
		q      querier
		d      dialect
		reopen func(Config) (Store, error)
	)
	switch engine {
	case DriverSQLite:
		path := filepath.Join(t.TempDir(), "responses.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		q, d = sqlQ{db}, sqliteDialect
		reopen = func(c Config) (Store, error) { c.Driver, c.Path = DriverSQLite, path; return Open(ctx, c) }
	default:
		dsn := os.Getenv(EnvPostgresDSN)
		if dsn == "" {
			t.Skip(skipPostgres)
		}
		schema := testutil.PostgresSchema(t, dsn, "cxloop_legacy_")
		pcfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		pcfg.ConnConfig.RuntimeParams["search_path"] = schema
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			t.Fatal(err)
		}
		q, d = pgQ{pool}, pgDialect
		reopen = func(c Config) (Store, error) {
			c.Driver, c.DSN, c.Schema = DriverPostgres, dsn, schema
			return Open(ctx, c)
		}
	}
	if err := applyMigrations(ctx, q, ms[:1]); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO responses (touchpoint, response_id, customer_id, submitted_at, received_at) VALUES ('checkout', 'r-0', 'C-0', ?, ?), ('checkout', 'r-1', 'C-1', ?, ?)`,
			[]any{d.ts(now.Add(-time.Hour)), d.ts(now.Add(-time.Hour)), d.ts(now.Add(-time.Hour)), d.ts(now.Add(-time.Hour))}},
		{`INSERT INTO outbox_actions (touchpoint, response_id, kind, dedup_key, payload, next_attempt_at, created_at) VALUES ('checkout', 'r-1', 'notify', 'r-1/notify/0', '{}', ?, ?)`,
			[]any{d.ts(now), d.ts(now)}},
		{`INSERT INTO invitations (token_id, touchpoint, customer_id, issued_at, expires_at) VALUES ('t-1', 'checkout', 'C-1', ?, ?)`,
			[]any{d.ts(now), d.ts(now.Add(time.Hour))}},
	} {
		if _, err := q.exec(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}
	return reopen
}

// A database written before namespaces were recorded (schema 0001) is
// migrated in place: a collector opening it for its namespace and
// touchpoint claims that touchpoint's responses, outbox actions and
// invitations, with their sequence numbers, and from then on two programs
// may use the same touchpoint name and response ids.
func TestMigrationClaimsUnscopedRowsForTheNamespace(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
			reopen := legacyDatabase(t, e.name, now)
			first := SaveResult{Receipt: Receipt{Seq: 2}}

			a, err := reopen(Config{Namespace: "shop-a", Touchpoint: "checkout", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("open after upgrade: %v", err)
			}
			defer a.Close()
			if v, err := a.SchemaVersion(ctx); err != nil || v < 2 {
				t.Fatalf("schema version %d (%v), want at least 2", v, err)
			}
			got, err := a.GetResponse(ctx, "checkout", "r-1")
			if err != nil || got.Seq != first.Receipt.Seq {
				t.Fatalf("claimed response %+v (%v), want r-1 with seq %d", got, err, first.Receipt.Seq)
			}
			if n, _, err := a.InvitationsSince(ctx, "", "C-1", now.Add(-time.Hour)); err != nil || n != 1 {
				t.Errorf("claimed invitations %d (%v), want 1", n, err)
			}
			if depth, _, err := a.OutboxStats(ctx); err != nil || depth != 1 {
				t.Errorf("claimed outbox depth %d (%v), want 1", depth, err)
			}
			// A retry of the migrated response (its hash unknown) is a replay.
			if res := saveOne(t, a, newResponse("checkout", "r-1", now)); res.Status != StatusDuplicate {
				t.Errorf("retry of a migrated response: %v, want Duplicate", res.Status)
			}

			b, err := reopen(Config{Namespace: "shop-b", Touchpoint: "checkout", Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if res := saveOne(t, b, newResponse("checkout", "r-1", now)); res.Status != StatusStored {
				t.Errorf("program b's r-1: %v, want Stored (another program's id)", res.Status)
			}
			if total, _, _, err := b.Counts(ctx, "checkout", time.Time{}); err != nil || total != 1 {
				t.Errorf("program b counts %d (%v), want its 1", total, err)
			}
		})
	}
}

// The same id with another body hash is a conflict; the same hash (or an
// unknown one) a duplicate.
func TestSaveConflictOnAnotherBody(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, _ := e.open(t, Config{Namespace: "acme"})
		now := time.Now()
		r := newResponse("checkout", "r-1", now)
		r.BodyHash = "aaa"
		saveOne(t, s, r)
		r.BodyHash = "aaa"
		if res := saveOne(t, s, r); res.Status != StatusDuplicate {
			t.Errorf("same body: %v, want Duplicate", res.Status)
		}
		r.BodyHash = "bbb"
		if res := saveOne(t, s, r); res.Status != StatusConflict {
			t.Errorf("another body: %v, want Conflict", res.Status)
		}
		// In one call, the second of two items with one id and two bodies.
		x, y := newResponse("checkout", "r-2", now), newResponse("checkout", "r-2", now)
		x.BodyHash, y.BodyHash = "ccc", "ddd"
		res, err := s.SaveResponses(context.Background(), []NewResponse{x, y})
		if err != nil || res[0].Status != StatusStored || res[1].Status != StatusConflict {
			t.Errorf("one batch, two bodies: %+v (%v), want Stored then Conflict", res, err)
		}
	})
}

// A value the database refuses is a permanent error (the collector answers
// 400, not 503); a closed store is not.
func TestIsPermanent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, _ := e.open(t, Config{Namespace: "acme"})
		r := newResponse("checkout", "r-1", time.Now())
		r.Answers = []byte(`[1, 2]`)
		res, err := s.SaveResponses(context.Background(), []NewResponse{r})
		if err != nil || res[0].Status != StatusFailed || !IsPermanent(res[0].Err) {
			t.Errorf("answers not an object: %+v (%v), want a failed, permanent result", res, err)
		}
		if e.name == DriverPostgres {
			r := newResponse("checkout", "r-2", time.Now())
			r.Comment = "a\x00b"
			res, err := s.SaveResponses(context.Background(), []NewResponse{r})
			if err != nil || res[0].Status != StatusFailed || !IsPermanent(res[0].Err) {
				t.Errorf("NUL in text on PostgreSQL: %+v (%v), want a failed, permanent result", res, err)
			}
		}
		_ = s.Close()
		_, err = s.SaveResponses(context.Background(), []NewResponse{newResponse("checkout", "r-3", time.Now())})
		if err == nil || IsPermanent(err) {
			t.Errorf("closed store: %v, want a transient error", err)
		}
	})
}
