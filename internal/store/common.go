package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// retentionBatch bounds the rows one retention transaction touches, so that
// group commits never wait long behind it.
const retentionBatch = 1000

// sqlStore implements the engine-independent part of Store on a dialect
// and two queriers: r for reads, w for writes (the same pool on PostgreSQL,
// the read-only pool and the single writer connection on SQLite).
type sqlStore struct {
	cfg Config
	d   dialect
	r   querier
	w   querier
	// inTx runs fn in one write transaction.
	inTx      func(ctx context.Context, fn func(q querier) error) error
	committer *committer
	ping      func(ctx context.Context) error
	closeDB   func()
	// tune overrides defaults in tests.
	tune struct {
		minPartitionRows int64
		aggregateWorkers int
	}
}

// encodedResponse is a NewResponse checked and encoded for the database.
type encodedResponse struct {
	attrs, answers, themes, metadata string
	submittedAt                      time.Time
	kinds, keys, payloads            []string
}

func encodeResponse(r *NewResponse) (encodedResponse, error) {
	var e encodedResponse
	if r.Touchpoint == "" {
		return e, fmt.Errorf("%w: touchpoint is empty", ErrInvalid)
	}
	if r.ID == "" {
		return e, fmt.Errorf("%w: response id is empty", ErrInvalid)
	}
	e.answers = "{}"
	if len(r.Answers) > 0 {
		if !isJSONObject(r.Answers) {
			return e, fmt.Errorf("%w: answers must be a JSON object", ErrInvalid)
		}
		e.answers = string(r.Answers)
	}
	var err error
	if e.attrs, err = marshalStrings(r.Customer.Attributes, "{}"); err != nil {
		return e, err
	}
	if e.metadata, err = marshalStrings(r.Metadata, "{}"); err != nil {
		return e, err
	}
	if e.themes, err = marshalStrings(r.Themes, "[]"); err != nil {
		return e, err
	}
	if r.SubmittedAt.IsZero() {
		return e, fmt.Errorf("%w: submittedAt is zero", ErrInvalid)
	}
	e.submittedAt = utc(r.SubmittedAt)
	for i, a := range r.Actions {
		if a.Kind == "" {
			return e, fmt.Errorf("%w: action %d has no kind", ErrInvalid, i)
		}
		key := a.DedupKey
		if key == "" {
			key = r.ID + "/" + a.Kind + "/" + strconv.Itoa(i)
		}
		payload := string(a.Payload)
		if payload == "" {
			payload = "{}"
		}
		e.kinds = append(e.kinds, a.Kind)
		e.keys = append(e.keys, key)
		e.payloads = append(e.payloads, payload)
	}
	return e, nil
}

// isJSONObject reports whether b is a JSON object (or null), as decoding
// it into a map would accept, without building the map.
func isJSONObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == 'n') && json.Valid(b)
}

