package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfterError is a transient failure whose receiver said when to try
// again (HTTP Retry-After).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retry calls attempt until it succeeds, fails permanently, ctx ends or
// MaxAttempts is reached, waiting with exponential backoff and jitter (or
// the receiver's Retry-After) in between.
func (n *Notifier) retry(ctx context.Context, attempt func(context.Context) error) error {
	for i := 1; ; i++ {
		err := attempt(ctx)
		if err == nil || IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		if i >= n.opts.MaxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", i, err)
		}
		delay := n.backoff(i)
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > 0 {
			if ra.after > n.opts.BackoffMax {
				return fmt.Errorf("receiver asked to retry after %s, longer than this delivery waits: %w", ra.after, err)
			}
			delay = ra.after
		}
		if serr := n.opts.Sleep(ctx, delay); serr != nil {
			return fmt.Errorf("stopped retrying after %d attempts (%w): %w", i, serr, err)
		}
	}
}

// backoff is the wait after the given failed attempt (1-based): BackoffBase
// doubled per attempt, capped at BackoffMax, of which a random part up to
// half is taken off so that many senders do not retry in lockstep.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.opts.BackoffBase
	for i := 1; i < attempt && d < n.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, n.opts.BackoffMax)
	half := d / 2
	return d - half + rand.N(half+1)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date. It returns 0 when the header is absent or unreadable.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
