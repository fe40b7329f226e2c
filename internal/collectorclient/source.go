package collectorclient

import (
	"context"
	"fmt"

	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/store"
)

// HTTPSource reads aggregates from each touchpoint's collector over its
// private GET /v1/metrics API (reports and aggregate AlertRules).
type HTTPSource struct {
	// Target resolves the collector of tp and the credential to call it
	// with (the manager reads the touchpoint's API Secret).
	Target func(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (Target, error)
	// Client defaults to a client with a 30 s timeout.
	Client *Client
}

// Metrics asks tp's collector for its aggregates.
func (s HTTPSource) Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error) {
	c, t, err := s.collector(ctx, tp)
	if err != nil {
		return nil, err
	}
	return c.Metrics(ctx, t, MetricsQuery{From: from, To: to, GroupBy: groupBy})
}

// collector is the client and target of tp's collector.
func (s HTTPSource) collector(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (*Client, Target, error) {
	if s.Target == nil {
		return nil, Target{}, fmt.Errorf("touchpoint %s: no way to reach its collector (HTTPSource.Target is nil)", tp.Name)
	}
	t, err := s.Target(ctx, tp)
	if err != nil {
		return nil, t, err
	}
	if t.Endpoint == "" {
		return nil, t, fmt.Errorf("touchpoint %s has no collector endpoint yet", tp.Name)
	}
	c := s.Client
	if c == nil {
		c = New(nil)
	}
	return c, t, nil
}

// Predictions asks tp's collector for its predicted scores of [from, to)
// beside the measured answers (GET /v1/predictions).
func (s HTTPSource) Predictions(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time) (*metrics.PredictionSummary, error) {
	c, t, err := s.collector(ctx, tp)
	if err != nil {
		return nil, err
	}
	return c.Predictions(ctx, t, from, to)
}
