package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Defaults of Options.
const (
	DefaultMaxAttempts     = 5
	DefaultBackoffBase     = 500 * time.Millisecond
	DefaultBackoffMax      = 30 * time.Second
	DefaultIdempotencyKeys = 4096
	defaultHTTPTimeout     = 30 * time.Second
)

// Options configure a Notifier. The zero value is usable.
type Options struct {
	// Now is the clock for timestamps (webhook-timestamp, Date, status)
	// and for the rate limit (default time.Now).
	Now func() time.Time
	// Sleep waits for d or until ctx is done, between retries and for the
	// rate limit (default: a real timer). Tests inject one that advances
	// their clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient posts Slack, Teams and webhook messages (default: 30s
	// timeout, no proxy, redirects not followed). When its Transport is an
	// *http.Transport (or nil) it is cloned and its DialContext replaced by
	// the destination guard; any other RoundTripper is used as given,
	// without the guard.
	HTTPClient *http.Client
	// Resolver resolves destination host names for the guard against
	// private destinations (default net.DefaultResolver).
	Resolver Resolver
	// RootCAs are the CAs trusted for SMTP and HTTPS servers (default: the
	// system pool).
	RootCAs *x509.CertPool
	// MaxAttempts is how many times one Deliver tries a transient failure
	// (default 5).
	MaxAttempts int
	// BackoffBase is the wait after the first failed attempt; it doubles
	// per attempt up to BackoffMax, with jitter (defaults 500ms and 30s). A
	// Retry-After longer than BackoffMax ends the retries: the error is
	// returned as transient for the caller to retry later.
	BackoffBase, BackoffMax time.Duration
	// IdempotencyKeys is how many delivered keys are remembered per channel
	// (default 4096).
	IdempotencyKeys int
	// Registerer receives the Prometheus metrics (default: none exported).
	Registerer prometheus.Registerer
	// Log receives one line per failed delivery; it never carries a secret
	// or a URL path.
	Log logr.Logger
}

// Notifier delivers Messages through NotificationChannels. It is safe for
// concurrent use; create one per process, as it keeps per-channel rate
// limits and idempotency keys in memory.
type Notifier struct {
	client  client.Client
	secrets client.Reader
	opts    Options
	metrics *deliveryMetrics

	// guarded refuses private destinations; open allows them (for
	// channels with allowPrivateDestinations). Separate clients keep
	// separate connection pools, so a connection dialed for one channel
	// is never reused for a channel that may not reach it.
	guarded, open *http.Client
	guardDial     *guardedDialer
	openDial      *guardedDialer

	mu       sync.Mutex
	channels map[string]*channelState
}

var _ Deliverer = (*Notifier)(nil)

// New returns a Notifier that reads NotificationChannels and their Secrets
// through c and records outcomes in the channels' status.
//
// In the manager, whose cache holds only Secrets' metadata, use
// NewWithSecretReader with the manager's API reader instead, so that
// reading a Secret does not start a cache of every Secret's data.
func New(c client.Client, opts Options) *Notifier {
	return NewWithSecretReader(c, c, opts)
}

// NewWithSecretReader is New with a separate reader for Secrets.
func NewWithSecretReader(c client.Client, secrets client.Reader, opts Options) *Notifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.IdempotencyKeys <= 0 {
		opts.IdempotencyKeys = DefaultIdempotencyKeys
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	n := &Notifier{
		client:    c,
		secrets:   secrets,
		opts:      opts,
		metrics:   newDeliveryMetrics(opts.Registerer),
		guardDial: newGuardedDialer(opts.Resolver, false),
		openDial:  newGuardedDialer(opts.Resolver, true),
		channels:  map[string]*channelState{},
	}
	n.guarded = httpClient(opts.HTTPClient, n.guardDial, opts.RootCAs)
	n.open = httpClient(opts.HTTPClient, n.openDial, opts.RootCAs)
	return n
}

// httpClient derives a client that dials through d from base.
func httpClient(base *http.Client, d *guardedDialer, roots *x509.CertPool) *http.Client {
	c := &http.Client{Timeout: defaultHTTPTimeout}
	if base != nil {
		c = &http.Client{Transport: base.Transport, Timeout: base.Timeout, Jar: base.Jar}
	}
	// A webhook has one URL; following a redirect would post the message
	// somewhere the channel does not name.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var t *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		dt, _ := http.DefaultTransport.(*http.Transport)
		t = dt.Clone()
	case *http.Transport:
		t = rt.Clone()
	default:
		return c
	}
	t.Proxy = nil // a proxy would make the guard check the proxy, not the destination
	t.DialContext = d.DialContext
	t.DialTLSContext = nil
	if roots != nil {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			t.TLSClientConfig = t.TLSClientConfig.Clone()
		}
		t.TLSClientConfig.RootCAs = roots
	}
	c.Transport = t
	return c
}

