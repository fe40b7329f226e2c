package notify

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of the cxloop_notifications_total counter.
const (
	resultDelivered   = "delivered"
	resultFailed      = "failed"
	resultDuplicate   = "duplicate"
	resultRateLimited = "rate_limited"
)

// deliveryMetrics are the notifier's Prometheus metrics.
type deliveryMetrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newDeliveryMetrics(reg prometheus.Registerer) *deliveryMetrics {
	m := &deliveryMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxloop_notifications_total",
			Help: "Notifications by channel type and result: delivered, failed (after retries), duplicate (idempotency key already delivered), rate_limited (no slot before the caller's deadline).",
		}, []string{"channel_type", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cxloop_notification_delivery_duration_seconds",
			Help:    "Time to deliver a notification, or give up, including retries and excluding rate-limit waits.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10),
		}, []string{"channel_type"}),
	}
	if reg != nil {
		m.total = register(reg, m.total)
		m.latency = register(reg, m.latency)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name (a second Notifier in the same process shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *deliveryMetrics) count(channelType, result string) {
	m.total.WithLabelValues(channelType, result).Inc()
}

func (m *deliveryMetrics) observe(channelType string, d time.Duration) {
	m.latency.WithLabelValues(channelType).Observe(d.Seconds())
}
