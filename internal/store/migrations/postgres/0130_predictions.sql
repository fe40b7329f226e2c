-- 0130: predicted CX scores. Events keep what a prediction reads as
-- features (the customer's tier, segment and attributes without contact
-- details, and the event's metadata) as JSON text in detail; the scores
-- of interactions that got no response live in predictions, apart from
-- responses, so no measured KPI ever counts them; the touchpoint's last
-- training result (accepted or refused) is in prediction_models.
-- Keep in step with ../sqlite/0130_predictions.sql.

ALTER TABLE events ADD COLUMN detail text NOT NULL DEFAULT '';

-- Training and scoring read a touchpoint's events by time.
CREATE INDEX events_occurred ON events (namespace, touchpoint, occurred_at);

CREATE TABLE predictions (
	namespace      text    NOT NULL,
	touchpoint     text    NOT NULL,
	-- customer id and interaction id
	interaction    text    NOT NULL,
	customer_id    text    NOT NULL,
	customer_tier  text NOT NULL DEFAULT '',
	target         text    NOT NULL,
	score          float8  NOT NULL,
	-- always 1: a predicted score, never a measured answer
	predicted      integer NOT NULL DEFAULT 1 CHECK (predicted = 1),
	-- the interaction's last event, the window the score belongs to
	occurred_at    timestamptz NOT NULL,
	scored_at      timestamptz NOT NULL,
	model_trained_at timestamptz NOT NULL,
	-- the model's accuracy (held-out AUC or R²) when it scored
	accuracy       float8  NOT NULL,
	PRIMARY KEY (namespace, touchpoint, interaction)
);

CREATE INDEX predictions_occurred ON predictions (namespace, touchpoint, occurred_at);
CREATE INDEX predictions_customer ON predictions (namespace, customer_id);

CREATE TABLE prediction_models (
	namespace   text    NOT NULL,
	touchpoint  text    NOT NULL,
	trained_at  timestamptz NOT NULL,
	-- the training result as JSON (predict.Result)
	result      text    NOT NULL,
	PRIMARY KEY (namespace, touchpoint)
);
