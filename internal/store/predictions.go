package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Predictions keeps what a touchpoint's prediction trains on and what it
// predicts: events with their features (Event.Detail), the answers to the
// predicted question, the scores of interactions that got no response, and
// the last training result. Predicted scores live apart from responses:
// Aggregate, Counts and every measured KPI never see them.
type Predictions interface {
	// EventsBetween returns a touchpoint's events that occurred in
	// [from, to), in time order, with their Detail.
	EventsBetween(ctx context.Context, namespace, touchpoint string, from, to time.Time) ([]Event, error)
	// Answers returns the responses of a touchpoint submitted in [from, to)
	// that answered question, with the value of the metadata key
	// interactionKey (when not empty), in time order.
	Answers(ctx context.Context, touchpoint, question, interactionKey string, from, to time.Time) ([]Answer, error)
	// SavePredictions stores predicted scores, each with its actions in the
	// same transaction. An interaction scored before is left as it was and
	// its actions are not written again; the result says which were new.
	SavePredictions(ctx context.Context, ps []NewPrediction) ([]bool, error)
	// ScoredSince returns the interactions of a touchpoint scored whose last
	// event occurred at or after since.
	ScoredSince(ctx context.Context, namespace, touchpoint string, since time.Time) (map[string]bool, error)
	// PredictionStats summarizes the scores of interactions whose last
	// event occurred in [from, to).
	PredictionStats(ctx context.Context, namespace, touchpoint string, from, to time.Time) (PredictionStats, error)
	// CountPredictions counts a touchpoint's predicted scores.
	CountPredictions(ctx context.Context, namespace, touchpoint string) (int64, error)
	// SaveModel replaces the touchpoint's last training result (JSON).
	SaveModel(ctx context.Context, namespace, touchpoint string, trainedAt time.Time, result []byte) error
	// LoadModel returns the last training result, or ErrNotFound.
	LoadModel(ctx context.Context, namespace, touchpoint string) ([]byte, error)
}

// Answer is one response's answer to the predicted question.
type Answer struct {
	ResponseID  string
	CustomerID  string
	SubmittedAt time.Time
	// Interaction is the response's metadata value of the interaction key.
	Interaction string
	Score       float64
}

// NewPrediction is the predicted score of one interaction nobody asked
// about, with the actions the rules on predictions triggered.
type NewPrediction struct {
	Namespace, Touchpoint string
	// Interaction identifies it: the customer id and the interaction id.
	Interaction  string
	CustomerID   string
	CustomerTier string
	// Target is what was predicted (Detractor, BottomTwoBox, Mean).
	Target string
	Score  float64
	// OccurredAt is the interaction's last event.
	OccurredAt     time.Time
	ScoredAt       time.Time
	ModelTrainedAt time.Time
	// Accuracy is the model's held-out AUC or R².
	Accuracy float64
	// ResponseID stands for the prediction in the outbox (its actions'
	// response id); Actions are written only when the score is new.
	ResponseID string
	Actions    []NewAction
}

// PredictionStats are the scores of a window.
type PredictionStats struct {
	// Interactions scored and the distinct customers they belong to.
	Interactions, Customers int64
	// MeanScore is the mean predicted score (probability or answer).
	MeanScore float64
	// CustomerIDs are the distinct customers scored.
	CustomerIDs []string
}

