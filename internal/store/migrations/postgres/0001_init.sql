-- 0001: responses, the transactional outbox, invitations, archived cases.
-- Keep in step with ../sqlite/0001_init.sql: same tables, columns, indexes.

CREATE TABLE responses (
	seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	touchpoint          text        NOT NULL,
	response_id         text        NOT NULL,
	customer_id         text        NOT NULL DEFAULT '',
	customer_tier       text        NOT NULL DEFAULT '',
	customer_segment    text        NOT NULL DEFAULT '',
	customer_attributes jsonb       NOT NULL DEFAULT '{}',
	answers             jsonb       NOT NULL DEFAULT '{}',
	comment             text        NOT NULL DEFAULT '',
	sentiment           double precision,
	themes              jsonb       NOT NULL DEFAULT '[]',
	metadata            jsonb       NOT NULL DEFAULT '{}',
	submitted_at        timestamptz NOT NULL,
	received_at         timestamptz NOT NULL,
	UNIQUE (touchpoint, response_id)
);

-- Aggregates and retention scan a touchpoint's time range.
CREATE INDEX responses_touchpoint_submitted ON responses (touchpoint, submitted_at, seq);
-- Counts (last 24 h, last response time).
CREATE INDEX responses_touchpoint_received ON responses (touchpoint, received_at);

CREATE TABLE outbox_actions (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	touchpoint      text        NOT NULL,
	response_id     text        NOT NULL,
	kind            text        NOT NULL CHECK (kind <> ''),
	dedup_key       text        NOT NULL,
	payload         json        NOT NULL, -- kept as written (opaque to the store)
	attempts        integer     NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	last_error      text        NOT NULL DEFAULT '',
	created_at      timestamptz NOT NULL,
	done_at         timestamptz,
	UNIQUE (touchpoint, dedup_key)
);

-- Claiming: due, undone actions in order.
CREATE INDEX outbox_actions_due ON outbox_actions (next_attempt_at, id) WHERE done_at IS NULL;
-- Depth and age of the outbox.
CREATE INDEX outbox_actions_pending ON outbox_actions (created_at) WHERE done_at IS NULL;
-- Cleanup of done actions.
CREATE INDEX outbox_actions_done ON outbox_actions (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE invitations (
	token_id    text        PRIMARY KEY,
	touchpoint  text        NOT NULL,
	customer_id text        NOT NULL,
	issued_at   timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL,
	used_at     timestamptz
);

-- Contact frequency: a customer's recent invitations.
CREATE INDEX invitations_customer_issued ON invitations (customer_id, issued_at);
CREATE INDEX invitations_expires ON invitations (expires_at);

CREATE TABLE archived_cases (
	namespace   text        NOT NULL,
	name        text        NOT NULL,
	closed_at   timestamptz NOT NULL,
	archived_at timestamptz NOT NULL,
	doc         json        NOT NULL,
	PRIMARY KEY (namespace, name)
);
