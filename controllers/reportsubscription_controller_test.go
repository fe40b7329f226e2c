package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
)

// The report tests drive the suite's manager: its clock is caseClock, its
// deliverer caseDeliveries, and it reads each touchpoint's aggregates from a
// real collector (on a real SQLite store) over HTTP. The clock is set in the
// future of the objects' real creation time.

var berlinTZ, _ = time.LoadLocation("Europe/Berlin")

// startReportCollector serves tp from a real collector on a real SQLite
// store, whose clock is the suite's, registered where the manager looks for
// collectors.
func startReportCollector(t *testing.T, tp *cxv1alpha1.SurveyTouchpoint) *clockedCollectors {
	t.Helper()
	cc := newClockedCollectors(caseClock.Now)
	cc.start(t, tp)
	key := tp.Namespace + "/" + tp.Name
	testCollectors.Store(key, cc.servers[tp.Name].URL)
	t.Cleanup(func() { testCollectors.Delete(key) })
	return cc
}

func emailChannel(ns, name string) *cxv1alpha1.NotificationChannel {
	return &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.NotificationChannelSpec{Type: cxv1alpha1.ChannelTypeEmail, Email: &cxv1alpha1.EmailChannel{
			SMTP: cxv1alpha1.SMTPServer{Host: "smtp.example.com"}, From: "cx@example.com", To: []string{"team@example.com"},
		}},
	}
}

func reportSubscription(ns, name, schedule, tz string, channels ...string) *cxv1alpha1.ReportSubscription {
	return &cxv1alpha1.ReportSubscription{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.ReportSubscriptionSpec{
			Title: "Daily NPS", Schedule: schedule, TimeZone: tz,
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"relationship"}},
			Window:      &cxv1alpha1.Duration{Duration: 24 * time.Hour},
			Sections:    []cxv1alpha1.ReportSection{cxv1alpha1.SectionKPIs, cxv1alpha1.SectionTrend},
			Trend:       &cxv1alpha1.TrendSpec{Period: cxv1alpha1.TrendDay, Periods: 3},
			Channels:    channels,
		},
	}
}

// reportProgram creates the touchpoint "relationship" with its collector and
// the channels; the subscription is created by the test.
func reportProgram(t *testing.T, ns string, channels ...*cxv1alpha1.NotificationChannel) *clockedCollectors {
	t.Helper()
	tp := npsTouchpoint(ns, "relationship")
	cc := startReportCollector(t, tp)
	create(t, tp)
	for _, ch := range channels {
		create(t, ch)
	}
	return cc
}

// waitReport polls the subscription until cond holds and no run is due
// (a run recorded in status.pendingRun is still being delivered).
func waitReport(t *testing.T, ns, name, what string, cond func(*cxv1alpha1.ReportSubscription) error) *cxv1alpha1.ReportSubscription {
	t.Helper()
	rs := &cxv1alpha1.ReportSubscription{}
	eventually(t, what, func() error {
		if err := get(ns, name, rs); err != nil {
			return err
		}
		if p := rs.Status.PendingRun; p != nil {
			return fmt.Errorf("the run %s is being delivered", p.Key)
		}
		return cond(rs)
	})
	return rs
}

func readyReport(rs *cxv1alpha1.ReportSubscription) error {
	c := apimeta.FindStatusCondition(rs.Status.Conditions, cxv1alpha1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != rs.Generation {
		return fmt.Errorf("not ready: %+v", c)
	}
	return nil
}

func nextRunIs(want time.Time) func(*cxv1alpha1.ReportSubscription) error {
	return func(rs *cxv1alpha1.ReportSubscription) error {
		if err := readyReport(rs); err != nil {
			return err
		}
		if rs.Status.NextRunTime == nil || !rs.Status.NextRunTime.Equal(&metav1.Time{Time: want}) {
			return fmt.Errorf("nextRunTime %v, want %v", rs.Status.NextRunTime, want.UTC())
		}
		return nil
	}
}

func lastRunIs(want time.Time) func(*cxv1alpha1.ReportSubscription) error {
	return func(rs *cxv1alpha1.ReportSubscription) error {
		if rs.Status.LastRunTime == nil || !rs.Status.LastRunTime.Equal(&metav1.Time{Time: want}) {
			return fmt.Errorf("lastRunTime %v, want %v (lastResult %s: %s)", rs.Status.LastRunTime, want.UTC(), rs.Status.LastResult, rs.Status.LastResultMessage)
		}
		return nil
	}
}

// annotate sets an annotation, as kubectl annotate --overwrite does.
func annotate(t *testing.T, obj client.Object, key, value string) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if err := env.Client.Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("annotate %s: %v", obj.GetName(), err)
	}
}

