package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cxloop/cxloop/internal/testutil"
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
	schema := testutil.PostgresSchema(t, dsn, "cxloop_test_")
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
