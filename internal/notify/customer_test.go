package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// An invitation reaches the customer's address (not the channel's
// recipients) at a real SMTP server, with RFC 8058 one-click unsubscribe
// headers and a Message-ID that is the same when it is sent again.
func TestSendToCustomerByEmail(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, false, "cx-bot", "s3cret")
	ns := env.Namespace(t)
	ch := emailChannel(ns, "customer-mail", srv.port(t), cxv1alpha1.SMTPStartTLS, "smtp-credentials")
	ch.Spec.Email.To = nil
	create(t, secret(ns, "smtp-credentials", map[string]string{"username": "cx-bot", "password": "s3cret"}), ch)
	n, _ := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })

	msg := CustomerMessage{
		Key: "acme/install/invite/ev-1", To: "ada@customer.example", Subject: "Ada, how did the upgrade go?",
		Text: "Hello Ada", HTML: "<p>Hello Ada</p>", Unsubscribe: "https://survey.acme.example/u/abc.def",
	}
	for range 2 {
		if err := n.SendToCustomer(context.Background(), ns, "customer-mail", msg); err != nil {
			t.Fatalf("SendToCustomer: %v", err)
		}
	}
	mails := srv.Mails()
	if len(mails) != 2 || strings.Join(mails[0].To, ",") != "ada@customer.example" {
		t.Fatalf("mails %+v", mails)
	}
	var ids []string
	for _, m := range mails {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		h := parsed.Header
		if h.Get("List-Unsubscribe") != "<https://survey.acme.example/u/abc.def>" || h.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("unsubscribe headers %q %q", h.Get("List-Unsubscribe"), h.Get("List-Unsubscribe-Post"))
		}
		if h.Get("To") != "<ada@customer.example>" {
			t.Errorf("To %q", h.Get("To"))
		}
		ids = append(ids, h.Get("Message-ID"))
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("Message-IDs %v: a resent invitation must carry the same id", ids)
	}
	// The channel's status names no customer.
	got := &cxv1alpha1.NotificationChannel{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "customer-mail"}, got); err != nil {
		t.Fatal(err)
	}
	if st, _ := json.Marshal(got.Status); strings.Contains(string(st), "ada@") {
		t.Errorf("customer address in channel status: %s", st)
	}

	if err := n.SendToCustomer(context.Background(), ns, "customer-mail", CustomerMessage{Key: "k", To: "not an address"}); !IsPermanent(err) {
		t.Errorf("bad address: %v, want a permanent error", err)
	}
}

// A text message goes to a real HTTP receiver in the Twilio-style form,
// with basic auth and an idempotency key that stays the same on a retry;
// a 400 is permanent, a 503 transient.
func TestSendToCustomerBySMS(t *testing.T) {
	rcv := newReceiver(t, 201, 201, 400, 503)
	ns := env.Namespace(t)
	create(t,
		secret(ns, "sms-credentials", map[string]string{"username": "AC123", "password": "tok"}),
		&cxv1alpha1.NotificationChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-sms"},
			Spec: cxv1alpha1.NotificationChannelSpec{
				Type: cxv1alpha1.ChannelTypeSMS, AllowPrivateDestinations: true,
				SMS: &cxv1alpha1.SMSChannel{URL: rcv.URL + "/2010-04-01/Accounts/AC123/Messages.json", From: "+14155550100",
					CredentialsSecretRef: cxv1alpha1.SecretReference{Name: "sms-credentials"}},
			},
		})
	n, _ := newTestNotifier(t)
	msg := CustomerMessage{Key: "acme/visit/invite/v1", To: "+81312345678", SMS: "How was the visit? https://s.example/s/t"}
	for range 2 {
		if err := n.SendToCustomer(context.Background(), ns, "customer-sms", msg); err != nil {
			t.Fatalf("SendToCustomer: %v", err)
		}
	}
	reqs := rcv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	form, _ := url.ParseQuery(string(reqs[0].Body))
	if form.Get("To") != "+81312345678" || form.Get("From") != "+14155550100" || form.Get("Body") != msg.SMS {
		t.Errorf("form %v", form)
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("AC123:tok")) || h.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("headers %v", h)
	}
	if k := h.Get("Idempotency-Key"); k == "" || k != reqs[1].Header.Get("Idempotency-Key") || k != h.Get("I-Twilio-Idempotency-Token") || strings.Contains(k, "visit") {
		t.Errorf("idempotency keys %q %q", k, reqs[1].Header.Get("Idempotency-Key"))
	}
	if err := n.SendToCustomer(context.Background(), ns, "customer-sms", msg); !IsPermanent(err) {
		t.Errorf("400: %v, want permanent", err)
	}
	if err := n.SendToCustomer(context.Background(), ns, "customer-sms", msg); err == nil || IsPermanent(err) {
		t.Errorf("503: %v, want transient", err)
	}
	if err := n.SendToCustomer(context.Background(), ns, "customer-sms", CustomerMessage{Key: "k", To: "0301234"}); !IsPermanent(err) {
		t.Errorf("bad number: %v, want permanent", err)
	}
}