func reportDeliveries(ns string) []delivery {
	var out []delivery
	for _, d := range caseDeliveries.in(ns) {
		if d.Msg.Event == report.EventReport {
			out = append(out, d)
		}
	}
	return out
}

// A daily 08:00 Europe/Berlin report runs at 08:00 local time on both sides
// of the change to summer time (07:00 and then 06:00 UTC), once per
// activation; a run missed by more than the starting deadline is skipped;
// each channel gets the report in its shape and the ConfigMap keeps it.
func TestReportScheduleFollowsTimeZoneAcrossDST(t *testing.T) {
	ns := env.Namespace(t)
	// Saturday 27 March 2027, 10:00 CET; clocks go forward on Sunday 28th.
	caseClock.Set(t, time.Date(2027, 3, 27, 10, 0, 0, 0, berlinTZ))
	cc := reportProgram(t, ns, webhookChannel(ns, "team", "hook"), emailChannel(ns, "mail"))
	// In the window (Sat 08:00 CET to Sun 08:00 CEST): 3 promoters, 1
	// detractor; before it, one detractor.
	inWindow := time.Date(2027, 3, 27, 9, 30, 0, 0, berlinTZ)
	cc.postNPS(t, "relationship", "", 10, 2, inWindow)
	cc.postNPS(t, "relationship", "", 9, 1, inWindow)
	cc.postNPS(t, "relationship", "", 2, 1, inWindow)
	cc.postNPS(t, "relationship", "", 0, 1, time.Date(2027, 3, 26, 12, 0, 0, 0, berlinTZ))
	create(t, reportSubscription(ns, "daily", "0 8 * * *", "Europe/Berlin", "team", "mail"))

	// Today's 08:00 run is two hours late, more than the default starting
	// deadline of 1h (the subscription is older than the clock): skipped.
	// The next run is Sunday 08:00 CEST = 06:00 UTC.
	rs := waitReport(t, ns, "daily", "next run on Sunday 06:00 UTC", nextRunIs(time.Date(2027, 3, 28, 6, 0, 0, 0, time.UTC)))
	if rs.Status.LastRunTime != nil || len(reportDeliveries(ns)) != 0 {
		t.Fatalf("a run missed by 2h ran: lastRunTime %v, %d deliveries", rs.Status.LastRunTime, len(reportDeliveries(ns)))
	}
	eventually(t, "MissedRun event", func() error { return findEvent(ns, "daily", corev1.EventTypeWarning, "MissedRun") })

	// Sunday 08:00:05 CEST: the run is due.
	caseClock.Set(t, time.Date(2027, 3, 28, 6, 0, 5, 0, time.UTC))
	annotate(t, rs, "test.cxloop.io/poke", "1")
	rs = waitReport(t, ns, "daily", "the Sunday run", lastRunIs(time.Date(2027, 3, 28, 6, 0, 0, 0, time.UTC)))
	if rs.Status.LastResult != cxv1alpha1.ReportSucceeded || len(rs.Status.Deliveries) != 2 {
		t.Fatalf("lastResult %s (%s), deliveries %+v; want Succeeded to 2 channels", rs.Status.LastResult, rs.Status.LastResultMessage, rs.Status.Deliveries)
	}
	for _, d := range rs.Status.Deliveries {
		if d.Outcome != cxv1alpha1.DeliveryDelivered {
			t.Errorf("delivery to %s: %s %s", d.Channel, d.Outcome, d.Message)
		}
	}
	// Monday 08:00 CEST is 24 hours later.
	waitReport(t, ns, "daily", "next run on Monday 06:00 UTC", nextRunIs(time.Date(2027, 3, 29, 6, 0, 0, 0, time.UTC)))

	sent := reportDeliveries(ns)
	if len(sent) != 2 {
		t.Fatalf("%d report messages, want one per channel", len(sent))
	}
	for _, d := range sent {
		if !strings.HasSuffix(d.Msg.Key, "/2027-03-28T06:00:00Z") {
			t.Errorf("message key %q does not name the scheduled time", d.Msg.Key)
		}
		switch d.Channel {
		case "team":
			// The window is the 24 hours before the run: the four
			// responses of Saturday, NPS (3-1)/4 = 50.
			if d.Msg.Data["responses"] != float64(4) || !strings.Contains(d.Msg.Text, "NPS 50.0") {
				t.Errorf("webhook message: responses %v, text %q; want 4 and NPS 50.0", d.Msg.Data["responses"], d.Msg.Text)
			}
		case "mail":
			if len(d.Msg.Attachments) != 1 || !strings.Contains(d.Msg.HTML, `src="cid:`+d.Msg.Attachments[0].ContentID+`"`) {
				t.Errorf("email: %d attachments, HTML refers to them: %v", len(d.Msg.Attachments), d.Msg.HTML != "")
			}
		}
	}

	cm := &corev1.ConfigMap{}
	if err := get(ns, rs.Status.ReportConfigMap, cm); err != nil {
		t.Fatalf("report ConfigMap %q: %v", rs.Status.ReportConfigMap, err)
	}
	var kept report.Report
	if err := json.Unmarshal([]byte(cm.Data["report.json"]), &kept); err != nil || kept.Responses != 4 {
		t.Errorf("ConfigMap report.json: %v, %d responses; want the report of 4 responses", err, kept.Responses)
	}
	if owner := metav1.GetControllerOf(cm); owner == nil || owner.Kind != "ReportSubscription" || owner.Name != "daily" {
		t.Errorf("ConfigMap controller %+v, want the ReportSubscription", owner)
	}

	// Another reconcile at the same time sends nothing again, and requeues
	// for exactly the next run.
	res := reconcileReport(t, ns, "daily")
	if n := len(reportDeliveries(ns)); n != 2 {
		t.Errorf("%d report messages after a second reconcile, want still 2", n)
	}
	if want := time.Date(2027, 3, 29, 6, 0, 0, 0, time.UTC).Sub(caseClock.Now()); res.RequeueAfter != want {
		t.Errorf("RequeueAfter %v, want %v (the next run)", res.RequeueAfter, want)
	}
}

