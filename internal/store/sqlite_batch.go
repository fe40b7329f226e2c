package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// Multi-row writes of a SQLite group commit.
//
// The responses of a batch that carry no token are written in pieces of
// 2^k rows (k < sqlitePieceBits), one multi-row INSERT per piece and one
// multi-row INSERT of the piece's actions, all statements prepared once
// when the store opens: a batch of 45 is four pieces (32, 8, 4, 1) instead
// of 45 INSERTs. When every row of a piece was inserted, their sequence
// numbers are the statement's last rowid and the ones before it, in order
// (the one writer allocates each new row the next number); otherwise each
// response's row is looked up by its key.
//
// A group commit first runs without a savepoint per piece. A statement
// that fails rolls back alone, but a failed INSERT of actions would leave
// its piece's responses written without them: then the whole transaction
// is rolled back and the batch written again in the careful way, each
// piece with actions in a savepoint. A piece that fails there (an action
// payload that is not JSON, a constraint) is rolled back alone and written
// again one response at a time, so one bad response never loses the
// others and each gets its own answer.

// sqlitePieceBits bounds a piece to 2^(sqlitePieceBits-1) = 64 rows: 834
// variables for responses and 322 for actions, under SQLite's historical
// limit of 999 variables per statement.
const sqlitePieceBits = 7

// The columns every row of a statement shares (the namespace, the time of
// the commit) are bound once, as ?1 and ?2, ahead of each row's own.
const sqliteResponseColumns = `namespace, received_at, touchpoint, response_id, body_hash, customer_id, customer_tier,
		customer_segment, customer_attributes, answers, comment, sentiment, themes, metadata, submitted_at`

const sqliteResponseValues = `(?1, ?2, ?, ?, ?, ?, ?, ?, jsonb(?), jsonb(?), ?, ?, jsonb(?), jsonb(?), ?)`

// sqliteResponseArgs is how many arguments each response row binds.
const sqliteResponseArgs = 13

const sqliteActionColumns = `namespace, next_attempt_at, created_at, touchpoint, response_id, kind, dedup_key, payload`

const sqliteActionValues = `(?1, ?2, ?2, ?, ?, ?, ?, ?)`

// sqliteActionArgs is how many arguments each action row binds.
const sqliteActionArgs = 5

// sqliteManyStmts are the multi-row INSERTs: [k] writes 2^k rows.
type sqliteManyStmts struct {
	responses, actions [sqlitePieceBits]*sql.Stmt
}

func (m *sqliteManyStmts) all() []*sql.Stmt {
	return append(m.responses[:], m.actions[:]...)
}

func repeatValues(tuple string, n int) string {
	return strings.TrimSuffix(strings.Repeat(tuple+",", n), ",")
}

func (s *sqliteStore) prepareMany(ctx context.Context) error {
	for k := range sqlitePieceBits {
		var err error
		s.many.responses[k], err = s.writer.PrepareContext(ctx, `INSERT INTO responses (`+sqliteResponseColumns+`) VALUES `+
			repeatValues(sqliteResponseValues, 1<<k)+
			` ON CONFLICT (namespace, touchpoint, response_id) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("prepare sqlite insert of %d responses: %w", 1<<k, err)
		}
		s.many.actions[k], err = s.writer.PrepareContext(ctx, `INSERT INTO outbox_actions (`+sqliteActionColumns+`) VALUES `+
			repeatValues(sqliteActionValues, 1<<k)+` ON CONFLICT (namespace, touchpoint, dedup_key) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("prepare sqlite insert of %d actions: %w", 1<<k, err)
		}
	}
	return nil
}

// sqliteTx is one group commit's transaction with its statements.
type sqliteTx struct {
	tx *sql.Tx
	s  *sqliteStore
	// q runs the savepoints with the writer's prepared statements.
	q *cachedTxQ
	// bound are the store's statements bound to tx, bound when first used.
	bound map[*sql.Stmt]*sql.Stmt
	ns    string
	now   time.Time
	// careful puts each piece with actions in a savepoint; without it, a
	// piece whose actions fail fails the attempt with errCareful.
	careful bool
}

// errCareful ends an attempt at a group commit without savepoints: its
// transaction is rolled back and the batch written again carefully.
var errCareful = errors.New("a piece's actions failed outside a savepoint")

// stmt returns st bound to the transaction.
func (t *sqliteTx) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	b, ok := t.bound[st]
	if !ok {
		b = t.tx.StmtContext(ctx, st)
		t.bound[st] = b
	}
	return b
}

// exec runs a statement without arguments or result (a savepoint).
func (t *sqliteTx) exec(ctx context.Context, query string) error {
	_, err := t.q.exec(ctx, query)
	return err
}

