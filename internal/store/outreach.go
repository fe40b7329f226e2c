package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Outreach keeps what the collector does to reach customers: the business
// events it received, the invitations and reminders it scheduled for them,
// and who unsubscribed. A scheduled message is claimed under a lease, as
// outbox actions are, so several collectors sharing the store send each
// message once; its Key goes to the receiver (Message-ID, Idempotency-Key)
// so that a message re-sent after a crash between sending and recording is
// recognised there.
type Outreach interface {
	// RecordEvent stores a business event and, when m is not nil, the
	// message it schedules, in one transaction. A known event id answers
	// the outcome stored first and new false (replay); with another body
	// hash it returns ErrConflict.
	RecordEvent(ctx context.Context, e Event, m *ScheduledMessage) (outcome string, isNew bool, err error)
	// ClaimMessages leases up to limit scheduled messages due at now.
	ClaimMessages(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]ScheduledMessage, error)
	// SetMessageToken records the survey link's token of a claimed message
	// before it is sent, so a retry sends the same link.
	SetMessageToken(ctx context.Context, id int64, token, tokenID string) error
	// FinishMessage ends a message: Sent, Failed or Skipped, with why, and
	// replaces its contact JSON with contact unless that is nil (the caller
	// erases the contact details it no longer needs).
	FinishMessage(ctx context.Context, id int64, state, reason string, at time.Time, contact json.RawMessage) error
	// DelayMessage releases a claimed message until at (a transient failure
	// or quiet hours), recording why.
	DelayMessage(ctx context.Context, id int64, at time.Time, reason string) error
	// PrepareMessages records, in one transaction, the survey links of
	// claimed messages before they are sent, so a retry sends the same
	// links. A link that issues a new invitation is recorded only if the
	// invitation passes its contact limits, decided as IssueInvitation
	// does (the customers' locks taken in a fixed order); the decisions
	// come back in the order of ps (Issued for a link without invitation).
	PrepareMessages(ctx context.Context, ps []PreparedMessage) ([]ContactDecision, error)
	// FinishMessages records what became of claimed messages in one
	// transaction: each is ended (as FinishMessage) or delayed (as
	// DelayMessage), and the message it owes next (a reminder) is
	// scheduled with it.
	FinishMessages(ctx context.Context, outs []MessageOutcome) error
	// SetMessageContact replaces a message's contact JSON (the caller
	// erases details it no longer needs).
	SetMessageContact(ctx context.Context, id int64, contact json.RawMessage) error
	// EraseExpiredContacts erases the contact details of the namespace's
	// sent invitations whose link expired before now, and returns how many.
	EraseExpiredContacts(ctx context.Context, namespace string, now time.Time) (int64, error)
	// ScheduleMessage adds a message (a reminder); an existing key is kept.
	ScheduleMessage(ctx context.Context, m ScheduledMessage) error
	// MessageByToken returns the invitation a survey token was sent in, or
	// ErrNotFound.
	MessageByToken(ctx context.Context, namespace, touchpoint, tokenID string) (ScheduledMessage, error)
	// MarkAnswered records that the invitation with tokenID was answered.
	MarkAnswered(ctx context.Context, namespace, touchpoint, tokenID string, at time.Time) error
	// OutreachCounts counts a touchpoint's messages by state and its
	// answered invitations.
	OutreachCounts(ctx context.Context, namespace, touchpoint string) (OutreachCounts, error)
	// EventCounts counts a touchpoint's events by outcome.
	EventCounts(ctx context.Context, namespace, touchpoint string) (map[string]int64, error)
	// Unsubscribe records that a customer wants no more invitations from
	// the namespace's program.
	Unsubscribe(ctx context.Context, namespace, customerID string, at time.Time) error
	// Unsubscribed reports whether the customer unsubscribed.
	Unsubscribed(ctx context.Context, namespace, customerID string) (bool, error)

	FollowUps
}

// ErrConflict is returned when an id was stored before with another body.
var ErrConflict = errors.New("store: conflict")

