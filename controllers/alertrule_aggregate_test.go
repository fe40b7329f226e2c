package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
)

// aggregateT0 is where the aggregate tests put their clock: far ahead of
// the real time, so the suite's manager (which evaluates rules at the real
// time) finds each rule's last evaluation in its future and leaves the
// evaluations to the reconciler the test drives.
var aggregateT0 = time.Date(2100, time.March, 1, 12, 0, 0, 0, time.UTC)

// callRecorder records every Deliver call, without deduplicating keys, so
// that a test sees a second notification if the controller sends one.
type callRecorder struct {
	mu    sync.Mutex
	calls []delivery
}

func (d *callRecorder) Deliver(_ context.Context, namespace, channel string, msg notify.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, delivery{Namespace: namespace, Channel: channel, Msg: msg})
	return nil
}

func (d *callRecorder) all() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.calls...)
}

// countingSource counts the collector reads of an evaluation.
type countingSource struct {
	AggregateSource
	mu    sync.Mutex
	reads int
}

func (s *countingSource) Metrics(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time, groupBy string) (*store.AggregateResult, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	return s.AggregateSource.Metrics(ctx, tp, from, to, groupBy)
}

// clockedCollectors are real collectors on real SQLite stores, one per
// touchpoint, running on a test clock.
type clockedCollectors struct {
	now     func() time.Time
	servers map[string]*httptest.Server
}

func newClockedCollectors(now func() time.Time) *clockedCollectors {
	return &clockedCollectors{now: now, servers: map[string]*httptest.Server{}}
}

func (c *clockedCollectors) start(t *testing.T, tp *cxv1alpha1.SurveyTouchpoint) {
	t.Helper()
	c.servers[tp.Name] = serveCollector(t, tp, collector.Options{Now: c.now})
}

// source reads the collectors over their HTTP API, as the manager does.
func (c *clockedCollectors) source() collectorclient.HTTPSource {
	return collectorclient.HTTPSource{Target: func(_ context.Context, tp *cxv1alpha1.SurveyTouchpoint) (collectorclient.Target, error) {
		endpoint := "http://127.0.0.1:1"
		if ts, ok := c.servers[tp.Name]; ok {
			endpoint = ts.URL
		}
		return collectorclient.Target{Endpoint: endpoint, Token: testCollectorToken}, nil
	}}
}

// postNPS posts n responses with the NPS answer score from a store (none
// when storeName is empty) in one batch, the way a survey tool imports
// them.
func (c *clockedCollectors) postNPS(t *testing.T, touchpoint, storeName string, score, n int, at time.Time) {
	t.Helper()
	var batch collector.BatchRequest
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%s-%d-%d-%d", touchpoint, storeName, score, at.Unix(), i)
		r := map[string]any{
			"id": id, "customer": map[string]any{"id": "C-" + id}, "answers": map[string]any{"nps": score},
			"submittedAt": at.Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339),
		}
		if storeName != "" {
			r["metadata"] = map[string]string{"store": storeName}
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		batch.Responses = append(batch.Responses, raw)
	}
	body, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, c.servers[touchpoint].URL+"/v1/responses:batch", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testCollectorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out collector.BatchResult
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Accepted != n {
		t.Fatalf("post %d responses to %s: %s, accepted %d (%v): %+v", n, touchpoint, resp.Status, out.Accepted, err, out.Results)
	}
}

func npsTouchpoint(ns, name string) *cxv1alpha1.SurveyTouchpoint {
	return &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "nps", Text: "How likely are you to recommend us to a friend?", Type: cxv1alpha1.QuestionNPS},
			},
		},
	}
}

func aggregateRule(ns, name string, agg cxv1alpha1.AggregateCondition, tps ...string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.AlertRuleSpec{
			Description: "Checkout NPS dropped in a store.",
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: tps},
			Aggregate:   &agg,
			Actions:     cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{{Channel: "cx-team"}}},
		},
	}
}

