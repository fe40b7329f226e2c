package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Erasure modes.
const (
	// ErasureRedact removes the customer's contact details and free text
	// (comment, text answers) and keeps the rest of the responses (scores,
	// choices, themes, times), which still count in metrics.
	ErasureRedact = "Redact"
	// ErasureDelete deletes everything stored about the customer.
	ErasureDelete = "Delete"
)

// erasedText replaces free text and contact details erased from outbox
// payloads and archived Cases.
const erasedText = "[erased]"

// Erasure is a request to erase one customer (the right to erasure).
type Erasure struct {
	// ID identifies the request in the erasure log.
	ID string
	// Namespace of the scheduled messages, events, archived Cases and the
	// log entry (as in Outreach and ArchiveCase); responses, outbox
	// actions and invitations are the store's (Config.Namespace), as in
	// SaveResponses.
	Namespace string
	// Touchpoint whose rows are erased; the archived Cases of the
	// namespace that name the customer are erased with them.
	Touchpoint string
	CustomerID string
	// Mode is ErasureRedact or ErasureDelete.
	Mode string
	At   time.Time
	// IsContact tells the keys of contact details (customer attributes,
	// metadata, and keys anywhere in outbox payloads, scheduled messages
	// and archived Cases).
	IsContact func(key string) bool
	// FreeText are the ids of the touchpoint's free-text (Text) answers.
	FreeText []string
	// RedactEvent, with Redact, rewrites the features an event keeps for
	// predictions (Event.Detail) before contact details and erased values
	// are scrubbed from them: the collector keeps only what its prediction
	// reads, since free text may hide in any metadata. nil keeps them.
	RedactEvent func(detail []byte) ([]byte, error)
}

// ErasureRecord is a row of the erasure log: what was erased, without any
// personal data.
type ErasureRecord struct {
	ID          string    `json:"id"`
	Namespace   string    `json:"namespace"`
	Touchpoint  string    `json:"touchpoint"`
	Mode        string    `json:"mode"`
	RequestedAt time.Time `json:"requestedAt"`
	// Responses, outbox actions, scheduled messages, business events,
	// invitations and archived Cases changed (Redact) or deleted (Delete).
	Responses     int64 `json:"responses"`
	Actions       int64 `json:"actions"`
	Messages      int64 `json:"messages"`
	Events        int64 `json:"events"`
	Invitations   int64 `json:"invitations"`
	ArchivedCases int64 `json:"archivedCases"`
	// Predictions counts the predicted scores deleted (Delete); Redact
	// keeps them, as it keeps measured scores.
	Predictions int64 `json:"predictions"`
}

