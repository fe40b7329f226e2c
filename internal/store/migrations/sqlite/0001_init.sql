-- 0001: responses, the transactional outbox, invitations, archived cases.
-- Times are INTEGER microseconds since the Unix epoch (UTC). JSON of responses
-- is stored as SQLite's binary JSONB (BLOB): aggregates extract values without
-- parsing text; read it back with json(). Other JSON is TEXT.
-- Keep in step with ../postgres/0001_init.sql: same tables, columns, indexes.

CREATE TABLE responses (
	seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
	touchpoint          TEXT    NOT NULL,
	response_id         TEXT    NOT NULL,
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
	UNIQUE (touchpoint, response_id)
) STRICT;

-- Aggregates and retention scan a touchpoint's time range.
CREATE INDEX responses_touchpoint_submitted ON responses (touchpoint, submitted_at);
-- Counts (last 24 h, last response time).
CREATE INDEX responses_touchpoint_received ON responses (touchpoint, received_at);

CREATE TABLE outbox_actions (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
	UNIQUE (touchpoint, dedup_key)
) STRICT;

-- Claiming: due, undone actions in order.
CREATE INDEX outbox_actions_due ON outbox_actions (next_attempt_at, id) WHERE done_at IS NULL;
-- Depth and age of the outbox.
CREATE INDEX outbox_actions_pending ON outbox_actions (created_at) WHERE done_at IS NULL;
-- Cleanup of done actions.
CREATE INDEX outbox_actions_done ON outbox_actions (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE invitations (
	token_id    TEXT    PRIMARY KEY,
	touchpoint  TEXT    NOT NULL,
	customer_id TEXT    NOT NULL,
	issued_at   INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER
) STRICT;

-- Contact frequency: a customer's recent invitations.
CREATE INDEX invitations_customer_issued ON invitations (customer_id, issued_at);
CREATE INDEX invitations_expires ON invitations (expires_at);

CREATE TABLE archived_cases (
	namespace   TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	closed_at   INTEGER NOT NULL,
	archived_at INTEGER NOT NULL,
	doc         TEXT    NOT NULL CHECK (json_valid(doc)),
	PRIMARY KEY (namespace, name)
) STRICT;
