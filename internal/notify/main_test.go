package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/testenv"
)

// env is the real control plane the tests read channels and Secrets from.
var env *testenv.Env

func TestMain(m *testing.M) {
	testenv.Main(m, &env, "./internal/notify")
}

// fakeClock is the injected clock: Sleep advances it at once and records
// how long it was asked to wait.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// newTestNotifier returns a Notifier on the test API server with the fake
// clock and its own metrics registry.
func newTestNotifier(t testing.TB, mutate ...func(*Options)) (*Notifier, *fakeClock) {
	t.Helper()
	clk := newClock()
	opts := Options{Now: clk.Now, Sleep: clk.Sleep, Registerer: prometheus.NewRegistry(), BackoffBase: time.Second, BackoffMax: 10 * time.Second}
	for _, m := range mutate {
		m(&opts)
	}
	return New(env.Client, opts), clk
}

// request is what a receiver got.
type request struct {
	Header http.Header
	Body   []byte
}

// receiver is an HTTP endpoint on loopback that records requests and
// answers with the given statuses in turn (200 once they run out).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	statuses []int
	header   http.Header
}

func newReceiver(t testing.TB, statuses ...int) *receiver {
	t.Helper()
	r := &receiver{statuses: statuses, header: http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, request{Header: req.Header.Clone(), Body: body})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		if status >= 400 {
			_, _ = io.WriteString(w, "invalid_payload")
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) Requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

func create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

// webhookChannel is a Webhook channel to url signed with the key in Secret
// "<name>-signing"; loopback receivers need allowPrivate.
func webhookChannel(ns, name, url string, allowPrivate bool) *cxv1alpha1.NotificationChannel {
	return &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type:                     cxv1alpha1.ChannelTypeWebhook,
			AllowPrivateDestinations: allowPrivate,
			Webhook: &cxv1alpha1.WebhookChannel{
				URL:              url,
				SigningSecretRef: cxv1alpha1.SecretKeyReference{Name: name + "-signing", Key: "key"},
			},
		},
	}
}

// testSigningSecret is a Standard Webhooks secret (base64 after whsec_).
const testSigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// createWebhookChannel creates a webhook channel to url and its signing
// Secret, and returns the channel.
func createWebhookChannel(t testing.TB, ns, name, url string, mutate ...func(*cxv1alpha1.NotificationChannel)) *cxv1alpha1.NotificationChannel {
	t.Helper()
	ch := webhookChannel(ns, name, url, true)
	for _, m := range mutate {
		m(ch)
	}
	create(t, secret(ns, name+"-signing", map[string]string{"key": testSigningSecret}), ch)
	return ch
}

// channelStatus reads a channel's status from the API server.
func channelStatus(t *testing.T, ns, name string) cxv1alpha1.NotificationChannelStatus {
	t.Helper()
	ch := &cxv1alpha1.NotificationChannel{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ch); err != nil {
		t.Fatalf("get channel %s: %v", name, err)
	}
	return ch.Status
}

// sampleMessage is a case notification of the seed scenario.
func sampleMessage(key string) Message {
	return Message{
		Key:      key,
		Event:    "CaseOpened",
		Title:    "Installation failed for Acme Corp",
		Text:     "The customer could not complete the installation of 4.2.",
		Severity: "Urgent",
		Link:     "https://cx.example.com/cases/acme-4711",
		Fields:   []Field{{Name: "Customer", Value: "Acme Corp (Gold)"}, {Name: "Due", Value: "2026-03-15 09:26 UTC"}},
		Data:     map[string]any{"case": "acme-4711", "score": 3},
	}
}

// decodeJSON decodes a request body into a generic value.
func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return v
}

// counterValue reads cxloop_notifications_total{channel_type,result}.
func counterValue(t *testing.T, n *Notifier, channelType, result string) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := n.metrics.total.WithLabelValues(channelType, result).Write(m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

// histogramCount reads the number of observations of the latency histogram.
func histogramCount(t *testing.T, n *Notifier, channelType string) uint64 {
	t.Helper()
	m := &dto.Metric{}
	h, ok := n.metrics.latency.WithLabelValues(channelType).(prometheus.Metric)
	if !ok {
		t.Fatal("histogram is not a Metric")
	}
	if err := h.Write(m); err != nil {
		t.Fatalf("read histogram: %v", err)
	}
	return m.GetHistogram().GetSampleCount()
}
