package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// verifyStandardWebhook checks a request the way a Standard Webhooks
// receiver does, written from the specification rather than from the
// sender: the signed content is "<webhook-id>.<webhook-timestamp>.<body>",
// the key is the base64 after "whsec_" (or the raw bytes), and
// webhook-signature is a space-separated list of "v1,<base64 HMAC-SHA256>".
func verifyStandardWebhook(secret string, r request) bool {
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		var err error
		if key, err = base64.StdEncoding.DecodeString(secret[len("whsec_"):]); err != nil {
			return false
		}
	}
	signed := r.Header.Get("Webhook-Id") + "." + r.Header.Get("Webhook-Timestamp") + "." + string(r.Body)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(r.Header.Get("Webhook-Signature")) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// A webhook carries the Standard Webhooks headers with a signature a
// receiver can verify, the extra headers of the headers Secret, and the
// message as {type, timestamp, data}.
func TestWebhookSignedPayload(t *testing.T) {
	for _, tc := range []struct{ name, secret string }{
		{"whsec base64 secret", testSigningSecret},
		{"raw secret", "a raw shared secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			rcv := newReceiver(t)
			ch := webhookChannel(ns, "crm", rcv.URL+"/hooks/cx", true)
			ch.Spec.Webhook.HeadersSecretRef = &cxv1alpha1.SecretReference{Name: "crm-headers"}
			create(t,
				secret(ns, "crm-signing", map[string]string{"key": tc.secret}),
				secret(ns, "crm-headers", map[string]string{"Authorization": "Bearer t0ken", "X-Tenant": "acme"}),
				ch)
			n, clk := newTestNotifier(t)

			if err := n.Deliver(context.Background(), ns, "crm", sampleMessage("case-acme-4711-opened")); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if !verifyStandardWebhook(tc.secret, r) {
				t.Errorf("signature %q does not verify", r.Header.Get("Webhook-Signature"))
			}
			if verifyStandardWebhook("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key")), r) {
				t.Error("signature verifies with a different key")
			}
			if got := r.Header.Get("Webhook-Id"); got != "case-acme-4711-opened" {
				t.Errorf("webhook-id = %q, want the message key", got)
			}
			if got, want := r.Header.Get("Webhook-Timestamp"), strconv.FormatInt(clk.Now().Unix(), 10); got != want {
				t.Errorf("webhook-timestamp = %q, want %q", got, want)
			}
			if r.Header.Get("Authorization") != "Bearer t0ken" || r.Header.Get("X-Tenant") != "acme" {
				t.Errorf("extra headers missing: %v", r.Header)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}

			body := decodeJSON(t, r.Body)
			if body["type"] != "CaseOpened" || body["timestamp"] != "2026-03-14T09:26:53Z" {
				t.Errorf("type/timestamp = %v/%v", body["type"], body["timestamp"])
			}
			data, _ := body["data"].(map[string]any)
			if data["title"] != "Installation failed for Acme Corp" || data["severity"] != "Urgent" ||
				data["link"] != "https://cx.example.com/cases/acme-4711" || data["namespace"] != ns || data["channel"] != "crm" {
				t.Errorf("data = %v", data)
			}
			fields, _ := data["fields"].([]any)
			var first map[string]any
			if len(fields) > 0 {
				first, _ = fields[0].(map[string]any)
			}
			if len(fields) != 2 || first["name"] != "Customer" || first["value"] != "Acme Corp (Gold)" {
				t.Errorf("fields = %v", data["fields"])
			}
			details, _ := data["details"].(map[string]any)
			if details["case"] != "acme-4711" || details["score"] != float64(3) {
				t.Errorf("details = %v", data["details"])
			}
		})
	}
}

// The URL can come from a Secret; the error for a bad one never echoes it.
func TestWebhookURLFromSecret(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t)
	ch := createWebhookChannel(t, ns, "ops", "", func(ch *cxv1alpha1.NotificationChannel) {
		ch.Spec.Webhook.URL = ""
		ch.Spec.Webhook.URLSecretRef = &cxv1alpha1.SecretKeyReference{Name: "ops-url", Key: "url"}
	})
	create(t, secret(ns, "ops-url", map[string]string{"url": rcv.URL + "/T0/B1/s3cr3t"}))
	n, _ := newTestNotifier(t)
	if err := n.Deliver(context.Background(), ns, ch.Name, sampleMessage("k1")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(rcv.Requests()) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(rcv.Requests()))
	}

	create(t, secret(ns, "bad-url", map[string]string{"url": "hooks.example.com/s3cr3t"}))
	bad := createWebhookChannel(t, ns, "bad", "", func(ch *cxv1alpha1.NotificationChannel) {
		ch.Spec.Webhook.URL = ""
		ch.Spec.Webhook.URLSecretRef = &cxv1alpha1.SecretKeyReference{Name: "bad-url", Key: "url"}
	})
	err := n.Deliver(context.Background(), ns, bad.Name, sampleMessage("k1"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "spec.webhook.urlSecretRef") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %v should be permanent, name spec.webhook.urlSecretRef and not echo the URL", err)
	}
}

// A missing Secret or key fails at once, naming the field and the fix.
func TestMissingSecretIsPermanent(t *testing.T) {
	ns := env.Namespace(t)
	create(t, webhookChannel(ns, "crm", "https://hooks.example.com/cx", false))
	n, _ := newTestNotifier(t)
	err := n.Deliver(context.Background(), ns, "crm", sampleMessage("k1"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), `spec.webhook.signingSecretRef: Secret "crm-signing" not found`) {
		t.Errorf("error = %v", err)
	}
	st := channelStatus(t, ns, "crm")
	if st.LastDelivery == nil || st.LastDelivery.Outcome != cxv1alpha1.DeliveryFailed || !strings.Contains(st.LastDelivery.Message, "create it") {
		t.Errorf("lastDelivery = %+v", st.LastDelivery)
	}

	err = n.Deliver(context.Background(), ns, "absent", sampleMessage("k1"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), `NotificationChannel "absent" not found`) {
		t.Errorf("error for a missing channel = %v", err)
	}
}
