package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WAL checkpoints of the SQLite store, off the group committer.
//
// With SQLite's automatic checkpoint (every 1000 WAL frames), the commit
// that crossed the mark copied the WAL's pages into the database file and
// fsynced it before its responses were answered: about one commit in 25,
// and a twelfth of the committer's time. The writer runs with
// wal_autocheckpoint=0 and a checkpointer goroutine, on its own
// connection, runs PASSIVE checkpoints: one after every
// sqliteCheckpointCommits group commits, and one a second after the last
// checkpoint (which also copies the frames of the store's other writes).
// A PASSIVE checkpoint takes no lock a writer needs, so it copies while
// the next commits are written.
//
// The WAL starts again from its beginning only when a write transaction
// begins with every frame copied; under a steady load the commits made
// during a checkpoint leave frames behind, and the WAL grew for as long as
// the load lasted (to 21,000 frames, 87 MB, in BenchmarkIngestOneRule).
// When the WAL is longer than sqliteCheckpointFrames frames after a
// checkpoint, the checkpointer copies the rest between two group commits
// (the committer waits for it: the frames of the commits made during the
// first pass, not the thousands before), so that the next commit starts
// the WAL again; journal_size_limit truncates a WAL file made larger.
//
// Durability is the same: a checkpoint copies committed frames and, with
// synchronous FULL or NORMAL, fsyncs the WAL before and the database after,
// as the automatic checkpoint did; a crash during one leaves the WAL to
// be copied again when the database next opens.
const (
	sqliteCheckpointCommits  = 48
	sqliteCheckpointFrames   = 4096
	sqliteCheckpointIdle     = time.Second
	sqliteJournalSizeLimitMB = 64
)

// sqliteCheckpointer runs the WAL checkpoints of one store.
type sqliteCheckpointer struct {
	db *sql.DB
	// commitMu is held by the committer around each group commit, and by
	// the checkpointer for the pass that must not run beside one.
	commitMu sync.Mutex
	commits  atomic.Int64
	// maxFrames is sqliteCheckpointFrames (a test lowers it).
	maxFrames atomic.Int64
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newSQLiteCheckpointer(db *sql.DB) *sqliteCheckpointer {
	c := &sqliteCheckpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	c.maxFrames.Store(sqliteCheckpointFrames)
	go c.run()
	return c
}

// committed counts a group commit and wakes the checkpointer when enough
// were made since its last checkpoint.
func (c *sqliteCheckpointer) committed() {
	if c.commits.Add(1) >= sqliteCheckpointCommits {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *sqliteCheckpointer) run() {
	defer close(c.done)
	idle := time.NewTimer(sqliteCheckpointIdle)
	defer idle.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-idle.C:
		}
		// With nothing to copy (the other writes made none either) a
		// checkpoint reads the WAL's header and returns. An error (the
		// file busy, the disk full) is met again by the next one; the
		// WAL keeps every frame meanwhile.
		c.checkpoint(context.Background()) //nolint:errcheck // see above
		idle.Reset(sqliteCheckpointIdle)
	}
}

// checkpoint copies the WAL into the database file, and, when the WAL is
// longer than sqliteCheckpointFrames frames, copies the frames committed
// meanwhile between two group commits, so that the next one starts the
// WAL again.
func (c *sqliteCheckpointer) checkpoint(ctx context.Context) error {
	c.commits.Store(0)
	frames, err := c.passive(ctx)
	if err != nil || frames <= c.maxFrames.Load() {
		return err
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	_, err = c.passive(ctx)
	return err
}

// passive runs one PASSIVE checkpoint and returns the WAL's length in
// frames (the frames it copied included: they are reused once the WAL
// starts again).
func (c *sqliteCheckpointer) passive(ctx context.Context) (int64, error) {
	var busy, frames, copied int64
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, fmt.Errorf("sqlite wal checkpoint: %w", err)
	}
	return frames, nil
}

// close stops the checkpointer and closes its connection.
func (c *sqliteCheckpointer) close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		<-c.done
		c.db.Close()
	})
}
