package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
)

// DefaultDispatchWorkers is how many Cases and messages a dispatcher
// sends at once by default. A Case create is bound by the API server's
// latency (its etcd write), not by its CPU: on a two-core test control
// plane 4 concurrent creates made about 0.75 of the Cases per second 8
// made, and 16 made no more than 8.
const DefaultDispatchWorkers = 8

// DefaultDispatchBatch is how many actions a dispatcher claims at once by
// default: four per worker, so that a claim (a store write, and for
// throttled rules their reservations, another) is amortized over several
// Cases and hidden behind the Cases of the batch before it.
const DefaultDispatchBatch = 4 * DefaultDispatchWorkers

// maxRelatedResponses mirrors the Case CRD's limit on
// spec.relatedResponses.
const maxRelatedResponses = 100

// DispatcherOptions configure a Dispatcher.
type DispatcherOptions struct {
	// Store holds the outbox.
	Store store.Store
	// Client creates, reads and patches Cases. It should read from the API
	// server, not a cache: dedup merges into Cases created moments ago.
	// Throttle and dedup decisions read the Store's case ledger, never a
	// list of Cases.
	Client client.Client
	// Templates reads CaseTemplates (the collector's informer cache): a new
	// Case gets its template's defaults (severity, closure goal, category,
	// assignee; see cases.ApplyDefaults) when it is created, so the Case
	// controller writes only its status. Nil leaves the defaults to the
	// controller.
	Templates client.Reader
	// Notifier delivers notify and recognition actions.
	Notifier notify.Deliverer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Workers drain the outbox concurrently (default
	// DefaultDispatchWorkers).
	Workers int
	// Batch is how many actions one claim takes (default
	// DefaultDispatchBatch).
	Batch int
	// Lease is how long a claim lasts before another worker may take the
	// action (default 2m): longer than any one action takes.
	Lease time.Duration
	// PollInterval is how often an idle worker looks for due actions
	// (default 1s); Wake cuts it short.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the exponential retry delay
	// (defaults 1s and 1m).
	MinBackoff, MaxBackoff time.Duration
	// Registerer receives the dispatcher's metrics (nil: none).
	Registerer prometheus.Registerer
	Log        logr.Logger
}

// Dispatcher drains a store's transactional outbox: it opens Cases with
// deterministic names (so a retry after a crash finds the Case it made and
// stops), merges duplicates, applies throttles and sends notifications,
// retrying failures with exponential backoff.
type Dispatcher struct {
	opts    DispatcherOptions
	routes  cases.Router
	wake    chan struct{}
	metrics *dispatchMetrics

	failMu sync.Mutex
	fail   OutboxFailure
}

// OutboxFailure is the dispatcher's last failed attempt and how many
// attempts in a row the API server or a receiver refused (403, 422, a
// permanent error): what the touchpoint's status shows when the outbox
// cannot drain.
type OutboxFailure struct {
	// Error of the last failed attempt (empty: none since the start).
	Error string
	// At is when it failed.
	At time.Time
	// Refusals counts refused attempts since the last success.
	Refusals int
}

// LastFailure returns the last failure and the refusals since the last
// success.
func (d *Dispatcher) LastFailure() OutboxFailure {
	d.failMu.Lock()
	defer d.failMu.Unlock()
	return d.fail
}

func (d *Dispatcher) recordOutcome(err error, refused bool) {
	d.failMu.Lock()
	defer d.failMu.Unlock()
	if err == nil {
		d.fail.Refusals = 0
		return
	}
	d.fail.Error, d.fail.At = err.Error(), d.opts.Now()
	if refused {
		d.fail.Refusals++
	}
}

type dispatchMetrics struct {
	actions     *prometheus.CounterVec
	depth       prometheus.Gauge
	oldestAge   prometheus.Gauge
	caseLatency prometheus.Histogram
}

// NewDispatcher returns a dispatcher; call Run to start it.
func NewDispatcher(opts DispatcherOptions) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultDispatchWorkers
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultDispatchBatch
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	m := &dispatchMetrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cxloop_collector_outbox_actions_total",
			Help: "Outbox actions handled, by kind and result (done, merged, throttled, retried, dropped).",
		}, []string{"kind", "result"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxloop_collector_outbox_depth", Help: "Outbox actions not yet dispatched.",
		}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cxloop_collector_outbox_oldest_age_seconds", Help: "Age of the oldest undispatched outbox action.",
		}),
		caseLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cxloop_collector_case_open_latency_seconds",
			Help:    "From the response being stored to its Case being created.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.actions, m.depth, m.oldestAge, m.caseLatency)
	}
	return &Dispatcher{opts: opts, wake: make(chan struct{}, 1), metrics: m}
}