// prepareAggregateRule creates rule and waits until it is Ready and the
// suite's manager made its first evaluation (at the real time), after
// which the test's reconciler is the only one to evaluate it.
func prepareAggregateRule(t *testing.T, rule *cxv1alpha1.AlertRule) {
	t.Helper()
	create(t, rule)
	waitReady(t, rule, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	eventually(t, "first evaluation by the suite's manager", func() error {
		if err := get(rule.Namespace, rule.Name, rule); err != nil {
			return err
		}
		if rule.Status.LastEvaluationTime == nil {
			return fmt.Errorf("status.lastEvaluationTime not set yet")
		}
		return nil
	})
}

// reconcileRule runs r once for rule until it stores its status (a status
// patch that lost a race with the suite's manager is retried, as the
// workqueue would), and returns the result and the rule as stored.
func reconcileRule(t *testing.T, r *AlertRuleReconciler, rule *cxv1alpha1.AlertRule) (ctrl.Result, *cxv1alpha1.AlertRule) {
	t.Helper()
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rule)}
	for i := 0; ; i++ {
		res, err := r.Reconcile(context.Background(), req)
		if err != nil {
			t.Fatalf("reconcile %s: %v", rule.Name, err)
		}
		if res.RequeueAfter != conflictRetry || i == 20 {
			got := &cxv1alpha1.AlertRule{}
			if err := get(rule.Namespace, rule.Name, got); err != nil {
				t.Fatal(err)
			}
			return res, got
		}
	}
}

func firingCondition(t *testing.T, rule *cxv1alpha1.AlertRule, status metav1.ConditionStatus, reason string) metav1.Condition {
	t.Helper()
	c := apimeta.FindStatusCondition(rule.Status.Conditions, cxv1alpha1.ConditionFiring)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("Firing condition = %+v, want %s/%s", c, status, reason)
	}
	return *c
}

