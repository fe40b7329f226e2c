package report_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// buildFixture builds and renders the fixture report from SQLite.
func buildFixture(t *testing.T) *report.Rendered {
	t.Helper()
	return buildFixtureFrom(t, openFixtureStore(t, fixtureResponses()))
}

func buildFixtureFrom(t *testing.T, st store.Store) *report.Rendered {
	t.Helper()
	r, err := report.Build(context.Background(), report.Input{
		Subscription:  fixtureSubscription(),
		Touchpoints:   fixtureTouchpoints(),
		Cases:         fixtureCases(),
		CaseTemplates: fixtureCaseTemplates(),
		Source:        source(st),
		End:           fixtureEnd,
	})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	rd, err := report.Render(r)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return rd
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (create it with go test -run %s -update): %v", t.Name(), err)
	}
	if string(got) != string(want) {
		gotPath := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(gotPath, got, 0o644)
		t.Errorf("%s differs from the golden file; got written to %s (diff them, then rerun with -update if the change is intended)", path, gotPath)
	}
}

func TestRenderGolden(t *testing.T) {
	rd := buildFixture(t)
	golden(t, "weekly.html.golden", []byte(rd.HTML))
	golden(t, "weekly.txt.golden", []byte(rd.Text))
	golden(t, "weekly.json.golden", rd.JSON)
}

// The same responses in PostgreSQL give the same report: the engines
// aggregate alike.
func TestRenderSameFromPostgreSQL(t *testing.T) {
	rd := buildFixtureFrom(t, openPostgresStore(t, fixtureResponses()))
	golden(t, "weekly.txt.golden", []byte(rd.Text))
	golden(t, "weekly.html.golden", []byte(rd.HTML))
}
