package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func newResponse(tp, id string, submitted time.Time) NewResponse {
	return NewResponse{
		Touchpoint:  tp,
		ID:          id,
		Customer:    Customer{ID: "cust-" + id, Tier: "Gold", Segment: "enterprise", Attributes: map[string]string{"email": id + "@example.com", "plan": "pro"}},
		Answers:     json.RawMessage(`{"nps":9,"completed":false}`),
		Comment:     "could not finish",
		Sentiment:   ptr(-0.5),
		Themes:      []string{"install"},
		Metadata:    map[string]string{"store": "berlin"},
		SubmittedAt: submitted,
	}
}

func saveOne(t *testing.T, s Store, r NewResponse) SaveResult {
	t.Helper()
	res, err := s.SaveResponses(context.Background(), []NewResponse{r})
	if err != nil {
		t.Fatalf("SaveResponses(%s): %v", r.ID, err)
	}
	if len(res) != 1 {
		t.Fatalf("SaveResponses(%s): %d results, want 1", r.ID, len(res))
	}
	return res[0]
}

func TestMigrationsMatchAcrossEngines(t *testing.T) {
	sq, err := loadMigrations(DriverSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(DriverPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(sq) == 0 || len(sq) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d: every version needs both", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i].version != pg[i].version || sq[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, sq[i].version, sq[i].name, pg[i].version, pg[i].name)
		}
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, reopen := e.open(t, Config{})
		v, err := s.SchemaVersion(ctx)
		if err != nil || v != LatestSchemaVersion() {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestSchemaVersion())
		}
		if saveOne(t, s, newResponse("tp", "r1", t0)).Status != StatusStored {
			t.Fatal("first save not stored")
		}
		s.Close()

		// Several replicas open the same database at once: each migration is
		// applied exactly once and the data survives.
		var wg sync.WaitGroup
		stores := make([]Store, 6)
		errs := make([]error, len(stores))
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = reopen(Config{})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			defer stores[i].Close()
		}
		s2, ok := stores[0].(interface {
			migrationCount(context.Context) (int, error)
		})
		if !ok {
			t.Fatalf("%T has no migrationCount", stores[0])
		}
		n, err := s2.migrationCount(ctx)
		if err != nil || n != len(mustMigrations(t)) {
			t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, len(mustMigrations(t)))
		}
		if _, err := stores[1].GetResponse(ctx, "tp", "r1"); err != nil {
			t.Fatalf("response lost across reopen: %v", err)
		}
	})
}

func mustMigrations(t *testing.T) []migration {
	ms, err := loadMigrations(DriverSQLite)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (s *sqlStore) migrationCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.queryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n)
	return n, err
}

func TestSaveIsIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		clock := testutil.NewClock(t0)
		s, _ := e.open(t, Config{Now: clock.Now})
		r := newResponse("upgrade-install", "resp-1", t0.Add(-time.Hour))
		r.Actions = []NewAction{{Kind: ActionOpenCase, DedupKey: "case/resp-1", Payload: json.RawMessage(`{"rule":"not-completed"}`)}}

		first := saveOne(t, s, r)
		if first.Status != StatusStored || first.Receipt.Seq == 0 || !first.Receipt.ReceivedAt.Equal(t0) {
			t.Fatalf("first save = %+v, want Stored with a receipt received at %v", first, t0)
		}
		clock.Set(t0.Add(time.Minute))
		r.Comment = "a retry may differ; the first version wins"
		again := saveOne(t, s, r)
		if again.Status != StatusDuplicate || again.Receipt != first.Receipt {
			t.Fatalf("second save = %+v, want Duplicate with the original receipt %+v", again, first.Receipt)
		}

		// The same id twice in one call, and the old id once more.
		r2 := newResponse("upgrade-install", "resp-2", t0)
		res, err := s.SaveResponses(ctx, []NewResponse{r2, r2, r})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Status != StatusStored || res[1].Status != StatusDuplicate || res[1].Receipt != res[0].Receipt ||
			res[2].Status != StatusDuplicate || res[2].Receipt != first.Receipt {
			t.Fatalf("batch with repeated ids = %+v", res)
		}
		// The same id on another touchpoint is another response.
		if got := saveOne(t, s, newResponse("relationship-nps", "resp-1", t0)); got.Status != StatusStored {
			t.Fatalf("same id on another touchpoint = %v, want Stored", got.Status)
		}

		total, _, _, err := s.Counts(ctx, "upgrade-install", time.Time{})
		if err != nil || total != 2 {
			t.Fatalf("Counts total = %d, %v; want 2", total, err)
		}
		depth, _, err := s.OutboxStats(ctx)
		if err != nil || depth != 1 {
			t.Fatalf("outbox depth = %d, %v; want 1 (actions of a duplicate are not written again)", depth, err)
		}

		got, err := s.GetResponse(ctx, "upgrade-install", "resp-1")
		if err != nil {
			t.Fatal(err)
		}
		want := Response{
			Seq: first.Receipt.Seq, Touchpoint: "upgrade-install", ID: "resp-1",
			Customer: Customer{ID: "cust-resp-1", Tier: "Gold", Segment: "enterprise",
				Attributes: map[string]string{"email": "resp-1@example.com", "plan": "pro"}},
			Comment: "could not finish", Sentiment: ptr(-0.5), Themes: []string{"install"},
			Metadata: map[string]string{"store": "berlin"}, SubmittedAt: t0.Add(-time.Hour), ReceivedAt: t0,
		}
		var answers map[string]any
		if err := json.Unmarshal(got.Answers, &answers); err != nil || !reflect.DeepEqual(answers, map[string]any{"nps": 9.0, "completed": false}) {
			t.Errorf("answers = %s (%v)", got.Answers, err)
		}
		got.Answers = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetResponse =\n%+v\nwant\n%+v", got, want)
		}
		if _, err := s.GetResponse(ctx, "upgrade-install", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetResponse(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestSaveIsAtomicPerResponse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Now: testutil.NewClock(t0).Now})
		good := newResponse("tp", "good", t0)
		good.Actions = []NewAction{{Kind: ActionNotify, Payload: json.RawMessage(`{"channel":"team"}`)}}
		bad := newResponse("tp", "bad", t0)
		bad.Actions = []NewAction{
			{Kind: ActionOpenCase, Payload: json.RawMessage(`{"ok":true}`)},
			{Kind: ActionNotify, Payload: json.RawMessage(`{not json`)},
		}
		invalid := newResponse("tp", "", t0)
		notObject := newResponse("tp", "list", t0)
		notObject.Answers = json.RawMessage(` [{"nps":9}]`)
		truncated := newResponse("tp", "truncated", t0)
		truncated.Answers = json.RawMessage(`{"nps":9`)

		res, err := s.SaveResponses(ctx, []NewResponse{good, bad, invalid, notObject, truncated})
		if err != nil {
			t.Fatalf("SaveResponses: %v", err)
		}
		for i, id := range []string{"list", "truncated"} {
			if r := res[3+i]; r.Status != StatusFailed || !errors.Is(r.Err, ErrInvalid) {
				t.Errorf("response %s whose answers are not a JSON object: %+v, want Failed with ErrInvalid", id, r)
			}
		}
		if res[0].Status != StatusStored {
			t.Errorf("good response: %v %v, want Stored", res[0].Status, res[0].Err)
		}
		if res[1].Status != StatusFailed || res[1].Err == nil {
			t.Errorf("response with a bad action: %+v, want Failed with an error", res[1])
		}
		if res[2].Status != StatusFailed || !errors.Is(res[2].Err, ErrInvalid) {
			t.Errorf("response without id: %+v, want Failed with ErrInvalid", res[2])
		}
		if _, err := s.GetResponse(ctx, "tp", "bad"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the response whose action failed was stored: %v", err)
		}
		actions, err := s.ClaimActions(ctx, t0.Add(time.Hour), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != 1 || actions[0].ResponseID != "good" || actions[0].DedupKey != "good/notify/0" {
			t.Fatalf("outbox = %+v, want only the good response's action", actions)
		}
		// Fixed, the response is stored with both actions.
		bad.Actions[1].Payload = json.RawMessage(`{"channel":"team"}`)
		if got := saveOne(t, s, bad); got.Status != StatusStored {
			t.Fatalf("retry after fixing: %+v", got)
		}
		depth, _, _ := s.OutboxStats(ctx)
		if depth != 3 {
			t.Errorf("outbox depth = %d, want 3", depth)
		}
	})
}

