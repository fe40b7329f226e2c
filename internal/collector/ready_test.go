package collector

import (
	"context"
	"net/http"
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
	exec := func(sql string) {
		if _, err := conn.Exec(context.Background(), strings.ReplaceAll(sql, "S.", schema+".")); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if a := ts.get(t, "/readyz"); a.Status != http.StatusOK {
		t.Fatalf("readyz before: %d %s", a.Status, a.Body)
	}
	exec(`CREATE FUNCTION S.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`)
	exec(`CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON S.write_probes FOR EACH ROW EXECUTE FUNCTION S.refuse()`)
	time.Sleep(writeProbeEvery)
	a := ts.get(t, "/readyz")
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(string(a.Body), "No space left") {
		t.Errorf("readyz while writes fail: %d %s, want 503 saying why", a.Status, a.Body)
	}
	var status Status
	s, err := newStatusClient(ts)
	if err != nil {
		t.Fatal(err)
	}
	status = *s
	if !strings.Contains(status.StoreError, "No space left") {
		t.Errorf("status.storeError = %q, want why writes fail", status.StoreError)
	}
	exec(`DROP TRIGGER refuse ON S.write_probes`)
	time.Sleep(writeProbeEvery)
	if a := ts.get(t, "/readyz"); a.Status != http.StatusOK {
		t.Errorf("readyz after writes work again: %d %s, want 200", a.Status, a.Body)
	}
}

func newStatusClient(ts *testServer) (*Status, error) {
	return collectorclient.New(nil).Status(context.Background(), ts.target())
}
