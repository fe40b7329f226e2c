package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Matches of one rule and channel in one interval make one digest, listed
// oldest first; a replayed match is counted once, even after its window
// was sent; a match that reaches a window already being sent goes to the
// next one; other namespaces see nothing.
func TestDigestGroupsAWindowOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st, reopen := e.open(t, Config{Namespace: "acme"})
		nine := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		add := func(key string, at, now time.Time) {
			t.Helper()
			m := DigestMatch{Rule: "detractor", Channel: "support", Title: "Detractors", Every: time.Hour,
				Key: "tp/" + key, Line: "response " + key, MatchedAt: at}
			if err := st.AddDigestMatch(ctx, m, now); err != nil {
				t.Fatal(err)
			}
		}
		add("r2", nine.Add(20*time.Minute), nine.Add(20*time.Minute))
		add("r1", nine.Add(10*time.Minute), nine.Add(21*time.Minute))
		add("r3", nine.Add(30*time.Minute), nine.Add(30*time.Minute))
		add("r1", nine.Add(10*time.Minute), nine.Add(31*time.Minute)) // replayed
		// Another channel of the rule has a digest of its own.
		if err := st.AddDigestMatch(ctx, DigestMatch{Rule: "detractor", Channel: "email", Every: time.Hour, Key: "tp/r1", Line: "response r1", MatchedAt: nine}, nine); err != nil {
			t.Fatal(err)
		}

		if ds, err := st.ClaimDigests(ctx, nine.Add(59*time.Minute), 10, time.Minute); err != nil || len(ds) != 0 {
			t.Fatalf("claim before the window ends = %v, %v; want none", ds, err)
		}
		ds, err := st.ClaimDigests(ctx, nine.Add(time.Hour), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 {
			t.Fatalf("claimed %d digests, want 2 (one per channel): %+v", len(ds), ds)
		}
		d := ds[0]
		if d.Channel != "support" {
			d = ds[1]
		}
		if d.Count != 3 || !slices.Equal(d.Lines, []string{"response r1", "response r2", "response r3"}) ||
			!d.WindowStart.Equal(nine) || !d.WindowEnd.Equal(nine.Add(time.Hour)) || d.Title != "Detractors" || d.Namespace != "acme" || d.Attempts != 1 {
			t.Fatalf("digest = %+v; want 3 matches r1..r3 of 09:00-10:00 titled Detractors in acme, attempt 1", d)
		}

		// While it is being sent: a late match goes to the next window, a
		// replayed one nowhere.
		add("r4", nine.Add(59*time.Minute), nine.Add(time.Hour+time.Second))
		add("r2", nine.Add(20*time.Minute), nine.Add(time.Hour+time.Second))
		for _, x := range ds {
			if err := st.CompleteDigest(ctx, x.ID); err != nil {
				t.Fatal(err)
			}
		}
		add("r3", nine.Add(30*time.Minute), nine.Add(time.Hour+2*time.Second)) // replayed after the send

		if ds, err := st.ClaimDigests(ctx, nine.Add(2*time.Hour-time.Second), 10, time.Minute); err != nil || len(ds) != 0 {
			t.Fatalf("claim after the sent window = %+v, %v; want none until 11:00", ds, err)
		}
		other, err := reopen(Config{Namespace: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if ds, err := other.ClaimDigests(ctx, nine.Add(3*time.Hour), 10, time.Minute); err != nil || len(ds) != 0 {
			t.Fatalf("another namespace claimed %+v, %v; want none", ds, err)
		}
		ds, err = st.ClaimDigests(ctx, nine.Add(2*time.Hour), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Count != 1 || ds[0].Lines[0] != "response r4" || !ds[0].WindowStart.Equal(nine.Add(time.Hour)) {
			t.Fatalf("second window = %+v; want only the late match r4 in 10:00-11:00", ds)
		}
		if err := st.CompleteDigest(ctx, ds[0].ID); err != nil {
			t.Fatal(err)
		}
		n, err := st.DeleteDigestsBefore(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("DeleteDigestsBefore = %d, %v; want the 3 sent windows", n, err)
		}
	})
}

// Flushers of several collectors claim at once: one gets the window; a
// failed send comes back after its retry time, once, and a sent window
// never again.
func TestDigestClaimedByOneFlusher(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st, reopen := e.open(t, Config{Namespace: "acme"})
		other, err := reopen(Config{Namespace: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		nine := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		for i := range 60 {
			at := nine.Add(time.Duration(i) * time.Second)
			m := DigestMatch{Rule: "detractor", Channel: "support", Every: 15 * time.Minute, Key: fmt.Sprintf("tp/r%02d", i), Line: fmt.Sprintf("r%02d", i), MatchedAt: at}
			if err := st.AddDigestMatch(ctx, m, at); err != nil {
				t.Fatal(err)
			}
		}
		end := nine.Add(15 * time.Minute)
		var mu sync.Mutex
		var claimed []Digest
		var wg sync.WaitGroup
		for i := range 8 {
			s := []Store{st, other}[i%2]
			wg.Go(func() {
				ds, err := s.ClaimDigests(ctx, end, 10, time.Minute)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				claimed = append(claimed, ds...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(claimed) != 1 || claimed[0].Count != 60 || len(claimed[0].Lines) != DigestLines || claimed[0].Lines[0] != "r00" {
			t.Fatalf("8 concurrent flushers claimed %d digests (%+v); want one with 60 matches listing the first %d", len(claimed), claimed, DigestLines)
		}
		id := claimed[0].ID
		if err := other.RetryDigest(ctx, id, end.Add(30*time.Second), "webhook answered 503"); err != nil {
			t.Fatal(err)
		}
		if ds, _ := st.ClaimDigests(ctx, end.Add(29*time.Second), 10, time.Minute); len(ds) != 0 {
			t.Fatalf("claimed %+v before its retry time", ds)
		}
		ds, err := st.ClaimDigests(ctx, end.Add(30*time.Second), 10, time.Minute)
		if err != nil || len(ds) != 1 || ds[0].ID != id || ds[0].Attempts != 2 || ds[0].Count != 60 {
			t.Fatalf("claim at the retry time = %+v, %v; want the same window, attempt 2, 60 matches", ds, err)
		}
		if err := st.CompleteDigest(ctx, id); err != nil {
			t.Fatal(err)
		}
		if ds, _ := other.ClaimDigests(ctx, end.Add(time.Hour), 10, time.Minute); len(ds) != 0 {
			t.Fatalf("a sent window was claimed again: %+v", ds)
		}
	})
}
