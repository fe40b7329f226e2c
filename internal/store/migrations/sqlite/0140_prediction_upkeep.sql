-- 0140: predictions under erasure, retention and incremental scoring. A
-- predicted score keeps the response id its outbox actions carry, so an
-- erasure finds them; the erasure log counts predicted scores deleted;
-- events are found by when they arrived (a late event joins a scoring
-- pass); a touchpoint's scoring cursor says what the last pass covered,
-- so a pass reads only the customers with something new.
-- Keep in step with ../postgres/0140_prediction_upkeep.sql.

ALTER TABLE predictions ADD COLUMN response_id TEXT NOT NULL DEFAULT '';
ALTER TABLE erasures ADD COLUMN predictions INTEGER NOT NULL DEFAULT 0;

CREATE INDEX events_received ON events (namespace, touchpoint, received_at);
CREATE INDEX predictions_touchpoint_customer ON predictions (namespace, touchpoint, customer_id);

CREATE TABLE prediction_cursors (
	namespace        TEXT    NOT NULL,
	touchpoint       TEXT    NOT NULL,
	-- the model the pass scored with: another model starts from the
	-- beginning of the history
	model_trained_at INTEGER NOT NULL,
	-- every interaction whose last event occurred at or before this was
	-- looked at, among events received at or before received_through
	closed_through   INTEGER NOT NULL,
	received_through INTEGER NOT NULL,
	PRIMARY KEY (namespace, touchpoint)
) STRICT;