// Wake tells an idle worker that new actions were stored.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run drains the outbox until ctx is done. One goroutine claims batches
// (and reserves their throttle places), Workers goroutines handle their
// actions one at a time, and one goroutine marks the handled ones done,
// many per commit: every worker is busy while actions are due, however
// few there are, and the store's work is shared by the batch.
func (d *Dispatcher) Run(ctx context.Context) {
	type claimed struct {
		a store.Action
		b *batch
	}
	// Up to two batches wait in the channel while the next is claimed (a
	// store write, behind the ingest's commits, and for throttled rules
	// the reservations, another), so the workers do not idle between
	// batches.
	work := make(chan claimed, 2*d.opts.Batch)
	results := make(chan handled, d.opts.Workers*d.opts.Batch)
	var wg, workers sync.WaitGroup
	wg.Go(func() {
		defer close(work)
		d.claimLoop(ctx, func(actions []store.Action, b *batch) bool {
			for _, a := range actions {
				select {
				case work <- claimed{a, b}:
				case <-ctx.Done():
					// Claimed and not handled: the lease runs out and
					// another attempt takes them.
					return false
				}
			}
			return true
		})
	})
	for range d.opts.Workers {
		workers.Go(func() {
			for c := range work {
				results <- d.handleOne(ctx, c.a, c.b)
			}
		})
	}
	wg.Go(func() {
		workers.Wait()
		close(results)
	})
	wg.Go(func() { d.completeLoop(ctx, results) })
	wg.Go(func() { d.observeOutbox(ctx) })
	wg.Go(func() { d.flushDigests(ctx) })
	wg.Wait()
}