func marshalStrings[T map[string]string | []string](v T, empty string) (string, error) {
	if len(v) == 0 {
		return empty, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (s *sqlStore) SaveResponses(ctx context.Context, responses []NewResponse) ([]SaveResult, error) {
	return s.committer.save(ctx, responses)
}

func (s *sqlStore) GetResponse(ctx context.Context, touchpoint, id string) (Response, error) {
	r, err := scanResponse(s.r.queryRow(ctx, s.selectResponses()+` WHERE namespace = ? AND touchpoint = ? AND response_id = ?`, s.cfg.Namespace, touchpoint, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("response %s/%s: %w", touchpoint, id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("get response %s/%s: %w", touchpoint, id, err)
	}
	return r, nil
}

// selectResponses is the SELECT of the columns scanResponse reads.
func (s *sqlStore) selectResponses() string {
	j := s.d.jsonOut
	return `SELECT seq, touchpoint, response_id, customer_id, customer_tier, customer_segment,
		` + j("customer_attributes") + `, ` + j("answers") + `, comment, sentiment, ` + j("themes") + `, ` + j("metadata") + `,
		submitted_at, received_at FROM responses`
}

// scanResponse reads one row of selectResponses.
func scanResponse(row rowScanner) (Response, error) {
	var (
		r                       Response
		attrs, answers          jsonBytes
		themes, metadata        jsonBytes
		sentiment               sql.NullFloat64
		submittedAt, receivedAt nullTime
	)
	if err := row.Scan(&r.Seq, &r.Touchpoint, &r.ID, &r.Customer.ID, &r.Customer.Tier, &r.Customer.Segment,
		&attrs, &answers, &r.Comment, &sentiment, &themes, &metadata, &submittedAt, &receivedAt); err != nil {
		return r, err
	}
	r.Answers = json.RawMessage(answers)
	if sentiment.Valid {
		r.Sentiment = &sentiment.Float64
	}
	r.SubmittedAt, r.ReceivedAt = submittedAt.T, receivedAt.T
	if err := unmarshalNonEmpty(attrs, &r.Customer.Attributes); err != nil {
		return r, err
	}
	if err := unmarshalNonEmpty(metadata, &r.Metadata); err != nil {
		return r, err
	}
	if err := unmarshalNonEmpty(themes, &r.Themes); err != nil {
		return r, err
	}
	return r, nil
}

// unmarshalNonEmpty leaves v nil for an empty object or list.
func unmarshalNonEmpty(b []byte, v any) error {
	switch strings.TrimSpace(string(b)) {
	case "", "{}", "[]", "null":
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode stored JSON: %w", err)
	}
	return nil
}

func (s *sqlStore) Counts(ctx context.Context, touchpoint string, since time.Time) (int64, int64, time.Time, error) {
	var total, recent int64
	var last nullTime
	if err := s.r.queryRow(ctx, `SELECT count(*) FROM responses WHERE namespace = ? AND touchpoint = ?`, s.cfg.Namespace, touchpoint).Scan(&total); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("count responses of %s: %w", touchpoint, err)
	}
	if err := s.r.queryRow(ctx, `SELECT count(*), max(received_at) FROM responses WHERE namespace = ? AND touchpoint = ? AND received_at >= ?`,
		s.cfg.Namespace, touchpoint, s.d.ts(since)).Scan(&recent, &last); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("count recent responses of %s: %w", touchpoint, err)
	}
	if last.T.IsZero() && total > 0 {
		if err := s.r.queryRow(ctx, `SELECT max(received_at) FROM responses WHERE namespace = ? AND touchpoint = ?`, s.cfg.Namespace, touchpoint).Scan(&last); err != nil {
			return 0, 0, time.Time{}, fmt.Errorf("last response of %s: %w", touchpoint, err)
		}
	}
	return total, recent, last.T, nil
}

func (s *sqlStore) ClaimActions(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Action, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease must be positive", ErrInvalid)
	}
	until := utc(now.Add(lease))
	rows, err := s.w.query(ctx, `UPDATE outbox_actions SET attempts = attempts + 1, next_attempt_at = ?
		WHERE id IN (SELECT id FROM outbox_actions WHERE namespace = ? AND done_at IS NULL AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id LIMIT ?`+s.d.skipLocked+`)
		RETURNING id, touchpoint, response_id, kind, dedup_key, payload, attempts, last_error, created_at`,
		s.d.ts(until), s.cfg.Namespace, s.d.ts(utc(now)), limit)
	if err != nil {
		return nil, fmt.Errorf("claim actions: %w", err)
	}
	defer rows.Close()
	var out []Action
	for rows.Next() {
		var a Action
		var payload jsonBytes
		var created nullTime
		if err := rows.Scan(&a.ID, &a.Touchpoint, &a.ResponseID, &a.Kind, &a.DedupKey, &payload,
			&a.Attempts, &a.LastError, &created); err != nil {
			return nil, fmt.Errorf("claim actions: %w", err)
		}
		a.Payload, a.CreatedAt, a.LeaseUntil = json.RawMessage(payload), created.T, until
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim actions: %w", err)
	}
	// RETURNING does not promise an order.
	sortActions(out)
	return out, nil
}

func sortActions(as []Action) {
	sort.Slice(as, func(i, j int) bool { return as[i].ID < as[j].ID })
}

func (s *sqlStore) CompleteAction(ctx context.Context, id int64) error {
	n, err := s.w.exec(ctx, `UPDATE outbox_actions SET done_at = ? WHERE namespace = ? AND id = ? AND done_at IS NULL`,
		s.d.ts(utc(s.cfg.Now())), s.cfg.Namespace, id)
	if err != nil {
		return fmt.Errorf("complete action %d: %w", id, err)
	}
	if n == 0 {
		return s.actionMissing(ctx, id)
	}
	return nil
}

func (s *sqlStore) RetryAction(ctx context.Context, id int64, nextAttemptAt time.Time, errMsg string) error {
	n, err := s.w.exec(ctx, `UPDATE outbox_actions SET next_attempt_at = ?, last_error = ? WHERE namespace = ? AND id = ? AND done_at IS NULL`,
		s.d.ts(utc(nextAttemptAt)), errMsg, s.cfg.Namespace, id)
	if err != nil {
		return fmt.Errorf("retry action %d: %w", id, err)
	}
	if n == 0 {
		return s.actionMissing(ctx, id)
	}
	return nil
}

// actionMissing tells a done action (nil: completing twice is harmless)
// from an unknown one.
func (s *sqlStore) actionMissing(ctx context.Context, id int64) error {
	var one int
	err := s.w.queryRow(ctx, `SELECT 1 FROM outbox_actions WHERE namespace = ? AND id = ?`, s.cfg.Namespace, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("action %d: %w", id, ErrNotFound)
	}
	return err
}

func (s *sqlStore) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var depth int64
	var oldest nullTime
	err := s.r.queryRow(ctx, `SELECT count(*), min(created_at) FROM outbox_actions WHERE namespace = ? AND done_at IS NULL`, s.cfg.Namespace).Scan(&depth, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox stats: %w", err)
	}
	return depth, oldest.T, nil
}