// flush writes a group commit in one transaction: runs of responses
// without a token in multi-row pieces, a response with a token (which
// must consume it or be rejected) on its own, in the order they came.
func (s *sqliteStore) flush(ctx context.Context, reqs []*saveRequest) error {
	items := batchItems(reqs)
	s.ckpt.commitMu.Lock()
	err := s.flushTx(ctx, items, false)
	if errors.Is(err, errCareful) {
		err = s.flushTx(ctx, items, true)
	}
	s.ckpt.commitMu.Unlock()
	s.ckpt.committed()
	return err
}

// flushTx makes one attempt at writing items in a transaction.
func (s *sqliteStore) flushTx(ctx context.Context, items []batchItem, careful bool) error {
	t := &sqliteTx{s: s, ns: s.cfg.Namespace, now: utc(s.cfg.Now()), bound: map[*sql.Stmt]*sql.Stmt{}, careful: careful}
	var err error
	if t.tx, err = s.writer.BeginTx(ctx, nil); err != nil {
		return fmt.Errorf("begin group commit: %w", err)
	}
	t.q = &cachedTxQ{tx: t.tx, c: s.wstmts}
	defer func() {
		t.tx.Rollback() //nolint:errcheck // after Commit this is a no-op
		// The savepoints' texts are prepared after the first commit.
		for _, query := range t.q.missed {
			s.wstmts.stmt(ctx, query) //nolint:errcheck // it runs as text the next time
		}
	}()
	run := items[:0:0]
	for _, it := range items {
		*it.res = SaveResult{}
		switch {
		case it.encErr != nil:
			*it.res = SaveResult{Err: it.encErr}
		case it.r.TokenID == "":
			run = append(run, it)
		default:
			if err := t.savePieces(ctx, run); err != nil {
				return err
			}
			run = run[:0]
			if err := t.saveEach(ctx, []batchItem{it}); err != nil {
				return err
			}
		}
	}
	if err := t.savePieces(ctx, run); err != nil {
		return err
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit group of responses: %w", err)
	}
	return nil
}

// savePieces writes items (none with a token) in pieces of 2^k.
func (t *sqliteTx) savePieces(ctx context.Context, items []batchItem) error {
	for len(items) > 0 {
		k := min(sqlitePieceBits-1, bits.Len(uint(len(items)))-1)
		piece := items[:1<<k]
		items = items[1<<k:]
		if ok, err := t.savePiece(ctx, piece, k); err != nil {
			return err
		} else if !ok {
			// Written again one by one, each with its own answer.
			if err := t.saveEach(ctx, piece); err != nil {
				return err
			}
		}
	}
	return nil
}

// savePiece writes 2^k responses and their actions, and answers each. It
// returns false, with nothing written, when a statement failed: the
// caller writes the piece again one response at a time. An error fails
// the whole group commit.
func (t *sqliteTx) savePiece(ctx context.Context, piece []batchItem, k int) (bool, error) {
	withActions := false
	for _, it := range piece {
		withActions = withActions || len(it.enc.kinds) > 0
	}
	withActions = withActions && t.careful
	// A failed statement rolls back alone; a failure of the actions must
	// also roll back the responses.
	if withActions {
		if err := t.exec(ctx, "SAVEPOINT piece"); err != nil {
			return false, fmt.Errorf("group commit: %w", err)
		}
	}
	ok, err := t.insertPiece(ctx, piece, k, withActions)
	if err != nil {
		return false, err
	}
	if withActions {
		if !ok {
			if err := t.exec(ctx, "ROLLBACK TO piece"); err != nil {
				return false, fmt.Errorf("group commit: roll back %d responses: %w", len(piece), err)
			}
		}
		if err := t.exec(ctx, "RELEASE piece"); err != nil {
			return false, fmt.Errorf("group commit: %w", err)
		}
	}
	if !ok {
		for _, it := range piece {
			*it.res = SaveResult{}
		}
	}
	return ok, nil
}

// insertPiece writes a piece. A failure once the responses are written
// is a failed piece only inside a savepoint (canRollBack); else it fails
// a careful group commit, and ends one without savepoints with errCareful.
func (t *sqliteTx) insertPiece(ctx context.Context, piece []batchItem, k int, canRollBack bool) (bool, error) {
	now := micros(t.now)
	args := make([]any, 2, 2+sqliteResponseArgs*len(piece))
	args[0], args[1] = t.ns, now
	for _, it := range piece {
		r, enc := it.r, it.enc
		var sentiment any
		if r.Sentiment != nil {
			sentiment = *r.Sentiment
		}
		args = append(args, r.Touchpoint, r.ID, r.BodyHash, r.Customer.ID, r.Customer.Tier, r.Customer.Segment,
			enc.attrs, enc.answers, r.Comment, sentiment, enc.themes, enc.metadata, micros(enc.submittedAt))
	}
	res, err := t.stmt(ctx, t.s.many.responses[k]).ExecContext(ctx, args...)
	if err != nil {
		// The statement rolled back alone.
		return t.pieceFailed(ctx, err, true)
	}
	if err := t.pieceSeqs(ctx, piece, res); err != nil {
		return t.pieceFailed(ctx, err, canRollBack)
	}
	var actions []any
	for _, it := range piece {
		if it.res.Status != StatusStored {
			continue
		}
		enc := it.enc
		for i := range enc.kinds {
			actions = append(actions, it.r.Touchpoint, it.r.ID, enc.kinds[i], enc.keys[i], enc.payloads[i])
		}
	}
	// Each statement binds the shared two, then its rows' (args reused).
	args = append(args[:0], t.ns, now)
	for n := len(actions) / sqliteActionArgs; n > 0; {
		k := min(sqlitePieceBits-1, bits.Len(uint(n))-1)
		args = append(args[:2], actions[:sqliteActionArgs<<k]...)
		if _, err := t.stmt(ctx, t.s.many.actions[k]).ExecContext(ctx, args...); err != nil {
			return t.pieceFailed(ctx, err, canRollBack)
		}
		actions, n = actions[sqliteActionArgs<<k:], n-(1<<k)
	}
	return true, nil
}

