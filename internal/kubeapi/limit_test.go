package kubeapi

import (
	"testing"

	"k8s.io/client-go/rest"
)

func TestLimitRefusesAZeroRateAndAnEmptyBurst(t *testing.T) {
	for _, tc := range []struct {
		qps   float64
		burst int
		want  string
	}{
		{0, 100, "--kube-api-qps 0: give a positive rate, or a negative one for no client-side limit"},
		{50, 0, "--kube-api-burst 0: give at least 1 with a positive --kube-api-qps"},
	} {
		err := Limit(&rest.Config{}, tc.qps, tc.burst)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Limit(%v, %d) = %v, want %q", tc.qps, tc.burst, err, tc.want)
		}
	}
}

func TestLimitIsOneBucketOrNone(t *testing.T) {
	cfg := &rest.Config{QPS: 5, Burst: 10}
	if err := Limit(cfg, -1, 100); err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimiter != nil || cfg.QPS >= 0 {
		t.Errorf("a negative rate left a client-side limit: QPS %v, limiter %v", cfg.QPS, cfg.RateLimiter)
	}
	if err := Limit(cfg, 50, 100); err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != 50 {
		t.Fatalf("no shared limiter of 50/s: %v", cfg.RateLimiter)
	}
	if c := rest.CopyConfig(cfg); c.RateLimiter != cfg.RateLimiter {
		t.Error("a copy of the configuration has its own limiter")
	}
}
