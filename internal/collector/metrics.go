package collector

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cxloop/cxloop/internal/store"
)

// Results of a response, the label of cxloop_collector_responses_total.
const (
	resultAccepted     = "accepted"
	resultDuplicate    = "duplicate"
	resultConflict     = "conflict"
	resultInvalid      = "invalid"
	resultUnauthorized = "unauthorized"
	resultRateLimited  = "rate_limited"
	resultError        = "error"
)

func resultForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return resultInvalid
	case http.StatusUnauthorized:
		return resultUnauthorized
	case http.StatusConflict:
		return resultConflict
	default:
		return resultError
	}
}

type serverMetrics struct {
	responses *prometheus.CounterVec
	latency   prometheus.Histogram
	batches   prometheus.Histogram
	// unauthorized counts private-surface requests without a valid
	// credential.
	unauthorized prometheus.Counter
	// Bytes in flight: reserved now, the bound, and requests refused
	// because they did not fit.
	inflightBytes prometheus.Gauge
	inflightLimit prometheus.Gauge
	overloaded    prometheus.Counter
}

// newRegistry is a registry with the Go runtime and process collectors
// (memory, goroutines, file descriptors), as the collector's /metrics
// serves it.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxloop_collector_responses_total",
			Help: "Responses received, by result (accepted, duplicate, conflict, invalid, unauthorized, rate_limited, error).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxloop_collector_ingest_duration_seconds",
			Help:    "Time from receiving a response (or batch) to answering it, durable store commit included.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxloop_collector_store_commit_batch_size",
			Help:    "Responses written per group-commit transaction of the store.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		unauthorized: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxloop_collector_unauthorized_requests_total",
			Help: "Requests to the private surface refused for a missing or wrong credential.",
		}),
		inflightBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxloop_collector_inflight_bytes",
			Help: "Request bytes reserved by the requests in flight (twice their body size).",
		}),
		inflightLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxloop_collector_inflight_bytes_limit",
			Help: "The bound on request bytes in flight (0: none).",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cxloop_collector_overloaded_requests_total",
			Help: "Requests answered 503 because the bytes in flight would have gone over the bound.",
		}),
	}
	reg.MustRegister(m.responses, m.latency, m.batches, m.unauthorized, m.inflightBytes, m.inflightLimit, m.overloaded)
	return m
}

// ObserveCommit records a store group commit; pass it as store.Config.OnCommit.
func (s *Server) ObserveCommit(c store.CommitStats) {
	if c.Err == nil {
		s.metrics.batches.Observe(float64(c.Responses))
	}
}
