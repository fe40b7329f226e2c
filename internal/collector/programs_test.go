package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// Two programs (namespaces) share one PostgreSQL database, each with a
// touchpoint of the same name: no endpoint of one sees the other's data.
func TestTwoProgramsOnOnePostgresNeverMix(t *testing.T) {
	dsn := testPostgresDSN(t)
	schema := testutil.PostgresSchema(t, dsn, "cxloop_programs_")
	clock := testutil.NewClock(testNow)
	program := func(ns string, recommend int) (*testServer, store.Store) {
		st, err := store.Open(context.Background(), store.Config{Namespace: ns, Touchpoint: "checkout",
			Driver: store.DriverPostgres, DSN: dsn, Schema: schema, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		policy := &cxv1alpha1.ContactPolicy{Quarantine: days(30), Scope: cxv1alpha1.ContactScopeProgram}
		ts := serveStore(t, st, clock, nil, invitingTouchpoint("checkout", policy, false), Options{Namespace: ns})
		r := validResponse("r-1")
		answers(r)["recommend"] = recommend
		if a := ts.post(t, "/v1/responses", r); a.Status != http.StatusAccepted || a.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s: r-1 answered %d %s (replayed %q), want stored", ns, a.Status, a.Body, a.Header.Get("Idempotent-Replayed"))
		}
		b := validResponse("r-2")
		answers(b)["recommend"] = recommend
		var res BatchResult
		if err := json.Unmarshal(ts.post(t, "/v1/responses:batch", map[string]any{"responses": []any{b}}).Body, &res); err != nil || res.Accepted != 1 || res.Results[0].Replayed {
			t.Fatalf("%s: batch %+v (%v), want r-2 stored, not replayed", ns, res, err)
		}
		return ts, st
	}
	a, stA := program("shop-a", 10)
	b, stB := program("shop-b", 0)
	ctx := context.Background()

	for _, p := range []struct {
		ts                    *testServer
		promoters, detractors int64
	}{{a, 2, 0}, {b, 0, 2}} {
		st, err := collectorclient.New(nil).Status(ctx, p.ts.target())
		if err != nil || st.Total != 2 {
			t.Errorf("status %+v (%v), want 2 responses of this program only", st, err)
		}
		m, err := collectorclient.New(nil).Metrics(ctx, p.ts.target(), collectorclient.MetricsQuery{From: testNow.Add(-time.Hour), To: testNow.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if q := m.Total().Question("recommend"); q.Promoters != p.promoters || q.Detractors != p.detractors {
			t.Errorf("metrics %+v, want %d promoters and %d detractors (this program's)", q, p.promoters, p.detractors)
		}
	}

	// Contact frequency with scope Program stays within the namespace.
	wantInvited(t, a, "C-1")
	wantInvited(t, b, "C-1")
	wantNotInvited(t, a, "C-1", ReasonQuarantined)

	// The archive.
	if err := collectorclient.New(nil).ArchiveCase(ctx, a.target(), "case-1", testNow, []byte(`{"kind":"Case"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := collectorclient.New(nil).ArchivedCase(ctx, b.target(), "case-1"); !collectorclient.IsClientError(err) {
		t.Errorf("program b reads program a's archived Case: %v, want 404", err)
	}

	// The outbox: program b's dispatcher never claims program a's actions.
	if _, err := stA.SaveResponses(ctx, []store.NewResponse{{Touchpoint: "checkout", ID: "r-3", SubmittedAt: testNow,
		Actions: []store.NewAction{{Kind: store.ActionNotify, Payload: json.RawMessage(`{}`)}}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := stB.ClaimActions(ctx, clock.Now(), 10, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("program b claimed %d actions (%v), want none", len(got), err)
	}
	if depth, _, err := stB.OutboxStats(ctx); err != nil || depth != 0 {
		t.Errorf("program b outbox depth %d (%v), want 0", depth, err)
	}
	if got, err := stA.ClaimActions(ctx, clock.Now(), 10, time.Minute); err != nil || len(got) != 1 {
		t.Errorf("program a claimed %d actions (%v), want 1", len(got), err)
	}
	// Retention of one program leaves the other's responses.
	if n, err := stA.DeleteResponsesBefore(ctx, "checkout", testNow.Add(time.Hour)); err != nil || n != 3 {
		t.Errorf("program a retention deleted %d (%v), want its 3", n, err)
	}
	if n := total(t, stB, "checkout"); n != 2 {
		t.Errorf("program b has %d responses after program a's retention, want 2", n)
	}
}
