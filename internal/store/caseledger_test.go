package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many workers of several collectors sharing the database reserve Cases
// of one throttled rule at once: exactly the limit get one, a retry of a
// reserved Case is not counted twice, the count survives a restart, and
// the next window opens again.
func TestReserveCaseNeverExceedsTheLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		st, reopen := e.open(t, Config{})
		stores := []Store{st}
		if e.name == DriverPostgres {
			// A second collector of the program on the same PostgreSQL.
			other, err := reopen(Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			stores = append(stores, other)
		}
		const limit, attempts = 5, 40
		var granted atomic.Int32
		var wg sync.WaitGroup
		for i := range attempts {
			s := stores[i%len(stores)]
			wg.Go(func() {
				ok, err := s.ReserveCase(ctx, "acme", "installation-failed", fmt.Sprintf("case-%d", i), now.Add(time.Duration(i)*time.Second), limit)
				if err != nil {
					t.Error(err)
				}
				if ok {
					granted.Add(1)
				}
			})
		}
		wg.Wait()
		if n := granted.Load(); n != limit {
			t.Fatalf("%d of %d concurrent reservations granted, want the limit %d", n, attempts, limit)
		}
		// Another rule and another namespace have their own counts.
		for _, k := range [][2]string{{"acme", "other-rule"}, {"globex", "installation-failed"}} {
			if ok, err := st.ReserveCase(ctx, k[0], k[1], "case-x", now, 1); err != nil || !ok {
				t.Errorf("reserve for %s/%s = %v, %v; want granted", k[0], k[1], ok, err)
			}
		}

		// After a restart, the reservations still count.
		st.Close()
		st, err := reopen(Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		var grantedName string
		for i := range attempts {
			name := fmt.Sprintf("case-%d", i)
			ok, err := st.ReserveCase(ctx, "acme", "installation-failed", name, now.Add(time.Minute), limit)
			if err != nil {
				t.Fatal(err)
			}
			if ok && grantedName == "" {
				grantedName = name
			}
		}
		if grantedName == "" {
			t.Fatal("after a restart no reserved case was found again: a retry after a crash would be throttled")
		}
		if ok, _ := st.ReserveCase(ctx, "acme", "installation-failed", "case-new", now.Add(time.Minute), limit); ok {
			t.Error("after a restart a sixth case was reserved within the hour")
		}

		// A released reservation frees its place.
		if err := st.ReleaseCase(ctx, "acme", "installation-failed", grantedName); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.ReserveCase(ctx, "acme", "installation-failed", "case-new", now.Add(time.Minute), limit); !ok {
			t.Error("a released place was not granted")
		}

		// An hour after them, the first reservations are out of the window.
		later := now.Add(time.Hour + time.Minute)
		n := 0
		for i := range limit + 2 {
			if ok, _ := st.ReserveCase(ctx, "acme", "installation-failed", fmt.Sprintf("late-%d", i), later, limit); ok {
				n++
			}
		}
		if n != limit-1 {
			t.Errorf("next hour: %d granted, want %d (the limit less the one reserved at +1 min)", n, limit-1)
		}
	})
}

func TestDedupCasesAreNumberedAndWindowed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st, _ := e.open(t, Config{})
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		cases, next, err := st.DedupCases(ctx, "acme", "support", "k1", now.Add(-time.Hour))
		if err != nil || len(cases) != 0 || next != 0 {
			t.Fatalf("new key: %v, %d, %v; want none and 0", cases, next, err)
		}
		for i, at := range []time.Time{now.Add(-3 * time.Hour), now.Add(-30 * time.Minute), now.Add(-45 * time.Minute)} {
			if err := st.RecordDedupCase(ctx, "acme", "support", "k1", DedupCase{Seq: i, Name: fmt.Sprintf("support-k1-%d", i), OpenedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		// Recording a number again keeps the first.
		if err := st.RecordDedupCase(ctx, "acme", "support", "k1", DedupCase{Seq: 1, Name: "other", OpenedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordDedupCase(ctx, "acme", "support", "k2", DedupCase{Seq: 7, Name: "support-k2-7", OpenedAt: now}); err != nil {
			t.Fatal(err)
		}
		cases, next, err = st.DedupCases(ctx, "acme", "support", "k1", now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cases {
			names = append(names, c.Name)
		}
		if fmt.Sprint(names) != "[support-k1-2 support-k1-1]" || next != 3 {
			t.Errorf("k1 within the hour = %v, next %d; want [support-k1-2 support-k1-1] (oldest first), next 3", names, next)
		}
		if !cases[0].OpenedAt.Equal(now.Add(-45 * time.Minute)) {
			t.Errorf("opened at %v, want %v", cases[0].OpenedAt, now.Add(-45*time.Minute))
		}
		if err := st.RecordDedupCase(ctx, "acme", "support", "", DedupCase{Name: "x"}); err == nil {
			t.Error("a dedup case without a key was recorded")
		}
	})
}

func TestCompleteActionsMarksABatchDone(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		st, _ := e.open(t, Config{Now: func() time.Time { return now }})
		var in []NewResponse
		for i := range 3 {
			in = append(in, NewResponse{Touchpoint: "tp", ID: fmt.Sprint(i), SubmittedAt: now,
				Actions: []NewAction{{Kind: ActionNotify, Payload: []byte(`{}`)}}})
		}
		if _, err := st.SaveResponses(ctx, in); err != nil {
			t.Fatal(err)
		}
		claimed, err := st.ClaimActions(ctx, now, 10, time.Minute)
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claimed %d, %v; want 3", len(claimed), err)
		}
		if err := st.CompleteActions(ctx, []int64{claimed[0].ID, claimed[2].ID, 999999}); err != nil {
			t.Fatal(err)
		}
		depth, _, err := st.OutboxStats(ctx)
		if err != nil || depth != 1 {
			t.Errorf("depth = %d, %v; want 1 (the action not completed)", depth, err)
		}
		if err := st.CompleteActions(ctx, nil); err != nil {
			t.Errorf("completing none: %v", err)
		}
	})
}

