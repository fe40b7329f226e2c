package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DigestLines is how many matches a Digest lists; Count has them all.
const DigestLines = 50

// Digests buffer the matches of notify actions that send a digest: one
// message per rule, channel and interval with every match of the interval
// in it. A match is added once, however often its outbox action runs; a
// window is claimed by one flusher at a time (across collectors sharing
// the database), takes no more matches once claimed, and is sent until it
// is marked done.
type Digests interface {
	// AddDigestMatch adds m to the window of its rule and channel that
	// holds m.MatchedAt, or, when that window was already claimed for
	// sending, to the first open window after it (never one before
	// now's). A match whose key was added before is not added again.
	AddDigestMatch(ctx context.Context, m DigestMatch, now time.Time) error
	// ClaimDigests leases up to limit windows that ended at or before now,
	// are not done and not held by another claimer, for lease. Each claim
	// counts as an attempt.
	ClaimDigests(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Digest, error)
	// CompleteDigest marks a claimed window sent.
	CompleteDigest(ctx context.Context, id int64) error
	// RetryDigest releases a claimed window to be sent again at
	// nextAttemptAt, recording why this attempt failed.
	RetryDigest(ctx context.Context, id int64, nextAttemptAt time.Time, errMsg string) error
	// DeleteDigestsBefore deletes windows sent before t, with their
	// matches.
	DeleteDigestsBefore(ctx context.Context, t time.Time) (int64, error)
}

// DigestMatch is one match for a digest.
type DigestMatch struct {
	Rule, Channel string
	// Title of the rule's digests (its description); the first match of a
	// window sets it.
	Title string
	// Every is the digest's interval; windows are MatchedAt truncated to it.
	Every time.Duration
	// Key identifies the match (the touchpoint and the outbox dedup key).
	Key string
	// Line is how the digest lists the match.
	Line      string
	MatchedAt time.Time
}

// Digest is a claimed window: the message to send.
type Digest struct {
	ID                     int64
	Namespace              string
	Rule, Channel, Title   string
	WindowStart, WindowEnd time.Time
	// Count is the number of matches in the window.
	Count int
	// Lines are the first DigestLines matches, oldest first.
	Lines    []string
	Attempts int
}

// maxDigestWindowSteps bounds how many claimed windows AddDigestMatch
// walks past (one unless collectors' clocks disagree).
const maxDigestWindowSteps = 4

