package collector

import (
	"encoding/json"
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

// Matched is what a collector's per-response rules decide for one
// response: the actions it would write to its outbox with the response.
type Matched struct {
	// Rules that matched, by name.
	Rules []string
	// OpenCases are the open_case actions.
	OpenCases []OpenCasePayload
	// Notifications are the notify and recognition actions.
	Notifications []NotifyPayload
	// Skipped maps a rule that is not evaluated to why (suspended, does
	// not compile).
	Skipped map[string]string
	// Actions are the outbox entries, as the collector stores them with
	// the response.
	Actions []store.NewAction
}

// Evaluator is a touchpoint's per-response rules compiled as the
// collector holds them: `cxloop test` and `cxloop backtest` compile once
// and evaluate many responses.
type Evaluator struct {
	rs *ruleSet
}

// NewEvaluator compiles the namespace's AlertRules that select tp.
func NewEvaluator(tp *cxv1alpha1.SurveyTouchpoint, all []cxv1alpha1.AlertRule) (*Evaluator, error) {
	rs, err := compileRules(tp, all)
	if err != nil {
		return nil, err
	}
	return &Evaluator{rs: rs}, nil
}

// Evaluate runs the rules on resp with the collector's own code (index,
// evaluate, build the actions), without a store.
func (e *Evaluator) Evaluate(namespace string, resp *rules.Response, sentiment *float64, now time.Time) (Matched, error) {
	m, err := e.rs.evaluate(namespace, resp, sentiment, now)
	out := Matched{Rules: m.rules, Skipped: e.rs.skipped, Actions: m.actions}
	for _, a := range m.actions {
		switch a.Kind {
		case store.ActionOpenCase:
			var p OpenCasePayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				return out, fmt.Errorf("decode open_case action: %w", err)
			}
			out.OpenCases = append(out.OpenCases, p)
		case store.ActionNotify, store.ActionRecognition:
			var p NotifyPayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				return out, fmt.Errorf("decode %s action: %w", a.Kind, err)
			}
			out.Notifications = append(out.Notifications, p)
		}
	}
	return out, err
}

// EvaluateResponse compiles the rules and evaluates one response (see
// Evaluator).
func EvaluateResponse(tp *cxv1alpha1.SurveyTouchpoint, all []cxv1alpha1.AlertRule, namespace string, resp *rules.Response, sentiment *float64, now time.Time) (Matched, error) {
	e, err := NewEvaluator(tp, all)
	if err != nil {
		return Matched{}, err
	}
	return e.Evaluate(namespace, resp, sentiment, now)
}

// StoredAnswers converts a stored response's answers (a JSON object) to
// the values rules see, as ingest does: int64 for scores, bool for yes/no,
// strings for choices and text. Answers to questions tp no longer asks are
// left out.
func StoredAnswers(tp *cxv1alpha1.SurveyTouchpoint, raw json.RawMessage) (map[string]any, error) {
	var in map[string]json.RawMessage
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, fmt.Errorf("answers: %w", err)
		}
	}
	v := NewValidator(tp)
	out := make(map[string]any, len(in))
	for id, a := range in {
		q, ok := v.byID[id]
		if !ok || isNull(a) {
			continue
		}
		val, msg := convertAnswer(q, a)
		if msg != "" {
			return nil, fmt.Errorf("answers.%s: %s", id, msg)
		}
		out[id] = val
	}
	return out, nil
}