func ruleCases(t *testing.T, rule *cxv1alpha1.AlertRule) []cxv1alpha1.Case {
	t.Helper()
	var cases cxv1alpha1.CaseList
	if err := env.Client.List(context.Background(), &cases, client.InNamespace(rule.Namespace),
		client.MatchingLabels{cxv1alpha1.LabelRule: rule.Name}); err != nil {
		t.Fatal(err)
	}
	return cases.Items
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// An NPS drop in one store, seen only when two touchpoints' answers are
// merged, fires once with one notification and one strategic Case, keeps
// firing quietly (also for a restarted manager), and resolves once when the
// store recovers. Stores below minResponses are not evaluated, and a
// previous window with too few responses gives no delta.
func TestAggregateRuleFiresOnceAndResolvesOnce(t *testing.T) {
	ns := env.Namespace(t)
	clock := &testClock{}
	clock.Set(t, aggregateT0)
	collectors := newClockedCollectors(clock.Now)
	north, south := npsTouchpoint(ns, "checkout-north"), npsTouchpoint(ns, "checkout-south")
	collectors.start(t, north)
	collectors.start(t, south)
	create(t, north, south, webhookChannel(ns, "cx-team", "cx-team-webhook"), template(ns, "cross-functional"))

	t0 := aggregateT0
	// store-a: 4 detractors at north, 4 promoters at south: NPS 0 from 8
	// answers; neither touchpoint alone reaches minResponses (6). Before:
	// 6 promoters, NPS 100. Delta -100: fires.
	collectors.postNPS(t, north.Name, "store-a", 2, 4, t0.Add(-2*time.Hour))
	collectors.postNPS(t, south.Name, "store-a", 10, 4, t0.Add(-2*time.Hour))
	collectors.postNPS(t, north.Name, "store-a", 10, 6, t0.Add(-30*time.Hour))
	// store-b: 3 answers, below minResponses: not evaluated.
	collectors.postNPS(t, north.Name, "store-b", 1, 3, t0.Add(-2*time.Hour))
	// store-c: NPS 0 now; the window before had 3 promoters, too few to
	// compare with: no previous, so no delta, no fire.
	collectors.postNPS(t, south.Name, "store-c", 7, 6, t0.Add(-2*time.Hour))
	collectors.postNPS(t, south.Name, "store-c", 10, 3, t0.Add(-30*time.Hour))
	// store-d: NPS 83.3 after 100: a drop of 16.7, within the threshold.
	collectors.postNPS(t, north.Name, "store-d", 10, 5, t0.Add(-2*time.Hour))
	collectors.postNPS(t, north.Name, "store-d", 8, 1, t0.Add(-2*time.Hour))
	collectors.postNPS(t, south.Name, "store-d", 10, 6, t0.Add(-30*time.Hour))

	rule := aggregateRule(ns, "checkout-nps-drop", cxv1alpha1.AggregateCondition{
		Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}, Every: &cxv1alpha1.Duration{Duration: time.Hour},
		MinResponses: 6, GroupBy: "metadata.store", Condition: "value < -50.0 || (has_previous && delta < -30.0)",
	}, north.Name, south.Name)
	rule.Spec.Actions.OpenCase = &cxv1alpha1.OpenCaseAction{Template: "cross-functional", Title: "Checkout NPS drop"}
	prepareAggregateRule(t, rule)

	deliveries := &callRecorder{}
	r := &AlertRuleReconciler{Client: env.Client, Source: collectors.source(), Deliverer: deliveries, Now: clock.Now}
	res, got := reconcileRule(t, r, rule)
	if res.RequeueAfter != time.Hour {
		t.Errorf("RequeueAfter = %s, want the rule's period, 1h", res.RequeueAfter)
	}
	if got.Status.LastEvaluationTime == nil || !got.Status.LastEvaluationTime.Time.Equal(t0) {
		t.Errorf("lastEvaluationTime = %v, want %s", got.Status.LastEvaluationTime, t0)
	}
	if len(got.Status.Firing) != 1 {
		t.Fatalf("status.firing = %+v, want store-a only", got.Status.Firing)
	}
	f := got.Status.Firing[0]
	if f.Group != "store-a" || !near(f.Value, 0) || f.Previous == nil || !near(*f.Previous, 100) || f.Count != 8 || !f.Since.Time.Equal(t0) {
		t.Errorf("firing = %+v (previous %v), want store-a: value 0 from 8 answers of both touchpoints, previous 100, since %s", f, ptr.Deref(f.Previous, -1), t0)
	}
	c := firingCondition(t, got, metav1.ConditionTrue, cxv1alpha1.ReasonBreached)
	for _, want := range []string{"store-a", "3 group(s) of metadata.store evaluated", "below minResponses (6): store-b (3)"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Firing message %q does not contain %q", c.Message, want)
		}
	}

	calls := deliveries.all()
	if len(calls) != 1 {
		t.Fatalf("deliveries = %+v, want one AggregateFiring", calls)
	}
	msg := calls[0].Msg
	if calls[0].Namespace != ns || calls[0].Channel != "cx-team" || msg.Event != "AggregateFiring" ||
		msg.Key != fmt.Sprintf("aggregate/%s/store-a/%s", got.UID, t0.Format(time.RFC3339)) {
		t.Errorf("delivery = %s/%s %s key %q", calls[0].Namespace, calls[0].Channel, msg.Event, msg.Key)
	}
	for _, want := range []string{"NPS 0.0 over 24h", "metadata.store=store-a", "previous 100.0"} {
		if !strings.Contains(msg.Title, want) {
			t.Errorf("message title %q does not contain %q", msg.Title, want)
		}
	}

	cases := ruleCases(t, rule)
	if len(cases) != 1 {
		t.Fatalf("cases of the rule = %d, want 1", len(cases))
	}
	sc := cases[0]
	if sc.Name != alerting.StrategicCaseName(rule.Name, "store-a", t0) || sc.Spec.Customer != nil || sc.Spec.Template != "cross-functional" ||
		sc.Labels[cxv1alpha1.LabelTemplate] != "cross-functional" || sc.Spec.Source == nil || sc.Spec.Source.Rule != rule.Name ||
		sc.Spec.Source.RuleKind != cxv1alpha1.AlertEscalation {
		t.Errorf("strategic case = %s %+v labels %v", sc.Name, sc.Spec, sc.Labels)
	}
	if want := "Checkout NPS drop: NPS 0.0 over 24h for metadata.store=store-a (previous 100.0)"; sc.Spec.Title != want {
		t.Errorf("case title = %q, want %q", sc.Spec.Title, want)
	}
	// Opening it again (a retry after a lost answer) is a no-op.
	if err := r.openStrategicCase(context.Background(), got, alerting.StrategicCase(got, got.Status.Firing[0])); err != nil {
		t.Errorf("opening the strategic Case again: %v, want nil (AlreadyExists means done)", err)
	}

	// An hour later the breach goes on: no new message, no new Case, even
	// from a reconciler that starts afresh (a restarted manager).
	clock.Set(t, t0.Add(time.Hour))
	restarted := &AlertRuleReconciler{Client: env.Client, Source: collectors.source(), Deliverer: deliveries, Now: clock.Now}
	_, got = reconcileRule(t, restarted, rule)
	_, got = reconcileRule(t, r, got) // not due again: does nothing
	if len(got.Status.Firing) != 1 || !got.Status.Firing[0].Since.Time.Equal(t0) {
		t.Errorf("status.firing = %+v, want store-a still firing since %s", got.Status.Firing, t0)
	}
	if got.Status.CasesOpened != 1 {
		t.Errorf("casesOpened = %d, want 1", got.Status.CasesOpened)
	}
	if n := len(deliveries.all()); n != 1 {
		t.Errorf("deliveries = %d after re-evaluations of the same breach, want 1", n)
	}

	// store-a recovers: 20 promoters more make NPS 71.4, a drop of 28.6.
	clock.Set(t, t0.Add(2*time.Hour))
	collectors.postNPS(t, north.Name, "store-a", 9, 10, t0.Add(90*time.Minute))
	collectors.postNPS(t, south.Name, "store-a", 10, 10, t0.Add(90*time.Minute))
	_, got = reconcileRule(t, r, got)
	if len(got.Status.Firing) != 0 {
		t.Fatalf("status.firing = %+v, want none after recovery", got.Status.Firing)
	}
	firingCondition(t, got, metav1.ConditionFalse, cxv1alpha1.ReasonNotBreached)
	clock.Set(t, t0.Add(3*time.Hour))
	_, got = reconcileRule(t, r, got)
	firingCondition(t, got, metav1.ConditionFalse, cxv1alpha1.ReasonNotBreached)

	calls = deliveries.all()
	if len(calls) != 2 {
		t.Fatalf("deliveries = %d, want AggregateFiring then one AggregateResolved", len(calls))
	}
	resolved := calls[1].Msg
	if resolved.Event != "AggregateResolved" || resolved.Key != msg.Key+"/resolved" || !strings.Contains(resolved.Title, "NPS 71.4") {
		t.Errorf("second delivery = %s %q %q", resolved.Event, resolved.Key, resolved.Title)
	}
	if n := len(ruleCases(t, rule)); n != 1 {
		t.Errorf("cases of the rule = %d, want still 1", n)
	}
}

