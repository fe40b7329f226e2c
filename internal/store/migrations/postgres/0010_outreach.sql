-- 0010: outreach to customers. Business events the collector received, the
-- invitations and reminders it scheduled for them (sent exactly once, by a
-- lease like the outbox's), and customers who unsubscribed. Contact details
-- live only here and only until the message is done with.
-- Keep in step with ../sqlite/0010_outreach.sql.

CREATE TABLE events (
	namespace   text    NOT NULL,
	touchpoint  text    NOT NULL,
	event_id    text    NOT NULL,
	name        text    NOT NULL,
	customer_id text    NOT NULL,
	occurred_at timestamptz NOT NULL,
	received_at timestamptz NOT NULL,
	-- outcome: Scheduled, UnknownEvent, NoContact
	outcome     text    NOT NULL,
	body_hash   text    NOT NULL,
	PRIMARY KEY (namespace, touchpoint, event_id)
);

CREATE INDEX events_outcome ON events (namespace, touchpoint, outcome);

CREATE TABLE outreach (
	id            bigserial PRIMARY KEY,
	namespace     text    NOT NULL,
	touchpoint    text    NOT NULL,
	-- idempotency key, the same on every attempt and visible to the receiver
	msg_key       text    NOT NULL,
	kind          text    NOT NULL,
	event_id      text    NOT NULL,
	customer_id   text    NOT NULL,
	channel       text    NOT NULL,
	-- customer and contact details as JSON; erased when the message is done
	contact       jsonb   NOT NULL,
	due_at        timestamptz NOT NULL,
	-- Scheduled, Sent, Failed, Skipped
	state         text    NOT NULL,
	attempts      integer NOT NULL DEFAULT 0,
	lease_until   timestamptz,
	token         text    NOT NULL DEFAULT '',
	token_id      text    NOT NULL DEFAULT '',
	reason        text    NOT NULL DEFAULT '',
	sent_at       timestamptz,
	answered_at   timestamptz,
	UNIQUE (namespace, touchpoint, msg_key)
);

CREATE INDEX outreach_due ON outreach (state, due_at);
CREATE INDEX outreach_token ON outreach (namespace, touchpoint, token_id);
CREATE INDEX outreach_counts ON outreach (namespace, touchpoint, state);

CREATE TABLE unsubscribes (
	namespace   text    NOT NULL,
	customer_id text    NOT NULL,
	at          timestamptz NOT NULL,
	PRIMARY KEY (namespace, customer_id)
);
