-- 0010: outreach to customers. Business events the collector received, the
-- invitations and reminders it scheduled for them (sent exactly once, by a
-- lease like the outbox's), and customers who unsubscribed. Contact details
-- live only here and only until the message is done with.
-- Keep in step with ../postgres/0010_outreach.sql.

CREATE TABLE events (
	namespace   TEXT    NOT NULL,
	touchpoint  TEXT    NOT NULL,
	event_id    TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	customer_id TEXT    NOT NULL,
	occurred_at INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	-- outcome: Scheduled, UnknownEvent, NoContact
	outcome     TEXT    NOT NULL,
	body_hash   TEXT    NOT NULL,
	PRIMARY KEY (namespace, touchpoint, event_id)
) STRICT;

CREATE INDEX events_outcome ON events (namespace, touchpoint, outcome);

CREATE TABLE outreach (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace     TEXT    NOT NULL,
	touchpoint    TEXT    NOT NULL,
	-- idempotency key, the same on every attempt and visible to the receiver
	msg_key       TEXT    NOT NULL,
	kind          TEXT    NOT NULL,
	event_id      TEXT    NOT NULL,
	customer_id   TEXT    NOT NULL,
	channel       TEXT    NOT NULL,
	-- customer and contact details as JSON; erased when the message is done
	contact       TEXT    NOT NULL,
	due_at        INTEGER NOT NULL,
	-- Scheduled, Sent, Failed, Skipped
	state         TEXT    NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	lease_until   INTEGER,
	token         TEXT    NOT NULL DEFAULT '',
	token_id      TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	sent_at       INTEGER,
	answered_at   INTEGER,
	UNIQUE (namespace, touchpoint, msg_key)
) STRICT;

CREATE INDEX outreach_due ON outreach (state, due_at);
CREATE INDEX outreach_token ON outreach (namespace, touchpoint, token_id);
CREATE INDEX outreach_counts ON outreach (namespace, touchpoint, state);

CREATE TABLE unsubscribes (
	namespace   TEXT    NOT NULL,
	customer_id TEXT    NOT NULL,
	at          INTEGER NOT NULL,
	PRIMARY KEY (namespace, customer_id)
) STRICT;