// Deliver sends msg through the NotificationChannel namespace/channel,
// retrying transient failures, and records the outcome in the channel's
// status. A message whose Key was already delivered through this channel
// by this Notifier is not sent again (nil is returned). The rate limit
// (spec.rateLimitPerMinute, counted per Deliver, not per attempt) makes
// Deliver wait for a free slot; when ctx would end before one frees,
// Deliver returns a transient error at once, without sending and without
// recording it in the status. Errors for which IsPermanent is true cannot
// be fixed by a retry; the others may succeed later.
//
// Idempotency across processes: the Key also goes on the wire as the
// webhook-id header of webhooks and (hashed, with the channel) as the
// Message-ID of emails, so receivers can drop a message a restarted
// process sends again. Slack and Teams have no such field.
func (n *Notifier) Deliver(ctx context.Context, namespace, channel string, msg Message) error {
	if strings.ContainsFunc(msg.Key, unicode.IsControl) {
		return Permanent(fmt.Errorf("deliver %s message to %s/%s: Message.Key %q has control characters; use printable keys", msg.Event, namespace, channel, msg.Key))
	}
	ch := &cxv1alpha1.NotificationChannel{}
	if err := n.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: channel}, ch); err != nil {
		if client.IgnoreNotFound(err) == nil {
			err = Permanent(fmt.Errorf("NotificationChannel %q not found in namespace %s; create it or fix the channel name", channel, namespace))
		}
		return fmt.Errorf("deliver %s to %s/%s: %w", describe(msg), namespace, channel, err)
	}
	typ := string(ch.Spec.Type)
	if len(msg.To) > 0 && ch.Spec.Type != cxv1alpha1.ChannelTypeEmail {
		return Permanent(fmt.Errorf("deliver %s to %s/%s: the message is addressed to people, and a %s channel cannot address people; use an email NotificationChannel", describe(msg), namespace, channel, typ))
	}
	st := n.state(namespace, channel)

	done, duplicate, err := st.begin(ctx, msg.Key)
	if err != nil {
		return fmt.Errorf("deliver %s to %s/%s: %w", describe(msg), namespace, channel, err)
	}
	if duplicate {
		n.metrics.count(typ, resultDuplicate)
		return nil
	}
	delivered := false
	defer func() { done(delivered) }()
	if msg.Key == "" {
		// Receivers still get an id (webhook-id, Message-ID) that stays
		// the same across this Deliver's retries.
		msg.Key = randomKey()
	}

	s, err := n.newSender(ctx, ch)
	if err == nil {
		err = n.waitRateLimit(ctx, st, ch)
		if err != nil {
			n.metrics.count(typ, resultRateLimited)
			return fmt.Errorf("deliver %s to %s/%s: %w", describe(msg), namespace, channel, err)
		}
		start := time.Now()
		err = n.retry(ctx, func(ctx context.Context) error { return s.send(ctx, msg) })
		n.metrics.observe(typ, time.Since(start))
	}
	delivered = err == nil
	n.recordStatus(ctx, ch, err)
	if err != nil {
		n.metrics.count(typ, resultFailed)
		n.opts.Log.Info("notification not delivered", "namespace", namespace, "channel", channel,
			"event", msg.Event, "key", msg.Key, "permanent", IsPermanent(err), "error", err.Error())
		return fmt.Errorf("deliver %s to %s/%s: %w", describe(msg), namespace, channel, err)
	}
	n.metrics.count(typ, resultDelivered)
	return nil
}

// describe names a message in errors without its content.
func describe(msg Message) string {
	if msg.Key == "" {
		return fmt.Sprintf("%s message", msg.Event)
	}
	return fmt.Sprintf("%s message %q", msg.Event, msg.Key)
}

// state returns the rate limiter and idempotency memory of a channel.
func (n *Notifier) state(namespace, channel string) *channelState {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := namespace + "/" + channel
	st, ok := n.channels[key]
	if !ok {
		st = newChannelState(n.opts.IdempotencyKeys)
		n.channels[key] = st
	}
	return st
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// randomKey is the wire id of a message sent without a Key.
func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "msg_" + hex.EncodeToString(b)
}
