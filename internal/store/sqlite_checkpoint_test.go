package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// walFrames is the length of the store's WAL in frames, read by a PASSIVE
// checkpoint on the checkpointer's connection.
func walFrames(t *testing.T, s *sqliteStore) int64 {
	t.Helper()
	frames, err := s.ckpt.passive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return frames
}

// The writer does not checkpoint its WAL; the checkpointer copies it while
// responses are written, and the WAL starts again after it, so the WAL
// stays short under a steady load, and every response is stored.
func TestSQLiteCheckpointerKeepsTheWALShort(t *testing.T) {
	ctx := context.Background()
	st, reopen := openTestSQLite(t, Config{})
	s, ok := st.(*sqliteStore)
	if !ok {
		t.Fatalf("store is %T", st)
	}
	// Every checkpoint that leaves frames copies them between two commits.
	s.ckpt.maxFrames.Store(0)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	const writers, each = 4, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := newResponse("ckpt", fmt.Sprintf("w%d-%d", w, i), t0)
				if _, err := st.SaveResponses(ctx, []NewResponse{r}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Checkpoints while the writers write, as the checkpointer runs them.
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	// Without a new start the WAL would hold every commit, at least a
	// frame each.
	longest := int64(0)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if err := s.ckpt.checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		longest = max(longest, walFrames(t, s))
	}
	if longest >= writers*each {
		t.Errorf("WAL grew to %d frames over %d commits, want it started again", longest, writers*each)
	}

	// One more commit starts the WAL again: it holds that commit alone.
	if _, err := st.SaveResponses(ctx, []NewResponse{newResponse("ckpt", "last", t0)}); err != nil {
		t.Fatal(err)
	}
	if n := walFrames(t, s); n > 20 {
		t.Errorf("WAL after a checkpoint and one commit: %d frames, want the one commit's", n)
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := reopen(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	total, _, _, err := st.Counts(ctx, "ckpt", t0)
	if err != nil {
		t.Fatal(err)
	}
	if total != writers*each+1 {
		t.Errorf("%d responses after reopening, want %d", total, writers*each+1)
	}
}