func (s *sqlStore) DeleteCompletedActionsBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "done actions",
		`DELETE FROM outbox_actions WHERE id IN (SELECT id FROM outbox_actions WHERE namespace = ? AND done_at IS NOT NULL AND done_at < ? LIMIT ?)`,
		s.cfg.Namespace, s.d.ts(utc(t)))
}

func (s *sqlStore) RecordInvitation(ctx context.Context, inv Invitation) error {
	if err := s.insertInvitation(ctx, s.w, inv); err != nil {
		return fmt.Errorf("record invitation: %w", err)
	}
	return nil
}

func (s *sqlStore) insertInvitation(ctx context.Context, q querier, inv Invitation) error {
	if inv.TokenID == "" || inv.Touchpoint == "" || inv.CustomerID == "" {
		return fmt.Errorf("%w: invitation needs a token id, a touchpoint and a customer id", ErrInvalid)
	}
	_, err := q.exec(ctx, `INSERT INTO invitations (token_id, namespace, touchpoint, customer_id, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (token_id) DO NOTHING`,
		inv.TokenID, s.cfg.Namespace, inv.Touchpoint, inv.CustomerID, s.d.ts(utc(inv.IssuedAt)), s.d.ts(utc(inv.ExpiresAt)))
	return err
}

func (s *sqlStore) InvitationsSince(ctx context.Context, scope, customerID string, since time.Time) (int, time.Time, error) {
	q := `SELECT count(*), max(issued_at) FROM invitations WHERE namespace = ? AND customer_id = ? AND issued_at >= ?`
	args := []any{s.cfg.Namespace, customerID, s.d.ts(utc(since))}
	if scope != "" {
		q += ` AND touchpoint = ?`
		args = append(args, scope)
	}
	var n int
	var last nullTime
	if err := s.r.queryRow(ctx, q, args...).Scan(&n, &last); err != nil {
		return 0, time.Time{}, fmt.Errorf("count invitations: %w", err)
	}
	return n, last.T, nil
}