// A collector that cannot be read leaves the firing state alone: the
// status names the touchpoint and the evaluation is retried next period.
func TestAggregateRuleCollectorUnreachable(t *testing.T) {
	ns := env.Namespace(t)
	clock := &testClock{}
	clock.Set(t, aggregateT0)
	collectors := newClockedCollectors(clock.Now)
	tp := npsTouchpoint(ns, "onboarding")
	collectors.start(t, tp)
	create(t, tp, webhookChannel(ns, "cx-team", "cx-team-webhook"))
	collectors.postNPS(t, tp.Name, "", 3, 5, aggregateT0.Add(-time.Hour))

	rule := aggregateRule(ns, "onboarding-nps", cxv1alpha1.AggregateCondition{
		Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}, Every: &cxv1alpha1.Duration{Duration: 30 * time.Minute},
		MinResponses: 5, Condition: "value < 30.0",
	}, tp.Name)
	prepareAggregateRule(t, rule)
	deliveries := &callRecorder{}
	r := &AlertRuleReconciler{Client: env.Client, Source: collectors.source(), Deliverer: deliveries, Now: clock.Now}
	_, got := reconcileRule(t, r, rule)
	if len(got.Status.Firing) != 1 || got.Status.Firing[0].Group != "" || !near(got.Status.Firing[0].Value, -100) {
		t.Fatalf("status.firing = %+v, want the whole touchpoint at NPS -100", got.Status.Firing)
	}

	collectors.servers[tp.Name].Close()
	clock.Set(t, aggregateT0.Add(30*time.Minute))
	res, got := reconcileRule(t, r, got)
	if res.RequeueAfter != 30*time.Minute {
		t.Errorf("RequeueAfter = %s, want the next period, 30m", res.RequeueAfter)
	}
	c := firingCondition(t, got, metav1.ConditionTrue, cxv1alpha1.ReasonCollectorUnreachable)
	if !strings.Contains(c.Message, "touchpoint onboarding") {
		t.Errorf("Firing message %q does not name the touchpoint", c.Message)
	}
	if len(got.Status.Firing) != 1 || !got.Status.Firing[0].Since.Time.Equal(aggregateT0) {
		t.Errorf("status.firing = %+v, want unchanged", got.Status.Firing)
	}
	if !got.Status.LastEvaluationTime.Time.Equal(aggregateT0.Add(30 * time.Minute)) {
		t.Errorf("lastEvaluationTime = %s, want the attempt's time", got.Status.LastEvaluationTime)
	}
	if ready := apimeta.FindStatusCondition(got.Status.Conditions, cxv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		t.Errorf("Ready = %+v, want True: the rule is valid", ready)
	}
	if n := len(deliveries.all()); n != 1 {
		t.Errorf("deliveries = %d, want only the first AggregateFiring", n)
	}
}