// Message states and kinds.
const (
	MessageScheduled = "Scheduled"
	MessageSent      = "Sent"
	MessageFailed    = "Failed"
	MessageSkipped   = "Skipped"

	KindInvitation = "invitation"
	KindReminder   = "reminder"
	// KindAcknowledgement tells the customer a Case opened.
	KindAcknowledgement = "acknowledgement"
	// KindFollowUp asks the customer, after a Case closed, whether it
	// solved the problem.
	KindFollowUp = "followup"
	// MessageWaiting is a follow-up whose Case is not closed yet: it is
	// not sent until ReleaseFollowUp schedules it.
	MessageWaiting = "Waiting"
)

// Event is a business event as stored (without contact details).
type Event struct {
	Namespace, Touchpoint string
	ID, Name, CustomerID  string
	OccurredAt            time.Time
	ReceivedAt            time.Time
	// Outcome says what the collector did with it: Scheduled,
	// UnknownEvent, NoContact.
	Outcome string
	// BodyHash tells a replay from a conflicting reuse of the id.
	BodyHash string
	// Detail is opaque JSON of what predictions read as features: the
	// customer's tier, segment and attributes (no contact details) and the
	// event's metadata. Empty when not kept.
	Detail json.RawMessage
}

// ScheduledMessage is an invitation or reminder to one customer.
type ScheduledMessage struct {
	ID                    int64
	Namespace, Touchpoint string
	// Key is the idempotency key, unique per touchpoint.
	Key        string
	Kind       string
	EventID    string
	CustomerID string
	Channel    string
	// Contact is opaque JSON for the sender: the customer, contact
	// details, locale and time zone.
	Contact  json.RawMessage
	DueAt    time.Time
	State    string
	Attempts int
	// Token and TokenID of the survey link, once issued.
	Token, TokenID string
	Reason         string
	SentAt         time.Time
	AnsweredAt     time.Time
	// Answer of a follow-up ("yes" or "no"), once answered, and when it
	// was applied to its Case.
	Answer    string
	AppliedAt time.Time
}

// PreparedMessage is the survey link given to a claimed message and, when
// the link is new, the invitation it issues and the limits that
// invitation must pass.
type PreparedMessage struct {
	ID             int64
	Token, TokenID string
	Invitation     *Invitation
	Limits         ContactLimits
}

// MessageOutcome is what became of a claimed message: with DelayUntil set
// it is released until then; otherwise it ends in State (Sent, Failed,
// Skipped). Contact, unless nil, replaces its contact JSON. Next, unless
// nil, is scheduled in the same transaction (an existing key is kept).
type MessageOutcome struct {
	ID         int64
	State      string
	Reason     string
	At         time.Time
	DelayUntil time.Time
	Contact    json.RawMessage
	Next       *ScheduledMessage
}

// OutreachCounts are a touchpoint's messages by state.
type OutreachCounts struct {
	Scheduled, Sent, Failed, Skipped, Answered int64
	// Reminders sent (included in Sent).
	Reminded int64
	// Acknowledgements of Cases sent (not in Sent).
	Acknowledged int64
	// Follow-ups of Cases: waiting for the Case to close, sent (not in
	// Sent), answered (not in Answered), and skipped because the contact
	// details expired before the Case closed (in Skipped too).
	FollowUpsWaiting, FollowUpsSent, FollowUpsAnswered, FollowUpsExpired int64
}

const messageColumns = `id, namespace, touchpoint, msg_key, kind, event_id, customer_id, channel, contact, due_at, state, attempts, token, token_id, reason, sent_at, answered_at, answer, applied_at`

func scanMessage(r interface{ Scan(...any) error }) (ScheduledMessage, error) {
	var m ScheduledMessage
	var contact jsonBytes
	var due, sent, answered, applied nullTime
	err := r.Scan(&m.ID, &m.Namespace, &m.Touchpoint, &m.Key, &m.Kind, &m.EventID, &m.CustomerID, &m.Channel, &contact,
		&due, &m.State, &m.Attempts, &m.Token, &m.TokenID, &m.Reason, &sent, &answered, &m.Answer, &applied)
	m.Contact, m.DueAt, m.SentAt, m.AnsweredAt, m.AppliedAt = json.RawMessage(contact), due.T, sent.T, answered.T, applied.T
	return m, err
}