func (s *sqlStore) UseToken(ctx context.Context, tokenID string, at time.Time) (bool, error) {
	at = utc(at)
	n, err := s.w.exec(ctx, `UPDATE invitations SET used_at = ? WHERE namespace = ? AND token_id = ? AND used_at IS NULL AND expires_at > ?`,
		s.d.ts(at), s.cfg.Namespace, tokenID, s.d.ts(at))
	if err != nil {
		return false, fmt.Errorf("use token: %w", err)
	}
	return n == 1, nil
}

func (s *sqlStore) DeleteInvitationsBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "expired invitations",
		`DELETE FROM invitations WHERE token_id IN (SELECT token_id FROM invitations WHERE namespace = ? AND expires_at < ? LIMIT ?)`,
		s.cfg.Namespace, s.d.ts(utc(t)))
}

func (s *sqlStore) DeleteResponsesBefore(ctx context.Context, touchpoint string, t time.Time) (int64, error) {
	return s.deleteInBatches(ctx, "responses of "+touchpoint,
		`DELETE FROM responses WHERE seq IN (SELECT seq FROM responses WHERE namespace = ? AND touchpoint = ? AND submitted_at < ? LIMIT ?)`,
		s.cfg.Namespace, touchpoint, s.d.ts(utc(t)))
}

// deleteInBatches runs a DELETE whose last argument is the batch size until
// it deletes less than a full batch. Each batch is its own transaction.
func (s *sqlStore) deleteInBatches(ctx context.Context, what, q string, args ...any) (int64, error) {
	args = append(args, retentionBatch)
	var total int64
	for {
		n, err := s.w.exec(ctx, q, args...)
		total += n
		if err != nil {
			return total, fmt.Errorf("delete %s: %w", what, err)
		}
		if n < retentionBatch {
			return total, nil
		}
	}
}