func (s *sqlStore) EventsBetween(ctx context.Context, namespace, touchpoint string, from, to time.Time) ([]Event, error) {
	rows, err := s.r.query(ctx, `SELECT event_id, name, customer_id, occurred_at, received_at, outcome, detail FROM events
		WHERE namespace = ? AND touchpoint = ? AND occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, event_id`,
		namespace, touchpoint, s.d.ts(utc(from)), s.d.ts(utc(to)))
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{Namespace: namespace, Touchpoint: touchpoint}
		var occurred, received nullTime
		var detail string
		if err := rows.Scan(&e.ID, &e.Name, &e.CustomerID, &occurred, &received, &e.Outcome, &detail); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.OccurredAt, e.ReceivedAt = occurred.T, received.T
		if detail != "" {
			e.Detail = []byte(detail)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Answers(ctx context.Context, touchpoint, question, interactionKey string, from, to time.Time) ([]Answer, error) {
	if err := validKey("question", question); err != nil {
		return nil, err
	}
	key := "''"
	if interactionKey != "" {
		if err := validKey("interaction key", interactionKey); err != nil {
			return nil, err
		}
		key = "COALESCE(" + s.d.jsonText("metadata", interactionKey) + ", '')"
	}
	answer := s.d.jsonText("answers", question)
	rows, err := s.r.query(ctx, `SELECT response_id, customer_id, submitted_at, `+key+`, CAST(`+answer+` AS DOUBLE PRECISION)
		FROM responses WHERE namespace = ? AND touchpoint = ? AND submitted_at >= ? AND submitted_at < ? AND `+answer+` IS NOT NULL
		ORDER BY submitted_at, response_id`,
		s.cfg.Namespace, touchpoint, s.d.ts(utc(from)), s.d.ts(utc(to)))
	if err != nil {
		return nil, fmt.Errorf("read answers to %s: %w", question, err)
	}
	defer rows.Close()
	var out []Answer
	for rows.Next() {
		var a Answer
		var at nullTime
		if err := rows.Scan(&a.ResponseID, &a.CustomerID, &at, &a.Interaction, &a.Score); err != nil {
			return nil, fmt.Errorf("read answers to %s: %w", question, err)
		}
		a.SubmittedAt = at.T
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read answers to %s: %w", question, err)
	}
	return out, nil
}

func (s *sqlStore) SavePredictions(ctx context.Context, ps []NewPrediction) ([]bool, error) {
	for _, p := range ps {
		if p.Namespace == "" || p.Touchpoint == "" || p.Interaction == "" || p.CustomerID == "" || p.Target == "" {
			return nil, fmt.Errorf("%w: a prediction needs a namespace, a touchpoint, an interaction, a customer and a target", ErrInvalid)
		}
		if len(p.Actions) > 0 && p.ResponseID == "" {
			return nil, fmt.Errorf("%w: the actions of prediction %s need a response id", ErrInvalid, p.Interaction)
		}
	}
	isNew := make([]bool, len(ps))
	err := s.inTx(ctx, func(q querier) error {
		for i, p := range ps {
			n, err := q.exec(ctx, `INSERT INTO predictions (namespace, touchpoint, interaction, customer_id, customer_tier, target, score,
				occurred_at, scored_at, model_trained_at, accuracy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, touchpoint, interaction) DO NOTHING`,
				p.Namespace, p.Touchpoint, p.Interaction, p.CustomerID, p.CustomerTier, p.Target, p.Score,
				s.d.ts(utc(p.OccurredAt)), s.d.ts(utc(p.ScoredAt)), s.d.ts(utc(p.ModelTrainedAt)), p.Accuracy)
			if err != nil {
				return err
			}
			isNew[i] = n > 0
			if n == 0 {
				continue
			}
			for _, a := range p.Actions {
				if a.Kind == "" || a.DedupKey == "" {
					return fmt.Errorf("%w: an action of prediction %s needs a kind and a dedup key", ErrInvalid, p.Interaction)
				}
				if _, err := q.exec(ctx, `INSERT INTO outbox_actions (namespace, touchpoint, response_id, kind, dedup_key, payload, next_attempt_at, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, touchpoint, dedup_key) DO NOTHING`,
					p.Namespace, p.Touchpoint, p.ResponseID, a.Kind, a.DedupKey, string(a.Payload), s.d.ts(utc(p.ScoredAt)), s.d.ts(utc(p.ScoredAt))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("save predictions: %w", err)
	}
	return isNew, nil
}

func (s *sqlStore) ScoredSince(ctx context.Context, namespace, touchpoint string, since time.Time) (map[string]bool, error) {
	rows, err := s.r.query(ctx, `SELECT interaction FROM predictions WHERE namespace = ? AND touchpoint = ? AND occurred_at >= ?`,
		namespace, touchpoint, s.d.ts(utc(since)))
	if err != nil {
		return nil, fmt.Errorf("read scored interactions: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("read scored interactions: %w", err)
		}
		out[k] = true
	}
	return out, rows.Err()
}

func (s *sqlStore) PredictionStats(ctx context.Context, namespace, touchpoint string, from, to time.Time) (PredictionStats, error) {
	var st PredictionStats
	var mean sql.NullFloat64
	args := []any{namespace, touchpoint, s.d.ts(utc(from)), s.d.ts(utc(to))}
	const where = ` FROM predictions WHERE namespace = ? AND touchpoint = ? AND occurred_at >= ? AND occurred_at < ?`
	if err := s.r.queryRow(ctx, `SELECT count(*), avg(score)`+where, args...).Scan(&st.Interactions, &mean); err != nil {
		return st, fmt.Errorf("prediction stats: %w", err)
	}
	st.MeanScore = mean.Float64
	rows, err := s.r.query(ctx, `SELECT DISTINCT customer_id`+where+` ORDER BY customer_id`, args...)
	if err != nil {
		return st, fmt.Errorf("prediction stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return st, fmt.Errorf("prediction stats: %w", err)
		}
		st.CustomerIDs = append(st.CustomerIDs, c)
	}
	st.Customers = int64(len(st.CustomerIDs))
	return st, rows.Err()
}

func (s *sqlStore) CountPredictions(ctx context.Context, namespace, touchpoint string) (int64, error) {
	var n int64
	if err := s.r.queryRow(ctx, `SELECT count(*) FROM predictions WHERE namespace = ? AND touchpoint = ?`, namespace, touchpoint).Scan(&n); err != nil {
		return 0, fmt.Errorf("count predictions: %w", err)
	}
	return n, nil
}

func (s *sqlStore) SaveModel(ctx context.Context, namespace, touchpoint string, trainedAt time.Time, result []byte) error {
	_, err := s.w.exec(ctx, `INSERT INTO prediction_models (namespace, touchpoint, trained_at, result) VALUES (?, ?, ?, ?)
		ON CONFLICT (namespace, touchpoint) DO UPDATE SET trained_at = excluded.trained_at, result = excluded.result`,
		namespace, touchpoint, s.d.ts(utc(trainedAt)), string(result))
	if err != nil {
		return fmt.Errorf("save prediction model: %w", err)
	}
	return nil
}

func (s *sqlStore) LoadModel(ctx context.Context, namespace, touchpoint string) ([]byte, error) {
	var res string
	err := s.r.queryRow(ctx, `SELECT result FROM prediction_models WHERE namespace = ? AND touchpoint = ?`, namespace, touchpoint).Scan(&res)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("prediction model of %s: %w", touchpoint, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load prediction model: %w", err)
	}
	return []byte(res), nil
}
