package report

import (
	"context"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// Source provides the responses' aggregates a report is computed from.
// collector.HTTPSource asks each touchpoint's collector; collector.StoreSource
// reads a store directly.
type Source interface {
	// Metrics returns the mergeable aggregates of one touchpoint's responses submitted in [from, to), grouped by groupBy ("" for none).
	Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*metrics.GroupedAggregate, error)
}
