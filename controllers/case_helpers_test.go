package controllers

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
)

// The Case lifecycle's injected parts, shared by the suite's manager and by
// the tests that drive a reconciler directly.
var (
	caseClock      = &testClock{}
	caseDeliveries = &recordingDeliverer{}
	caseArchive    = &storeArchiver{}
)

const caseBaseURL = "https://cx.example.com/ui"

// testClock is the real clock until a test sets it; then it stands still
// where the test puts it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now implements Options.Now.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

// Set stops the clock at t until the test ends.
func (c *testClock) Set(tb testing.TB, t time.Time) {
	c.mu.Lock()
	first := c.now.IsZero()
	c.now = t
	c.mu.Unlock()
	if first {
		tb.Cleanup(func() {
			c.mu.Lock()
			c.now = time.Time{}
			c.mu.Unlock()
		})
	}
}

// delivery is one message a channel received.
type delivery struct {
	Namespace, Channel string
	Msg                notify.Message
}

// recordingDeliverer keeps the messages it is given and, as the Deliverer
// contract requires, delivers a Key at most once per channel.
type recordingDeliverer struct {
	mu        sync.Mutex
	delivered []delivery
	attempts  map[string]int              // Deliver calls by channel and Key
	fail      map[string]error            // by namespace/channel
	forward   map[string]notify.Deliverer // by namespace: a real notifier
}

// Deliver implements notify.Deliverer.
func (d *recordingDeliverer) Deliver(ctx context.Context, namespace, channel string, msg notify.Message) error {
	d.mu.Lock()
	if fwd := d.forward[namespace]; fwd != nil {
		d.mu.Unlock()
		return fwd.Deliver(ctx, namespace, channel, msg)
	}
	defer d.mu.Unlock()
	if d.attempts == nil {
		d.attempts = map[string]int{}
	}
	d.attempts[channel+" "+msg.Key]++
	if err := d.fail[namespace+"/"+channel]; err != nil {
		return err
	}
	for _, x := range d.delivered {
		if x.Namespace == namespace && x.Channel == channel && x.Msg.Key == msg.Key {
			return nil
		}
	}
	d.delivered = append(d.delivered, delivery{Namespace: namespace, Channel: channel, Msg: msg})
	return nil
}

// forwardTo makes deliveries in a namespace go through a real Deliverer
// until the test ends.
func (d *recordingDeliverer) forwardTo(t *testing.T, namespace string, to notify.Deliverer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.forward == nil {
		d.forward = map[string]notify.Deliverer{}
	}
	d.forward[namespace] = to
	t.Cleanup(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.forward, namespace)
	})
}

// failChannel makes deliveries to a channel fail until the test ends.
func (d *recordingDeliverer) failChannel(t *testing.T, namespace, channel string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail == nil {
		d.fail = map[string]error{}
	}
	d.fail[namespace+"/"+channel] = err
	t.Cleanup(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.fail, namespace+"/"+channel)
	})
}

// calls is how often Deliver was called for a channel and Key.
func (d *recordingDeliverer) calls(channel, key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts[channel+" "+key]
}

// in returns the messages delivered in a namespace.
func (d *recordingDeliverer) in(namespace string) []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []delivery
	for _, x := range d.delivered {
		if x.Namespace == namespace {
			out = append(out, x)
		}
	}
	return out
}

// storeArchiver archives into the real SQLite store a test opens with use.
type storeArchiver struct {
	mu sync.Mutex
	s  store.Store
}

// use opens a SQLite store for the test's archives.
func (a *storeArchiver) use(t *testing.T) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "archive.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	a.mu.Lock()
	a.s = s
	a.mu.Unlock()
	t.Cleanup(func() {
		a.mu.Lock()
		a.s = nil
		a.mu.Unlock()
		_ = s.Close()
	})
	return s
}

// ArchiveCase implements CaseArchiver.
func (a *storeArchiver) ArchiveCase(ctx context.Context, c *cxv1alpha1.Case) error {
	a.mu.Lock()
	s := a.s
	a.mu.Unlock()
	if s == nil {
		return errors.New("no archive store in this test")
	}
	doc, err := ArchiveDocument(c)
	if err != nil {
		return err
	}
	var closed time.Time
	if c.Status.ClosedAt != nil {
		closed = c.Status.ClosedAt.Time
	}
	return s.ArchiveCase(ctx, c.Namespace, c.Name, closed, doc)
}

// caseReconciler is a reconciler like the manager's, to drive directly
// where waiting for a requeue would be slow. It reads and writes through
// the test client, straight to the API server.
func caseReconciler() *CaseReconciler {
	return &CaseReconciler{
		Client: env.Client, APIReader: env.Client, Recorder: testEventRecorder(), Now: caseClock.Now,
		Deliverer: caseDeliveries, Archiver: caseArchive, NotificationBaseURL: caseBaseURL,
	}
}

var (
	testRecorderOnce sync.Once
	testRecorder     recorder.EventRecorder
)

// testEventRecorder writes events to the API server (events.k8s.io), as
// the manager's recorder does.
func testEventRecorder() recorder.EventRecorder {
	testRecorderOnce.Do(func() {
		cs := kubernetes.NewForConfigOrDie(env.Config)
		b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
		if err := b.StartRecordingToSinkWithContext(context.Background()); err != nil {
			panic(err)
		}
		rec, ok := b.NewRecorder(env.Scheme, "cxloop-case-test").(recorder.EventRecorder)
		if !ok {
			panic("events recorder does not implement recorder.EventRecorder")
		}
		testRecorder = rec
	})
	return testRecorder
}

// reconcileCase runs one reconciliation of a Case and returns its result.
func reconcileCase(t *testing.T, c *cxv1alpha1.Case) ctrl.Result {
	t.Helper()
	res, err := caseReconciler().Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)})
	if err != nil {
		t.Fatalf("reconcile %s: %v", c.Name, err)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatalf("get %s: %v", c.Name, err)
	}
	return res
}

// poke changes an annotation, which makes the manager reconcile the Case.
func poke(t *testing.T, c *cxv1alpha1.Case) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"test.cxloop.io/poke":"%d"}}}`, time.Now().UnixNano())
	if err := env.Client.Patch(context.Background(), c, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("poke %s: %v", c.Name, err)
	}
}

// waitCase polls the Case until cond holds.
func waitCase(t *testing.T, c *cxv1alpha1.Case, what string, cond func(*cxv1alpha1.Case) bool) {
	t.Helper()
	eventually(t, c.Name+": "+what, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
			return err
		}
		if !cond(c) {
			return fmt.Errorf("not yet; status %+v", c.Status)
		}
		return nil
	})
}

// waitOpened waits for the manager to open a new Case.
func waitOpened(t *testing.T, c *cxv1alpha1.Case) {
	t.Helper()
	waitCase(t, c, "opened", func(c *cxv1alpha1.Case) bool {
		return c.Status.DueAt != nil && c.Status.ObservedGeneration == c.Generation
	})
}

// createOpened creates a Case and waits for the manager to open it.
func createOpened(t *testing.T, c *cxv1alpha1.Case) {
	t.Helper()
	create(t, c)
	waitOpened(t, c)
}

// newCase is a Case of a template for a customer.
func newCase(ns, name, tmpl string, customer *cxv1alpha1.Customer) *cxv1alpha1.Case {
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cxv1alpha1.CaseSpec{Template: tmpl, Customer: customer},
	}
}

func dur(d time.Duration) *cxv1alpha1.Duration { return &cxv1alpha1.Duration{Duration: d} }

func reconcileRequest(c *cxv1alpha1.Case) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)}
}