// reconcileReport runs one reconcile of a reconciler configured as the
// suite's manager's, and waits for it: for checks that nothing happens.
func reconcileReport(t *testing.T, ns, name string) ctrl.Result {
	t.Helper()
	r := &ReportSubscriptionReconciler{
		Client: env.Client, Source: collectorclient.HTTPSource{Target: testCollectorTarget},
		Deliverer: caseDeliveries, Now: caseClock.Now,
	}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	if err != nil {
		t.Fatalf("reconcile %s/%s: %v", ns, name, err)
	}
	return res
}

// A run the manager missed while it was down runs once when it starts, if
// it is at most startingDeadline late: the latest missed activation only.
func TestReportMissedRunWithinStartingDeadlineRunsOnce(t *testing.T) {
	ns := env.Namespace(t)
	caseClock.Set(t, time.Date(2027, 4, 1, 9, 30, 0, 0, time.UTC))
	reportProgram(t, ns, webhookChannel(ns, "team", "hook"))
	rs := reportSubscription(ns, "late", "0 8 * * *", "UTC", "team")
	rs.Spec.StartingDeadline = &cxv1alpha1.Duration{Duration: 2 * time.Hour}
	create(t, rs)

	rs = waitReport(t, ns, "late", "the 08:00 run, 1.5h late", lastRunIs(time.Date(2027, 4, 1, 8, 0, 0, 0, time.UTC)))
	waitReport(t, ns, "late", "next run tomorrow", nextRunIs(time.Date(2027, 4, 2, 8, 0, 0, 0, time.UTC)))
	if sent := reportDeliveries(ns); len(sent) != 1 || !strings.HasSuffix(sent[0].Msg.Key, "/2027-04-01T08:00:00Z") {
		t.Errorf("deliveries %+v, want one, for 08:00", sent)
	}
	if rs.Status.LastResult != cxv1alpha1.ReportSucceeded {
		t.Errorf("lastResult %s: %s", rs.Status.LastResult, rs.Status.LastResultMessage)
	}
}

