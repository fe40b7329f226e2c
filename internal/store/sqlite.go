package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLite engine.
//
// Durability: WAL journal with synchronous=FULL by default. In WAL mode,
// NORMAL already survives a crash or SIGKILL of the process (committed
// frames are in the OS page cache), but not a power loss or kernel crash of
// the node; FULL fsyncs the WAL at every commit and survives both. Because
// responses are group-committed, FULL costs one fsync per batch, not per
// response, so the collector keeps it: a 202 means "on disk".
//
// Concurrency: one writer connection (SQLite allows one writer at a time;
// one connection avoids lock retries inside the process) used by the group
// committer and the other writes, and a pool of read-only connections that
// read concurrently with it thanks to WAL, and one connection that
// checkpoints the WAL (sqlite_checkpoint.go). busy_timeout covers other
// processes opening the same file (a second replica, a migration).

var sqliteDialect = dialect{
	name:       DriverSQLite,
	ts:         func(t time.Time) any { return micros(t) },
	skipLocked: "",
	jsonText: func(col, key string) string {
		return col + ` ->> '$."` + key + `"'`
	},
	jsonRemove: func(col string, keys []string) string {
		paths := make([]string, len(keys))
		for i, k := range keys {
			paths[i] = `'$."` + k + `"'`
		}
		return "jsonb_remove(" + col + ", " + strings.Join(paths, ", ") + ")"
	},
	jsonOut: func(col string) string { return "json(" + col + ")" },
	jsonHasAny: func(col string, keys []string) string {
		conds := make([]string, len(keys))
		for i, k := range keys {
			conds[i] = "json_type(" + col + `, '$."` + k + `"') IS NOT NULL`
		}
		return "(" + strings.Join(conds, " OR ") + ")"
	},
}

type sqliteStore struct {
	sqlStore
	writer, readers *sql.DB
	stmts           sqliteStmts
	many            sqliteManyStmts
	// wstmts and rstmts keep the other calls' statements prepared.
	wstmts, rstmts *stmtCache
	ckpt           *sqliteCheckpointer
}

// sqliteStmts are prepared once on the writer connection.
type sqliteStmts struct {
	insertResponse, selectReceipt, useToken, insertAction *sql.Stmt
}

// sqlite connection roles
const (
	sqliteReader = iota
	sqliteWriter
	sqliteCheckpoint
)

func sqliteDSN(path string, cfg Config, role int) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10))
	switch role {
	case sqliteCheckpoint:
		// A checkpoint fsyncs as the connection's synchronous says.
		q.Set("_synchronous", cfg.Synchronous)
	case sqliteWriter:
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", cfg.Synchronous)
		q.Set("_txlock", "immediate")
		// The statement journal of a multi-row INSERT and the savepoint
		// of a group commit's piece stay in memory instead of spilling
		// to a temporary file (an open, writes and a close per commit).
		q.Add("_pragma", "temp_store(MEMORY)")
		// The checkpointer copies the WAL (sqlite_checkpoint.go).
		q.Add("_pragma", "wal_autocheckpoint(0)")
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(sqliteJournalSizeLimitMB<<20)+")")
	default:
		q.Set("_query_only", "1")
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Add("_pragma", "cache_size(-32768)")
		// Aggregates scan the table: map it instead of one read per page.
		q.Add("_pragma", "mmap_size(1073741824)")
	}
	return path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, cfg Config) (Store, error) {
	path := cfg.Path
	if path == "" {
		path = cfg.DSN
	}
	if path == "" || strings.ContainsRune(path, '?') || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("%w: sqlite path %q: give a plain file path", ErrInvalid, path)
	}
	switch strings.ToUpper(cfg.Synchronous) {
	case "FULL", "NORMAL", "EXTRA":
	default:
		return nil, fmt.Errorf("%w: sqlite synchronous %q: use FULL or NORMAL", ErrInvalid, cfg.Synchronous)
	}
	if err := registerUDFs(); err != nil {
		return nil, err
	}
	// The volume is mounted, but the file's directory may not exist yet.
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite path %s: create its directory: %w", path, err)
	}
	writer, err := sql.Open("sqlite", sqliteDSN(path, cfg, sqliteWriter))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := migrateSQLite(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	readers, err := sql.Open("sqlite", sqliteDSN(path, cfg, sqliteReader))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
	}
	readers.SetMaxOpenConns(cfg.MaxReadConns)
	readers.SetMaxIdleConns(cfg.MaxReadConns)
	if err := readers.PingContext(ctx); err != nil {
		writer.Close()
		readers.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
	}

	ckptDB, err := sql.Open("sqlite", sqliteDSN(path, cfg, sqliteCheckpoint))
	if err == nil {
		ckptDB.SetMaxOpenConns(1)
		ckptDB.SetMaxIdleConns(1)
		ckptDB.SetConnMaxLifetime(0)
		ckptDB.SetConnMaxIdleTime(0)
		if err = ckptDB.PingContext(ctx); err != nil {
			ckptDB.Close()
		}
	}
	if err != nil {
		writer.Close()
		readers.Close()
		return nil, fmt.Errorf("open sqlite checkpointer %s: %w", path, err)
	}

	s := &sqliteStore{writer: writer, readers: readers, wstmts: newStmtCache(writer), rstmts: newStmtCache(readers)}
	if err := s.prepare(ctx); err != nil {
		writer.Close()
		readers.Close()
		ckptDB.Close()
		return nil, err
	}
	s.ckpt = newSQLiteCheckpointer(ckptDB)
	s.sqlStore = sqlStore{
		cfg: cfg,
		d:   sqliteDialect,
		r:   cachedQ{s.rstmts},
		w:   cachedQ{s.wstmts},
		inTx: func(ctx context.Context, fn func(q querier) error) error {
			return cachedTx(ctx, s.wstmts, fn)
		},
		ping: func(ctx context.Context) error {
			var one int
			return readers.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		},
		closeDB: func() {
			// The writer, closed last, copies what is left of the WAL.
			s.ckpt.close()
			for _, st := range append([]*sql.Stmt{s.stmts.insertResponse, s.stmts.selectReceipt, s.stmts.useToken, s.stmts.insertAction}, s.many.all()...) {
				st.Close()
			}
			s.wstmts.close()
			s.rstmts.close()
			readers.Close()
			// Lets SQLite refresh the planner statistics it needs.
			writer.Exec("PRAGMA optimize") //nolint:errcheck // best effort on the way out
			writer.Close()
		},
	}
	cfg.Committers = 1
	s.committer = newCommitter(s.flush, cfg)
	return s, nil
}