func TestGroupCommit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		var mu sync.Mutex
		var batches []CommitStats
		s, _ := e.open(t, Config{OnCommit: func(c CommitStats) {
			mu.Lock()
			batches = append(batches, c)
			mu.Unlock()
		}})
		const writers, each = 64, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		start := make(chan struct{})
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < each; i++ {
					r := newResponse("tp", fmt.Sprintf("w%d-%d", w, i), t0)
					r.Actions = []NewAction{{Kind: ActionNotify, Payload: json.RawMessage(`{}`)}}
					res, err := s.SaveResponses(ctx, []NewResponse{r})
					if err == nil && res[0].Status != StatusStored {
						err = fmt.Errorf("%s: %v %w", r.ID, res[0].Status, res[0].Err)
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		sum, biggest := 0, 0
		for _, b := range batches {
			if b.Err != nil {
				t.Errorf("commit failed: %v", b.Err)
			}
			sum += b.Responses
			biggest = max(biggest, b.Responses)
		}
		if sum != writers*each {
			t.Errorf("batches wrote %d responses, want %d", sum, writers*each)
		}
		if biggest < 2 {
			t.Errorf("largest batch = %d: concurrent writers were not grouped", biggest)
		}
		t.Logf("%d responses in %d transactions (largest %d)", sum, len(batches), biggest)
		total, _, _, err := s.Counts(ctx, "tp", time.Time{})
		if err != nil || total != writers*each {
			t.Errorf("Counts total = %d, %v; want %d", total, err, writers*each)
		}
		depth, _, _ := s.OutboxStats(ctx)
		if depth != writers*each {
			t.Errorf("outbox depth = %d, want %d", depth, writers*each)
		}
	})
}

func TestCloseCommitsPendingWrites(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, reopen := e.open(t, Config{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		stored := map[string]bool{}
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("r%d", i)
				res, err := s.SaveResponses(ctx, []NewResponse{newResponse("tp", id, t0)})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("save %s: %v", id, err)
					}
					return
				}
				mu.Lock()
				stored[id] = res[0].Status == StatusStored
				mu.Unlock()
			}()
		}
		time.Sleep(time.Millisecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if _, err := s.SaveResponses(ctx, []NewResponse{newResponse("tp", "late", t0)}); !errors.Is(err, ErrClosed) {
			t.Errorf("save after Close = %v, want ErrClosed", err)
		}
		s2, err := reopen(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		for id, ok := range stored {
			if !ok {
				t.Errorf("%s not stored", id)
				continue
			}
			if _, err := s2.GetResponse(ctx, "tp", id); err != nil {
				t.Errorf("acknowledged %s missing after Close: %v", id, err)
			}
		}
		t.Logf("%d of 200 saves acknowledged before Close", len(stored))
	})
}

func addActions(t *testing.T, s Store, n int) {
	t.Helper()
	rs := make([]NewResponse, n)
	for i := range rs {
		rs[i] = newResponse("tp", fmt.Sprintf("r%03d", i), t0)
		rs[i].Actions = []NewAction{{Kind: ActionOpenCase, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}}
	}
	res, err := s.SaveResponses(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != StatusStored {
			t.Fatalf("setup: %v %v", r.Status, r.Err)
		}
	}
}

