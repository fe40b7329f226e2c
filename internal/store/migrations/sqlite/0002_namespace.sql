-- 0002: the namespace (the program) in every key, and the hash of each
-- stored response's body (a known id with another body is a conflict).
-- Keep in step with ../postgres/0002_namespace.sql.
--
-- Rows written before this migration get namespace '': a collector claims
-- those of its touchpoint for its namespace when it opens the store
-- (Config.Namespace, Config.Touchpoint). Their body_hash stays '' (unknown):
-- a retry of such a response is answered as a replay.
--
-- SQLite cannot change a table's UNIQUE constraint: responses and
-- outbox_actions are rebuilt (rows, sequence numbers and ids kept).

CREATE TABLE responses_v2 (
	seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace           TEXT    NOT NULL DEFAULT '',
	touchpoint          TEXT    NOT NULL,
	response_id         TEXT    NOT NULL,
	body_hash           TEXT    NOT NULL DEFAULT '',
	customer_id         TEXT    NOT NULL DEFAULT '',
	customer_tier       TEXT    NOT NULL DEFAULT '',
	customer_segment    TEXT    NOT NULL DEFAULT '',
	customer_attributes BLOB    NOT NULL DEFAULT (jsonb('{}')) CHECK (json_valid(customer_attributes, 8)),
	answers             BLOB    NOT NULL DEFAULT (jsonb('{}')) CHECK (json_valid(answers, 8)),
	comment             TEXT    NOT NULL DEFAULT '',
	sentiment           REAL,
	themes              BLOB    NOT NULL DEFAULT (jsonb('[]')) CHECK (json_valid(themes, 8)),
	metadata            BLOB    NOT NULL DEFAULT (jsonb('{}')) CHECK (json_valid(metadata, 8)),
	submitted_at        INTEGER NOT NULL,
	received_at         INTEGER NOT NULL,
	UNIQUE (namespace, touchpoint, response_id)
) STRICT;

INSERT INTO responses_v2 (seq, touchpoint, response_id, customer_id, customer_tier, customer_segment,
	customer_attributes, answers, comment, sentiment, themes, metadata, submitted_at, received_at)
SELECT seq, touchpoint, response_id, customer_id, customer_tier, customer_segment,
	customer_attributes, answers, comment, sentiment, themes, metadata, submitted_at, received_at
FROM responses;

DROP TABLE responses;
ALTER TABLE responses_v2 RENAME TO responses;

-- Aggregates and retention scan a touchpoint's time range.
CREATE INDEX responses_touchpoint_submitted ON responses (namespace, touchpoint, submitted_at);
-- Counts (last 24 h, last response time).
CREATE INDEX responses_touchpoint_received ON responses (namespace, touchpoint, received_at);
-- Erasure of one customer.
CREATE INDEX responses_customer ON responses (namespace, customer_id);

CREATE TABLE outbox_actions_v2 (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace       TEXT    NOT NULL DEFAULT '',
	touchpoint      TEXT    NOT NULL,
	response_id     TEXT    NOT NULL,
	kind            TEXT    NOT NULL CHECK (kind <> ''),
	dedup_key       TEXT    NOT NULL,
	payload         TEXT    NOT NULL CHECK (json_valid(payload)),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	done_at         INTEGER,
	UNIQUE (namespace, touchpoint, dedup_key)
) STRICT;

INSERT INTO outbox_actions_v2 (id, touchpoint, response_id, kind, dedup_key, payload, attempts,
	next_attempt_at, last_error, created_at, done_at)
SELECT id, touchpoint, response_id, kind, dedup_key, payload, attempts,
	next_attempt_at, last_error, created_at, done_at
FROM outbox_actions;

DROP TABLE outbox_actions;
ALTER TABLE outbox_actions_v2 RENAME TO outbox_actions;

-- Claiming: due, undone actions in order.
CREATE INDEX outbox_actions_due ON outbox_actions (namespace, next_attempt_at, id) WHERE done_at IS NULL;
-- Depth and age of the outbox.
CREATE INDEX outbox_actions_pending ON outbox_actions (namespace, created_at) WHERE done_at IS NULL;
-- Cleanup of done actions.
CREATE INDEX outbox_actions_done ON outbox_actions (done_at) WHERE done_at IS NOT NULL;
-- Erasure: the actions of one response.
CREATE INDEX outbox_actions_response ON outbox_actions (namespace, touchpoint, response_id);

ALTER TABLE invitations ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
DROP INDEX invitations_customer_issued;
-- Contact frequency: a customer's recent invitations in a program.
CREATE INDEX invitations_customer_issued ON invitations (namespace, customer_id, issued_at);

-- Purging the archive after its retention.
CREATE INDEX archived_cases_closed ON archived_cases (namespace, closed_at);
