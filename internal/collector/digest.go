package collector

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
)

// flushDigests sends the digests whose interval ended, every poll
// interval, until ctx is done.
func (d *Dispatcher) flushDigests(ctx context.Context) {
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	for {
		if _, err := d.FlushDigestsOnce(ctx); err != nil && ctx.Err() == nil {
			d.opts.Log.Error(err, "send digests")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// FlushDigestsOnce claims the digests whose interval ended and sends each
// as one message; it returns how many it claimed. A window is claimed
// before its message is sent and marked done after: a crash in between
// sends it again with the same Key, which the channel delivers once.
func (d *Dispatcher) FlushDigestsOnce(ctx context.Context) (int, error) {
	ds, err := d.opts.Store.ClaimDigests(ctx, d.opts.Now(), d.opts.Batch, d.opts.Lease)
	if err != nil {
		return 0, fmt.Errorf("claim digests: %w", err)
	}
	var errs []error
	for _, dg := range ds {
		res := d.deliver(ctx, dg.Namespace, dg.Channel, digestMessage(dg))
		log := d.opts.Log.WithValues("rule", dg.Rule, "channel", dg.Channel, "windowStart", dg.WindowStart, "matches", dg.Count, "attempt", dg.Attempts)
		switch {
		case res.err == nil:
			d.metrics.actions.WithLabelValues("digest_message", "done").Inc()
			errs = append(errs, d.opts.Store.CompleteDigest(ctx, dg.ID))
		case res.permanent:
			d.metrics.actions.WithLabelValues("digest_message", "dropped").Inc()
			log.Error(res.err, "digest dropped: retrying cannot fix it")
			errs = append(errs, d.opts.Store.CompleteDigest(ctx, dg.ID))
		default:
			d.metrics.actions.WithLabelValues("digest_message", "retried").Inc()
			delay := d.backoff(dg.Attempts)
			log.Info("digest not sent; will retry", "error", res.err.Error(), "in", delay)
			errs = append(errs, d.opts.Store.RetryDigest(ctx, dg.ID, d.opts.Now().Add(delay), res.err.Error()))
		}
	}
	return len(ds), errors.Join(errs...)
}

// digestMessage is the one message of a digest window: the count, and the
// first store.DigestLines matches.
func digestMessage(dg store.Digest) notify.Message {
	from, to := dg.WindowStart.UTC(), dg.WindowEnd.UTC()
	span := from.Format("2006-01-02 15:04") + " to " + to.Format("15:04") + " UTC"
	if to.Sub(from) >= 24*time.Hour {
		span = from.Format("2006-01-02 15:04") + " to " + to.Format("2006-01-02 15:04") + " UTC"
	}
	noun := "matches"
	if dg.Count == 1 {
		noun = "match"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "AlertRule %s/%s matched %d %s from %s:\n", dg.Namespace, dg.Rule, dg.Count, noun, span)
	for _, l := range dg.Lines {
		b.WriteString("  " + l + "\n")
	}
	if more := dg.Count - len(dg.Lines); more > 0 {
		fmt.Fprintf(&b, "  and %d more\n", more)
	}
	return notify.Message{
		Key:   "digest/" + dg.Namespace + "/" + dg.Rule + "/" + dg.Channel + "/" + strconv.FormatInt(from.Unix(), 10),
		Event: "RuleDigest",
		Title: fmt.Sprintf("%s: %d %s", dg.Title, dg.Count, noun),
		Text:  b.String(),
		Fields: []notify.Field{{Name: "Rule", Value: dg.Rule}, {Name: "Matches", Value: strconv.Itoa(dg.Count)},
			{Name: "Window", Value: span}},
		Data: map[string]any{"rule": dg.Rule, "matches": dg.Count, "windowStart": from.Format(time.RFC3339), "windowEnd": to.Format(time.RFC3339)},
	}
}
