// Package kubeapi holds what the binaries share about their API server
// clients.
package kubeapi

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Limit sets cfg's client-side rate limit from a binary's --kube-api-qps
// and --kube-api-burst. A positive qps is one token bucket shared by every
// client made from cfg (rest.CopyConfig keeps it): left to client-go,
// each REST client (one per resource in controller-runtime's client, its
// cache, discovery, the collector's own Case client) gets its own
// bucket, and a binary limited to 50/s could send several times that. A
// negative qps is no client-side limit: the API server's Priority and
// Fairness paces requests and client-go waits out its 429 Retry-After.
// Zero is refused, since client-go would read it as its default of 5/s
// per client.
func Limit(cfg *rest.Config, qps float64, burst int) error {
	switch {
	case qps < 0:
		cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
		return nil
	case qps == 0:
		return fmt.Errorf("--kube-api-qps 0: give a positive rate, or a negative one for no client-side limit")
	case burst < 1:
		return fmt.Errorf("--kube-api-burst %d: give at least 1 with a positive --kube-api-qps", burst)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	return nil
}