func (s *sqlStore) insertMessage(ctx context.Context, q querier, m ScheduledMessage) error {
	if m.Namespace == "" || m.Touchpoint == "" || m.Key == "" || m.CustomerID == "" {
		return fmt.Errorf("%w: a scheduled message needs a namespace, a touchpoint, a key and a customer", ErrInvalid)
	}
	contact := m.Contact
	if len(contact) == 0 {
		contact = json.RawMessage("{}")
	}
	_, err := q.exec(ctx, `INSERT INTO outreach (namespace, touchpoint, msg_key, kind, event_id, customer_id, channel, contact, due_at, state, token, token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, touchpoint, msg_key) DO NOTHING`,
		m.Namespace, m.Touchpoint, m.Key, m.Kind, m.EventID, m.CustomerID, m.Channel, string(contact), s.d.ts(utc(m.DueAt)),
		cmp.Or(m.State, MessageScheduled), m.Token, m.TokenID)
	return err
}

func (s *sqlStore) RecordEvent(ctx context.Context, e Event, m *ScheduledMessage) (string, bool, error) {
	if e.Namespace == "" || e.Touchpoint == "" || e.ID == "" || e.Name == "" || e.CustomerID == "" {
		return "", false, fmt.Errorf("%w: an event needs a namespace, a touchpoint, an id, a name and a customer", ErrInvalid)
	}
	outcome, isNew := e.Outcome, false
	err := s.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `INSERT INTO events (namespace, touchpoint, event_id, name, customer_id, occurred_at, received_at, outcome, body_hash, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, touchpoint, event_id) DO NOTHING`,
			e.Namespace, e.Touchpoint, e.ID, e.Name, e.CustomerID, s.d.ts(utc(e.OccurredAt)), s.d.ts(utc(e.ReceivedAt)), e.Outcome, e.BodyHash, string(e.Detail))
		if err != nil {
			return err
		}
		if n == 0 {
			var hash string
			if err := q.queryRow(ctx, `SELECT outcome, body_hash FROM events WHERE namespace = ? AND touchpoint = ? AND event_id = ?`,
				e.Namespace, e.Touchpoint, e.ID).Scan(&outcome, &hash); err != nil {
				return err
			}
			if hash != e.BodyHash {
				return ErrConflict
			}
			return nil
		}
		isNew = true
		if m != nil {
			return s.insertMessage(ctx, q, *m)
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("record event %s: %w", e.ID, err)
	}
	return outcome, isNew, nil
}

func (s *sqlStore) ScheduleMessage(ctx context.Context, m ScheduledMessage) error {
	if err := s.insertMessage(ctx, s.w, m); err != nil {
		return fmt.Errorf("schedule message %s: %w", m.Key, err)
	}
	return nil
}