// flakyDeliverer fails its first calls with a transient error, then
// records.
type flakyDeliverer struct {
	callRecorder
	failures int
	attempts int
}

func (d *flakyDeliverer) Deliver(ctx context.Context, namespace, channel string, msg notify.Message) error {
	d.mu.Lock()
	d.attempts++
	fail := d.attempts <= d.failures
	d.mu.Unlock()
	if fail {
		return fmt.Errorf("slack answered 503")
	}
	return d.callRecorder.Deliver(ctx, namespace, channel, msg)
}

// A notification that fails after the firing was stored is retried until
// it goes out, once, with the same key; the firing is not repeated.
func TestAggregateRuleRetriesFailedNotification(t *testing.T) {
	ns := env.Namespace(t)
	clock := &testClock{}
	clock.Set(t, aggregateT0)
	collectors := newClockedCollectors(clock.Now)
	tp := npsTouchpoint(ns, "support-chat")
	collectors.start(t, tp)
	create(t, tp, webhookChannel(ns, "cx-team", "cx-team-webhook"))
	collectors.postNPS(t, tp.Name, "", 0, 5, aggregateT0.Add(-time.Hour))
	rule := aggregateRule(ns, "chat-nps", cxv1alpha1.AggregateCondition{
		Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}, Every: &cxv1alpha1.Duration{Duration: time.Hour},
		MinResponses: 5, Condition: "value < 0.0",
	}, tp.Name)
	prepareAggregateRule(t, rule)

	deliveries := &flakyDeliverer{failures: 2}
	r := &AlertRuleReconciler{Client: env.Client, Source: collectors.source(), Deliverer: deliveries, Now: clock.Now}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(rule)}
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := r.Reconcile(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "AggregateFiring notification to channel cx-team") {
			t.Fatalf("reconcile %d: error %v, want the failed AggregateFiring delivery", attempt, err)
		}
	}
	res, got := reconcileRule(t, r, rule)
	if res.RequeueAfter <= 0 || res.RequeueAfter > time.Hour {
		t.Errorf("RequeueAfter = %s, want the next evaluation within the hour", res.RequeueAfter)
	}
	calls := deliveries.all()
	if deliveries.attempts != 3 || len(calls) != 1 || calls[0].Msg.Event != "AggregateFiring" || len(got.Status.Firing) != 1 ||
		calls[0].Msg.Key != fmt.Sprintf("aggregate/%s//%s", got.UID, aggregateT0.Format(time.RFC3339)) {
		t.Errorf("attempts %d, delivered %+v, firing %+v; want 3 attempts, one AggregateFiring for the one firing entry", deliveries.attempts, calls, got.Status.Firing)
	}
}

// An aggregate rule that selects no touchpoint says so and is not
// evaluated.
func TestAggregateRuleSelectingNoTouchpoint(t *testing.T) {
	ns := env.Namespace(t)
	create(t, webhookChannel(ns, "cx-team", "cx-team-webhook"))
	rule := aggregateRule(ns, "nps-nowhere", cxv1alpha1.AggregateCondition{
		Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}, MinResponses: 5, Condition: "value < 30.0",
	})
	rule.Spec.Touchpoints.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "checkout"}}
	create(t, rule)
	waitReadyMessage(t, rule, metav1.ConditionFalse, cxv1alpha1.ReasonNoTouchpointSelected, "selects no SurveyTouchpoint")

	src := &countingSource{AggregateSource: collectorclient.HTTPSource{Target: testCollectorTarget}}
	r := &AlertRuleReconciler{Client: env.Client, Source: src, Deliverer: &callRecorder{}}
	res, got := reconcileRule(t, r, rule)
	if src.reads != 0 || got.Status.LastEvaluationTime != nil || res.RequeueAfter != 0 {
		t.Errorf("collector reads = %d, lastEvaluationTime = %v, RequeueAfter = %s; want no evaluation and no timer", src.reads, got.Status.LastEvaluationTime, res.RequeueAfter)
	}
}