// claimLoop claims batches and hands them to give until ctx is done or
// give returns false; with nothing due it waits for Wake or PollInterval.
func (d *Dispatcher) claimLoop(ctx context.Context, give func([]store.Action, *batch) bool) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		actions, b, err := d.claim(ctx)
		if err != nil && ctx.Err() == nil {
			d.opts.Log.Error(err, "dispatch outbox")
		}
		if len(actions) > 0 {
			if !give(actions, b) {
				return
			}
			continue // there may be more
		}
		t.Reset(d.opts.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// completeLoop records handled actions in batches: up to Batch of them,
// or what arrived within completeLinger of the first, in one commit (one
// write of the SQLite writer per batch, not per Case, while the workers go
// on creating). It records what the workers handled after ctx is done too,
// so that a clean stop does not make done actions run again.
func (d *Dispatcher) completeLoop(ctx context.Context, results <-chan handled) {
	var hs []handled
	linger := time.NewTimer(0)
	defer linger.Stop()
	for first := range results {
		hs = append(hs[:0], first)
		linger.Reset(completeLinger)
	more:
		for len(hs) < d.opts.Batch {
			select {
			case h, ok := <-results:
				if !ok {
					break more
				}
				hs = append(hs, h)
			case <-linger.C:
				break more
			}
		}
		if ctx.Err() != nil {
			// An attempt cut short by the stop is not a failure: its
			// lease runs out and the next collector takes it again.
			hs = slices.DeleteFunc(hs, func(h handled) bool { return h.res.err != nil && errors.Is(h.res.err, context.Canceled) })
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		if err := d.complete(cctx, hs); err != nil && ctx.Err() == nil {
			d.opts.Log.Error(err, "dispatch outbox")
		}
		cancel()
	}
}

// observeOutbox refreshes the depth gauges every second.
func (d *Dispatcher) observeOutbox(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if depth, oldest, err := d.opts.Store.OutboxStats(ctx); err == nil {
			d.metrics.depth.Set(float64(depth))
			if oldest.IsZero() {
				d.metrics.oldestAge.Set(0)
			} else {
				d.metrics.oldestAge.Set(d.opts.Now().Sub(oldest).Seconds())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// completeLinger is how long handled actions wait for others to be marked
// done in the same commit.
const completeLinger = 50 * time.Millisecond

// DispatchOnce claims one batch of due actions and handles them one after
// the other; it returns how many actions it claimed. Run handles actions
// from several workers instead.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	actions, b, err := d.claim(ctx)
	if err != nil {
		return 0, err
	}
	hs := make([]handled, 0, len(actions))
	for _, a := range actions {
		hs = append(hs, d.handleOne(ctx, a, b))
	}
	return len(actions), d.complete(ctx, hs)
}

// claim claims one batch of due actions and prepares it.
func (d *Dispatcher) claim(ctx context.Context) ([]store.Action, *batch, error) {
	actions, err := d.opts.Store.ClaimActions(ctx, d.opts.Now(), d.opts.Batch, d.opts.Lease)
	if err != nil {
		return nil, nil, fmt.Errorf("claim outbox actions: %w", err)
	}
	return actions, d.prepare(ctx, actions), nil
}

// handled is one handled action and the case ledger changes its handling
// made.
type handled struct {
	a      store.Action
	res    result
	ledger store.LedgerChanges
}

func (d *Dispatcher) handleOne(ctx context.Context, a store.Action, b *batch) handled {
	h := handled{a: a}
	h.res = d.handle(ctx, a, b, &h.ledger)
	return h
}

// complete records handled actions: the done ones are marked done
// together, with the case ledger records of the Cases they opened, in one
// commit: a crash before it makes them run again, and every action is
// idempotent (a Case that exists is found by its name, and recorded
// then). Failed ones are retried or dropped one by one.
func (d *Dispatcher) complete(ctx context.Context, hs []handled) error {
	var errs []error
	var completed []int64
	var ledger store.LedgerChanges
	for _, h := range hs {
		ledger.Gone = append(ledger.Gone, h.ledger.Gone...)
		res := h.res
		d.recordOutcome(res.err, res.permanent || apierrors.IsForbidden(res.err) || apierrors.IsInvalid(res.err))
		if res.err == nil {
			d.metrics.actions.WithLabelValues(h.a.Kind, res.outcome).Inc()
			completed = append(completed, h.a.ID)
			ledger.Opened = append(ledger.Opened, h.ledger.Opened...)
			continue
		}
		if err := d.finish(ctx, h.a, res); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.opts.Store.CompleteActionsWith(ctx, completed, ledger); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// batch is the store work of one claimed batch that is done once for the
// whole batch: the open_case payloads decoded, the case ledger's records
// of their dedup keys read in one lookup, and the throttle places of
// Cases without dedup reserved in one transaction. After prepare it is
// only read, by every worker handling an action of the batch.
type batch struct {
	payloads map[int64]*OpenCasePayload
	// dedup is what the ledger held of an action's dedup key when the
	// batch was claimed, by id (none: look it up when handling it).
	dedup map[int64]store.DedupKeyCases
	// reserved answers the throttle reservation of an action, by id;
	// reserveErr is why the reservations failed.
	reserved   map[int64]bool
	reserveErr error
}

// dedupKeyHash is the dedup-key label of a payload's Cases, and the key
// the ledger records them under.
func dedupKeyHash(p *OpenCasePayload) string { return hashHex(p.Template+"\x00"+p.Dedup.Key, 16) }

// prepare decodes the batch's open_case payloads, looks up the ledger's
// records of their dedup keys and reserves the throttle places of those
// whose Case name is known before any request (the rule has a throttle
// and no dedup), the reservations in one store transaction.
func (d *Dispatcher) prepare(ctx context.Context, actions []store.Action) *batch {
	b := &batch{payloads: map[int64]*OpenCasePayload{}}
	var rs []store.CaseReservation
	var ids, dedupIDs []int64
	var lookups []store.DedupLookup
	now := d.opts.Now()
	for _, a := range actions {
		if a.Kind != store.ActionOpenCase {
			continue
		}
		p := &OpenCasePayload{}
		if err := json.Unmarshal(a.Payload, p); err != nil {
			continue // handle drops it with the error
		}
		b.payloads[a.ID] = p
		if p.Dedup != nil {
			lookups = append(lookups, store.DedupLookup{Namespace: p.Namespace, Template: p.Template, Key: dedupKeyHash(p),
				Since: now.Add(-p.Dedup.Window)})
			dedupIDs = append(dedupIDs, a.ID)
		}
		if p.Throttle > 0 && p.Dedup == nil {
			rs = append(rs, store.CaseReservation{Namespace: p.Namespace, Rule: p.Rule,
				Name: CaseName(p.Template, p.Rule, p.Touchpoint, p.ResponseID), Now: now, Limit: int(p.Throttle)})
			ids = append(ids, a.ID)
		}
	}
	if len(lookups) > 0 {
		// A failed lookup is taken again by each action.
		if found, err := d.opts.Store.DedupCasesOf(ctx, lookups); err == nil {
			b.dedup = make(map[int64]store.DedupKeyCases, len(dedupIDs))
			for i, id := range dedupIDs {
				b.dedup[id] = found[i]
			}
		}
	}
	if len(rs) == 0 {
		return b
	}
	granted, err := d.opts.Store.ReserveCases(ctx, rs)
	if err != nil {
		b.reserveErr = err
		return b
	}
	b.reserved = make(map[int64]bool, len(ids))
	for i, id := range ids {
		b.reserved[id] = granted[i]
	}
	return b
}

// finish records the outcome of one failed action in the store.
func (d *Dispatcher) finish(ctx context.Context, a store.Action, res result) error {
	log := d.opts.Log.WithValues("action", a.ID, "kind", a.Kind, "touchpoint", a.Touchpoint, "response", a.ResponseID, "attempt", a.Attempts)
	if res.permanent {
		d.metrics.actions.WithLabelValues(a.Kind, "dropped").Inc()
		log.Error(res.err, "outbox action dropped: retrying cannot fix it")
		return d.opts.Store.CompleteAction(ctx, a.ID)
	}
	d.metrics.actions.WithLabelValues(a.Kind, "retried").Inc()
	delay := d.backoff(a.Attempts)
	// An API server pushing back (Priority and Fairness: 429 with
	// Retry-After, past the retries client-go makes itself) is waited out,
	// not counted against the action.
	if secs, ok := apierrors.SuggestsClientDelay(res.err); ok && time.Duration(secs)*time.Second > delay {
		delay = time.Duration(secs) * time.Second
	}
	log.Info("outbox action failed; will retry", "error", res.err.Error(), "in", delay)
	return d.opts.Store.RetryAction(ctx, a.ID, d.opts.Now().Add(delay), res.err.Error())
}

// backoff is MinBackoff·2^(attempts-1), capped at MaxBackoff, with up to
// 20% jitter so that retries after an outage spread out.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	delay := d.opts.MaxBackoff
	if attempts < 30 {
		if b := d.opts.MinBackoff << max(attempts-1, 0); b < delay {
			delay = b
		}
	}
	return delay + time.Duration(rand.Int64N(int64(delay)/5+1))
}

// result is the outcome of handling one action.
type result struct {
	outcome   string // done, merged, throttled
	err       error
	permanent bool
}

func done(outcome string) result { return result{outcome: outcome} }
func retry(err error) result     { return result{err: err} }
func drop(err error) result      { return result{err: err, permanent: true} }

func (d *Dispatcher) handle(ctx context.Context, a store.Action, b *batch, led *store.LedgerChanges) result {
	switch a.Kind {
	case store.ActionOpenCase:
		p, ok := b.payloads[a.ID]
		if !ok {
			p = &OpenCasePayload{}
			if err := json.Unmarshal(a.Payload, p); err != nil {
				return drop(fmt.Errorf("decode open_case payload: %w", err))
			}
		}
		return d.openCase(ctx, a, p, b, led)
	case store.ActionDigest:
		var p DigestPayload
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			return drop(fmt.Errorf("decode digest payload: %w", err))
		}
		m := store.DigestMatch{Rule: p.Rule, Channel: p.Channel, Title: p.Title, Every: p.Every,
			Key: a.Touchpoint + "/" + a.DedupKey, Line: p.Line, MatchedAt: p.MatchedAt}
		if err := d.opts.Store.AddDigestMatch(ctx, m, d.opts.Now()); err != nil {
			if errors.Is(err, store.ErrInvalid) {
				return drop(err)
			}
			return retry(err)
		}
		return done("buffered")
	case store.ActionNotify, store.ActionRecognition:
		var p NotifyPayload
		if err := json.Unmarshal(a.Payload, &p); err != nil {
			return drop(fmt.Errorf("decode notify payload: %w", err))
		}
		return d.deliver(ctx, p.Namespace, p.Channel, p.Message)
	default:
		return drop(fmt.Errorf("unknown outbox action kind %q", a.Kind))
	}
}

func (d *Dispatcher) deliver(ctx context.Context, namespace, channel string, msg notify.Message) result {
	if d.opts.Notifier == nil {
		return retry(errors.New("this collector has no notifier"))
	}
	err := d.opts.Notifier.Deliver(ctx, namespace, channel, msg)
	switch {
	case err == nil:
		return done("done")
	case notify.IsPermanent(err):
		return drop(fmt.Errorf("deliver to channel %s: %w", channel, err))
	default:
		return retry(fmt.Errorf("deliver to channel %s: %w", channel, err))
	}
}

// openCase creates the Case of a matched response, or merges the response
// into an open Case with the same dedup key, or counts it against the
// rule's throttle. Both decisions read the store's case ledger (a few
// indexed rows), not the rule's Cases in the API server, so they cost the
// same with ten Cases or ten thousand.
func (d *Dispatcher) openCase(ctx context.Context, a store.Action, p *OpenCasePayload, b *batch, led *store.LedgerChanges) result {
	now := d.opts.Now()
	labels := map[string]string{
		cxv1alpha1.LabelRule: p.Rule, cxv1alpha1.LabelTemplate: p.Template, cxv1alpha1.LabelTouchpoint: p.Touchpoint,
	}
	if p.Dedup != nil {
		return d.openDedupCase(ctx, a, p, labels, now, b, led)
	}
	res, _ := d.createCase(ctx, a, p, CaseName(p.Template, p.Rule, p.Touchpoint, p.ResponseID), labels, now, b)
	return res
}

// maxDedupSteps bounds how many taken names one attempt of a dedup action
// walks past (Cases opened before the ledger knew them); the next attempt
// goes on from there.
const maxDedupSteps = 8

// openDedupCase merges the response into the oldest open Case of its
// dedup key opened within the window, or opens the key's next Case. The
// n-th Case of a key has a name of its own, <template>-<key>-<n>: two
// dispatchers racing to open it collide on the name, and the loser
// merges.
//
// The lookup reads the ledger, once for the whole claimed batch (prepare)
// and again only after a name turned out taken; the first Case of a key
// costs one create request, and its record is written with the batch's
// actions marked done. What the batch read may miss a Case another worker
// opened since: its name is taken then, and the action merges into it.
func (d *Dispatcher) openDedupCase(ctx context.Context, a store.Action, p *OpenCasePayload, labels map[string]string, now time.Time, b *batch, led *store.LedgerChanges) result {
	keyHash := dedupKeyHash(p)
	labels[cxv1alpha1.LabelDedupKey] = keyHash
	since := now.Add(-p.Dedup.Window)
	for step := range maxDedupSteps {
		pre, ok := b.dedup[a.ID]
		recorded, next := inWindow(pre.Cases, since), pre.Next
		if !ok || step > 0 {
			var err error
			if recorded, next, err = d.opts.Store.DedupCases(ctx, p.Namespace, p.Template, keyHash, since); err != nil {
				return retry(err)
			}
		}
		for _, rc := range recorded {
			c := &cxv1alpha1.Case{}
			err := d.opts.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: rc.Name}, c)
			if apierrors.IsNotFound(err) || (err == nil && c.DeletionTimestamp != nil) {
				// Deleted: its record can go.
				led.Gone = append(led.Gone, store.DedupRef{Namespace: p.Namespace, Template: p.Template, Key: keyHash, Seq: rc.Seq})
				continue
			}
			if err != nil {
				return retry(fmt.Errorf("read case %s: %w", rc.Name, err))
			}
			if caseOpen(c) {
				return d.merge(ctx, c, p)
			}
		}
		name := fmt.Sprintf("%s-%s-%d", truncate(p.Template, 200), keyHash, next)
		res, existing := d.createCase(ctx, a, p, name, labels, now, b)
		if existing == nil {
			if res.err == nil && res.outcome == outcomeDone {
				// Recorded with the batch: a crash before that makes the
				// action run again, find the Case by its name and record it.
				led.Opened = append(led.Opened, store.DedupRecord{Namespace: p.Namespace, Template: p.Template, Key: keyHash,
					Case: store.DedupCase{Seq: next, Name: name, OpenedAt: now, ExpiresAt: now.Add(p.Dedup.Window)}})
			}
			return res
		}
		// The name is taken: by this action before a crash, by another
		// collector a moment ago, or before the ledger existed. Record it
		// and merge into it, or walk on to the next number.
		opened := existing.CreationTimestamp.Time
		if err := d.opts.Store.RecordDedupCase(ctx, p.Namespace, p.Template, keyHash,
			store.DedupCase{Seq: next, Name: name, OpenedAt: opened, ExpiresAt: opened.Add(p.Dedup.Window)}); err != nil {
			return retry(err)
		}
		if (caseOpen(existing) && !existing.CreationTimestamp.Time.Before(since)) || ownCase(existing, p) {
			return d.merge(ctx, existing, p)
		}
	}
	return retry(fmt.Errorf("dedup key %s: %d Cases of the key exist that the case ledger did not know; going on at the next attempt", keyHash, maxDedupSteps))
}

// inWindow is the Cases opened at or after since (read for a window that
// began a moment earlier).
func inWindow(cs []store.DedupCase, since time.Time) []store.DedupCase {
	return slices.DeleteFunc(slices.Clone(cs), func(c store.DedupCase) bool { return c.OpenedAt.Before(since.Truncate(time.Microsecond)) })
}

// applyTemplate fills the new Case's defaults from its template, as every
// opener of a Case does. A template the cache does not hold (deleted, or
// not synced yet) leaves them to the Case controller.
func (d *Dispatcher) applyTemplate(ctx context.Context, c *cxv1alpha1.Case) (*cxv1alpha1.CaseTemplate, error) {
	if d.opts.Templates == nil {
		return nil, nil
	}
	tmpl := &cxv1alpha1.CaseTemplate{}
	err := d.opts.Templates.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl)
	switch {
	case err == nil:
		cases.ApplyDefaults(c, tmpl, &d.routes)
		return tmpl, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, fmt.Errorf("read case template %s: %w", c.Spec.Template, err)
	}
}

// caseOpen reports whether a Case still absorbs matches: not Resolved,
// Closed or being deleted.
func caseOpen(c *cxv1alpha1.Case) bool {
	return c.Spec.State != cxv1alpha1.CaseClosed && c.Spec.State != cxv1alpha1.CaseResolved && c.DeletionTimestamp == nil
}

// ownCase reports whether c was opened by the response of p.
func ownCase(c *cxv1alpha1.Case, p *OpenCasePayload) bool {
	return c.Spec.Source != nil && c.Spec.Source.ResponseID == p.ResponseID && c.Spec.Source.Touchpoint == p.Touchpoint
}

const outcomeDone = "done"

// createCase applies the rule's throttle and creates the Case. When the
// name is taken it returns the Case that has it (and, for a Case without
// dedup, done: the name is the response's own).
func (d *Dispatcher) createCase(ctx context.Context, a store.Action, p *OpenCasePayload, name string, labels map[string]string, now time.Time, b *batch) (result, *cxv1alpha1.Case) {
	if p.Throttle > 0 {
		// The reservation is taken before the Case is created, one rule
		// at a time across every collector of the program, so no number
		// of workers opens more than the limit. Without dedup the batch
		// reserved it already (prepare).
		ok, pre := b.reserved[a.ID]
		if !pre && b.reserveErr != nil && p.Dedup == nil {
			return retry(b.reserveErr), nil
		}
		if !pre {
			var err error
			if ok, err = d.opts.Store.ReserveCase(ctx, p.Namespace, p.Rule, name, now, int(p.Throttle)); err != nil {
				return retry(err), nil
			}
		}
		if !ok {
			return d.notifyThrottled(ctx, p, now), nil
		}
	}
	c, err := newCase(name, labels, p)
	if err != nil {
		d.release(ctx, p, name)
		return drop(err), nil
	}
	tmpl, err := d.applyTemplate(ctx, c)
	if err != nil {
		d.release(ctx, p, name)
		return retry(err), nil
	}
	err = d.opts.Client.Create(ctx, c)
	switch {
	case err == nil:
		d.metrics.caseLatency.Observe(now.Sub(a.CreatedAt).Seconds())
		d.opts.Log.Info("case opened", "case", name, "rule", p.Rule, "response", p.ResponseID)
		if err := d.acknowledge(ctx, c, tmpl, p, now); err != nil {
			return retry(err), nil
		}
		return done(outcomeDone), nil
	case apierrors.IsAlreadyExists(err):
		if p.Dedup == nil {
			// Opened by this action before a crash: the acknowledgement
			// (its key is the Case's) may not be scheduled yet.
			if err := d.acknowledge(ctx, c, tmpl, p, now); err != nil {
				return retry(err), nil
			}
			return done(outcomeDone), nil
		}
		existing := &cxv1alpha1.Case{}
		if err := d.opts.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, existing); err != nil {
			return retry(fmt.Errorf("read case %s: %w", name, err)), nil
		}
		return result{}, existing
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		d.release(ctx, p, name)
		return drop(fmt.Errorf("create case %s: the API server rejected it: %w", name, err)), nil
	default:
		return retry(fmt.Errorf("create case %s: %w", name, err)), nil
	}
}

