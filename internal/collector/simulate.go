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
}

// EvaluateResponse runs the namespace's AlertRules that select tp on resp
// with the collector's own code (compile, index, evaluate, build the
// actions), without a store: `cxloop test` and `cxloop backtest` use it to
// show what the collector would do.
func EvaluateResponse(tp *cxv1alpha1.SurveyTouchpoint, all []cxv1alpha1.AlertRule, namespace string, resp *rules.Response, sentiment *float64, now time.Time) (Matched, error) {
	rs, err := compileRules(tp, all)
	if err != nil {
		return Matched{}, err
	}
	m, err := rs.evaluate(namespace, resp, sentiment, now)
	out := Matched{Rules: m.rules, Skipped: rs.skipped}
	for _, a := range m.actions {
		switch a.Kind {
		case store.ActionOpenCase:
			var p OpenCasePayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				return out, fmt.Errorf("decode open_case action: %w", err)
			}
			out.OpenCases = append(out.OpenCases, p)
		default:
			var p NotifyPayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				return out, fmt.Errorf("decode %s action: %w", a.Kind, err)
			}
			out.Notifications = append(out.Notifications, p)
		}
	}
	return out, err
}
