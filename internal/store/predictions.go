package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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

	// ChangedCustomers returns the customers who have an event that
	// occurred in [from, closedThrough] and either after the cursor's
	// ClosedThrough or was received after its ReceivedThrough: those whose
	// interactions a scoring pass after c has to look at.
	ChangedCustomers(ctx context.Context, namespace, touchpoint string, from, closedThrough time.Time, c ScoringCursor) ([]string, error)
	// EventsOfCustomers is EventsBetween for the given customers only.
	EventsOfCustomers(ctx context.Context, namespace, touchpoint string, customers []string, from, to time.Time) ([]Event, error)
	// AnswersOfCustomers is Answers for the given customers only.
	AnswersOfCustomers(ctx context.Context, touchpoint, question, interactionKey string, customers []string, from, to time.Time) ([]Answer, error)
	// ScoredOf returns the scored interactions of the given customers.
	ScoredOf(ctx context.Context, namespace, touchpoint string, customers []string) (map[string]bool, error)
	// SaveScoringCursor records what a scoring pass covered;
	// LoadScoringCursor returns it, or ErrNotFound.
	SaveScoringCursor(ctx context.Context, c ScoringCursor) error
	LoadScoringCursor(ctx context.Context, namespace, touchpoint string) (ScoringCursor, error)
	// DeletePredictionsBefore deletes a touchpoint's events and predicted
	// scores that occurred before t (the responses' retention), in
	// batches, and returns how many of each.
	DeletePredictionsBefore(ctx context.Context, namespace, touchpoint string, t time.Time) (events, predictions int64, err error)
}

// ScoringCursor is what the last scoring pass of a touchpoint covered:
// with the model trained at ModelTrainedAt, every interaction whose last
// event occurred at or before ClosedThrough, among the events received at
// or before ReceivedThrough.
type ScoringCursor struct {
	Namespace, Touchpoint string
	ModelTrainedAt        time.Time
	ClosedThrough         time.Time
	ReceivedThrough       time.Time
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
	// response id); Actions are written only when the score is new, in
	// the store's outbox (Config.Namespace) as a response's are.
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
	return s.events(ctx, namespace, touchpoint, nil, nil, from, to)
}

func (s *sqlStore) EventsOfCustomers(ctx context.Context, namespace, touchpoint string, customers []string, from, to time.Time) ([]Event, error) {
	var out []Event
	for chunk := range slices.Chunk(customers, customerChunk) {
		es, err := s.events(ctx, namespace, touchpoint, chunk, out, from, to)
		if err != nil {
			return nil, err
		}
		out = es
	}
	slices.SortStableFunc(out, func(a, b Event) int { return cmp.Or(a.OccurredAt.Compare(b.OccurredAt), strings.Compare(a.ID, b.ID)) })
	return out, nil
}

// customerChunk is how many customers one query of a list names.
const customerChunk = 500