// release gives back the throttle place of a Case that will not exist.
func (d *Dispatcher) release(ctx context.Context, p *OpenCasePayload, name string) {
	if p.Throttle <= 0 {
		return
	}
	if err := d.opts.Store.ReleaseCase(ctx, p.Namespace, p.Rule, name); err != nil {
		d.opts.Log.Error(err, "release throttle place", "rule", p.Rule, "case", name)
	}
}

// merge appends the response to an open Case's related responses.
func (d *Dispatcher) merge(ctx context.Context, c *cxv1alpha1.Case, p *OpenCasePayload) result {
	if c.Spec.Source == nil {
		return drop(fmt.Errorf("case %s has no source to merge response %s into", c.Name, p.ResponseID))
	}
	if ownCase(c, p) {
		return done(outcomeDone) // this action opened it before a crash
	}
	ref := relatedRef(p.Touchpoint, p.ResponseID)
	if slices.Contains(c.Spec.RelatedResponses, ref) {
		return done("merged")
	}
	if len(c.Spec.RelatedResponses) >= maxRelatedResponses {
		d.opts.Log.Info("case holds the most related responses it can; response not listed", "case", c.Name, "response", p.ResponseID)
		return done("merged")
	}
	before := c.DeepCopy()
	c.Spec.RelatedResponses = append(c.Spec.RelatedResponses, ref)
	if err := d.opts.Client.Patch(ctx, c, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return retry(fmt.Errorf("add response %s to case %s: %w", p.ResponseID, c.Name, err))
	}
	d.opts.Log.Info("response merged into open case", "case", c.Name, "rule", p.Rule, "response", p.ResponseID)
	return done("merged")
}

