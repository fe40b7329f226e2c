package store

import (
	"context"
	"fmt"
)

// CompleteActions marks claimed actions done in one statement (one commit
// on SQLite, instead of one per action). Ids that are done already or
// unknown are left alone.
func (s *sqlStore) CompleteActions(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.completeActions(ctx, s.w, ids)
}

func (s *sqlStore) completeActions(ctx context.Context, q querier, ids []int64) error {
	args := append([]any{s.d.ts(utc(s.cfg.Now()))}, int64sToAny(ids)...)
	if _, err := q.exec(ctx, `UPDATE outbox_actions SET done_at = ? WHERE done_at IS NULL AND id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
		return fmt.Errorf("complete %d actions: %w", len(ids), err)
	}
	return nil
}
