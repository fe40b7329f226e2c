package collector

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// defaultMetricsWindow is the window of GET /v1/metrics without from/window.
const defaultMetricsWindow = 7 * 24 * time.Hour

// handleMetrics answers GET /v1/metrics?window=|from=&to=&groupBy= with the
// mergeable aggregates (store.AggregateResult) of the touchpoint's
// responses: per KPI question promoter/passive/detractor counts, sums,
// counts and top-two-box counts, per group, theme counts and sentiment,
// and the paired sums of KPI and driver questions.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	q, errs := parseMetricsQuery(r, s.opts.Now())
	if errs != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid metrics query", Status: http.StatusBadRequest,
			Detail: "window is a duration such as 24h or 7d; from and to are RFC 3339 times", Errors: errs})
		return
	}
	if msg := validate.GroupByContact(q.GroupBy, validate.ExtraContactKeys(st.tp)); msg != "" {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid metrics query", Status: http.StatusBadRequest,
			Errors: FieldErrors{{Field: "groupBy", Message: msg}}})
		return
	}
	res, err := s.opts.Store.Aggregate(r.Context(), metricsQuery(st.tp, q.From, q.To, q.GroupBy))
	if errors.Is(err, store.ErrInvalid) {
		// The only argument a client controls that the store checks.
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid metrics query", Status: http.StatusBadRequest,
			Errors: FieldErrors{{Field: "groupBy", Message: err.Error()}}})
		return
	}
	if err != nil {
		s.opts.Log.Error(err, "aggregate", "touchpoint", st.tp.Name)
		writeStoreUnavailable(w, "the store could not compute the aggregates; retry later")
		return
	}
	res.Cap(s.opts.MaxGroups)
	writeJSON(w, http.StatusOK, res)
}

func parseMetricsQuery(r *http.Request, now time.Time) (MetricsQuery, FieldErrors) {
	v := r.URL.Query()
	var q MetricsQuery
	var errs FieldErrors
	parseTime := func(name string) time.Time {
		s := v.Get(name)
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errs = append(errs, FieldError{Field: name, Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", s)})
		}
		return t
	}
	q.From, q.To = parseTime("from"), parseTime("to")
	if w := v.Get("window"); w != "" {
		d, err := parseWindow(w)
		switch {
		case err != nil:
			errs = append(errs, FieldError{Field: "window", Message: err.Error()})
		case v.Get("from") != "":
			errs = append(errs, FieldError{Field: "window", Message: "give window or from, not both"})
		default:
			if q.To.IsZero() {
				q.To = now
			}
			q.From = q.To.Add(-d)
		}
	} else if q.From.IsZero() && v.Get("from") == "" {
		if q.To.IsZero() {
			q.To = now
		}
		q.From = q.To.Add(-defaultMetricsWindow)
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		errs = append(errs, FieldError{Field: "from", Message: "must be before to"})
	}
	q.GroupBy = v.Get("groupBy")
	return q, errs
}

// parseWindow parses a positive duration as the API types do ("24h", "7d",
// "2w"; see cxv1alpha1.ParseDuration).
func parseWindow(s string) (time.Duration, error) {
	d, err := cxv1alpha1.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 24h or 7d", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}
