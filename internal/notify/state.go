package notify

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// channelState is what a Notifier remembers about one channel: its rate
// limiter and the idempotency keys it delivered.
type channelState struct {
	mu sync.Mutex
	// limiter is a token bucket refilled at rateLimitPerMinute/60 per
	// second holding up to rateLimitPerMinute tokens, rebuilt when the
	// channel's limit changes.
	limiter *rate.Limiter
	perMin  int32
	// keys are the delivered idempotency keys, least recently used first
	// out.
	keys *keyLRU
	// inflight holds a channel per key being delivered; a Deliver of the
	// same key waits on it.
	inflight map[string]chan struct{}
}

func newChannelState(size int) *channelState {
	return &channelState{keys: newKeyLRU(size), inflight: map[string]chan struct{}{}}
}

// begin claims key for a delivery. It returns duplicate=true when the key
// was already delivered, and otherwise a done func that the caller must
// call with the outcome. A delivery of the same key in progress elsewhere is
// waited for. An empty key is never deduplicated.
func (s *channelState) begin(ctx context.Context, key string) (done func(delivered bool), duplicate bool, err error) {
	if key == "" {
		return func(bool) {}, false, nil
	}
	for {
		s.mu.Lock()
		if s.keys.contains(key) {
			s.mu.Unlock()
			return nil, true, nil
		}
		wait, busy := s.inflight[key]
		if !busy {
			ch := make(chan struct{})
			s.inflight[key] = ch
			s.mu.Unlock()
			return func(delivered bool) {
				s.mu.Lock()
				if delivered {
					s.keys.add(key)
				}
				delete(s.inflight, key)
				s.mu.Unlock()
				close(ch)
			}, false, nil
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// reserve takes a token for one message at now and returns how long to
// wait before sending, with a cancel func that returns the token.
func (s *channelState) reserve(now time.Time, perMinute int32) (time.Duration, func()) {
	if perMinute <= 0 {
		perMinute = 60 // the CRD default
	}
	s.mu.Lock()
	if s.limiter == nil || s.perMin != perMinute {
		s.limiter = rate.NewLimiter(rate.Limit(float64(perMinute)/60), int(perMinute))
		s.perMin = perMinute
	}
	r := s.limiter.ReserveN(now, 1)
	s.mu.Unlock()
	return r.DelayFrom(now), func() { r.CancelAt(now) }
}

// waitRateLimit waits for a slot of the channel's rate limit. When ctx ends
// before the slot (by its deadline, it would), the slot is given back and a
// transient error is returned.
func (n *Notifier) waitRateLimit(ctx context.Context, st *channelState, ch *cxv1alpha1.NotificationChannel) error {
	now := n.opts.Now()
	delay, cancel := st.reserve(now, ch.Spec.RateLimitPerMinute)
	if delay <= 0 {
		return nil
	}
	limitErr := fmt.Errorf("spec.rateLimitPerMinute: channel allows %d messages per minute and the next slot is in %s; retry later or raise the limit",
		ch.Spec.RateLimitPerMinute, delay.Round(time.Second))
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
		cancel()
		return limitErr
	}
	if err := n.opts.Sleep(ctx, delay); err != nil {
		cancel()
		return fmt.Errorf("%w (%w)", limitErr, err)
	}
	return nil
}

// keyLRU is a bounded set of strings that forgets the least recently used.
type keyLRU struct {
	size  int
	order *list.List
	index map[string]*list.Element
}

func newKeyLRU(size int) *keyLRU {
	if size <= 0 {
		size = math.MaxInt
	}
	return &keyLRU{size: size, order: list.New(), index: map[string]*list.Element{}}
}

func (l *keyLRU) contains(key string) bool {
	e, ok := l.index[key]
	if ok {
		l.order.MoveToFront(e)
	}
	return ok
}

func (l *keyLRU) add(key string) {
	if e, ok := l.index[key]; ok {
		l.order.MoveToFront(e)
		return
	}
	l.index[key] = l.order.PushFront(key)
	for l.order.Len() > l.size {
		last := l.order.Back()
		l.order.Remove(last)
		k, _ := last.Value.(string)
		delete(l.index, k)
	}
}
