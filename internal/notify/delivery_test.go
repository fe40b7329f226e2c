package notify

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// A receiver that fails twice with 500 gets the message on the third try;
// the channel status counts one delivery, and the Ready condition the
// controller wrote stays as it was.
func TestRetriesTransientFailures(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusInternalServerError)
	ch := createWebhookChannel(t, ns, "crm", rcv.URL)
	ready := metav1.Condition{Type: cxv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: cxv1alpha1.ReasonSucceeded,
		Message: "Webhook channel configured", LastTransitionTime: metav1.Now()}
	apimeta.SetStatusCondition(&ch.Status.Conditions, ready)
	if err := env.Client.Status().Update(context.Background(), ch); err != nil {
		t.Fatalf("set condition: %v", err)
	}
	n, clk := newTestNotifier(t)

	if err := n.Deliver(context.Background(), ns, "crm", sampleMessage("case-1-opened")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Header.Get("Webhook-Id") != "case-1-opened" {
			t.Errorf("attempt %d has webhook-id %q; retries must keep the id", i+1, r.Header.Get("Webhook-Id"))
		}
	}
	// Backoff: base 1s, then 2s, each with up to half taken off as jitter.
	slept := clk.Slept()
	if len(slept) != 2 || slept[0] < 500*time.Millisecond || slept[0] > time.Second || slept[1] < time.Second || slept[1] > 2*time.Second {
		t.Errorf("waits between attempts = %v, want one in [0.5s,1s] then one in [1s,2s]", slept)
	}

	st := channelStatus(t, ns, "crm")
	if st.Delivered != 1 || st.Failed != 0 || st.ConsecutiveFailures != 0 {
		t.Errorf("delivered/failed/consecutiveFailures = %d/%d/%d, want 1/0/0", st.Delivered, st.Failed, st.ConsecutiveFailures)
	}
	if ld := st.LastDelivery; ld == nil || ld.Outcome != cxv1alpha1.DeliveryDelivered || ld.Channel != "crm" || ld.Time.Unix() != clk.Now().Unix() {
		t.Errorf("lastDelivery = %+v, want Delivered at %v", st.LastDelivery, clk.Now())
	}
	if c := apimeta.FindStatusCondition(st.Conditions, cxv1alpha1.ConditionReady); c == nil || c.Message != ready.Message {
		t.Errorf("Ready condition was changed: %+v", c)
	}
	if got := counterValue(t, n, "Webhook", "delivered"); got != 1 {
		t.Errorf("cxloop_notifications_total{Webhook,delivered} = %v, want 1", got)
	}
	if got := histogramCount(t, n, "Webhook"); got != 1 {
		t.Errorf("latency histogram count = %d, want 1", got)
	}
}

// A 400 is permanent: one request, no retry, and the status shows the
// failure; a later success resets consecutiveFailures.
func TestClientErrorIsPermanent(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusBadRequest, http.StatusGone)
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, clk := newTestNotifier(t)

	err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m1"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "400 Bad Request (invalid_payload)") {
		t.Fatalf("error = %v, want a permanent 400 with the receiver's answer", err)
	}
	if n := len(rcv.Requests()); n != 1 || len(clk.Slept()) != 0 {
		t.Fatalf("receiver got %d requests after %d waits, want 1 and none", n, len(clk.Slept()))
	}
	st := channelStatus(t, ns, "crm")
	if st.Failed != 1 || st.ConsecutiveFailures != 1 || st.Delivered != 0 || st.LastDelivery == nil ||
		st.LastDelivery.Outcome != cxv1alpha1.DeliveryFailed || !strings.Contains(st.LastDelivery.Message, "400 Bad Request") {
		t.Fatalf("status after a 400 = %+v", st)
	}
	if err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m2")); !IsPermanent(err) {
		t.Fatalf("410: error = %v, want permanent", err)
	}
	if err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m3")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	st = channelStatus(t, ns, "crm")
	if st.Failed != 2 || st.Delivered != 1 || st.ConsecutiveFailures != 0 || st.LastDelivery.Outcome != cxv1alpha1.DeliveryDelivered || st.LastDelivery.Message != "" {
		t.Errorf("status after 2 failures and a success = %+v", st)
	}
}

// A 429 with Retry-After is retried after exactly that long; one asking
// for longer than BackoffMax ends the retries with a transient error.
func TestRetryAfterIsHonored(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusTooManyRequests)
	rcv.header.Set("Retry-After", "7")
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, clk := newTestNotifier(t)
	if err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m1")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if slept := clk.Slept(); len(slept) != 1 || slept[0] != 7*time.Second || len(rcv.Requests()) != 2 {
		t.Errorf("waits %v, requests %d; want one wait of 7s and 2 requests", slept, len(rcv.Requests()))
	}

	rcv.mu.Lock()
	rcv.statuses = []int{http.StatusServiceUnavailable}
	rcv.header.Set("Retry-After", "3600")
	rcv.mu.Unlock()
	err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m2"))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "retry after 1h0m0s") {
		t.Errorf("error = %v, want a transient error that names the receiver's Retry-After", err)
	}
	if len(rcv.Requests()) != 3 {
		t.Errorf("receiver got %d requests, want 3 (no retry within this Deliver)", len(rcv.Requests()))
	}
}