// pieceSeqs answers each response of a piece whose INSERT ran (res):
// stored with its new sequence number, or a duplicate of the row stored
// before with its key, by this batch or an earlier one.
func (t *sqliteTx) pieceSeqs(ctx context.Context, piece []batchItem, res sql.Result) error {
	inserted, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if int(inserted) == len(piece) {
		// Every row is new: the writer numbered them one after the
		// other, in the order of the VALUES.
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i, it := range piece {
			*it.res = SaveResult{Status: StatusStored, Receipt: Receipt{Seq: last - int64(len(piece)-1-i), ReceivedAt: t.now}}
		}
		return nil
	}
	// Some keys were there before (or twice in the piece): read each
	// response's row. The rows this INSERT made carry the highest
	// sequence numbers of all those read (any earlier row is below them),
	// one per key: the first response with such a key is stored, the
	// others repeat it.
	type row struct {
		seq      int64
		received time.Time
		hash     string
	}
	rows := make([]row, len(piece))
	var seqs []int64
	for i, it := range piece {
		var received nullTime
		if err := t.stmt(ctx, t.s.stmts.selectReceipt).QueryRowContext(ctx, t.ns, it.r.Touchpoint, it.r.ID).
			Scan(&rows[i].seq, &received, &rows[i].hash); err != nil {
			return fmt.Errorf("read receipt of duplicate: %w", err)
		}
		rows[i].received = received.T
		seqs = append(seqs, rows[i].seq)
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	newRows := map[int64]bool{}
	for _, seq := range seqs[max(0, len(seqs)-int(inserted)):] {
		newRows[seq] = true
	}
	for i, it := range piece {
		rw := rows[i]
		if newRows[rw.seq] {
			delete(newRows, rw.seq)
			*it.res = SaveResult{Status: StatusStored, Receipt: Receipt{Seq: rw.seq, ReceivedAt: t.now}}
			continue
		}
		*it.res = duplicateResult(it.r, rw.hash, Receipt{Seq: rw.seq, ReceivedAt: rw.received})
	}
	return nil
}

// pieceFailed decides what a failed statement of a piece means: the
// piece is written again one by one, unless the commit itself is gone or
// what the piece wrote cannot be rolled back alone.
func (t *sqliteTx) pieceFailed(ctx context.Context, err error, canRollBack bool) (bool, error) {
	switch {
	case ctx.Err() != nil:
		return false, fmt.Errorf("group commit: %w", err)
	case canRollBack:
		return false, nil
	case !t.careful:
		return false, fmt.Errorf("%w: %w", errCareful, err)
	}
	return false, fmt.Errorf("group commit: %w", err)
}

// saveEach writes items one at a time, each in its own savepoint when it
// has a token or actions, so that a failing response rolls back alone.
func (t *sqliteTx) saveEach(ctx context.Context, items []batchItem) error {
	for _, it := range items {
		// A response without token or actions is one INSERT, atomic on
		// its own (a failed statement rolls back alone): no savepoint.
		single := it.r.TokenID == "" && len(it.r.Actions) == 0
		if !single {
			if err := t.exec(ctx, "SAVEPOINT response"); err != nil {
				return fmt.Errorf("group commit: %w", err)
			}
		}
		res, err := t.saveOne(ctx, it.r, it.enc)
		if !single {
			if err != nil || res.Status == StatusTokenRejected {
				if rerr := t.exec(ctx, "ROLLBACK TO response"); rerr != nil {
					return fmt.Errorf("group commit: roll back response %s: %w", it.r.ID, rerr)
				}
			}
			if err := t.exec(ctx, "RELEASE response"); err != nil {
				return fmt.Errorf("group commit: %w", err)
			}
		}
		if err != nil {
			res = SaveResult{Err: fmt.Errorf("save response %s/%s: %w", it.r.Touchpoint, it.r.ID, err)}
		}
		*it.res = res
	}
	return nil
}