func (s *sqlStore) EraseContactDetails(ctx context.Context, touchpoint string, before time.Time, isContact func(key string) bool) (int64, error) {
	if isContact == nil {
		return 0, nil
	}
	// Keyset pagination over (submitted_at, seq): each page is one short
	// transaction, and every row is looked at once. Which keys are contact
	// details is decided here (case and punctuation do not matter to the
	// caller's rule), so the new attributes are written whole.
	var (
		total   int64
		lastT   = time.Time{}
		lastSeq int64
		started bool
	)
	for {
		var rows int
		var pageT time.Time
		var pageSeq int64
		err := s.inTx(ctx, func(q querier) error {
			rows = 0
			sel := `SELECT seq, submitted_at, ` + s.d.jsonOut("customer_attributes") + ` FROM responses WHERE namespace = ? AND touchpoint = ? AND submitted_at < ?`
			args := []any{s.cfg.Namespace, touchpoint, s.d.ts(utc(before))}
			if started {
				sel += ` AND (submitted_at > ? OR (submitted_at = ? AND seq > ?))`
				args = append(args, s.d.ts(lastT), s.d.ts(lastT), lastSeq)
			}
			sel += ` ORDER BY submitted_at, seq LIMIT ?`
			args = append(args, retentionBatch)
			it, err := q.query(ctx, sel, args...)
			if err != nil {
				return err
			}
			defer it.Close()
			type change struct {
				seq   int64
				attrs string
			}
			var changes []change
			for it.Next() {
				var seq int64
				var t nullTime
				var raw jsonBytes
				if err := it.Scan(&seq, &t, &raw); err != nil {
					return err
				}
				rows++
				pageT, pageSeq = t.T, seq
				if attrs, changed, err := withoutKeys(raw, isContact); err != nil {
					return err
				} else if changed {
					changes = append(changes, change{seq, attrs})
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
			it.Close()
			for _, c := range changes {
				if _, err := q.exec(ctx, `UPDATE responses SET customer_attributes = `+s.jsonParam()+` WHERE seq = ?`, c.attrs, c.seq); err != nil {
					return err
				}
			}
			total += int64(len(changes))
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("erase contact details of %s: %w", touchpoint, err)
		}
		if rows < retentionBatch {
			return total, nil
		}
		started, lastT, lastSeq = true, pageT, pageSeq
	}
}

// jsonParam is the SQL of a JSON text argument stored in a JSON column.
func (s *sqlStore) jsonParam() string {
	if s.d.name == DriverSQLite {
		return "jsonb(?)"
	}
	return "?::jsonb"
}

// withoutKeys is the JSON object raw without the keys drop matches, and
// whether any was dropped.
func withoutKeys(raw []byte, drop func(string) bool) (string, bool, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return "", false, fmt.Errorf("decode stored attributes: %w", err)
	}
	changed := false
	for k := range attrs {
		if drop(k) {
			delete(attrs, k)
			changed = true
		}
	}
	if !changed {
		return "", false, nil
	}
	out, err := json.Marshal(attrs)
	return string(out), true, err
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64sToAny(xs []int64) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (s *sqlStore) ArchiveCase(ctx context.Context, namespace, name string, closedAt time.Time, doc []byte) error {
	if namespace == "" || name == "" {
		return fmt.Errorf("%w: archived case needs a namespace and a name", ErrInvalid)
	}
	if !json.Valid(doc) {
		return fmt.Errorf("%w: archived case %s/%s: document is not JSON", ErrInvalid, namespace, name)
	}
	_, err := s.w.exec(ctx, `INSERT INTO archived_cases (namespace, name, closed_at, archived_at, doc) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET closed_at = excluded.closed_at, archived_at = excluded.archived_at, doc = excluded.doc`,
		namespace, name, s.d.ts(utc(closedAt)), s.d.ts(utc(s.cfg.Now())), string(doc))
	if err != nil {
		return fmt.Errorf("archive case %s/%s: %w", namespace, name, err)
	}
	return nil
}

func (s *sqlStore) DeleteArchivedCasesBefore(ctx context.Context, namespace string, t time.Time) (int64, error) {
	// The key is (namespace, name): batches select names.
	return s.deleteInBatches(ctx, "archived cases of "+namespace,
		`DELETE FROM archived_cases WHERE namespace = ? AND name IN (SELECT name FROM archived_cases WHERE namespace = ? AND closed_at < ? LIMIT ?)`,
		namespace, namespace, s.d.ts(utc(t)))
}

func (s *sqlStore) GetArchivedCase(ctx context.Context, namespace, name string) (ArchivedCase, error) {
	c := ArchivedCase{Namespace: namespace, Name: name}
	var closed, archived nullTime
	var doc jsonBytes
	err := s.r.queryRow(ctx, `SELECT closed_at, archived_at, doc FROM archived_cases WHERE namespace = ? AND name = ?`,
		namespace, name).Scan(&closed, &archived, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("archived case %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("get archived case %s/%s: %w", namespace, name, err)
	}
	c.ClosedAt, c.ArchivedAt, c.Doc = closed.T, archived.T, doc
	return c, nil
}

func (s *sqlStore) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.r.queryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (s *sqlStore) ProbeWrite(ctx context.Context) error {
	_, err := s.w.exec(ctx, `INSERT INTO write_probes (namespace, probed_at) VALUES (?, ?)
		ON CONFLICT (namespace) DO UPDATE SET probed_at = excluded.probed_at`, s.cfg.Namespace, s.d.ts(utc(s.cfg.Now())))
	if err != nil {
		return fmt.Errorf("write to the %s store: %w", s.d.name, err)
	}
	return nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.d.name, err)
	}
	return nil
}

func (s *sqlStore) Close() error {
	s.committer.close()
	s.closeDB()
	return nil
}
