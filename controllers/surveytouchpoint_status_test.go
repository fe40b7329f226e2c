package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
)

// testCollectors maps "namespace/touchpoint" to the URL of an in-process
// collector; touchpoints without one point at a closed port.
var testCollectors sync.Map

func testCollectorEndpoint(tp *cxv1alpha1.SurveyTouchpoint) string {
	if u, ok := testCollectors.Load(tp.Namespace + "/" + tp.Name); ok {
		if s, ok := u.(string); ok {
			return s
		}
	}
	return "http://127.0.0.1:1"
}

// testCollectorToken is the private-surface credential of the tests'
// collectors: serveCollector puts it in the touchpoint's collector API
// Secret before the controller would create one, as an operator may.
const testCollectorToken = "test-collector-token-0123456789abcdef"

// testCollectorTarget is the private surface of tp's test collector.
func testCollectorTarget(_ context.Context, tp *cxv1alpha1.SurveyTouchpoint) (collectorclient.Target, error) {
	return collectorclient.Target{Endpoint: testCollectorEndpoint(tp), Token: testCollectorToken}, nil
}

// serveCollector serves tp from a real collector on a real SQLite store,
// both surfaces on one test server; opts.Namespace and opts.Store are
// filled in, and opts.APIToken defaults to testCollectorToken, which is
// written to the collector API Secret when there is none yet.
func serveCollector(t *testing.T, tp *cxv1alpha1.SurveyTouchpoint, opts collector.Options) *httptest.Server {
	t.Helper()
	if opts.APIToken == nil {
		opts.APIToken = []byte(testCollectorToken)
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: tp.Namespace, Name: CollectorAPISecretName(tp)},
			Data:       map[string][]byte{CollectorAPITokenKey: opts.APIToken},
		}
		if err := env.Client.Create(context.Background(), secret); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	st, err := store.Open(context.Background(), store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), tp.Name+".db"), Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	opts.Namespace, opts.Store = tp.Namespace, st
	srv, err := collector.NewServer(tp, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// startCollector serves tp from a real collector that the suite's manager
// reads (testCollectorEndpoint).
func startCollector(t *testing.T, tp *cxv1alpha1.SurveyTouchpoint) string {
	t.Helper()
	ts := serveCollector(t, tp, collector.Options{})
	key := tp.Namespace + "/" + tp.Name
	testCollectors.Store(key, ts.URL)
	t.Cleanup(func() { testCollectors.Delete(key) })
	return ts.URL
}

func postResponse(t *testing.T, url, id string, submitted time.Time) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"customer":{"id":"C-%s"},"answers":{"completed":true,"ease":7},"submittedAt":%q}`, id, id, submitted.UTC().Format(time.RFC3339))
	resp, err := http.Post(url+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post response %s: %s", id, resp.Status)
	}
}

// Once its collector runs, a touchpoint's status shows the response counts
// the collector stored, and keeps them current.
func TestTouchpointStatusShowsCollectorCounts(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "relationship-nps", nil)
	url := startCollector(t, tp)
	now := time.Now()
	postResponse(t, url, "r1", now.Add(-time.Hour))
	postResponse(t, url, "r2", now.Add(-2*time.Hour))
	postResponse(t, url, "r3", now.Add(-30*time.Hour))
	create(t, tp)

	sts := &appsv1.StatefulSet{}
	eventually(t, "collector statefulset", func() error { return get(ns, "relationship-nps-collector", sts) })
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := env.Client.Status().Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
	eventually(t, "response counts in status", func() error {
		if err := get(ns, tp.Name, tp); err != nil {
			return err
		}
		r := tp.Status.Responses
		if r == nil || r.Total != 3 || r.Last24h != 3 || r.LastResponseTime == nil {
			return fmt.Errorf("status.responses = %+v, want total 3, last24h 3 (received now), a last response time", r)
		}
		return nil
	})
	if tp.Status.Outbox == nil || tp.Status.Outbox.Depth != 0 {
		t.Errorf("status.outbox = %+v, want depth 0", tp.Status.Outbox)
	}

	// New responses show up without any change to the touchpoint.
	postResponse(t, url, "r4", time.Now())
	eventually(t, "refreshed counts", func() error {
		if err := get(ns, tp.Name, tp); err != nil {
			return err
		}
		if r := tp.Status.Responses; r.Total != 4 || r.Last24h != 4 {
			return fmt.Errorf("status.responses = %+v, want total 4, last24h 4", r)
		}
		return nil
	})
}

// A collector whose outbox cannot drain (its dispatcher's attempts are
// refused again and again) makes the touchpoint not Ready, with reason
// OutboxBlocked, the last error in the message and in status.outbox, and a
// Warning event.
func TestTouchpointShowsABlockedOutbox(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "upgrade-install", nil)
	refused := `add response r-2 to case installation-support-1: cases.cx.cxloop.io "installation-support-1" is forbidden: ValidatingAdmissionPolicy 'cxloop-case-team-access' denied request`
	ts := serveCollector(t, tp, collector.Options{OutboxFailure: func() collector.OutboxFailure {
		return collector.OutboxFailure{Error: refused, At: time.Now(), Refusals: 9}
	}})
	key := tp.Namespace + "/" + tp.Name
	testCollectors.Store(key, ts.URL)
	t.Cleanup(func() { testCollectors.Delete(key) })
	create(t, tp)

	sts := &appsv1.StatefulSet{}
	eventually(t, "collector statefulset", func() error { return get(ns, "upgrade-install-collector", sts) })
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := env.Client.Status().Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Ready=False OutboxBlocked", func() error {
		if err := get(ns, tp.Name, tp); err != nil {
			return err
		}
		ready := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionReady)
		if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != cxv1alpha1.ReasonOutboxBlocked ||
			!strings.Contains(ready.Message, "9 attempts in a row were refused; last error: "+refused) {
			return fmt.Errorf("Ready = %+v", ready)
		}
		return nil
	})
	if ob := tp.Status.Outbox; ob == nil || !ob.Blocked || ob.Refusals != 9 || ob.LastError != refused || ob.LastErrorTime == nil {
		t.Errorf("status.outbox = %+v, want blocked with the refusals and the last error", ob)
	}
	eventually(t, "Warning event OutboxBlocked", func() error {
		return findEvent(ns, tp.Name, "Warning", cxv1alpha1.ReasonOutboxBlocked)
	})
}

// The manager shows the collector's judgement of the touchpoint's
// prediction: before the collector trained a model, PredictionReady is
// False with reason NotTrained and the collector's message; a touchpoint
// without spec.prediction has no such condition.
func TestTouchpointShowsPredictionReadiness(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "install-ces", nil)
	tp.Spec.Prediction = &cxv1alpha1.PredictionSpec{Question: "ease", Target: cxv1alpha1.PredictionMean,
		Join:     &cxv1alpha1.PredictionJoin{Window: cxv1alpha1.Duration{Duration: 7 * 24 * time.Hour}},
		Features: []cxv1alpha1.PredictionFeature{{Name: "waitMinutes", Source: "metadata.waitMinutes"}}}
	plain := touchpoint(ns, "install-plain", nil)
	for _, x := range []*cxv1alpha1.SurveyTouchpoint{tp, plain} {
		startCollector(t, x)
		create(t, x)
	}
	for _, x := range []*cxv1alpha1.SurveyTouchpoint{tp, plain} {
		sts := &appsv1.StatefulSet{}
		eventually(t, "collector statefulset", func() error { return get(ns, x.Name+"-collector", sts) })
		sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
		if err := env.Client.Status().Update(context.Background(), sts); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "PredictionReady in status", func() error {
		if err := get(ns, tp.Name, tp); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionPredictionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != cxv1alpha1.ReasonNotTrained || !strings.Contains(c.Message, "has not trained") {
			return fmt.Errorf("PredictionReady = %+v, want False NotTrained", c)
		}
		return nil
	})
	eventually(t, "counts of the plain touchpoint", func() error {
		if err := get(ns, plain.Name, plain); err != nil {
			return err
		}
		if plain.Status.Responses == nil {
			return fmt.Errorf("no counts yet")
		}
		return nil
	})
	if c := apimeta.FindStatusCondition(plain.Status.Conditions, cxv1alpha1.ConditionPredictionReady); c != nil || plain.Status.Prediction != nil {
		t.Errorf("a touchpoint without spec.prediction shows %+v, %+v", c, plain.Status.Prediction)
	}
}
