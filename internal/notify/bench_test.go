package notify

import (
	"context"
	"strconv"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// BenchmarkDeliverWebhook measures one Deliver end to end against the real
// API server: read the channel and its Secret, sign and POST to a loopback
// receiver, patch the status. The rate limit waits on the injected clock.
func BenchmarkDeliverWebhook(b *testing.B) {
	ns := env.Namespace(b)
	rcv := newReceiver(b)
	createWebhookChannel(b, ns, "crm", rcv.URL, func(ch *cxv1alpha1.NotificationChannel) { ch.Spec.RateLimitPerMinute = 6000 })
	n, _ := newTestNotifier(b)
	msg := sampleMessage("")
	b.ResetTimer()
	for i := range b.N {
		msg.Key = "bench-" + strconv.Itoa(i)
		if err := n.Deliver(context.Background(), ns, "crm", msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildEmail measures rendering a report email with an inline
// chart into MIME.
func BenchmarkBuildEmail(b *testing.B) {
	msg := reportMessage()
	msg.Attachments[0].Data = make([]byte, 64<<10)
	h := emailHeader{From: mustAddress(b, "Acme CX <cx@acme.example>"), To: nil, MessageID: "<x@acme.example>"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildEmail(h, msg); err != nil {
			b.Fatal(err)
		}
	}
}
