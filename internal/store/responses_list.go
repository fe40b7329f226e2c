package store

import (
	"context"
	"fmt"
	"time"
)

// MaxListResponses bounds one page of ListResponses.
const MaxListResponses = 1000

// ResponseQuery selects a page of a touchpoint's stored responses, in
// the order they were submitted.
type ResponseQuery struct {
	Touchpoint string
	// From and To bound submittedAt: From <= t < To (a zero To: no bound).
	From, To time.Time
	// After, when set, is the last response of the previous page: the
	// page starts after it.
	After *ResponseCursor
	// Limit is the page size, 1..MaxListResponses.
	Limit int
}

// ResponseCursor is the position of a response in submission order.
type ResponseCursor struct {
	SubmittedAt time.Time
	Seq         int64
}

// ListResponses returns a page of responses matching q, ordered by
// submittedAt and then by the order they were stored. The pages are
// keyset-paginated (the index on namespace, touchpoint, submitted_at and
// seq), so reading a month page by page looks at each row once. Contact
// attributes are returned as stored: the caller redacts them.
func (s *sqlStore) ListResponses(ctx context.Context, q ResponseQuery) ([]Response, error) {
	if q.Touchpoint == "" {
		return nil, fmt.Errorf("list responses: touchpoint is empty: %w", ErrInvalid)
	}
	if q.Limit < 1 || q.Limit > MaxListResponses {
		return nil, fmt.Errorf("list responses: limit %d is not within 1..%d: %w", q.Limit, MaxListResponses, ErrInvalid)
	}
	sel := s.selectResponses() + ` WHERE namespace = ? AND touchpoint = ? AND submitted_at >= ?`
	args := []any{s.cfg.Namespace, q.Touchpoint, s.d.ts(utc(q.From))}
	if !q.To.IsZero() {
		sel += ` AND submitted_at < ?`
		args = append(args, s.d.ts(utc(q.To)))
	}
	if a := q.After; a != nil {
		t := s.d.ts(utc(a.SubmittedAt))
		sel += ` AND (submitted_at > ? OR (submitted_at = ? AND seq > ?))`
		args = append(args, t, t, a.Seq)
	}
	sel += ` ORDER BY submitted_at, seq LIMIT ?`
	args = append(args, q.Limit)
	it, err := s.r.query(ctx, sel, args...)
	if err != nil {
		return nil, fmt.Errorf("list responses of %s: %w", q.Touchpoint, err)
	}
	defer it.Close()
	var out []Response
	for it.Next() {
		r, err := scanResponse(it)
		if err != nil {
			return nil, fmt.Errorf("list responses of %s: %w", q.Touchpoint, err)
		}
		out = append(out, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("list responses of %s: %w", q.Touchpoint, err)
	}
	return out, nil
}