// relatedRef names a response in relatedResponses: its id, prefixed with
// its touchpoint when a rule spans touchpoints.
func relatedRef(touchpoint, responseID string) string {
	return touchpoint + "/" + responseID
}

// notifyThrottled sends the one "throttled" message per rule and hour to
// the rule's channels; the response stays in the store, without a Case.
func (d *Dispatcher) notifyThrottled(ctx context.Context, p *OpenCasePayload, now time.Time) result {
	hour := now.UTC().Truncate(time.Hour)
	for _, ch := range p.Channels {
		msg := notify.Message{
			Key:   "throttled/" + p.Namespace + "/" + p.Rule + "/" + strconv.FormatInt(hour.Unix(), 10),
			Event: "RuleThrottled",
			Title: fmt.Sprintf("Rule %s is throttled: it opened %d cases in the last hour", p.Rule, p.Throttle),
			Text: fmt.Sprintf("AlertRule %s/%s reached spec.throttle.maxCasesPerHour (%d). Further matches this hour are stored but open no Case; "+
				"look at the rule's matches, or raise the limit if the volume is expected.", p.Namespace, p.Rule, p.Throttle),
			Fields: []notify.Field{{Name: "Rule", Value: p.Rule}, {Name: "Limit", Value: fmt.Sprintf("%d cases per hour", p.Throttle)}},
		}
		if r := d.deliver(ctx, p.Namespace, ch, msg); r.err != nil && !r.permanent {
			return r
		}
	}
	d.opts.Log.Info("case not opened: rule throttled", "rule", p.Rule, "response", p.ResponseID)
	return done("throttled")
}

