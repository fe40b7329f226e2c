-- 0110: follow-ups of closed Cases. A follow-up is an outreach row of kind
-- followup, recorded as Waiting when its Case opens (with its own copy of
-- the contact details) and Scheduled when the Case closes. The customer's
-- answer ("yes" or "no") is kept with it, and applied_at says when it was
-- written to the Case (or found set by a person first).
-- Keep in step with ../postgres/0110_followup_answers.sql.

ALTER TABLE outreach ADD COLUMN answer TEXT NOT NULL DEFAULT '';
ALTER TABLE outreach ADD COLUMN applied_at INTEGER;

CREATE INDEX outreach_unapplied ON outreach (namespace, touchpoint) WHERE answer <> '' AND applied_at IS NULL;
