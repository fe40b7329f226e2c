package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgresDSN names the PostgreSQL the tests use; .ci/run starts one.
const EnvPostgresDSN = "CXLOOP_TEST_POSTGRES_DSN"

const skipPostgres = "set " + EnvPostgresDSN + " (make test in CI starts PostgreSQL)"

// engine opens fresh, isolated stores of one driver for a test.
type engine struct {
	name string
	// open returns a new empty store; reopen opens the same database again
	// (same file or schema) with cfg.
	open func(t testing.TB, cfg Config) (s Store, reopen func(cfg Config) (Store, error))
}

var engines = []engine{
	{name: DriverSQLite, open: openTestSQLite},
	{name: DriverPostgres, open: openTestPostgres},
}

// forEachEngine runs the same test against both engines.
func forEachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

func openTestSQLite(t testing.TB, cfg Config) (Store, func(Config) (Store, error)) {
	path := filepath.Join(t.TempDir(), "responses.db")
	reopen := func(c Config) (Store, error) {
		c.Driver, c.Path = DriverSQLite, path
		return Open(context.Background(), c)
	}
	s, err := reopen(cfg)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reopen
}

func openTestPostgres(t testing.TB, cfg Config) (Store, func(Config) (Store, error)) {
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		t.Skip(skipPostgres)
	}
	schema := uniqueSchema(t)
	reopen := func(c Config) (Store, error) {
		c.Driver, c.DSN, c.Schema = DriverPostgres, dsn, schema
		return Open(context.Background(), c)
	}
	s, err := reopen(cfg)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reopen
}

// uniqueSchema names a fresh schema for one test and drops it afterwards,
// so tests (and packages) running in parallel never share tables.
func uniqueSchema(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	schema := "cxloop_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, os.Getenv(EnvPostgresDSN))
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// testClock is a settable clock for Config.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
