package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
	// ReserveCases decides several reservations, in order, in one
	// transaction (one commit for a dispatcher's batch), as ReserveCase
	// decides each; granted[i] answers rs[i].
	ReserveCases(ctx context.Context, rs []CaseReservation) (granted []bool, err error)
	// ReleaseCase forgets a reservation whose Case could not be created.
	ReleaseCase(ctx context.Context, namespace, rule, name string) error
	// DedupCases returns the Cases recorded for a dedup key that were
	// opened at or after since, oldest first, and the number the key's next
	// Case takes (0 for a new key).
	DedupCases(ctx context.Context, namespace, template, key string, since time.Time) ([]DedupCase, int, error)
	// DedupCasesOf looks up several dedup keys as DedupCases looks up
	// each, in two queries per namespace and template instead of two per
	// key (a dispatcher's claimed batch); out[i] answers ls[i].
	DedupCasesOf(ctx context.Context, ls []DedupLookup) ([]DedupKeyCases, error)
	// RecordDedupCase records c as one of the Cases of a dedup key.
	// Recording a number again keeps the first record.
	RecordDedupCase(ctx context.Context, namespace, template, key string, c DedupCase) error
	// CompleteActionsWith marks claimed actions done and applies the
	// ledger changes their handling made, in one commit.
	CompleteActionsWith(ctx context.Context, ids []int64, ch LedgerChanges) error
	// PruneCaseLedger deletes what can no longer change a decision in a
	// namespace: throttle reservations out of the window, dedup Cases
	// whose window ended, and the numbering of keys that opened no Case
	// for DedupKeyIdle and hold no recorded Case any more. It returns how many rows
	// it deleted.
	PruneCaseLedger(ctx context.Context, namespace string, now time.Time) (int64, error)
}

// DedupKeyIdle is how long the numbering of a dedup key without recorded
// Cases is kept after its last Case opened. A key that opens a Case after
// that numbers from 0 again, walking past names that are still taken.
const DedupKeyIdle = 30 * 24 * time.Hour

// CaseReservation is one throttle place to reserve (see ReserveCase).
type CaseReservation struct {
	Namespace, Rule, Name string
	Now                   time.Time
	Limit                 int
}

// DedupCase is one Case of a dedup key.
type DedupCase struct {
	// Seq numbers the key's Cases from 0.
	Seq      int
	Name     string
	OpenedAt time.Time
	// ExpiresAt is when the key's window ends for this Case (OpenedAt plus
	// the rule's window): after it the record is pruned. Zero keeps it
	// until the Case is found closed.
	ExpiresAt time.Time
}

// DedupLookup is a dedup key to look up: its Cases opened at or after
// Since.
type DedupLookup struct {
	Namespace, Template, Key string
	Since                    time.Time
}

// DedupKeyCases is what the ledger holds of a dedup key: its Cases opened
// within the lookup's window, oldest first, and the number the key's next
// Case takes (0 for a new key).
type DedupKeyCases struct {
	Cases []DedupCase
	Next  int
}

// DedupRef names one recorded Case of a dedup key.
type DedupRef struct {
	Namespace, Template, Key string
	Seq                      int
}

// DedupRecord is a Case of a dedup key to record.
type DedupRecord struct {
	Namespace, Template, Key string
	Case                     DedupCase
}

// LedgerChanges are the case ledger writes of a batch of actions.
type LedgerChanges struct {
	// Opened are the dedup Cases the batch created.
	Opened []DedupRecord
	// Gone are recorded dedup Cases found deleted (or being deleted): they
	// absorb no more matches, so their records go; the key keeps its
	// numbering. A Case that is only closed keeps its record until its
	// window ends, since it may be reopened.
	Gone []DedupRef
}

func (c LedgerChanges) empty() bool { return len(c.Opened) == 0 && len(c.Gone) == 0 }