// A dispatcher's batch reserves its throttle places in one transaction:
// the places are granted in order up to the limit, a name already
// reserved is granted again without counting, and each rule counts alone.
func TestReserveCasesDecidesABatchInOrder(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st, _ := e.open(t, Config{})
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		var rs []CaseReservation
		for i := range 5 {
			rs = append(rs, CaseReservation{Namespace: "acme", Rule: "r1", Name: fmt.Sprintf("c-%d", i), Now: now, Limit: 3})
		}
		rs = append(rs,
			CaseReservation{Namespace: "acme", Rule: "r1", Name: "c-1", Now: now, Limit: 3},
			CaseReservation{Namespace: "acme", Rule: "r2", Name: "c-0", Now: now, Limit: 1})
		granted, err := st.ReserveCases(ctx, rs)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(granted) != "[true true true false false true true]" {
			t.Errorf("granted %v, want [true true true false false true true]", granted)
		}
		// A rule's limit changed while its matches waited: one batch holds
		// reservations with a limit of 3 and of 6, and the rule has 5
		// places taken already. A count that stopped at 3 is taken again
		// for the limit of 6, so one place is granted, not three.
		for i := range 5 {
			rs[i].Rule, rs[i].Limit = "r3", 10
		}
		if _, err := st.ReserveCases(ctx, rs[:5]); err != nil {
			t.Fatal(err)
		}
		granted, err = st.ReserveCases(ctx, []CaseReservation{
			{Namespace: "acme", Rule: "r3", Name: "c-5", Now: now, Limit: 3},
			{Namespace: "acme", Rule: "r3", Name: "c-6", Now: now, Limit: 6},
			{Namespace: "acme", Rule: "r3", Name: "c-7", Now: now, Limit: 6},
			{Namespace: "acme", Rule: "r3", Name: "c-8", Now: now.Add(ThrottleWindow + time.Minute), Limit: 6},
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(granted) != "[false true false true]" {
			t.Errorf("granted %v, want [false true false true] (the last one an hour later)", granted)
		}
		if _, err := st.ReserveCases(ctx, []CaseReservation{{Namespace: "acme", Name: "x", Now: now}}); err == nil {
			t.Error("a reservation without a rule was accepted")
		}
	})
}