func (s *sqlStore) ClaimMessages(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]ScheduledMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("%w: lease must be positive", ErrInvalid)
	}
	now = utc(now)
	rows, err := s.w.query(ctx, `UPDATE outreach SET attempts = attempts + 1, lease_until = ?
		WHERE id IN (SELECT id FROM outreach WHERE state = ? AND due_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
			ORDER BY due_at, id LIMIT ?`+s.d.skipLocked+`)
		RETURNING `+messageColumns,
		s.d.ts(now.Add(lease)), MessageScheduled, s.d.ts(now), s.d.ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	defer rows.Close()
	var out []ScheduledMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("claim messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *sqlStore) SetMessageToken(ctx context.Context, id int64, token, tokenID string) error {
	_, err := s.PrepareMessages(ctx, []PreparedMessage{{ID: id, Token: token, TokenID: tokenID}})
	return err
}

func (s *sqlStore) PrepareMessages(ctx context.Context, ps []PreparedMessage) ([]ContactDecision, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	key := func(i int) int32 {
		if inv := ps[i].Invitation; inv != nil {
			return s.customerLockKey(inv.CustomerID)
		}
		return math.MinInt32
	}
	sort.SliceStable(order, func(a, b int) bool { return key(order[a]) < key(order[b]) })
	decs := make([]ContactDecision, len(ps))
	err := s.inTx(ctx, func(q querier) error {
		for _, i := range order {
			p := ps[i]
			decs[i] = ContactDecision{Issued: true}
			if p.Invitation != nil {
				dec, err := s.issueInvitation(ctx, q, *p.Invitation, p.Limits)
				if err != nil {
					return err
				}
				if decs[i] = dec; !dec.Issued {
					continue
				}
			}
			if _, err := q.exec(ctx, `UPDATE outreach SET token = ?, token_id = ? WHERE id = ?`, p.Token, p.TokenID, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare %d messages: %w", len(ps), err)
	}
	return decs, nil
}

func (s *sqlStore) FinishMessage(ctx context.Context, id int64, state, reason string, at time.Time, contact json.RawMessage) error {
	return s.FinishMessages(ctx, []MessageOutcome{{ID: id, State: state, Reason: reason, At: at, Contact: contact}})
}

func (s *sqlStore) DelayMessage(ctx context.Context, id int64, at time.Time, reason string) error {
	return s.FinishMessages(ctx, []MessageOutcome{{ID: id, DelayUntil: at, Reason: reason}})
}

func (s *sqlStore) FinishMessages(ctx context.Context, outs []MessageOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(q querier) error {
		for _, o := range outs {
			if err := s.finishMessage(ctx, q, o); err != nil {
				return fmt.Errorf("message %d: %w", o.ID, err)
			}
			if o.Next != nil {
				if err := s.insertMessage(ctx, q, *o.Next); err != nil {
					return fmt.Errorf("message %d: %w", o.ID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish %d messages: %w", len(outs), err)
	}
	return nil
}

func (s *sqlStore) finishMessage(ctx context.Context, q querier, o MessageOutcome) error {
	if !o.DelayUntil.IsZero() {
		_, err := q.exec(ctx, `UPDATE outreach SET due_at = ?, lease_until = NULL, reason = ? WHERE id = ? AND state = ?`,
			s.d.ts(utc(o.DelayUntil)), o.Reason, o.ID, MessageScheduled)
		return err
	}
	stmt := `UPDATE outreach SET state = ?, reason = ?, lease_until = NULL, sent_at = CASE WHEN ? = 'Sent' THEN ? ELSE sent_at END`
	args := []any{o.State, o.Reason, o.State, s.d.ts(utc(o.At))}
	if o.Contact != nil {
		stmt += `, contact = ?`
		args = append(args, string(o.Contact))
	}
	_, err := q.exec(ctx, stmt+` WHERE id = ?`, append(args, o.ID)...)
	return err
}

func (s *sqlStore) SetMessageContact(ctx context.Context, id int64, contact json.RawMessage) error {
	if _, err := s.w.exec(ctx, `UPDATE outreach SET contact = ? WHERE id = ?`, string(contact), id); err != nil {
		return fmt.Errorf("set contact of message %d: %w", id, err)
	}
	return nil
}

func (s *sqlStore) EraseExpiredContacts(ctx context.Context, namespace string, now time.Time) (int64, error) {
	n, err := s.w.exec(ctx, `UPDATE outreach SET contact = '{}' WHERE namespace = ? AND kind = ? AND state <> ? AND token_id <> ''
		AND token_id IN (SELECT token_id FROM invitations WHERE namespace = ? AND expires_at <= ?)
		AND contact <> '{}'`, namespace, KindInvitation, MessageScheduled, s.cfg.Namespace, s.d.ts(utc(now)))
	if err != nil {
		return 0, fmt.Errorf("erase expired contacts: %w", err)
	}
	return n, nil
}

// Reads that a page load or a status call makes go to the read pool, not
// the single SQLite writer: they see every committed write.

func (s *sqlStore) MessageByToken(ctx context.Context, namespace, touchpoint, tokenID string) (ScheduledMessage, error) {
	m, err := scanMessage(s.r.queryRow(ctx, `SELECT `+messageColumns+` FROM outreach
		WHERE namespace = ? AND touchpoint = ? AND token_id = ? AND kind = ? ORDER BY id LIMIT 1`,
		namespace, touchpoint, tokenID, KindInvitation))
	if errors.Is(err, sql.ErrNoRows) {
		return ScheduledMessage{}, ErrNotFound
	}
	if err != nil {
		return ScheduledMessage{}, fmt.Errorf("message of token: %w", err)
	}
	return m, nil
}

func (s *sqlStore) MarkAnswered(ctx context.Context, namespace, touchpoint, tokenID string, at time.Time) error {
	if tokenID == "" {
		return nil
	}
	if _, err := s.w.exec(ctx, `UPDATE outreach SET answered_at = ? WHERE namespace = ? AND touchpoint = ? AND token_id = ? AND answered_at IS NULL`,
		s.d.ts(utc(at)), namespace, touchpoint, tokenID); err != nil {
		return fmt.Errorf("mark answered: %w", err)
	}
	return nil
}

func (s *sqlStore) OutreachCounts(ctx context.Context, namespace, touchpoint string) (OutreachCounts, error) {
	var c OutreachCounts
	rows, err := s.r.query(ctx, `SELECT state, kind, count(*), count(answered_at), count(CASE WHEN reason = ? THEN 1 END) FROM outreach
		WHERE namespace = ? AND touchpoint = ? GROUP BY state, kind`, ReasonContactExpired, namespace, touchpoint)
	if err != nil {
		return c, fmt.Errorf("outreach counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, kind string
		var n, answered, expired int64
		if err := rows.Scan(&state, &kind, &n, &answered, &expired); err != nil {
			return c, fmt.Errorf("outreach counts: %w", err)
		}
		if kind == KindFollowUp {
			c.FollowUpsAnswered += answered
			if state == MessageSkipped {
				c.FollowUpsExpired += expired
			}
		}
		switch state {
		case MessageWaiting:
			c.FollowUpsWaiting += n
		case MessageScheduled:
			c.Scheduled += n
		case MessageSent:
			switch kind {
			case KindAcknowledgement:
				c.Acknowledged += n
				continue
			case KindFollowUp:
				c.FollowUpsSent += n
				continue
			case KindReminder:
				c.Reminded += n
			}
			c.Sent += n
		case MessageFailed:
			c.Failed += n
		case MessageSkipped:
			c.Skipped += n
		}
		if kind == KindInvitation {
			c.Answered += answered
		}
	}
	return c, rows.Err()
}

func (s *sqlStore) EventCounts(ctx context.Context, namespace, touchpoint string) (map[string]int64, error) {
	rows, err := s.r.query(ctx, `SELECT outcome, count(*) FROM events WHERE namespace = ? AND touchpoint = ? GROUP BY outcome`, namespace, touchpoint)
	if err != nil {
		return nil, fmt.Errorf("event counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("event counts: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

func (s *sqlStore) Unsubscribe(ctx context.Context, namespace, customerID string, at time.Time) error {
	if _, err := s.w.exec(ctx, `INSERT INTO unsubscribes (namespace, customer_id, at) VALUES (?, ?, ?) ON CONFLICT (namespace, customer_id) DO NOTHING`,
		namespace, customerID, s.d.ts(utc(at))); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

func (s *sqlStore) Unsubscribed(ctx context.Context, namespace, customerID string) (bool, error) {
	var one int
	err := s.r.queryRow(ctx, `SELECT 1 FROM unsubscribes WHERE namespace = ? AND customer_id = ?`, namespace, customerID).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("unsubscribed: %w", err)
	}
}