func (s *sqlStore) ReserveCase(ctx context.Context, namespace, rule, name string, now time.Time, limit int) (bool, error) {
	granted, err := s.ReserveCases(ctx, []CaseReservation{{Namespace: namespace, Rule: rule, Name: name, Now: now, Limit: limit}})
	if err != nil {
		return false, err
	}
	return granted[0], nil
}

func (s *sqlStore) ReserveCases(ctx context.Context, rs []CaseReservation) ([]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	for _, r := range rs {
		if r.Namespace == "" || r.Rule == "" || r.Name == "" {
			return nil, fmt.Errorf("%w: a case reservation needs a namespace, a rule and a case name", ErrInvalid)
		}
	}
	granted := make([]bool, len(rs))
	err := s.inTx(ctx, func(q querier) error {
		if s.d.name == DriverPostgres {
			// One decision per rule at a time, across collectors: two
			// transactions must not both count limit-1 and insert. The
			// rules are locked in one order, so two batches never wait
			// for each other's locks.
			rules := make([]string, 0, len(rs))
			for _, r := range rs {
				rules = append(rules, r.Namespace+"/"+r.Rule)
			}
			slices.Sort(rules)
			for _, r := range slices.Compact(rules) {
				if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 20))`, r); err != nil {
					return err
				}
			}
		}
		counts := map[[2]string]*windowCount{}
		for i, r := range rs {
			ok, err := s.reserveOne(ctx, q, r, counts)
			if err != nil {
				return fmt.Errorf("reserve case %s of rule %s/%s: %w", r.Name, r.Namespace, r.Rule, err)
			}
			granted[i] = ok
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return granted, nil
}

// windowCount is what a transaction knows of a rule's reservations in
// its window: n of them since since, counted up to bound (n == bound: at
// least bound).
type windowCount struct {
	since    time.Time
	n, bound int
}

// reserveOne decides one reservation. The rule's reservations in the
// window are counted once per transaction (counts, by namespace and rule)
// and then followed by the reservations it makes, and the count stops at
// the limit: the decision needs no more, so its cost is bounded by the
// limit, not by the rule's Cases.
func (s *sqlStore) reserveOne(ctx context.Context, q querier, r CaseReservation, counts map[[2]string]*windowCount) (bool, error) {
	now := utc(r.Now)
	since := now.Add(-ThrottleWindow)
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM case_throttle WHERE namespace = ? AND rule = ? AND case_name = ?`,
		r.Namespace, r.Rule, r.Name).Scan(&one)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	key := [2]string{r.Namespace, r.Rule}
	if r.Limit > 0 {
		c := counts[key]
		if c == nil || !c.since.Equal(since) || (c.n >= c.bound && r.Limit > c.bound) {
			c = &windowCount{since: since, bound: r.Limit}
			if err := q.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM case_throttle
				WHERE namespace = ? AND rule = ? AND opened_at >= ? LIMIT ?) w`,
				r.Namespace, r.Rule, s.d.ts(since), r.Limit).Scan(&c.n); err != nil {
				return false, err
			}
			counts[key] = c
		}
		if c.n >= r.Limit {
			return false, nil
		}
	}
	if _, err := q.exec(ctx, `INSERT INTO case_throttle (namespace, rule, case_name, opened_at) VALUES (?, ?, ?, ?)`,
		r.Namespace, r.Rule, r.Name, s.d.ts(now)); err != nil {
		return false, err
	}
	if c := counts[key]; c != nil && c.since.Equal(since) {
		c.n++
	}
	return true, nil
}

func (s *sqlStore) ReleaseCase(ctx context.Context, namespace, rule, name string) error {
	if _, err := s.w.exec(ctx, `DELETE FROM case_throttle WHERE namespace = ? AND rule = ? AND case_name = ?`,
		namespace, rule, name); err != nil {
		return fmt.Errorf("release case %s of rule %s/%s: %w", name, namespace, rule, err)
	}
	return nil
}

func (s *sqlStore) DedupCases(ctx context.Context, namespace, template, key string, since time.Time) ([]DedupCase, int, error) {
	out, err := s.DedupCasesOf(ctx, []DedupLookup{{Namespace: namespace, Template: template, Key: key, Since: since}})
	if err != nil {
		return nil, 0, err
	}
	return out[0].Cases, out[0].Next, nil
}

// dedupLookupChunk bounds the keys of one query (SQLite's and
// PostgreSQL's limits on bound parameters are far above it).
const dedupLookupChunk = 500

func (s *sqlStore) DedupCasesOf(ctx context.Context, ls []DedupLookup) ([]DedupKeyCases, error) {
	out := make([]DedupKeyCases, len(ls))
	// The lookups by namespace and template, in chunks.
	type group struct{ namespace, template string }
	byGroup := map[group][]int{}
	var order []group
	for i, l := range ls {
		g := group{l.Namespace, l.Template}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range order {
		idx := byGroup[g]
		for len(idx) > 0 {
			n := min(len(idx), dedupLookupChunk)
			if err := s.dedupCasesOf(ctx, g.namespace, g.template, ls, idx[:n], out); err != nil {
				return nil, err
			}
			idx = idx[n:]
		}
	}
	return out, nil
}

// dedupCasesOf answers the lookups ls[i] (i in idx, all of namespace and
// template) into out[i].
func (s *sqlStore) dedupCasesOf(ctx context.Context, namespace, template string, ls []DedupLookup, idx []int, out []DedupKeyCases) error {
	fail := func(err error) error { return fmt.Errorf("dedup cases of %s/%s: %w", namespace, template, err) }
	// The readers see every committed record (SQLite's WAL readers start
	// a snapshot at each statement), and reading there keeps the lookups
	// off the one SQLite writer.
	keys := make([]any, 0, len(idx))
	seen := map[string]bool{}
	for _, i := range idx {
		if !seen[ls[i].Key] {
			seen[ls[i].Key] = true
			keys = append(keys, ls[i].Key)
		}
	}
	rows, err := s.r.query(ctx, `SELECT key_hash, next_seq FROM dedup_keys WHERE namespace = ? AND template = ? AND key_hash IN (`+
		placeholders(len(keys))+`)`, append([]any{namespace, template}, keys...)...)
	if err != nil {
		return fail(err)
	}
	next := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return fail(err)
		}
		next[k] = n
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fail(err)
	}
	if len(next) == 0 {
		return nil // new keys: no Cases, numbered from 0
	}
	// The Cases of the known keys since the earliest lookup, each kept
	// for the lookups whose window it is in.
	known := make([]any, 0, len(next))
	var earliest time.Time
	for _, i := range idx {
		if _, ok := next[ls[i].Key]; ok {
			out[i].Next = next[ls[i].Key]
			if since := utc(ls[i].Since); earliest.IsZero() || since.Before(earliest) {
				earliest = since
			}
		}
	}
	for k := range next {
		known = append(known, k)
	}
	rows, err = s.r.query(ctx, `SELECT key_hash, seq, case_name, opened_at, expires_at FROM dedup_cases
		WHERE namespace = ? AND template = ? AND key_hash IN (`+placeholders(len(known))+`) AND opened_at >= ? ORDER BY opened_at, seq`,
		append(append([]any{namespace, template}, known...), s.d.ts(earliest))...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	byKey := map[string][]DedupCase{}
	for rows.Next() {
		var k string
		var c DedupCase
		var opened, expires nullTime
		if err := rows.Scan(&k, &c.Seq, &c.Name, &opened, &expires); err != nil {
			return fail(err)
		}
		c.OpenedAt, c.ExpiresAt = opened.T, expires.T
		byKey[k] = append(byKey[k], c)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	for _, i := range idx {
		for _, c := range byKey[ls[i].Key] {
			if !c.OpenedAt.Before(utc(ls[i].Since)) {
				out[i].Cases = append(out[i].Cases, c)
			}
		}
	}
	return nil
}

func (s *sqlStore) RecordDedupCase(ctx context.Context, namespace, template, key string, c DedupCase) error {
	return s.applyLedger(ctx, nil, LedgerChanges{Opened: []DedupRecord{{Namespace: namespace, Template: template, Key: key, Case: c}}})
}

func (s *sqlStore) CompleteActionsWith(ctx context.Context, ids []int64, ch LedgerChanges) error {
	if ch.empty() {
		return s.CompleteActions(ctx, ids)
	}
	return s.applyLedger(ctx, ids, ch)
}

// applyLedger writes ledger changes and marks actions done in one
// transaction.
func (s *sqlStore) applyLedger(ctx context.Context, ids []int64, ch LedgerChanges) error {
	for _, r := range ch.Opened {
		if r.Namespace == "" || r.Template == "" || r.Key == "" || r.Case.Name == "" || r.Case.Seq < 0 {
			return fmt.Errorf("%w: a dedup case needs a namespace, a template, a key, a name and a number >= 0", ErrInvalid)
		}
	}
	err := s.inTx(ctx, func(q querier) error {
		for _, r := range ch.Opened {
			c := r.Case
			var expires any
			if !c.ExpiresAt.IsZero() {
				expires = s.d.ts(utc(c.ExpiresAt))
			}
			if _, err := q.exec(ctx, `INSERT INTO dedup_cases (namespace, template, key_hash, seq, case_name, opened_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, template, key_hash, seq) DO NOTHING`,
				r.Namespace, r.Template, r.Key, c.Seq, c.Name, s.d.ts(utc(c.OpenedAt)), expires); err != nil {
				return fmt.Errorf("record dedup case %s: %w", c.Name, err)
			}
			if _, err := q.exec(ctx, `INSERT INTO dedup_keys (namespace, template, key_hash, next_seq, last_opened_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, template, key_hash) DO UPDATE SET
				next_seq = CASE WHEN excluded.next_seq > dedup_keys.next_seq THEN excluded.next_seq ELSE dedup_keys.next_seq END,
				last_opened_at = CASE WHEN excluded.last_opened_at > dedup_keys.last_opened_at THEN excluded.last_opened_at ELSE dedup_keys.last_opened_at END`,
				r.Namespace, r.Template, r.Key, c.Seq+1, s.d.ts(utc(c.OpenedAt))); err != nil {
				return fmt.Errorf("record dedup case %s: %w", c.Name, err)
			}
		}
		for _, r := range ch.Gone {
			if _, err := q.exec(ctx, `DELETE FROM dedup_cases WHERE namespace = ? AND template = ? AND key_hash = ? AND seq = ?`,
				r.Namespace, r.Template, r.Key, r.Seq); err != nil {
				return fmt.Errorf("forget deleted dedup case %d of %s/%s: %w", r.Seq, r.Namespace, r.Key, err)
			}
		}
		if len(ids) > 0 {
			return s.completeActions(ctx, q, ids)
		}
		return nil
	})
	return err
}

func (s *sqlStore) PruneCaseLedger(ctx context.Context, namespace string, now time.Time) (int64, error) {
	now = utc(now)
	var total int64
	for _, d := range []struct {
		what, q string
		args    []any
	}{
		{"throttle reservations", `DELETE FROM case_throttle WHERE namespace = ? AND opened_at < ?`,
			[]any{namespace, s.d.ts(now.Add(-ThrottleWindow))}},
		{"expired dedup cases", `DELETE FROM dedup_cases WHERE namespace = ? AND expires_at IS NOT NULL AND expires_at < ?`,
			[]any{namespace, s.d.ts(now)}},
		{"idle dedup keys", `DELETE FROM dedup_keys WHERE namespace = ? AND last_opened_at < ? AND NOT EXISTS (
			SELECT 1 FROM dedup_cases c WHERE c.namespace = dedup_keys.namespace AND c.template = dedup_keys.template AND c.key_hash = dedup_keys.key_hash)`,
			[]any{namespace, s.d.ts(now.Add(-DedupKeyIdle))}},
	} {
		n, err := s.w.exec(ctx, d.q, d.args...)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune case ledger of %s: %s: %w", namespace, d.what, err)
		}
	}
	return total, nil
}
