package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements of the SQLite calls outside the group commit.
//
// database/sql runs a query given as text by preparing it, running it and
// finalizing it, every time: for the modernc driver, parsing and planning
// a statement costs about as much as running a small one (a fifth of the
// CPU of sending an invitation was preparing the store's UPDATEs again).
// The SQLite store keeps each query text it runs prepared, once per
// connection, up to stmtCacheSize texts; beyond that (queries built from
// keys the configuration names) it runs them as text, as before.
//
// The writer pool has one connection, and a transaction holds it: a
// statement cannot be prepared on the pool inside a transaction (it would
// wait for the connection forever). A transaction uses the statements
// already prepared, bound to it; a text seen for the first time runs as
// text and is prepared on the pool once the transaction is over.

// stmtCacheSize bounds the query texts a pool keeps prepared.
const stmtCacheSize = 256

// stmtCache is the prepared statements of one pool, by query text.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// lookup returns the statement prepared for query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// stmt returns query prepared on the pool, preparing it if it is not yet,
// or nil when the cache is full or closed (the caller runs the text). It
// must not be called inside a transaction of a one-connection pool.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := c.closed || len(c.m) >= stmtCacheSize
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok || c.closed || len(c.m) >= stmtCacheSize {
		// Another call prepared it meanwhile, or the cache filled up or
		// closed: this one is not kept.
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

// close finalizes the statements; later calls run their texts.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
	c.closed = true
}

// cachedQ runs queries on a pool with its prepared statements.
type cachedQ struct{ c *stmtCache }

func (q cachedQ) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := q.c.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	if st == nil {
		return sqlQ{q.c.db}.exec(ctx, query, args...)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q cachedQ) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st, err := q.c.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	if st == nil {
		return q.c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (q cachedQ) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	st, err := q.c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return sqlQ{q.c.db}.query(ctx, query, args...)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// errRow is a row whose query could not be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// cachedTxQ runs queries in a transaction with the statements of its
// pool that are prepared, each bound to the transaction once.
type cachedTxQ struct {
	tx    *sql.Tx
	c     *stmtCache
	bound map[string]*sql.Stmt
	// missed are the texts that ran as text, to prepare after the
	// transaction.
	missed []string
}

// stmt returns query's statement bound to the transaction, or nil.
func (q *cachedTxQ) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := q.bound[query]; ok {
		return st
	}
	if q.bound == nil {
		q.bound = map[string]*sql.Stmt{}
	}
	st := q.c.lookup(query)
	if st == nil {
		q.missed = append(q.missed, query)
	} else {
		st = q.tx.StmtContext(ctx, st)
	}
	// A missed text stays missed (nil) for the rest of the transaction.
	q.bound[query] = st
	return st
}

func (q *cachedTxQ) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st := q.stmt(ctx, query)
	if st == nil {
		return sqlQ{q.tx}.exec(ctx, query, args...)
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *cachedTxQ) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	st := q.stmt(ctx, query)
	if st == nil {
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (q *cachedTxQ) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	st := q.stmt(ctx, query)
	if st == nil {
		return sqlQ{q.tx}.query(ctx, query, args...)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// cachedTx runs fn in a transaction of c's pool with its prepared
// statements, then prepares the texts fn ran that were not.
func cachedTx(ctx context.Context, c *stmtCache, fn func(q querier) error) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	q := &cachedTxQ{tx: tx, c: c}
	err = fn(q)
	if err != nil {
		tx.Rollback() //nolint:errcheck // the error that made us roll back matters more
	} else {
		err = tx.Commit()
	}
	for _, query := range q.missed {
		// A text that does not prepare (not a statement SQLite keeps,
		// several statements) stays run as text.
		c.stmt(ctx, query) //nolint:errcheck // it runs as text the next time
	}
	return err
}