func (s *sqliteStore) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = s.writer.PrepareContext(ctx, q)
		return st
	}
	s.stmts.insertResponse = prep(`INSERT INTO responses (namespace, touchpoint, response_id, body_hash, customer_id, customer_tier,
		customer_segment, customer_attributes, answers, comment, sentiment, themes, metadata, submitted_at, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, jsonb(?), jsonb(?), ?, ?, jsonb(?), jsonb(?), ?, ?)
		ON CONFLICT (namespace, touchpoint, response_id) DO NOTHING RETURNING seq, received_at`)
	s.stmts.selectReceipt = prep(`SELECT seq, received_at, body_hash FROM responses WHERE namespace = ? AND touchpoint = ? AND response_id = ?`)
	s.stmts.useToken = prep(`UPDATE invitations SET used_at = ? WHERE namespace = ? AND token_id = ? AND touchpoint = ? AND customer_id = ?
		AND used_at IS NULL AND expires_at > ?`)
	s.stmts.insertAction = prep(`INSERT INTO outbox_actions (namespace, touchpoint, response_id, kind, dedup_key, payload,
		next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, touchpoint, dedup_key) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("prepare sqlite statements: %w", err)
	}
	return s.prepareMany(ctx)
}

// saveOne writes one response, consuming its token, and its actions.
func (t *sqliteTx) saveOne(ctx context.Context, r *NewResponse, enc *encodedResponse) (SaveResult, error) {
	ns, now, st := t.ns, t.now, &t.s.stmts
	var seq int64
	var received nullTime
	var sentiment any
	if r.Sentiment != nil {
		sentiment = *r.Sentiment
	}
	err := t.stmt(ctx, st.insertResponse).QueryRowContext(ctx, ns, r.Touchpoint, r.ID, r.BodyHash, r.Customer.ID, r.Customer.Tier, r.Customer.Segment,
		enc.attrs, enc.answers, r.Comment, sentiment, enc.themes, enc.metadata, micros(enc.submittedAt), micros(now)).
		Scan(&seq, &received)
	if errors.Is(err, sql.ErrNoRows) {
		var hash string
		if err := t.stmt(ctx, st.selectReceipt).QueryRowContext(ctx, ns, r.Touchpoint, r.ID).Scan(&seq, &received, &hash); err != nil {
			return SaveResult{}, fmt.Errorf("read receipt of duplicate: %w", err)
		}
		return duplicateResult(r, hash, Receipt{Seq: seq, ReceivedAt: received.T}), nil
	}
	if err != nil {
		return SaveResult{}, err
	}
	if r.TokenID != "" {
		res, err := t.stmt(ctx, st.useToken).ExecContext(ctx, micros(now), ns, r.TokenID, r.Touchpoint, r.Customer.ID, micros(now))
		if err != nil {
			return SaveResult{}, fmt.Errorf("use token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return SaveResult{Status: StatusTokenRejected}, nil
		}
	}
	for i := range enc.kinds {
		if _, err := t.stmt(ctx, st.insertAction).ExecContext(ctx, ns, r.Touchpoint, r.ID, enc.kinds[i], enc.keys[i], enc.payloads[i],
			micros(now), micros(now)); err != nil {
			return SaveResult{}, fmt.Errorf("write action %d (%s): %w", i, enc.kinds[i], err)
		}
	}
	return SaveResult{Status: StatusStored, Receipt: Receipt{Seq: seq, ReceivedAt: now}}, nil
}

func migrateSQLite(ctx context.Context, writer *sql.DB) error {
	ms, err := loadMigrations(DriverSQLite)
	if err != nil {
		return err
	}
	// The writer begins IMMEDIATE transactions: this takes the database's
	// write lock, so a second process opening the file waits, then sees the
	// migrations applied.
	return sqlTx(ctx, writer, func(q querier) error {
		return applyMigrations(ctx, q, ms)
	})
}

// applyMigrations applies the pending migrations inside the caller's
// transaction, which holds the engine's migration lock.
func applyMigrations(ctx context.Context, q querier, ms []migration) error {
	if _, err := q.exec(ctx, createSchemaMigrations); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := q.query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if _, err := q.exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := q.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("record migration %04d: %w", m.version, err)
		}
	}
	return nil
}

// sqlQ adapts *sql.DB and *sql.Tx to querier.
type sqlQ struct {
	db interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (q sqlQ) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQ) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	return q.db.QueryRowContext(ctx, query, args...)
}

func (q sqlQ) query(ctx context.Context, query string, args ...any) (rowsIter, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func sqlTx(ctx context.Context, db *sql.DB, fn func(q querier) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlQ{tx}); err != nil {
		tx.Rollback() //nolint:errcheck // the error that made us roll back matters more
		return err
	}
	return tx.Commit()
}