func ids(as []Action) []int64 {
	out := make([]int64, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func TestOutboxClaimCompleteRetry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		clock := testutil.NewClock(t0)
		s, _ := e.open(t, Config{Now: clock.Now})
		addActions(t, s, 10)
		lease := time.Minute

		depth, oldest, err := s.OutboxStats(ctx)
		if err != nil || depth != 10 || !oldest.Equal(t0) {
			t.Fatalf("OutboxStats = %d, %v, %v; want 10, %v", depth, oldest, err, t0)
		}
		if got, _ := s.ClaimActions(ctx, t0.Add(-time.Second), 10, lease); len(got) != 0 {
			t.Fatalf("claimed %d actions before they were due", len(got))
		}
		a, err := s.ClaimActions(ctx, t0, 4, lease)
		if err != nil || len(a) != 4 {
			t.Fatalf("claim 4 = %d actions, %v", len(a), err)
		}
		first := a[0]
		if first.Kind != ActionOpenCase || first.Attempts != 1 || first.Touchpoint != "tp" || first.ResponseID != "r000" ||
			string(first.Payload) != `{"n":0}` || !first.LeaseUntil.Equal(t0.Add(lease)) || !first.CreatedAt.Equal(t0) {
			t.Errorf("first claimed action = %+v", first)
		}
		b, _ := s.ClaimActions(ctx, t0, 4, lease)
		c, _ := s.ClaimActions(ctx, t0, 4, lease)
		d, _ := s.ClaimActions(ctx, t0, 4, lease)
		if len(b) != 4 || len(c) != 2 || len(d) != 0 {
			t.Fatalf("later claims got %d, %d, %d actions; want 4, 2, 0 (leased ones are not claimed again)", len(b), len(c), len(d))
		}

		if err := s.CompleteAction(ctx, a[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteAction(ctx, a[0].ID); err != nil {
			t.Errorf("completing twice: %v", err)
		}
		if err := s.RetryAction(ctx, a[1].ID, t0.Add(30*time.Second), "api server unavailable"); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteAction(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("CompleteAction(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.RetryAction(ctx, 999999, t0, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RetryAction(unknown) = %v, want ErrNotFound", err)
		}

		retried, _ := s.ClaimActions(ctx, t0.Add(31*time.Second), 10, lease)
		if len(retried) != 1 || retried[0].ID != a[1].ID || retried[0].Attempts != 2 || retried[0].LastError != "api server unavailable" {
			t.Fatalf("claim after retry time = %+v, want action %d on its second attempt", retried, a[1].ID)
		}
		// The leases of the 8 other claimed, unfinished actions expire.
		expired, _ := s.ClaimActions(ctx, t0.Add(lease+time.Second), 10, lease)
		if len(expired) != 8 {
			t.Fatalf("claim after lease expiry got %v, want 8 actions", ids(expired))
		}
		for _, x := range expired {
			if x.ID == a[0].ID || x.Attempts != 2 {
				t.Errorf("re-claimed %+v", x)
			}
		}
		depth, _, _ = s.OutboxStats(ctx)
		if depth != 9 {
			t.Errorf("depth = %d, want 9", depth)
		}
		n, err := s.DeleteCompletedActionsBefore(ctx, t0.Add(time.Second))
		if err != nil || n != 1 {
			t.Errorf("DeleteCompletedActionsBefore = %d, %v; want 1", n, err)
		}
	})
}

func TestConcurrentClaimersNeverShareAnAction(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Now: testutil.NewClock(t0).Now})
		const n = 300
		addActions(t, s, n)
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := s.ClaimActions(ctx, t0, 7, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, a := range got {
						seen[a.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("claimed %d distinct actions, want %d", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("action %d claimed %d times", id, k)
			}
		}
	})
}

func TestInvitationsAndTokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		clock := testutil.NewClock(t0)
		s, _ := e.open(t, Config{Now: clock.Now})
		for _, inv := range []Invitation{
			{TokenID: "tok-a1", Touchpoint: "a", CustomerID: "c1", IssuedAt: t0, ExpiresAt: t0.Add(72 * time.Hour)},
			{TokenID: "tok-b1", Touchpoint: "b", CustomerID: "c1", IssuedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(72 * time.Hour)},
			{TokenID: "tok-a2", Touchpoint: "a", CustomerID: "c1", IssuedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(3 * time.Hour)},
			{TokenID: "tok-a3", Touchpoint: "a", CustomerID: "c2", IssuedAt: t0, ExpiresAt: t0.Add(72 * time.Hour)},
		} {
			if err := s.RecordInvitation(ctx, inv); err != nil {
				t.Fatal(err)
			}
		}
		// Recording again is a no-op.
		if err := s.RecordInvitation(ctx, Invitation{TokenID: "tok-a1", Touchpoint: "a", CustomerID: "c1", IssuedAt: t0, ExpiresAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			scope, customer string
			since           time.Time
			n               int
			last            time.Time
		}{
			{"a", "c1", t0, 2, t0.Add(2 * time.Hour)},
			{"", "c1", t0, 3, t0.Add(2 * time.Hour)},
			{"", "c1", t0.Add(30 * time.Minute), 2, t0.Add(2 * time.Hour)},
			{"b", "c1", t0.Add(90 * time.Minute), 0, time.Time{}},
			{"", "c3", t0, 0, time.Time{}},
		} {
			n, last, err := s.InvitationsSince(ctx, tc.scope, tc.customer, tc.since)
			if err != nil || n != tc.n || !last.Equal(tc.last) {
				t.Errorf("InvitationsSince(%q, %q, %v) = %d, %v, %v; want %d, %v", tc.scope, tc.customer, tc.since, n, last, err, tc.n, tc.last)
			}
		}

		for _, tc := range []struct {
			token string
			at    time.Time
			ok    bool
		}{
			{"tok-a1", t0.Add(time.Hour), true},
			{"tok-a1", t0.Add(time.Hour), false},     // used
			{"tok-a2", t0.Add(4 * time.Hour), false}, // expired
			{"nope", t0, false},
		} {
			if ok, err := s.UseToken(ctx, tc.token, tc.at); err != nil || ok != tc.ok {
				t.Errorf("UseToken(%s) = %v, %v; want %v", tc.token, ok, err, tc.ok)
			}
		}

		// A token used with the response it came with, in the same transaction.
		withToken := func(id, token, customer string) NewResponse {
			r := newResponse("a", id, t0)
			r.Customer.ID, r.TokenID = customer, token
			r.Actions = []NewAction{{Kind: ActionNotify, Payload: json.RawMessage(`{}`)}}
			return r
		}
		res, err := s.SaveResponses(ctx, []NewResponse{
			withToken("r1", "tok-a3", "c1"), // another customer's token
			withToken("r2", "tok-a3", "c2"),
			withToken("r3", "tok-a3", "c2"), // already used by r2
			withToken("r4", "tok-b1", "c1"), // another touchpoint's token
			withToken("r5", "tok-a1", "c1"), // used above
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []SaveStatus{StatusTokenRejected, StatusStored, StatusTokenRejected, StatusTokenRejected, StatusTokenRejected}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("response r%d: %v %v, want %v", i+1, r.Status, r.Err, want[i])
			}
		}
		// A retry of r2 is answered as before although its token is used now.
		if again := saveOne(t, s, withToken("r2", "tok-a3", "c2")); again.Status != StatusDuplicate || again.Receipt != res[1].Receipt {
			t.Errorf("retry with a used token = %+v, want Duplicate %+v", again, res[1].Receipt)
		}
		total, _, _, _ := s.Counts(ctx, "a", time.Time{})
		depth, _, _ := s.OutboxStats(ctx)
		if total != 1 || depth != 1 {
			t.Errorf("stored %d responses with %d actions, want 1 and 1", total, depth)
		}
		if ok, _ := s.UseToken(ctx, "tok-a3", t0); ok {
			t.Error("the token of a stored response can be used again")
		}
		n, err := s.DeleteInvitationsBefore(ctx, t0.Add(4*time.Hour))
		if err != nil || n != 1 {
			t.Errorf("DeleteInvitationsBefore = %d, %v; want 1 (tok-a2)", n, err)
		}
	})
}

func TestCounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		clock := testutil.NewClock(t0)
		s, _ := e.open(t, Config{Now: clock.Now})
		total, recent, last, err := s.Counts(ctx, "tp", t0)
		if err != nil || total != 0 || recent != 0 || !last.IsZero() {
			t.Fatalf("empty Counts = %d, %d, %v, %v", total, recent, last, err)
		}
		for i := 0; i < 5; i++ {
			clock.Set(t0.Add(time.Duration(i) * time.Hour))
			saveOne(t, s, newResponse("tp", fmt.Sprint(i), t0))
		}
		saveOne(t, s, newResponse("other", "x", t0))
		total, recent, last, err = s.Counts(ctx, "tp", t0.Add(150*time.Minute))
		if err != nil || total != 5 || recent != 2 || !last.Equal(t0.Add(4*time.Hour)) {
			t.Errorf("Counts = %d, %d, %v, %v; want 5, 2, %v", total, recent, last, err, t0.Add(4*time.Hour))
		}
		total, recent, last, _ = s.Counts(ctx, "tp", t0.Add(5*time.Hour))
		if total != 5 || recent != 0 || !last.Equal(t0.Add(4*time.Hour)) {
			t.Errorf("Counts with nothing recent = %d, %d, %v", total, recent, last)
		}
	})
}

