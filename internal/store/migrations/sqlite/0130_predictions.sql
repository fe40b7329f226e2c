-- 0130: predicted CX scores. Events keep what a prediction reads as
-- features (the customer's tier, segment and attributes without contact
-- details, and the event's metadata) as JSON text in detail; the scores
-- of interactions that got no response live in predictions, apart from
-- responses, so no measured KPI ever counts them; the touchpoint's last
-- training result (accepted or refused) is in prediction_models.
-- Keep in step with ../postgres/0130_predictions.sql.

ALTER TABLE events ADD COLUMN detail TEXT NOT NULL DEFAULT '';

-- Training and scoring read a touchpoint's events by time.
CREATE INDEX events_occurred ON events (namespace, touchpoint, occurred_at);

CREATE TABLE predictions (
	namespace      TEXT    NOT NULL,
	touchpoint     TEXT    NOT NULL,
	-- customer id and interaction id
	interaction    TEXT    NOT NULL,
	customer_id    TEXT    NOT NULL,
	customer_tier  TEXT    NOT NULL DEFAULT '',
	target         TEXT    NOT NULL,
	score          REAL    NOT NULL,
	-- always 1: a predicted score, never a measured answer
	predicted      INTEGER NOT NULL DEFAULT 1 CHECK (predicted = 1),
	-- the interaction's last event, the window the score belongs to
	occurred_at    INTEGER NOT NULL,
	scored_at      INTEGER NOT NULL,
	model_trained_at INTEGER NOT NULL,
	-- the model's accuracy (held-out AUC or R²) when it scored
	accuracy       REAL    NOT NULL,
	PRIMARY KEY (namespace, touchpoint, interaction)
) STRICT;

CREATE INDEX predictions_occurred ON predictions (namespace, touchpoint, occurred_at);
CREATE INDEX predictions_customer ON predictions (namespace, customer_id);

CREATE TABLE prediction_models (
	namespace   TEXT    NOT NULL,
	touchpoint  TEXT    NOT NULL,
	trained_at  INTEGER NOT NULL,
	-- the training result as JSON (predict.Result)
	result      TEXT    NOT NULL,
	PRIMARY KEY (namespace, touchpoint)
) STRICT;
