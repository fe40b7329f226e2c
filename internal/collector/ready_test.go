package collector

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// /readyz fails while the store refuses writes (here PostgreSQL refuses
// every write of the schema, as a read-only or full database does), the
// status says why, and both recover by themselves once writes succeed.
func TestReadyzFollowsWrites(t *testing.T) {
	dsn := testPostgresDSN(t)
	schema := testutil.PostgresSchema(t, dsn, "cxloop_ready_")
	clock := testutil.NewClock(testNow)
	st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverPostgres, DSN: dsn, Schema: schema, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ts := serveStore(t, st, clock, nil, feedbackTouchpoint("ready"), Options{})
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	exec := func(q string) {
		if _, err := conn.Exec(context.Background(), strings.ReplaceAll(q, "S.", schema+".")); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	wantReadyFollowsWrites(t, ts, "No space left", func() {
		exec(`CREATE FUNCTION S.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`)
		exec(`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON S.write_probes FOR EACH ROW EXECUTE FUNCTION S.refuse()`)
	}, func() {
		exec(`DROP TRIGGER refuse ON S.write_probes`)
	})
}

// The same on SQLite: while another connection holds the database's write
// lock (a backup, a second process, a stuck writer) writes fail after the
// busy timeout, and while the file refuses writes (SQLITE_FULL, as a full
// disk answers, raised here by a trigger another connection creates)
// they fail at once; /readyz and the status say so, and both recover.
func TestReadyzFollowsWritesOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "responses.db")
	clock := testutil.NewClock(testNow)
	st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverSQLite, Path: path, Now: clock.Now,
		BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ts := serveStore(t, st, clock, nil, feedbackTouchpoint("ready"), Options{})
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	exec := func(q string) {
		if _, err := other.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Run("full", func(t *testing.T) {
		wantReadyFollowsWrites(t, ts, "disk is full", func() {
			exec(`CREATE TRIGGER refuse_insert BEFORE INSERT ON write_probes BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)
			exec(`CREATE TRIGGER refuse_update BEFORE UPDATE ON write_probes BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)
		}, func() {
			exec(`DROP TRIGGER refuse_insert`)
			exec(`DROP TRIGGER refuse_update`)
		})
	})
	t.Run("locked", func(t *testing.T) {
		var tx *sql.Tx
		wantReadyFollowsWrites(t, ts, "locked", func() {
			var err error
			if tx, err = other.Begin(); err != nil {
				t.Fatal(err)
			}
			// The first write takes the database's write lock.
			if _, err := tx.Exec(`UPDATE write_probes SET probed_at = probed_at`); err != nil {
				t.Fatal(err)
			}
		}, func() {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// wantReadyFollowsWrites checks /readyz and /v1/status before, while and
// after refuse makes the store refuse writes (saying why) until allow.
func wantReadyFollowsWrites(t *testing.T, ts *testServer, why string, refuse, allow func()) {
	t.Helper()
	if a := ts.get(t, "/readyz"); a.Status != http.StatusOK {
		t.Fatalf("readyz before: %d %s", a.Status, a.Body)
	}
	refuse()
	time.Sleep(writeProbeEvery)
	a := ts.get(t, "/readyz")
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(string(a.Body), why) {
		t.Errorf("readyz while writes fail: %d %s, want 503 saying %q", a.Status, a.Body, why)
	}
	status, err := newStatusClient(ts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.StoreError, why) {
		t.Errorf("status.storeError = %q, want why writes fail (%q)", status.StoreError, why)
	}
	allow()
	time.Sleep(writeProbeEvery)
	if a := ts.get(t, "/readyz"); a.Status != http.StatusOK {
		t.Errorf("readyz after writes work again: %d %s, want 200", a.Status, a.Body)
	}
	if status, err := newStatusClient(ts); err != nil || status.StoreError != "" {
		t.Errorf("status after writes work again: %+v, %v; want no storeError", status, err)
	}
}

func newStatusClient(ts *testServer) (*Status, error) {
	return collectorclient.New(nil).Status(context.Background(), ts.target())
}
