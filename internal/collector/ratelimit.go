package collector

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// clientLimiter is a token bucket per client address. Buckets idle for a
// while are dropped so the map does not grow without bound.
type clientLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	now     func() time.Time
	clients map[string]*clientBucket
	swept   time.Time
}

type clientBucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

const idleBucket = 10 * time.Minute

func newClientLimiter(perSecond float64, burst int, now func() time.Time) *clientLimiter {
	return &clientLimiter{rate: rate.Limit(perSecond), burst: burst, now: now, clients: map[string]*clientBucket{}}
}

// allow takes a token for key, or says how long until one is available.
func (l *clientLimiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleBucket {
		for k, b := range l.clients {
			if now.Sub(b.seen) > idleBucket {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	b, ok := l.clients[key]
	if !ok {
		b = &clientBucket{limiter: rate.NewLimiter(l.rate, l.burst)}
		l.clients[key] = b
	}
	b.seen = now
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
