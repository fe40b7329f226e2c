package alerting

import (
	"context"
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
)

// Source returns the mergeable aggregates of a touchpoint's responses
// submitted in [from, to), per group of groupBy ("" for one group): the
// collectors' GET /v1/metrics (collectorclient.HTTPSource) or a store
// read directly (collector.StoreSource).
type Source interface {
	Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error)
}

// Fetch reads what one evaluation of agg at now needs from src:
// [now-window, now) and the window before, from every selected
// touchpoint. A touchpoint that cannot be read is recorded in
// Unreachable (and the evaluation is then skipped).
func Fetch(ctx context.Context, src Source, selected []cxv1alpha1.SurveyTouchpoint, agg *cxv1alpha1.AggregateCondition, now time.Time) Input {
	w := agg.Window.Duration
	in := Input{
		Current:  Window{Touchpoints: selected, Results: make([]*store.AggregateResult, len(selected))},
		Previous: Window{Touchpoints: selected, Results: make([]*store.AggregateResult, len(selected))},
		Now:      now,
	}
	for i := range selected {
		tp := &selected[i]
		res, err := src.Metrics(ctx, tp, now.Add(-w), now, agg.GroupBy)
		if err == nil {
			in.Current.Results[i] = res
			res, err = src.Metrics(ctx, tp, now.Add(-2*w), now.Add(-w), agg.GroupBy)
			in.Previous.Results[i] = res
		}
		if err != nil {
			in.Unreachable = append(in.Unreachable, fmt.Sprintf("touchpoint %s: %v", tp.Name, err))
		}
	}
	return in
}
