-- 0080: the log of erasure requests (the right to erasure of one
-- customer). A row says when, in which mode and how much was erased; it
-- holds no personal data, not even the customer's id: the caller keeps
-- the erasure id with its own request. Keep in step with
-- ../sqlite/0080_erasures.sql.

CREATE TABLE erasures (
	namespace      text        NOT NULL,
	erasure_id     text        NOT NULL,
	touchpoint     text        NOT NULL,
	-- Redact or Delete
	mode           text        NOT NULL,
	requested_at   timestamptz NOT NULL,
	responses      bigint      NOT NULL,
	actions        bigint      NOT NULL,
	messages       bigint      NOT NULL,
	events         bigint      NOT NULL,
	invitations    bigint      NOT NULL,
	archived_cases bigint      NOT NULL,
	PRIMARY KEY (namespace, erasure_id)
);

-- Erasure finds one customer's rows.
CREATE INDEX outreach_customer ON outreach (namespace, touchpoint, customer_id);
CREATE INDEX events_customer ON events (namespace, touchpoint, customer_id);
CREATE INDEX invitations_touchpoint_customer ON invitations (namespace, touchpoint, customer_id);