// The run-now annotation runs a suspended subscription once per value.
func TestReportManualTriggerRunsOncePerValue(t *testing.T) {
	ns := env.Namespace(t)
	caseClock.Set(t, time.Date(2027, 5, 3, 12, 0, 0, 0, time.UTC))
	reportProgram(t, ns, webhookChannel(ns, "team", "hook"))
	rs := reportSubscription(ns, "manual", "@weekly", "UTC", "team")
	rs.Spec.Suspend = true
	create(t, rs)
	rs = waitReport(t, ns, "manual", "ready, suspended", func(rs *cxv1alpha1.ReportSubscription) error {
		if err := readyReport(rs); err != nil {
			return err
		}
		if rs.Status.NextRunTime != nil {
			return fmt.Errorf("suspended but nextRunTime %v", rs.Status.NextRunTime)
		}
		return nil
	})

	annotate(t, rs, RunNowAnnotation, "first")
	rs = waitReport(t, ns, "manual", "manual run", func(rs *cxv1alpha1.ReportSubscription) error {
		if rs.Status.LastManualTrigger != "first" {
			return fmt.Errorf("lastManualTrigger %q", rs.Status.LastManualTrigger)
		}
		return nil
	})
	if !rs.Status.LastRunTime.Equal(&metav1.Time{Time: caseClock.Now()}) || rs.Status.LastResult != cxv1alpha1.ReportSucceeded {
		t.Errorf("lastRunTime %v lastResult %s, want now and Succeeded", rs.Status.LastRunTime, rs.Status.LastResult)
	}
	if res := reconcileReport(t, ns, "manual"); res.RequeueAfter != 0 {
		t.Errorf("a suspended subscription requeues after %v", res.RequeueAfter)
	}
	if n := len(reportDeliveries(ns)); n != 1 {
		t.Fatalf("%d messages after one trigger and another reconcile, want 1", n)
	}

	annotate(t, rs, RunNowAnnotation, "second")
	waitReport(t, ns, "manual", "second manual run", func(rs *cxv1alpha1.ReportSubscription) error {
		if rs.Status.LastManualTrigger != "second" {
			return fmt.Errorf("lastManualTrigger %q", rs.Status.LastManualTrigger)
		}
		return nil
	})
	if sent := reportDeliveries(ns); len(sent) != 2 || sent[0].Msg.Key == sent[1].Msg.Key {
		t.Errorf("%d messages, want 2 with different keys", len(sent))
	}
}