func TestRetention(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{})
		// 2,500 old responses (more than two retention batches), 10 recent
		// ones, and old ones of another touchpoint.
		var rs []NewResponse
		for i := 0; i < 2500; i++ {
			r := newResponse("tp", fmt.Sprintf("old-%d", i), t0.Add(-40*24*time.Hour+time.Duration(i)*time.Second))
			if i%2 == 0 {
				r.Customer.Attributes["phone"] = "+49 30 1234"
			}
			if i%5 == 0 {
				r.Customer.Attributes = map[string]string{"plan": "basic"} // no contact details
			}
			rs = append(rs, r)
		}
		for i := 0; i < 10; i++ {
			rs = append(rs, newResponse("tp", fmt.Sprintf("new-%d", i), t0.Add(-time.Duration(i)*time.Hour)))
			rs = append(rs, newResponse("other", fmt.Sprintf("old-%d", i), t0.Add(-40*24*time.Hour)))
		}
		if _, err := s.SaveResponses(ctx, rs); err != nil {
			t.Fatal(err)
		}

		cut := t0.Add(-30 * 24 * time.Hour)
		n, err := s.EraseContactDetails(ctx, "tp", cut, func(k string) bool { return k == "email" || k == "phone" || k == "name" })
		if err != nil || n != 2000 {
			t.Fatalf("EraseContactDetails = %d, %v; want 2000", n, err)
		}
		old, _ := s.GetResponse(ctx, "tp", "old-2")
		if !reflect.DeepEqual(old.Customer.Attributes, map[string]string{"plan": "pro"}) {
			t.Errorf("old response attributes = %v, want only plan", old.Customer.Attributes)
		}
		recent, _ := s.GetResponse(ctx, "tp", "new-1")
		if recent.Customer.Attributes["email"] == "" {
			t.Errorf("recent response lost its email: %v", recent.Customer.Attributes)
		}
		other, _ := s.GetResponse(ctx, "other", "old-1")
		if other.Customer.Attributes["email"] == "" {
			t.Errorf("another touchpoint's response lost its email")
		}
		if n, err := s.EraseContactDetails(ctx, "tp", cut, func(k string) bool { return k == "email" || k == "phone" || k == "name" }); err != nil || n != 0 {
			t.Errorf("erasing again = %d, %v; want 0", n, err)
		}

		n, err = s.DeleteResponsesBefore(ctx, "tp", cut)
		if err != nil || n != 2500 {
			t.Fatalf("DeleteResponsesBefore = %d, %v; want 2500", n, err)
		}
		total, _, _, _ := s.Counts(ctx, "tp", time.Time{})
		otherTotal, _, _, _ := s.Counts(ctx, "other", time.Time{})
		if total != 10 || otherTotal != 10 {
			t.Errorf("left %d responses of tp and %d of other, want 10 and 10", total, otherTotal)
		}
	})
}

func TestArchivedCases(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		clock := testutil.NewClock(t0)
		s, _ := e.open(t, Config{Now: clock.Now})
		if _, err := s.GetArchivedCase(ctx, "acme", "case-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetArchivedCase(missing) = %v, want ErrNotFound", err)
		}
		doc := []byte(`{"kind":"Case","metadata":{"name":"case-1"},"status":{"state":"Closed"}}`)
		if err := s.ArchiveCase(ctx, "acme", "case-1", t0.Add(-time.Hour), doc); err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(time.Minute))
		doc2 := []byte(`{"kind":"Case","metadata":{"name":"case-1"},"status":{"state":"Closed","resolution":"fixed"}}`)
		if err := s.ArchiveCase(ctx, "acme", "case-1", t0.Add(-time.Hour), doc2); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetArchivedCase(ctx, "acme", "case-1")
		if err != nil {
			t.Fatal(err)
		}
		want := ArchivedCase{Namespace: "acme", Name: "case-1", ClosedAt: t0.Add(-time.Hour), ArchivedAt: t0.Add(time.Minute), Doc: doc2}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetArchivedCase = %+v\nwant %+v", got, want)
		}
		if err := s.ArchiveCase(ctx, "acme", "case-2", t0, []byte("not json")); !errors.Is(err, ErrInvalid) {
			t.Errorf("archiving a non-JSON document = %v, want ErrInvalid", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Driver: "mysql"},
		{Driver: DriverSQLite},
		{Driver: DriverSQLite, Path: "x.db?mode=memory"},
		{Driver: DriverSQLite, Path: filepath.Join(t.TempDir(), "x.db"), Synchronous: "OFF"},
		{Driver: DriverPostgres},
		{Driver: DriverPostgres, DSN: "postgres://localhost/x", Schema: "Robert'); DROP"},
	} {
		if s, err := Open(context.Background(), cfg); !errors.Is(err, ErrInvalid) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// The SQLite file's directory is created when it is missing (a fresh
// volume).
func TestSQLiteCreatesItsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "cx", "responses.db")
	s, err := Open(context.Background(), Config{Driver: DriverSQLite, Path: path})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	_ = s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
}
