-- 0002: the namespace (the program) in every key, and the hash of each
-- stored response's body (a known id with another body is a conflict).
-- Keep in step with ../sqlite/0002_namespace.sql.
--
-- Rows written before this migration get namespace '': a collector claims
-- those of its touchpoint for its namespace when it opens the store
-- (Config.Namespace, Config.Touchpoint). Their body_hash stays '' (unknown):
-- a retry of such a response is answered as a replay.

ALTER TABLE responses ADD COLUMN namespace text NOT NULL DEFAULT '';
ALTER TABLE responses ADD COLUMN body_hash text NOT NULL DEFAULT '';
ALTER TABLE responses DROP CONSTRAINT responses_touchpoint_response_id_key;
ALTER TABLE responses ADD CONSTRAINT responses_namespace_touchpoint_response_id_key UNIQUE (namespace, touchpoint, response_id);
DROP INDEX responses_touchpoint_submitted;
DROP INDEX responses_touchpoint_received;
-- Aggregates and retention scan a touchpoint's time range.
CREATE INDEX responses_touchpoint_submitted ON responses (namespace, touchpoint, submitted_at, seq);
-- Counts (last 24 h, last response time).
CREATE INDEX responses_touchpoint_received ON responses (namespace, touchpoint, received_at);
-- Erasure of one customer.
CREATE INDEX responses_customer ON responses (namespace, customer_id);

ALTER TABLE outbox_actions ADD COLUMN namespace text NOT NULL DEFAULT '';
ALTER TABLE outbox_actions DROP CONSTRAINT outbox_actions_touchpoint_dedup_key_key;
ALTER TABLE outbox_actions ADD CONSTRAINT outbox_actions_namespace_touchpoint_dedup_key_key UNIQUE (namespace, touchpoint, dedup_key);
DROP INDEX outbox_actions_due;
DROP INDEX outbox_actions_pending;
-- Claiming: due, undone actions in order.
CREATE INDEX outbox_actions_due ON outbox_actions (namespace, next_attempt_at, id) WHERE done_at IS NULL;
-- Depth and age of the outbox.
CREATE INDEX outbox_actions_pending ON outbox_actions (namespace, created_at) WHERE done_at IS NULL;
-- Erasure: the actions of one response.
CREATE INDEX outbox_actions_response ON outbox_actions (namespace, touchpoint, response_id);

ALTER TABLE invitations ADD COLUMN namespace text NOT NULL DEFAULT '';
DROP INDEX invitations_customer_issued;
-- Contact frequency: a customer's recent invitations in a program.
CREATE INDEX invitations_customer_issued ON invitations (namespace, customer_id, issued_at);

-- Purging the archive after its retention.
CREATE INDEX archived_cases_closed ON archived_cases (namespace, closed_at);