// A channel that fails shows in status: the run is Failed, naming the
// channel and the receiver's error; the other channel still got it. A
// touchpoint whose collector does not answer fails the run before any
// delivery.
func TestReportDeliveryFailureInStatus(t *testing.T) {
	ns := env.Namespace(t)
	caseClock.Set(t, time.Date(2027, 6, 7, 8, 0, 0, 0, time.UTC))
	reportProgram(t, ns, webhookChannel(ns, "team", "hook"), webhookChannel(ns, "broken", "hook"))
	caseDeliveries.failChannel(t, ns, "broken", errors.New("webhook https://hooks.example.com/cx answered 502 Bad Gateway"))
	rs := reportSubscription(ns, "weekly", "@weekly", "UTC", "team", "broken")
	create(t, rs)
	waitReport(t, ns, "weekly", "ready", readyReport)

	annotate(t, rs, RunNowAnnotation, "1")
	rs = waitReport(t, ns, "weekly", "failed run", func(rs *cxv1alpha1.ReportSubscription) error {
		if rs.Status.LastManualTrigger != "1" {
			return fmt.Errorf("not run yet")
		}
		return nil
	})
	if rs.Status.LastResult != cxv1alpha1.ReportFailed || !strings.Contains(rs.Status.LastResultMessage, "broken: webhook https://hooks.example.com/cx answered 502") {
		t.Errorf("lastResult %s %q, want Failed naming channel broken and its error", rs.Status.LastResult, rs.Status.LastResultMessage)
	}
	outcomes := map[string]cxv1alpha1.DeliveryOutcome{}
	for _, d := range rs.Status.Deliveries {
		outcomes[d.Channel] = d.Outcome
	}
	if outcomes["team"] != cxv1alpha1.DeliveryDelivered || outcomes["broken"] != cxv1alpha1.DeliveryFailed {
		t.Errorf("deliveries %+v, want team Delivered and broken Failed", rs.Status.Deliveries)
	}
	eventually(t, "ReportFailed event", func() error { return findEvent(ns, "weekly", corev1.EventTypeWarning, "ReportFailed") })

	// The collector goes away: the next run fails before delivering.
	testCollectors.Delete(ns + "/relationship")
	annotate(t, rs, RunNowAnnotation, "2")
	rs = waitReport(t, ns, "weekly", "run without collector", func(rs *cxv1alpha1.ReportSubscription) error {
		if rs.Status.LastManualTrigger != "2" {
			return fmt.Errorf("not run yet")
		}
		return nil
	})
	if rs.Status.LastResult != cxv1alpha1.ReportFailed || !strings.Contains(rs.Status.LastResultMessage, "touchpoint relationship") || len(rs.Status.Deliveries) != 0 {
		t.Errorf("lastResult %s %q, deliveries %+v; want Failed naming the touchpoint, no deliveries", rs.Status.LastResult, rs.Status.LastResultMessage, rs.Status.Deliveries)
	}
}

// slowDeliverer delivers through next and moves clock on by took on each
// delivery, as a slow receiver would.
type slowDeliverer struct {
	next  notify.Deliverer
	clock *testClock
	took  time.Duration
}

func (s slowDeliverer) Deliver(ctx context.Context, namespace, channel string, msg notify.Message) error {
	s.clock.mu.Lock()
	s.clock.now = s.clock.now.Add(s.took)
	s.clock.mu.Unlock()
	return s.next.Deliver(ctx, namespace, channel, msg)
}

// The requeue after a run counts from the end of the run: deliveries that
// took minutes do not make the next run as many minutes late.
func TestReportRequeueCountsFromTheEndOfTheRun(t *testing.T) {
	ns := env.Namespace(t)
	caseClock.Set(t, time.Date(2027, 7, 5, 7, 0, 0, 0, time.UTC))
	reportProgram(t, ns, webhookChannel(ns, "team", "hook"))
	create(t, reportSubscription(ns, "slow", "0 8 * * *", "UTC", "team"))
	waitReport(t, ns, "slow", "next run at 08:00", nextRunIs(time.Date(2027, 7, 5, 8, 0, 0, 0, time.UTC)))

	// At 08:00:05 the run is due; its delivery takes three minutes.
	clock := &testClock{now: time.Date(2027, 7, 5, 8, 0, 5, 0, time.UTC)}
	r := &ReportSubscriptionReconciler{
		Client: env.Client, Source: collectorclient.HTTPSource{Target: testCollectorTarget},
		Deliverer: slowDeliverer{next: caseDeliveries, clock: clock, took: 3 * time.Minute}, Now: clock.Now,
	}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "slow"}})
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if n := len(reportDeliveries(ns)); n != 1 {
		t.Fatalf("%d report messages, want the 08:00 run's one", n)
	}
	if want := time.Date(2027, 7, 6, 8, 0, 0, 0, time.UTC).Sub(clock.Now()); res.RequeueAfter != want {
		t.Errorf("RequeueAfter %v, want %v (to tomorrow 08:00 from the end of the run, 08:03:05)", res.RequeueAfter, want)
	}
}