func (s *sqlStore) AddDigestMatch(ctx context.Context, m DigestMatch, now time.Time) error {
	if m.Rule == "" || m.Channel == "" || m.Key == "" || m.Every <= 0 || m.MatchedAt.IsZero() {
		return fmt.Errorf("%w: a digest match needs a rule, a channel, a key, a positive interval and a time", ErrInvalid)
	}
	ns := s.cfg.Namespace
	start := utc(m.MatchedAt).Truncate(m.Every)
	err := s.inTx(ctx, func(q querier) error {
		var one int
		err := q.queryRow(ctx, `SELECT count(*) FROM digest_matches WHERE namespace = ? AND rule = ? AND channel = ? AND match_key = ?`,
			ns, m.Rule, m.Channel, m.Key).Scan(&one)
		if err != nil || one > 0 {
			return err // added before
		}
		for range maxDigestWindowSteps {
			if _, err := q.exec(ctx, `INSERT INTO digest_windows (namespace, rule, channel, window_start, window_end, title)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, rule, channel, window_start) DO NOTHING`,
				ns, m.Rule, m.Channel, s.d.ts(start), s.d.ts(start.Add(m.Every)), m.Title); err != nil {
				return err
			}
			// Locks the window against a claim (PostgreSQL); a window a
			// flusher claimed is re-read here and takes no more matches.
			var id int64
			err := q.queryRow(ctx, `UPDATE digest_windows SET attempts = attempts
				WHERE namespace = ? AND rule = ? AND channel = ? AND window_start = ? AND lease_until IS NULL RETURNING id`,
				ns, m.Rule, m.Channel, s.d.ts(start)).Scan(&id)
			if err == nil {
				_, err = q.exec(ctx, `INSERT INTO digest_matches (namespace, rule, channel, match_key, window_id, line, matched_at)
					VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, rule, channel, match_key) DO NOTHING`,
					ns, m.Rule, m.Channel, m.Key, id, m.Line, s.d.ts(utc(m.MatchedAt)))
				return err
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			start = start.Add(m.Every)
			if cur := utc(now).Truncate(m.Every); cur.After(start) {
				start = cur
			}
		}
		return fmt.Errorf("the next %d windows were already claimed", maxDigestWindowSteps)
	})
	if err != nil {
		return fmt.Errorf("add match %s to the digest of rule %s, channel %s: %w", m.Key, m.Rule, m.Channel, err)
	}
	return nil
}

func (s *sqlStore) ClaimDigests(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Digest, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease must be positive", ErrInvalid)
	}
	now = utc(now)
	rows, err := s.w.query(ctx, `UPDATE digest_windows SET attempts = attempts + 1, lease_until = ?
		WHERE id IN (SELECT id FROM digest_windows WHERE namespace = ? AND done_at IS NULL AND window_end <= ?
			AND (lease_until IS NULL OR lease_until <= ?) ORDER BY window_end, id LIMIT ?`+s.d.skipLocked+`)
		RETURNING id, rule, channel, title, window_start, window_end, attempts`,
		s.d.ts(now.Add(lease)), s.cfg.Namespace, s.d.ts(now), s.d.ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim digests: %w", err)
	}
	var out []Digest
	for rows.Next() {
		d := Digest{Namespace: s.cfg.Namespace}
		var start, end nullTime
		if err := rows.Scan(&d.ID, &d.Rule, &d.Channel, &d.Title, &start, &end, &d.Attempts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim digests: %w", err)
		}
		d.WindowStart, d.WindowEnd = start.T, end.T
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim digests: %w", err)
	}
	for i := range out {
		if err := s.digestMatches(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// digestMatches fills the count and the first lines of a claimed window.
func (s *sqlStore) digestMatches(ctx context.Context, d *Digest) error {
	if err := s.w.queryRow(ctx, `SELECT count(*) FROM digest_matches WHERE window_id = ?`, d.ID).Scan(&d.Count); err != nil {
		return fmt.Errorf("count the matches of digest %d: %w", d.ID, err)
	}
	rows, err := s.w.query(ctx, `SELECT line FROM digest_matches WHERE window_id = ? ORDER BY matched_at, match_key LIMIT ?`, d.ID, DigestLines)
	if err != nil {
		return fmt.Errorf("read the matches of digest %d: %w", d.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("read the matches of digest %d: %w", d.ID, err)
		}
		d.Lines = append(d.Lines, line)
	}
	return rows.Err()
}

func (s *sqlStore) CompleteDigest(ctx context.Context, id int64) error {
	if _, err := s.w.exec(ctx, `UPDATE digest_windows SET done_at = ? WHERE namespace = ? AND id = ? AND done_at IS NULL`,
		s.d.ts(utc(s.cfg.Now())), s.cfg.Namespace, id); err != nil {
		return fmt.Errorf("complete digest %d: %w", id, err)
	}
	return nil
}

func (s *sqlStore) RetryDigest(ctx context.Context, id int64, nextAttemptAt time.Time, errMsg string) error {
	if _, err := s.w.exec(ctx, `UPDATE digest_windows SET lease_until = ?, last_error = ? WHERE namespace = ? AND id = ? AND done_at IS NULL`,
		s.d.ts(utc(nextAttemptAt)), errMsg, s.cfg.Namespace, id); err != nil {
		return fmt.Errorf("retry digest %d: %w", id, err)
	}
	return nil
}

func (s *sqlStore) DeleteDigestsBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var ids []any
		err := s.inTx(ctx, func(q querier) error {
			ids = ids[:0]
			rows, err := q.query(ctx, `SELECT id FROM digest_windows WHERE namespace = ? AND done_at IS NOT NULL AND done_at < ? ORDER BY id LIMIT ?`,
				s.cfg.Namespace, s.d.ts(utc(t)), retentionBatch)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			in := placeholders(len(ids))
			if _, err := q.exec(ctx, `DELETE FROM digest_matches WHERE window_id IN (`+in+`)`, ids...); err != nil {
				return err
			}
			_, err = q.exec(ctx, `DELETE FROM digest_windows WHERE id IN (`+in+`)`, ids...)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("delete sent digests: %w", err)
		}
		total += int64(len(ids))
		if len(ids) < retentionBatch {
			return total, nil
		}
	}
}
