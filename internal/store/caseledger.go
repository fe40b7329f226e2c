package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ThrottleWindow is the window of a rule's maxCasesPerHour.
const ThrottleWindow = time.Hour

// CaseLedger records the Cases dispatchers open, so that throttle and
// dedup decisions read a few indexed rows instead of listing every Case of
// a rule or key from the API server: their cost does not grow with the
// number of Cases. It lives in the store every collector of a program
// shares (one PostgreSQL) and survives restarts. The Case objects stay
// the record people see; the ledger only decides.
type CaseLedger interface {
	// ReserveCase records that rule is opening Case name at now, when the
	// rule reserved fewer than limit Cases in the ThrottleWindow before now
	// (limit <= 0: no limit), and reports whether it did. A name reserved
	// before is reserved again without counting twice (a retry after a
	// crash). Concurrent calls, from any collector sharing the database,
	// never reserve more than limit in a window.
	ReserveCase(ctx context.Context, namespace, rule, name string, now time.Time, limit int) (bool, error)
	// ReleaseCase forgets a reservation whose Case could not be created.
	ReleaseCase(ctx context.Context, namespace, rule, name string) error
	// DedupCases returns the Cases recorded for a dedup key that were
	// opened at or after since, oldest first, and the number the key's next
	// Case takes (one more than the highest recorded, 0 for a new key).
	DedupCases(ctx context.Context, namespace, template, key string, since time.Time) ([]DedupCase, int, error)
	// RecordDedupCase records c as one of the Cases of a dedup key.
	// Recording a number again keeps the first record.
	RecordDedupCase(ctx context.Context, namespace, template, key string, c DedupCase) error
}

// DedupCase is one Case of a dedup key.
type DedupCase struct {
	// Seq numbers the key's Cases from 0.
	Seq      int
	Name     string
	OpenedAt time.Time
}

func (s *sqlStore) ReserveCase(ctx context.Context, namespace, rule, name string, now time.Time, limit int) (bool, error) {
	if namespace == "" || rule == "" || name == "" {
		return false, fmt.Errorf("%w: a case reservation needs a namespace, a rule and a case name", ErrInvalid)
	}
	now = utc(now)
	since := now.Add(-ThrottleWindow)
	reserved := false
	err := s.inTx(ctx, func(q querier) error {
		if s.d.name == DriverPostgres {
			// One decision per rule at a time, across collectors: two
			// transactions must not both count limit-1 and insert.
			if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 20))`, namespace+"/"+rule); err != nil {
				return err
			}
		}
		var one int
		err := q.queryRow(ctx, `SELECT 1 FROM case_throttle WHERE namespace = ? AND rule = ? AND case_name = ?`,
			namespace, rule, name).Scan(&one)
		if err == nil {
			reserved = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Reservations out of the window count no more; pruning them here
		// keeps the table at about one window of Cases per rule.
		if _, err := q.exec(ctx, `DELETE FROM case_throttle WHERE namespace = ? AND rule = ? AND opened_at < ?`,
			namespace, rule, s.d.ts(since)); err != nil {
			return err
		}
		if limit > 0 {
			var n int
			if err := q.queryRow(ctx, `SELECT count(*) FROM case_throttle WHERE namespace = ? AND rule = ? AND opened_at >= ?`,
				namespace, rule, s.d.ts(since)).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return nil
			}
		}
		if _, err := q.exec(ctx, `INSERT INTO case_throttle (namespace, rule, case_name, opened_at) VALUES (?, ?, ?, ?)`,
			namespace, rule, name, s.d.ts(now)); err != nil {
			return err
		}
		reserved = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("reserve case %s of rule %s/%s: %w", name, namespace, rule, err)
	}
	return reserved, nil
}

func (s *sqlStore) ReleaseCase(ctx context.Context, namespace, rule, name string) error {
	if _, err := s.w.exec(ctx, `DELETE FROM case_throttle WHERE namespace = ? AND rule = ? AND case_name = ?`,
		namespace, rule, name); err != nil {
		return fmt.Errorf("release case %s of rule %s/%s: %w", name, namespace, rule, err)
	}
	return nil
}

func (s *sqlStore) DedupCases(ctx context.Context, namespace, template, key string, since time.Time) ([]DedupCase, int, error) {
	// Read from the writer: a Case recorded a moment ago by this collector
	// must be seen (SQLite's readers are other connections).
	var next sql.NullInt64
	if err := s.w.queryRow(ctx, `SELECT max(seq) FROM dedup_cases WHERE namespace = ? AND template = ? AND key_hash = ?`,
		namespace, template, key).Scan(&next); err != nil {
		return nil, 0, fmt.Errorf("dedup cases of %s/%s: %w", namespace, key, err)
	}
	if !next.Valid {
		return nil, 0, nil
	}
	rows, err := s.w.query(ctx, `SELECT seq, case_name, opened_at FROM dedup_cases
		WHERE namespace = ? AND template = ? AND key_hash = ? AND opened_at >= ? ORDER BY opened_at, seq`,
		namespace, template, key, s.d.ts(utc(since)))
	if err != nil {
		return nil, 0, fmt.Errorf("dedup cases of %s/%s: %w", namespace, key, err)
	}
	defer rows.Close()
	var out []DedupCase
	for rows.Next() {
		var c DedupCase
		var opened nullTime
		if err := rows.Scan(&c.Seq, &c.Name, &opened); err != nil {
			return nil, 0, fmt.Errorf("dedup cases of %s/%s: %w", namespace, key, err)
		}
		c.OpenedAt = opened.T
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("dedup cases of %s/%s: %w", namespace, key, err)
	}
	return out, int(next.Int64) + 1, nil
}

func (s *sqlStore) RecordDedupCase(ctx context.Context, namespace, template, key string, c DedupCase) error {
	if namespace == "" || template == "" || key == "" || c.Name == "" || c.Seq < 0 {
		return fmt.Errorf("%w: a dedup case needs a namespace, a template, a key, a name and a number >= 0", ErrInvalid)
	}
	if _, err := s.w.exec(ctx, `INSERT INTO dedup_cases (namespace, template, key_hash, seq, case_name, opened_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, template, key_hash, seq) DO NOTHING`,
		namespace, template, key, c.Seq, c.Name, s.d.ts(utc(c.OpenedAt))); err != nil {
		return fmt.Errorf("record dedup case %s: %w", c.Name, err)
	}
	return nil
}