// stuckDeliverer stands for a manager that stopped while it delivered:
// every call blocks until the test ends, then fails.
type stuckDeliverer struct {
	calls   chan notify.Message
	release chan struct{}
}

func (d *stuckDeliverer) Deliver(_ context.Context, _, _ string, msg notify.Message) error {
	d.calls <- msg
	<-d.release
	return errors.New("the manager stopped")
}

// A run is recorded as due (status.pendingRun, with lastRunTime and
// lastManualTrigger) before the report is delivered. A manager that stops
// in between leaves it there; the next manager delivers that run, under
// the same key, and clears it: the run is neither lost nor run again.
func TestReportRunRecordedBeforeDelivery(t *testing.T) {
	ns := env.Namespace(t)
	caseClock.Set(t, time.Date(2027, 5, 10, 12, 0, 0, 0, time.UTC))
	reportProgram(t, ns, webhookChannel(ns, "team", "hook"))
	stuck := &stuckDeliverer{calls: make(chan notify.Message, 10), release: make(chan struct{})}
	caseDeliveries.forwardTo(t, ns, stuck)
	t.Cleanup(func() { close(stuck.release) })
	rs := reportSubscription(ns, "owed", "@weekly", "UTC", "team")
	rs.Spec.Suspend = true
	create(t, rs)
	rs = waitReport(t, ns, "owed", "ready", readyReport)
	annotate(t, rs, RunNowAnnotation, "once")

	// The suite's manager is stuck delivering: the run is stored as due.
	var first notify.Message
	select {
	case first = <-stuck.calls:
	case <-time.After(30 * time.Second):
		t.Fatal("the manager never delivered the report")
	}
	eventually(t, "run recorded as due", func() error {
		if err := get(ns, "owed", rs); err != nil {
			return err
		}
		if rs.Status.PendingRun == nil || rs.Status.PendingRun.Key != first.Key || rs.Status.LastManualTrigger != "once" {
			return fmt.Errorf("pendingRun %+v lastManualTrigger %q, want the run being delivered (%s)", rs.Status.PendingRun, rs.Status.LastManualTrigger, first.Key)
		}
		return nil
	})
	if rs.Status.LastResult != "" {
		t.Errorf("lastResult %q before the delivery ended", rs.Status.LastResult)
	}

	// Another manager (a restart, a new leader) finishes that run, once.
	deliveries := &recordingDeliverer{}
	next := &ReportSubscriptionReconciler{
		Client: env.Client, APIReader: env.Client, Source: collectorclient.HTTPSource{Target: testCollectorTarget},
		Deliverer: deliveries, Now: caseClock.Now,
	}
	for range 3 {
		if _, err := next.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "owed"}}); err != nil {
			t.Fatal(err)
		}
	}
	if sent := deliveries.in(ns); len(sent) != 1 || sent[0].Msg.Key != first.Key {
		t.Fatalf("the next manager sent %d messages (%+v), want the owed run once, key %s", len(sent), sent, first.Key)
	}
	if err := get(ns, "owed", rs); err != nil {
		t.Fatal(err)
	}
	if rs.Status.PendingRun != nil || rs.Status.LastResult != cxv1alpha1.ReportSucceeded || len(rs.Status.Deliveries) != 1 {
		t.Errorf("after the run: pendingRun %+v lastResult %s deliveries %+v, want none, Succeeded, one", rs.Status.PendingRun, rs.Status.LastResult, rs.Status.Deliveries)
	}
}