// events appends to out the events of [from, to), of the customers only
// when not nil, in time order.
func (s *sqlStore) events(ctx context.Context, namespace, touchpoint string, customers []string, out []Event, from, to time.Time) ([]Event, error) {
	args := []any{namespace, touchpoint, s.d.ts(utc(from)), s.d.ts(utc(to))}
	and, at := s.byCustomers(customers, &args, "occurred_at")
	rows, err := s.r.query(ctx, `SELECT event_id, name, customer_id, occurred_at, received_at, outcome, detail FROM events
		WHERE namespace = ? AND touchpoint = ? AND `+at+` >= ? AND `+at+` < ?`+and+order(customers, ` ORDER BY occurred_at, event_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
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
	return s.answers(ctx, touchpoint, question, interactionKey, nil, nil, from, to)
}

func (s *sqlStore) AnswersOfCustomers(ctx context.Context, touchpoint, question, interactionKey string, customers []string, from, to time.Time) ([]Answer, error) {
	var out []Answer
	for chunk := range slices.Chunk(customers, customerChunk) {
		as, err := s.answers(ctx, touchpoint, question, interactionKey, chunk, out, from, to)
		if err != nil {
			return nil, err
		}
		out = as
	}
	slices.SortStableFunc(out, func(a, b Answer) int {
		return cmp.Or(a.SubmittedAt.Compare(b.SubmittedAt), strings.Compare(a.ResponseID, b.ResponseID))
	})
	return out, nil
}

// answers appends to out the answers of [from, to), of the customers
// only when not nil.
func (s *sqlStore) answers(ctx context.Context, touchpoint, question, interactionKey string, customers []string, out []Answer, from, to time.Time) ([]Answer, error) {
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
	args := []any{s.cfg.Namespace, touchpoint, s.d.ts(utc(from)), s.d.ts(utc(to))}
	and, at := s.byCustomers(customers, &args, "submitted_at")
	rows, err := s.r.query(ctx, `SELECT response_id, customer_id, submitted_at, `+key+`, CAST(`+answer+` AS DOUBLE PRECISION)
		FROM responses WHERE namespace = ? AND touchpoint = ? AND `+at+` >= ? AND `+at+` < ? AND `+answer+` IS NOT NULL`+and+
		order(customers, ` ORDER BY submitted_at, response_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("read answers to %s: %w", question, err)
	}
	defer rows.Close()
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
				occurred_at, scored_at, model_trained_at, accuracy, response_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (namespace, touchpoint, interaction) DO NOTHING`,
				p.Namespace, p.Touchpoint, p.Interaction, p.CustomerID, p.CustomerTier, p.Target, p.Score,
				s.d.ts(utc(p.OccurredAt)), s.d.ts(utc(p.ScoredAt)), s.d.ts(utc(p.ModelTrainedAt)), p.Accuracy, p.ResponseID)
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
					s.cfg.Namespace, p.Touchpoint, p.ResponseID, a.Kind, a.DedupKey, string(a.Payload), s.d.ts(utc(p.ScoredAt)), s.d.ts(utc(p.ScoredAt))); err != nil {
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

// byCustomers is the condition on the customers (none when nil), their
// arguments appended to args, and how to name the time column: a few
// customers are found by their index, not among all the rows of the
// time range (SQLite, which has no statistics, is told so with a unary +
// that keeps it off the time index).
//
// Read by customers, rows are sorted by the caller after all chunks
// (order): an ORDER BY would lead SQLite to the time index.
func (s *sqlStore) byCustomers(customers []string, args *[]any, timeColumn string) (string, string) {
	if customers == nil {
		return "", timeColumn
	}
	for _, c := range customers {
		*args = append(*args, c)
	}
	if s.d.name != DriverPostgres {
		timeColumn = "+" + timeColumn
	}
	return ` AND customer_id IN (` + placeholders(len(customers)) + `)`, timeColumn
}

// order is the ORDER BY of a read of all customers, none by customers.
func order(customers []string, orderBy string) string {
	if customers != nil {
		return ""
	}
	return orderBy
}

func (s *sqlStore) ScoredOf(ctx context.Context, namespace, touchpoint string, customers []string) (map[string]bool, error) {
	out := map[string]bool{}
	for chunk := range slices.Chunk(customers, customerChunk) {
		args := make([]any, 0, 2+len(chunk))
		args = append(args, namespace, touchpoint)
		for _, c := range chunk {
			args = append(args, c)
		}
		rows, err := s.r.query(ctx, `SELECT interaction FROM predictions WHERE namespace = ? AND touchpoint = ? AND customer_id IN (`+
			placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read scored interactions: %w", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read scored interactions: %w", err)
			}
			out[k] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read scored interactions: %w", err)
		}
	}
	return out, nil
}

func (s *sqlStore) ChangedCustomers(ctx context.Context, namespace, touchpoint string, from, closedThrough time.Time, c ScoringCursor) ([]string, error) {
	// Two ranges, each on its index: what occurred since the last pass's
	// horizon, and what arrived since it (late events of older
	// interactions).
	// (SQLite is kept on the second's index with a unary +.)
	lo, hi := s.d.ts(utc(from)), s.d.ts(utc(closedThrough))
	occurred := "+occurred_at"
	if s.d.name == DriverPostgres {
		occurred = "occurred_at"
	}
	rows, err := s.r.query(ctx, `SELECT customer_id FROM events WHERE namespace = ? AND touchpoint = ? AND occurred_at > ? AND occurred_at >= ? AND occurred_at <= ?
		UNION SELECT customer_id FROM events WHERE namespace = ? AND touchpoint = ? AND received_at > ? AND `+occurred+` >= ? AND `+occurred+` <= ?`,
		namespace, touchpoint, s.d.ts(utc(c.ClosedThrough)), lo, hi, namespace, touchpoint, s.d.ts(utc(c.ReceivedThrough)), lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read changed customers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read changed customers: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read changed customers: %w", err)
	}
	return out, nil
}

func (s *sqlStore) SaveScoringCursor(ctx context.Context, c ScoringCursor) error {
	_, err := s.w.exec(ctx, `INSERT INTO prediction_cursors (namespace, touchpoint, model_trained_at, closed_through, received_through) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (namespace, touchpoint) DO UPDATE SET model_trained_at = excluded.model_trained_at,
			closed_through = excluded.closed_through, received_through = excluded.received_through`,
		c.Namespace, c.Touchpoint, s.d.ts(utc(c.ModelTrainedAt)), s.d.ts(utc(c.ClosedThrough)), s.d.ts(utc(c.ReceivedThrough)))
	if err != nil {
		return fmt.Errorf("save scoring cursor: %w", err)
	}
	return nil
}

func (s *sqlStore) LoadScoringCursor(ctx context.Context, namespace, touchpoint string) (ScoringCursor, error) {
	c := ScoringCursor{Namespace: namespace, Touchpoint: touchpoint}
	var model, closed, received nullTime
	err := s.r.queryRow(ctx, `SELECT model_trained_at, closed_through, received_through FROM prediction_cursors WHERE namespace = ? AND touchpoint = ?`,
		namespace, touchpoint).Scan(&model, &closed, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("scoring cursor of %s: %w", touchpoint, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("load scoring cursor: %w", err)
	}
	c.ModelTrainedAt, c.ClosedThrough, c.ReceivedThrough = model.T, closed.T, received.T
	return c, nil
}

func (s *sqlStore) DeletePredictionsBefore(ctx context.Context, namespace, touchpoint string, t time.Time) (int64, int64, error) {
	before := s.d.ts(utc(t))
	// The keys are (namespace, touchpoint, event_id) and (namespace,
	// touchpoint, interaction): batches select the last part.
	events, err := s.deleteInBatches(ctx, "events of "+touchpoint,
		`DELETE FROM events WHERE namespace = ? AND touchpoint = ? AND event_id IN
			(SELECT event_id FROM events WHERE namespace = ? AND touchpoint = ? AND occurred_at < ? LIMIT ?)`,
		namespace, touchpoint, namespace, touchpoint, before)
	if err != nil {
		return events, 0, err
	}
	predictions, err := s.deleteInBatches(ctx, "predicted scores of "+touchpoint,
		`DELETE FROM predictions WHERE namespace = ? AND touchpoint = ? AND interaction IN
			(SELECT interaction FROM predictions WHERE namespace = ? AND touchpoint = ? AND occurred_at < ? LIMIT ?)`,
		namespace, touchpoint, namespace, touchpoint, before)
	return events, predictions, err
}
