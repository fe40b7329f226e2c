package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FollowUps keep the follow-ups of Cases: the survey "did we solve it?"
// that a Case's customer gets after it closes. A follow-up is recorded
// as Waiting when the Case opens, with its own copy of the contact
// details (ScheduleMessage with State MessageWaiting, DueAt the time those
// details expire), so nothing is lost between the opening and the
// closing; the closing schedules it (exactly once, however many
// collectors see the closing), and the sender claims it as any message.
type FollowUps interface {
	// ReleaseFollowUp schedules the waiting follow-up with key for due
	// (its Case closed) and reports whether it was waiting.
	ReleaseFollowUp(ctx context.Context, namespace, touchpoint, key string, due time.Time) (bool, error)
	// HoldFollowUp puts a scheduled, unsent follow-up back to waiting
	// until expires (its Case was reopened) and reports whether it was
	// scheduled.
	HoldFollowUp(ctx context.Context, namespace, touchpoint, key string, expires time.Time) (bool, error)
	// ExpireFollowUps ends the namespace's waiting follow-ups whose
	// contact details expired before now (their Case did not close in
	// time): Skipped with ReasonContactExpired, the details erased. It
	// returns how many.
	ExpireFollowUps(ctx context.Context, namespace string, now time.Time) (int64, error)
	// FollowUpByToken returns the sent follow-up with the answer link's
	// tokenID, or ErrNotFound.
	FollowUpByToken(ctx context.Context, namespace, touchpoint, tokenID string) (ScheduledMessage, error)
	// AnswerFollowUp records the customer's answer to a sent follow-up,
	// unless it was answered before; first reports whether this answer
	// is the one kept.
	AnswerFollowUp(ctx context.Context, namespace, touchpoint, tokenID, answer string, at time.Time) (first bool, err error)
	// FollowUpAnswersToApply returns up to limit answered follow-ups not
	// yet applied to their Cases, oldest first.
	FollowUpAnswersToApply(ctx context.Context, namespace, touchpoint string, limit int) ([]ScheduledMessage, error)
	// MarkFollowUpApplied records that the answer of follow-up id was
	// applied to its Case (or was not needed: why, in reason).
	MarkFollowUpApplied(ctx context.Context, id int64, at time.Time, reason string) error
}

// ReasonContactExpired is why a follow-up was skipped when its Case did
// not close before the customer's contact details were to be erased.
const ReasonContactExpired = "ContactExpired"

func (s *sqlStore) ReleaseFollowUp(ctx context.Context, namespace, touchpoint, key string, due time.Time) (bool, error) {
	n, err := s.w.exec(ctx, `UPDATE outreach SET state = ?, due_at = ?, reason = '' WHERE namespace = ? AND touchpoint = ? AND msg_key = ? AND state = ?`,
		MessageScheduled, s.d.ts(utc(due)), namespace, touchpoint, key, MessageWaiting)
	if err != nil {
		return false, fmt.Errorf("release follow-up %s: %w", key, err)
	}
	return n > 0, nil
}

func (s *sqlStore) HoldFollowUp(ctx context.Context, namespace, touchpoint, key string, expires time.Time) (bool, error) {
	n, err := s.w.exec(ctx, `UPDATE outreach SET state = ?, due_at = ?, lease_until = NULL, reason = 'CaseReopened'
		WHERE namespace = ? AND touchpoint = ? AND msg_key = ? AND state = ? AND kind = ?`,
		MessageWaiting, s.d.ts(utc(expires)), namespace, touchpoint, key, MessageScheduled, KindFollowUp)
	if err != nil {
		return false, fmt.Errorf("hold follow-up %s: %w", key, err)
	}
	return n > 0, nil
}

func (s *sqlStore) ExpireFollowUps(ctx context.Context, namespace string, now time.Time) (int64, error) {
	n, err := s.w.exec(ctx, `UPDATE outreach SET state = ?, reason = ?, contact = '{}' WHERE state = ? AND due_at <= ? AND namespace = ?`,
		MessageSkipped, ReasonContactExpired, MessageWaiting, s.d.ts(utc(now)), namespace)
	if err != nil {
		return 0, fmt.Errorf("expire follow-ups: %w", err)
	}
	return n, nil
}

func (s *sqlStore) FollowUpByToken(ctx context.Context, namespace, touchpoint, tokenID string) (ScheduledMessage, error) {
	if tokenID == "" {
		return ScheduledMessage{}, ErrNotFound
	}
	m, err := scanMessage(s.r.queryRow(ctx, `SELECT `+messageColumns+` FROM outreach
		WHERE namespace = ? AND touchpoint = ? AND token_id = ? AND kind = ? AND state = ?`,
		namespace, touchpoint, tokenID, KindFollowUp, MessageSent))
	if errors.Is(err, sql.ErrNoRows) {
		return ScheduledMessage{}, ErrNotFound
	}
	if err != nil {
		return ScheduledMessage{}, fmt.Errorf("follow-up of token: %w", err)
	}
	return m, nil
}

func (s *sqlStore) AnswerFollowUp(ctx context.Context, namespace, touchpoint, tokenID, answer string, at time.Time) (bool, error) {
	if tokenID == "" || answer == "" {
		return false, fmt.Errorf("%w: a follow-up answer needs a token and an answer", ErrInvalid)
	}
	n, err := s.w.exec(ctx, `UPDATE outreach SET answer = ?, answered_at = ?
		WHERE namespace = ? AND touchpoint = ? AND token_id = ? AND kind = ? AND state = ? AND answered_at IS NULL`,
		answer, s.d.ts(utc(at)), namespace, touchpoint, tokenID, KindFollowUp, MessageSent)
	if err != nil {
		return false, fmt.Errorf("answer follow-up: %w", err)
	}
	return n > 0, nil
}

func (s *sqlStore) FollowUpAnswersToApply(ctx context.Context, namespace, touchpoint string, limit int) ([]ScheduledMessage, error) {
	rows, err := s.r.query(ctx, `SELECT `+messageColumns+` FROM outreach
		WHERE namespace = ? AND touchpoint = ? AND answer <> '' AND applied_at IS NULL ORDER BY answered_at, id LIMIT ?`,
		namespace, touchpoint, limit)
	if err != nil {
		return nil, fmt.Errorf("follow-up answers to apply: %w", err)
	}
	defer rows.Close()
	var out []ScheduledMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("follow-up answers to apply: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *sqlStore) MarkFollowUpApplied(ctx context.Context, id int64, at time.Time, reason string) error {
	if _, err := s.w.exec(ctx, `UPDATE outreach SET applied_at = ?, reason = ? WHERE id = ? AND applied_at IS NULL`,
		s.d.ts(utc(at)), reason, id); err != nil {
		return fmt.Errorf("mark follow-up %d applied: %w", id, err)
	}
	return nil
}