// The ledger forgets what can no longer change a decision: reservations
// out of the throttle window, dedup Cases whose window ended and Cases
// found deleted; a key keeps its numbering while it holds a Case or
// opened one within DedupKeyIdle, so its next Case never reuses a number.
func TestPruneCaseLedgerKeepsWhatCanStillMatter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		st, _ := e.open(t, Config{Now: func() time.Time { return now }})
		for i, at := range []time.Time{now.Add(-2 * time.Hour), now.Add(-10 * time.Minute)} {
			if ok, err := st.ReserveCase(ctx, "acme", "throttled", fmt.Sprintf("t-%d", i), at, 0); err != nil || !ok {
				t.Fatalf("reserve: %v, %v", ok, err)
			}
		}
		record := func(key string, seq int, opened time.Time, window time.Duration) {
			t.Helper()
			c := DedupCase{Seq: seq, Name: fmt.Sprintf("support-%s-%d", key, seq), OpenedAt: opened}
			if window > 0 {
				c.ExpiresAt = opened.Add(window)
			}
			if err := st.CompleteActionsWith(ctx, nil, LedgerChanges{Opened: []DedupRecord{{Namespace: "acme", Template: "support", Key: key, Case: c}}}); err != nil {
				t.Fatal(err)
			}
		}
		record("expired", 0, now.Add(-48*time.Hour), 24*time.Hour) // window over; key still numbered
		record("open", 0, now.Add(-48*time.Hour), 24*time.Hour)    // window over
		record("open", 1, now.Add(-time.Hour), 24*time.Hour)       // within its window
		record("legacy", 0, now.Add(-40*24*time.Hour), 0)          // no window known: kept
		record("idle", 4, now.Add(-40*24*time.Hour), 24*time.Hour) // expired long ago: key forgotten
		record("deleted", 0, now.Add(-time.Hour), 24*time.Hour)
		if err := st.CompleteActionsWith(ctx, nil, LedgerChanges{Gone: []DedupRef{{Namespace: "acme", Template: "support", Key: "deleted", Seq: 0}}}); err != nil {
			t.Fatal(err)
		}
		// Another program's rows are its own collectors' to prune.
		if err := st.RecordDedupCase(ctx, "globex", "support", "expired", DedupCase{Seq: 0, Name: "g", OpenedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}

		n, err := st.PruneCaseLedger(ctx, "acme", now)
		if err != nil {
			t.Fatal(err)
		}
		// One reservation, three expired Cases, the idle key.
		if n != 5 {
			t.Errorf("pruned %d rows, want 5", n)
		}
		lookup := func(ns, key string) string {
			t.Helper()
			cs, next, err := st.DedupCases(ctx, ns, "support", key, now.Add(-365*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range cs {
				names = append(names, c.Name)
			}
			return fmt.Sprintf("%v next %d", names, next)
		}
		for _, tc := range []struct{ ns, key, want string }{
			{"acme", "expired", "[] next 1"},
			{"acme", "open", "[support-open-1] next 2"},
			{"acme", "legacy", "[support-legacy-0] next 1"},
			{"acme", "idle", "[] next 0"},
			{"acme", "deleted", "[] next 1"},
			{"globex", "expired", "[g] next 1"},
		} {
			if got := lookup(tc.ns, tc.key); got != tc.want {
				t.Errorf("%s/%s after pruning: %s, want %s", tc.ns, tc.key, got, tc.want)
			}
		}
		// The reservation within the hour still counts.
		if ok, err := st.ReserveCase(ctx, "acme", "throttled", "t-new", now, 1); err != nil || ok {
			t.Errorf("reserve under a limit of 1 after pruning = %v, %v; want refused (t-1 is within the hour)", ok, err)
		}
		if n, err := st.PruneCaseLedger(ctx, "acme", now); err != nil || n != 0 {
			t.Errorf("pruning again deleted %d, %v; want 0", n, err)
		}
	})
}

// A batch of lookups answers each as DedupCases answers it alone: keys of
// several templates and namespaces, unknown keys, one key with two
// windows.
func TestDedupCasesOfAnswersEachLookup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st, _ := e.open(t, Config{})
		now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		record := func(ns, tmpl, key string, seq int, at time.Time) {
			t.Helper()
			if err := st.RecordDedupCase(ctx, ns, tmpl, key, DedupCase{Seq: seq, Name: fmt.Sprintf("%s-%s-%d", tmpl, key, seq), OpenedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		record("acme", "support", "k1", 0, now.Add(-3*time.Hour))
		record("acme", "support", "k1", 1, now.Add(-30*time.Minute))
		record("acme", "support", "k2", 4, now.Add(-10*time.Minute))
		record("acme", "sales", "k1", 0, now.Add(-5*time.Minute))
		record("globex", "support", "k1", 2, now.Add(-time.Minute))
		lookups := []DedupLookup{
			{Namespace: "acme", Template: "support", Key: "k1", Since: now.Add(-time.Hour)},
			{Namespace: "acme", Template: "support", Key: "k2", Since: now.Add(-time.Hour)},
			{Namespace: "acme", Template: "support", Key: "k3", Since: now.Add(-time.Hour)},
			{Namespace: "acme", Template: "sales", Key: "k1", Since: now.Add(-time.Hour)},
			{Namespace: "globex", Template: "support", Key: "k1", Since: now.Add(-time.Hour)},
			{Namespace: "acme", Template: "support", Key: "k1", Since: now.Add(-4 * time.Hour)},
			{Namespace: "acme", Template: "support", Key: "k2", Since: now.Add(-5 * time.Minute)},
		}
		got, err := st.DedupCasesOf(ctx, lookups)
		if err != nil || len(got) != len(lookups) {
			t.Fatalf("DedupCasesOf = %v, %v; want %d answers", got, err, len(lookups))
		}
		want := []string{
			"[support-k1-1] next 2", "[support-k2-4] next 5", "[] next 0", "[sales-k1-0] next 1",
			"[support-k1-2] next 3", "[support-k1-0 support-k1-1] next 2", "[] next 5",
		}
		for i, l := range lookups {
			alone, next, err := st.DedupCases(ctx, l.Namespace, l.Template, l.Key, l.Since)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := describeDedup(got[i].Cases, got[i].Next), describeDedup(alone, next); a != want[i] || b != want[i] {
				t.Errorf("lookup %+v: in a batch %s, alone %s; want %s", l, a, b, want[i])
			}
		}
	})
}

func describeDedup(cs []DedupCase, next int) string {
	names := []string{}
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return fmt.Sprintf("%v next %d", names, next)
}
