package collector

import (
	"context"
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// QuestionSpecs returns what the store aggregates for tp's questions: one
// spec per scored question (NPS, CSAT, CES, Rating, YesNo, Choice; Text is
// not aggregated) and the pairs (KPI question, driver question) that
// key-driver analysis needs.
func QuestionSpecs(tp *cxv1alpha1.SurveyTouchpoint) ([]store.QuestionSpec, [][2]string) {
	var specs []store.QuestionSpec
	var kpis, drivers []string
	for i := range tp.Spec.Questions {
		q := &tp.Spec.Questions[i]
		switch q.Type {
		case cxv1alpha1.QuestionNPS:
			specs = append(specs, store.QuestionSpec{ID: q.ID, Kind: store.KindNPS, ScaleMin: 0, ScaleMax: 10})
		case cxv1alpha1.QuestionCSAT, cxv1alpha1.QuestionCES, cxv1alpha1.QuestionRating:
			lo, hi := scaleOf(q)
			specs = append(specs, store.QuestionSpec{ID: q.ID, Kind: store.KindNumeric, ScaleMin: int(lo), ScaleMax: int(hi)})
		case cxv1alpha1.QuestionYesNo:
			specs = append(specs, store.QuestionSpec{ID: q.ID, Kind: store.KindYesNo})
		case cxv1alpha1.QuestionChoice:
			specs = append(specs, store.QuestionSpec{ID: q.ID, Kind: store.KindChoice})
		default:
			continue
		}
		if validate.QuestionKPI(*q) != "" {
			kpis = append(kpis, q.ID)
		}
		if q.Driver {
			drivers = append(drivers, q.ID)
		}
	}
	// Key-driver analysis needs each driver against each KPI (r) and
	// against every other driver (R), each unordered pair once.
	var pairs [][2]string
	seen := map[[2]string]bool{}
	addPair := func(a, b string) {
		if a == b {
			return
		}
		if b < a {
			a, b = b, a
		}
		if !seen[[2]string{a, b}] {
			seen[[2]string{a, b}] = true
			pairs = append(pairs, [2]string{a, b})
		}
	}
	for _, d := range drivers {
		for _, k := range kpis {
			addPair(k, d)
		}
		for _, o := range drivers {
			addPair(d, o)
		}
	}
	return specs, pairs
}

// StoreSource reads aggregates straight from a store: the same answer as
// the collector's GET /v1/metrics, without HTTP (tests, benchmarks, the
// in-process demo).
type StoreSource struct {
	Store store.Store
	// Namespace of the touchpoints' predictions (Predictions).
	Namespace string
}

// Metrics returns the mergeable aggregates of tp's responses submitted in
// [from, to), grouped by groupBy ("" for one group).
func (s StoreSource) Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error) {
	res, err := s.Store.Aggregate(ctx, metricsQuery(tp, from, to, groupBy))
	if err != nil {
		return nil, fmt.Errorf("aggregate responses of touchpoint %s: %w", tp.Name, err)
	}
	return res, nil
}

// metricsQuery is the store query behind GET /v1/metrics for tp.
func metricsQuery(tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) store.AggregateQuery {
	specs, pairs := QuestionSpecs(tp)
	return store.AggregateQuery{Touchpoints: []string{tp.Name}, From: from, To: to, GroupBy: groupBy, Questions: specs, Pairs: pairs}
}