// A receiver that keeps failing gets MaxAttempts requests; the error is
// transient so the caller can try again later.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, 503, 503, 503, 503, 503)
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, _ := newTestNotifier(t, func(o *Options) { o.MaxAttempts = 3 })
	err := n.Deliver(context.Background(), ns, "crm", sampleMessage("m1"))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("error = %v", err)
	}
	if len(rcv.Requests()) != 3 {
		t.Errorf("receiver got %d requests, want 3", len(rcv.Requests()))
	}
	if st := channelStatus(t, ns, "crm"); st.Failed != 1 || st.ConsecutiveFailures != 1 {
		t.Errorf("status = %+v", st)
	}
	if got := counterValue(t, n, "Webhook", "failed"); got != 1 {
		t.Errorf("cxloop_notifications_total{Webhook,failed} = %v, want 1", got)
	}
}

// Delivering the same Key twice, or concurrently, sends one request; a
// new Key is sent. A failed delivery does not use up its Key.
func TestIdempotencyKey(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusBadRequest)
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, _ := newTestNotifier(t)
	ctx := context.Background()

	if err := n.Deliver(ctx, ns, "crm", sampleMessage("case-7-opened")); !IsPermanent(err) {
		t.Fatalf("first attempt: %v, want the 400", err)
	}
	if err := n.Deliver(ctx, ns, "crm", sampleMessage("case-7-opened")); err != nil {
		t.Fatalf("retry after a failure: %v", err)
	}
	if err := n.Deliver(ctx, ns, "crm", sampleMessage("case-7-opened")); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	if got := len(rcv.Requests()); got != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the failure, then one delivery)", got)
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := n.Deliver(ctx, ns, "crm", sampleMessage("case-8-opened")); err != nil {
				t.Errorf("concurrent Deliver: %v", err)
			}
		})
	}
	wg.Wait()
	if got := len(rcv.Requests()); got != 3 {
		t.Fatalf("receiver got %d requests, want 3 (one for 8 concurrent deliveries of one key)", got)
	}
	if st := channelStatus(t, ns, "crm"); st.Delivered != 2 {
		t.Errorf("delivered = %d, want 2", st.Delivered)
	}
	if got := counterValue(t, n, "Webhook", "duplicate"); got != 8 {
		t.Errorf("duplicates counted = %v, want 8", got)
	}
}

// With rateLimitPerMinute 2, the third message within a minute waits for
// the next slot (30s on the injected clock) and is then sent. When the
// caller's deadline comes before the slot, Deliver returns a transient
// error and sends nothing.
func TestRateLimitWaitsForASlot(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t)
	createWebhookChannel(t, ns, "crm", rcv.URL, func(ch *cxv1alpha1.NotificationChannel) { ch.Spec.RateLimitPerMinute = 2 })
	n, clk := newTestNotifier(t)
	ctx := context.Background()

	for _, key := range []string{"m1", "m2"} {
		if err := n.Deliver(ctx, ns, "crm", sampleMessage(key)); err != nil {
			t.Fatalf("Deliver %s: %v", key, err)
		}
	}
	if len(clk.Slept()) != 0 {
		t.Fatalf("the first two messages waited %v", clk.Slept())
	}
	if err := n.Deliver(ctx, ns, "crm", sampleMessage("m3")); err != nil {
		t.Fatalf("Deliver m3: %v", err)
	}
	if slept := clk.Slept(); len(slept) != 1 || slept[0] != 30*time.Second {
		t.Fatalf("the third message waited %v, want 30s", slept)
	}
	if got := len(rcv.Requests()); got != 3 {
		t.Fatalf("receiver got %d requests, want 3", got)
	}

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := n.Deliver(short, ns, "crm", sampleMessage("m4"))
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "spec.rateLimitPerMinute: channel allows 2 messages per minute and the next slot is in 30s") {
		t.Fatalf("error = %v, want a transient rate-limit error", err)
	}
	if got := len(rcv.Requests()); got != 3 || len(clk.Slept()) != 1 {
		t.Fatalf("after a refused message: %d requests, waits %v", got, clk.Slept())
	}
	// The refused message gave its slot back: after 30s one more is sent
	// without waiting.
	clk.mu.Lock()
	clk.now = clk.now.Add(30 * time.Second)
	clk.mu.Unlock()
	if err := n.Deliver(ctx, ns, "crm", sampleMessage("m4")); err != nil {
		t.Fatalf("Deliver m4: %v", err)
	}
	if len(clk.Slept()) != 1 || len(rcv.Requests()) != 4 {
		t.Errorf("m4 waited %v, requests %d", clk.Slept(), len(rcv.Requests()))
	}
}
