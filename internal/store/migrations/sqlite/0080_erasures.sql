-- 0080: the log of erasure requests (the right to erasure of one
-- customer). A row says when, in which mode and how much was erased; it
-- holds no personal data, not even the customer's id: the caller keeps
-- the erasure id with its own request. Keep in step with
-- ../postgres/0080_erasures.sql.

CREATE TABLE erasures (
	namespace      TEXT    NOT NULL,
	erasure_id     TEXT    NOT NULL,
	touchpoint     TEXT    NOT NULL,
	-- Redact or Delete
	mode           TEXT    NOT NULL,
	requested_at   INTEGER NOT NULL,
	responses      INTEGER NOT NULL,
	actions        INTEGER NOT NULL,
	messages       INTEGER NOT NULL,
	events         INTEGER NOT NULL,
	invitations    INTEGER NOT NULL,
	archived_cases INTEGER NOT NULL,
	PRIMARY KEY (namespace, erasure_id)
) STRICT;

-- Erasure finds one customer's rows.
CREATE INDEX outreach_customer ON outreach (namespace, touchpoint, customer_id);
CREATE INDEX events_customer ON events (namespace, touchpoint, customer_id);
CREATE INDEX invitations_touchpoint_customer ON invitations (namespace, touchpoint, customer_id);