// EraseCustomer erases one customer's data in one transaction and records
// the erasure in the log; see Erasure and the modes.
func (s *sqlStore) EraseCustomer(ctx context.Context, e Erasure) (ErasureRecord, error) {
	rec := ErasureRecord{ID: e.ID, Namespace: e.Namespace, Touchpoint: e.Touchpoint, Mode: e.Mode, RequestedAt: utc(e.At)}
	switch {
	case e.ID == "" || e.Namespace == "" || e.Touchpoint == "" || e.CustomerID == "":
		return rec, fmt.Errorf("%w: an erasure needs an id, a namespace, a touchpoint and a customer", ErrInvalid)
	case e.Mode != ErasureRedact && e.Mode != ErasureDelete:
		return rec, fmt.Errorf("%w: erasure mode %q: use %s or %s", ErrInvalid, e.Mode, ErasureRedact, ErasureDelete)
	}
	if e.IsContact == nil {
		e.IsContact = func(string) bool { return false }
	}
	err := s.inTx(ctx, func(q querier) error {
		r := ErasureRecord{ID: rec.ID, Namespace: rec.Namespace, Touchpoint: rec.Touchpoint, Mode: rec.Mode, RequestedAt: rec.RequestedAt}
		er := eraser{s: s, q: q, e: e, rec: &r}
		if err := er.run(ctx); err != nil {
			return err
		}
		rec = r
		_, err := q.exec(ctx, `INSERT INTO erasures (namespace, erasure_id, touchpoint, mode, requested_at, responses, actions, messages, events, invitations, archived_cases, predictions)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.Namespace, r.ID, r.Touchpoint, r.Mode, s.d.ts(r.RequestedAt),
			r.Responses, r.Actions, r.Messages, r.Events, r.Invitations, r.ArchivedCases, r.Predictions)
		return err
	})
	if err != nil {
		return rec, fmt.Errorf("erase customer: %w", err)
	}
	return rec, nil
}

// eraser is one erasure in its transaction.
type eraser struct {
	s   *sqlStore
	q   querier
	e   Erasure
	rec *ErasureRecord
	// secrets are the erased values (free text, contact details) to
	// replace wherever they were copied (outbox payloads, archived Cases).
	secrets []string
}

func (er *eraser) run(ctx context.Context) error {
	ids, err := er.responses(ctx)
	if err != nil {
		return err
	}
	predicted, err := er.predictions(ctx)
	if err != nil {
		return err
	}
	// Before the outbox: what Redact removes from the events' features is
	// erased from their copies in the predicted scores' payloads too.
	if err := er.events(ctx); err != nil {
		return err
	}
	if err := er.actions(ctx, append(ids, predicted...)); err != nil {
		return err
	}
	if err := er.messages(ctx); err != nil {
		return err
	}
	if er.e.Mode == ErasureDelete {
		// Invitations hold the customer's id only: Redact keeps them
		// (contact-frequency rules count invitations).
		if er.rec.Invitations, err = er.q.exec(ctx, `DELETE FROM invitations WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`,
			er.s.cfg.Namespace, er.e.Touchpoint, er.e.CustomerID); err != nil {
			return err
		}
	}
	return er.archive(ctx)
}

// predictions erases the customer's predicted scores (Delete; Redact
// keeps them: they hold the customer's id, tier and a score, no contact
// details or text) and returns the response ids their outbox actions
// carry, whose payloads copy the customer.
func (er *eraser) predictions(ctx context.Context) ([]string, error) {
	ns, tp, c := er.e.Namespace, er.e.Touchpoint, er.e.CustomerID
	it, err := er.q.query(ctx, `SELECT response_id FROM predictions WHERE namespace = ? AND touchpoint = ? AND customer_id = ? AND response_id <> ''`, ns, tp, c)
	if err != nil {
		return nil, err
	}
	var ids []string
	for it.Next() {
		var id string
		if err := it.Scan(&id); err != nil {
			it.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	err = it.Err()
	it.Close()
	if err != nil || er.e.Mode != ErasureDelete {
		return ids, err
	}
	er.rec.Predictions, err = er.q.exec(ctx, `DELETE FROM predictions WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, ns, tp, c)
	return ids, err
}

// events erases the customer's business events: deleted, or the features
// they keep for predictions (Detail) rewritten by RedactEvent and scrubbed
// of contact details and free text; the string values RedactEvent drops
// are erased wherever they were copied.
func (er *eraser) events(ctx context.Context) error {
	ns, tp, c := er.e.Namespace, er.e.Touchpoint, er.e.CustomerID
	var err error
	if er.e.Mode == ErasureDelete {
		er.rec.Events, err = er.q.exec(ctx, `DELETE FROM events WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, ns, tp, c)
		return err
	}
	er.rec.Events, err = er.scrubRowsWith(ctx, `SELECT event_id, detail FROM events WHERE namespace = ? AND touchpoint = ? AND customer_id = ? AND detail <> ''`,
		[]any{ns, tp, c}, er.redactEvent, func(id any, detail string) error {
			_, err := er.q.exec(ctx, `UPDATE events SET detail = ? WHERE namespace = ? AND touchpoint = ? AND event_id = ?`, detail, ns, tp, id)
			return err
		})
	return err
}

// responses erases the customer's responses and returns their ids.
func (er *eraser) responses(ctx context.Context) ([]string, error) {
	ns, tp, c := er.s.cfg.Namespace, er.e.Touchpoint, er.e.CustomerID
	j := er.s.d.jsonOut
	it, err := er.q.query(ctx, `SELECT seq, response_id, `+j("customer_attributes")+`, `+j("answers")+`, comment, `+j("metadata")+`
		FROM responses WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, ns, tp, c)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	type redacted struct {
		seq                      int64
		attrs, answers, metadata string
	}
	var ids []string
	var changes []redacted
	for it.Next() {
		var seq int64
		var id, comment string
		var attrs, answers, metadata jsonBytes
		if err := it.Scan(&seq, &id, &attrs, &answers, &comment, &metadata); err != nil {
			return nil, err
		}
		ids = append(ids, id)
		er.secret(comment)
		var r redacted
		r.seq = seq
		if r.attrs, err = er.dropKeys(attrs, er.e.IsContact, true); err != nil {
			return nil, err
		}
		if r.metadata, err = er.dropKeys(metadata, er.e.IsContact, true); err != nil {
			return nil, err
		}
		if r.answers, err = er.dropKeys(answers, func(k string) bool { return slices.Contains(er.e.FreeText, k) }, true); err != nil {
			return nil, err
		}
		changes = append(changes, r)
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	it.Close()
	er.rec.Responses = int64(len(ids))
	if er.e.Mode == ErasureDelete {
		_, err := er.q.exec(ctx, `DELETE FROM responses WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, ns, tp, c)
		return ids, err
	}
	p := er.s.jsonParam()
	for _, r := range changes {
		if _, err := er.q.exec(ctx, `UPDATE responses SET customer_attributes = `+p+`, answers = `+p+`, metadata = `+p+`, comment = '' WHERE seq = ?`,
			r.attrs, r.answers, r.metadata, r.seq); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// redactEvent is RedactEvent remembering the string values it drops as
// secrets.
func (er *eraser) redactEvent(raw []byte) ([]byte, error) {
	if er.e.RedactEvent == nil {
		return raw, nil
	}
	out, err := er.e.RedactEvent(raw)
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, v := range jsonStrings(out) {
		kept[v] = true
	}
	for _, v := range jsonStrings(raw) {
		if !kept[v] {
			er.secret(v)
		}
	}
	return out, nil
}

// jsonStrings are the string values anywhere in a JSON document.
func jsonStrings(raw []byte) []string {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string:
			out = append(out, x)
		}
	}
	walk(doc)
	return out
}

// dropKeys is the JSON object raw without the keys drop matches; with
// remember, the dropped string values are secrets to replace elsewhere.
func (er *eraser) dropKeys(raw []byte, drop func(string) bool, remember bool) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("decode stored JSON: %w", err)
	}
	for k, v := range obj {
		if !drop(k) {
			continue
		}
		if remember {
			var str string
			if json.Unmarshal(v, &str) == nil {
				er.secret(str)
			}
		}
		delete(obj, k)
	}
	out, err := json.Marshal(obj)
	return string(out), err
}

// secret remembers a value to replace in copies; very short ones ("a",
// "ok") would match everywhere and are left.
func (er *eraser) secret(v string) {
	if v = strings.TrimSpace(v); len(v) >= 3 && !slices.Contains(er.secrets, v) {
		er.secrets = append(er.secrets, v)
	}
}

// actions erases the outbox entries of the customer's responses: their
// payloads carry copies of the customer and of the response.
func (er *eraser) actions(ctx context.Context, responseIDs []string) error {
	ns, tp := er.s.cfg.Namespace, er.e.Touchpoint
	for chunk := range slices.Chunk(responseIDs, 500) {
		args := make([]any, 0, 2+len(chunk))
		args = append(args, ns, tp)
		for _, id := range chunk {
			args = append(args, id)
		}
		where := ` WHERE namespace = ? AND touchpoint = ? AND response_id IN (` + placeholders(len(chunk)) + `)`
		if er.e.Mode == ErasureDelete {
			n, err := er.q.exec(ctx, `DELETE FROM outbox_actions`+where, args...)
			er.rec.Actions += n
			if err != nil {
				return err
			}
			continue
		}
		n, err := er.scrubRows(ctx, `SELECT id, payload FROM outbox_actions`+where, args, func(id any, payload string) error {
			_, err := er.q.exec(ctx, `UPDATE outbox_actions SET payload = ? WHERE id = ?`, payload, id)
			return err
		})
		er.rec.Actions += n
		if err != nil {
			return err
		}
	}
	return nil
}

// messages erases the customer's scheduled invitations and reminders:
// deleted, or their contact details removed and those not yet sent
// skipped (there is no address left to send them to).
func (er *eraser) messages(ctx context.Context) error {
	ns, tp, c := er.e.Namespace, er.e.Touchpoint, er.e.CustomerID
	if er.e.Mode == ErasureDelete {
		n, err := er.q.exec(ctx, `DELETE FROM outreach WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, ns, tp, c)
		er.rec.Messages = n
		return err
	}
	// contact is TEXT on SQLite, jsonb on PostgreSQL.
	contactParam := "?"
	if er.s.d.name == DriverPostgres {
		contactParam = "?::jsonb"
	}
	n, err := er.scrubRows(ctx, `SELECT id, contact FROM outreach WHERE namespace = ? AND touchpoint = ? AND customer_id = ?`, []any{ns, tp, c},
		func(id any, contact string) error {
			_, err := er.q.exec(ctx, `UPDATE outreach SET contact = `+contactParam+`,
				state = CASE WHEN state = ? THEN ? ELSE state END, reason = CASE WHEN state = ? THEN ? ELSE reason END, lease_until = NULL WHERE id = ?`,
				contact, MessageScheduled, MessageSkipped, MessageScheduled, "Erased", id)
			return err
		})
	er.rec.Messages = n
	return err
}

// archive erases the namespace's archived Cases of the customer.
func (er *eraser) archive(ctx context.Context) error {
	ns := er.e.Namespace
	customer := `json_extract(doc, '$.spec.customer.id')`
	if er.s.d.name == DriverPostgres {
		customer = `doc #>> '{spec,customer,id}'`
	}
	if er.e.Mode == ErasureDelete {
		n, err := er.q.exec(ctx, `DELETE FROM archived_cases WHERE namespace = ? AND `+customer+` = ?`, ns, er.e.CustomerID)
		er.rec.ArchivedCases = n
		return err
	}
	n, err := er.scrubRows(ctx, `SELECT name, doc FROM archived_cases WHERE namespace = ? AND `+customer+` = ?`, []any{ns, er.e.CustomerID},
		func(name any, doc string) error {
			_, err := er.q.exec(ctx, `UPDATE archived_cases SET doc = ? WHERE namespace = ? AND name = ?`, doc, ns, name)
			return err
		})
	er.rec.ArchivedCases = n
	return err
}

// scrubRows reads the (key, JSON document) rows sel selects, and gives
// update each key with its document scrubbed; it returns how many.
func (er *eraser) scrubRows(ctx context.Context, sel string, args []any, update func(key any, doc string) error) (int64, error) {
	return er.scrubRowsWith(ctx, sel, args, nil, update)
}

// scrubRowsWith is scrubRows rewriting each document with pre (when not
// nil) before it is scrubbed.
func (er *eraser) scrubRowsWith(ctx context.Context, sel string, args []any, pre func([]byte) ([]byte, error),
	update func(key any, doc string) error) (int64, error) {
	it, err := er.q.query(ctx, sel, args...)
	if err != nil {
		return 0, err
	}
	type row struct {
		key any
		doc string
	}
	var rows []row
	for it.Next() {
		var key any
		var doc jsonBytes
		if err := it.Scan(&key, &doc); err != nil {
			it.Close()
			return 0, err
		}
		if pre != nil {
			rewritten, err := pre(doc)
			if err != nil {
				it.Close()
				return 0, err
			}
			doc = rewritten
		}
		scrubbed, err := er.scrub(doc)
		if err != nil {
			it.Close()
			return 0, err
		}
		rows = append(rows, row{key, scrubbed})
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if err := update(r.key, r.doc); err != nil {
			return 0, err
		}
	}
	return int64(len(rows)), nil
}

// scrub is a JSON document (an outbox payload, a scheduled message's
// contact, an archived Case) without contact details and free text: keys
// of contact details are dropped at any depth, "comment" strings and the
// touchpoint's free-text answers are emptied, and every secret (an erased
// value) left in any string is replaced by [erased].
func (er *eraser) scrub(raw []byte) (string, error) {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("decode stored JSON: %w", err)
	}
	var walk func(v any, key string) any
	walk = func(v any, key string) any {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if er.e.IsContact(k) {
					delete(x, k)
					continue
				}
				if key == "answers" && slices.Contains(er.e.FreeText, k) {
					delete(x, k)
					continue
				}
				x[k] = walk(child, k)
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i], key)
			}
			return x
		case string:
			if strings.EqualFold(key, "comment") && x != "" {
				return erasedText
			}
			for _, s := range er.secrets {
				x = strings.ReplaceAll(x, s, erasedText)
			}
			return x
		default:
			return v
		}
	}
	out, err := json.Marshal(walk(doc, ""))
	return string(out), err
}

// GetErasure returns a row of the namespace's erasure log, or ErrNotFound.
func (s *sqlStore) GetErasure(ctx context.Context, namespace, id string) (ErasureRecord, error) {
	r := ErasureRecord{ID: id, Namespace: namespace}
	var at nullTime
	err := s.r.queryRow(ctx, `SELECT touchpoint, mode, requested_at, responses, actions, messages, events, invitations, archived_cases, predictions
		FROM erasures WHERE namespace = ? AND erasure_id = ?`, namespace, id).Scan(
		&r.Touchpoint, &r.Mode, &at, &r.Responses, &r.Actions, &r.Messages, &r.Events, &r.Invitations, &r.ArchivedCases, &r.Predictions)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("erasure %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("get erasure %s: %w", id, err)
	}
	r.RequestedAt = at.T
	return r, nil
}