// CaseName is the deterministic name of the Case a rule opens for a
// response: the template's name and a hash of rule, touchpoint and
// response id.
func CaseName(template, rule, touchpoint, responseID string) string {
	return truncate(template, 200) + "-" + hashHex(rule+"\x00"+touchpoint+"\x00"+responseID, 12)
}

func hashHex(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// newCase builds the Case object of a payload. Customer attributes that
// are contact details stay in the store, out of etcd.
func newCase(name string, labels map[string]string, p *OpenCasePayload) (*cxv1alpha1.Case, error) {
	answers := make(map[string]apiextensionsv1.JSON, len(p.Response.Answers))
	for id, v := range p.Response.Answers {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("answer %s: %w", id, err)
		}
		answers[id] = apiextensionsv1.JSON{Raw: raw}
	}
	customer := p.Customer
	customer.Attributes = withoutContactDetails(customer.Attributes, nil)
	submitted := metav1.NewTime(p.Response.SubmittedAt)
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: labels},
		Spec: cxv1alpha1.CaseSpec{
			Template: p.Template,
			Title:    p.Title,
			Customer: &customer,
			Source: &cxv1alpha1.CaseSource{
				Rule: p.Rule, RuleKind: p.RuleKind, Touchpoint: p.Touchpoint, ResponseID: p.ResponseID, Prediction: p.Prediction,
				Response: &cxv1alpha1.ResponseSnapshot{
					Answers: answers, Comment: p.Response.Comment, Sentiment: p.Response.Sentiment,
					Themes: p.Response.Themes, Metadata: p.Response.Metadata, SubmittedAt: &submitted,
				},
			},
		},
	}, nil
}
