package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// A channel whose deliveries keep failing becomes Ready=False with the
// receiver's answer, and Ready again after a success; the controller's
// status patches leave the notifier's delivery counters intact.
func TestNotificationChannelReportsFailingDeliveries(t *testing.T) {
	ns := env.Namespace(t)
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer rcv.Close()
	ch := webhookChannel(ns, "crm", "crm-webhook")
	ch.Spec.Webhook.URL = rcv.URL
	ch.Spec.AllowPrivateDestinations = true
	create(t, ch, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm-webhook"},
		StringData: map[string]string{"signing-key": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	})
	waitReady(t, ch, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)

	n := notify.New(env.Client, notify.Options{})
	deliver := func(key string) error {
		return n.Deliver(context.Background(), ns, "crm", notify.Message{Key: key, Event: "CaseOpened", Title: "Installation failed"})
	}
	for i, key := range []string{"m1", "m2"} {
		if err := deliver(key); !notify.IsPermanent(err) {
			t.Fatalf("delivery %d: %v, want the permanent 400", i+1, err)
		}
	}
	waitReady(t, ch, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded) // two failures are not yet "keep failing"
	if err := deliver("m3"); !notify.IsPermanent(err) {
		t.Fatalf("delivery 3: %v", err)
	}
	c := waitReadyMessage(t, ch, metav1.ConditionFalse, cxv1alpha1.ReasonDeliveryFailed, "the last 3 deliveries failed")
	if !strings.Contains(c.Message, "400 Bad Request") {
		t.Errorf("Ready message %q should carry the receiver's answer", c.Message)
	}
	if ch.Status.Failed != 3 || ch.Status.ConsecutiveFailures != 3 || ch.Status.Delivered != 0 {
		t.Errorf("failed/consecutiveFailures/delivered = %d/%d/%d after the controller's patch, want 3/3/0",
			ch.Status.Failed, ch.Status.ConsecutiveFailures, ch.Status.Delivered)
	}

	status.Store(http.StatusOK)
	if err := deliver("m4"); err != nil {
		t.Fatalf("delivery 4: %v", err)
	}
	waitReady(t, ch, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if ch.Status.Failed != 3 || ch.Status.Delivered != 1 || ch.Status.ConsecutiveFailures != 0 ||
		ch.Status.LastDelivery == nil || ch.Status.LastDelivery.Outcome != cxv1alpha1.DeliveryDelivered {
		t.Errorf("status after recovery = %+v", ch.Status)
	}
}

// A webhook URL or SMTP host that is a private address or a cluster-internal
// name is refused at once, naming the field and the fix; allowing private
// destinations makes the channel Ready.
func TestNotificationChannelRefusesPrivateDestination(t *testing.T) {
	ns := env.Namespace(t)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "crm-webhook"},
		StringData: map[string]string{"signing-key": "raw-signing-key"},
	})
	ch := webhookChannel(ns, "crm", "crm-webhook")
	ch.Spec.Webhook.URL = "http://crm.cx-system.svc:8080/hooks"
	email := &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mail"},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type:  cxv1alpha1.ChannelTypeEmail,
			Email: &cxv1alpha1.EmailChannel{SMTP: cxv1alpha1.SMTPServer{Host: "10.0.0.25"}, From: "cx@acme.example", To: []string{"qa@acme.example"}},
		},
	}
	create(t, ch, email)

	c := waitReady(t, ch, metav1.ConditionFalse, cxv1alpha1.ReasonInvalidSpec)
	if !strings.Contains(c.Message, "spec.webhook.url") || !strings.Contains(c.Message, "cluster-internal name") ||
		!strings.Contains(c.Message, "set spec.allowPrivateDestinations: true if this is intended") {
		t.Errorf("message %q should name the field, the reason and the fix", c.Message)
	}
	c = waitReady(t, email, metav1.ConditionFalse, cxv1alpha1.ReasonInvalidSpec)
	if !strings.Contains(c.Message, "spec.email.smtp.host") || !strings.Contains(c.Message, "10.0.0.25 is a private address") {
		t.Errorf("message %q should name the field and the address", c.Message)
	}

	update(t, ch, func(ch *cxv1alpha1.NotificationChannel) { ch.Spec.AllowPrivateDestinations = true })
	waitReady(t, ch, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
}
