package notify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// CustomerMessage is a message to one customer: a survey invitation, a
// reminder, an acknowledgement. Its address is given by the caller (the
// collector, the only holder of contact details), not by the channel.
type CustomerMessage struct {
	// Key is the idempotency key: the Message-ID of an email, the
	// Idempotency-Key header of an SMS request. The same Key on a retry
	// lets the receiver drop the second copy.
	Key string
	// To is the email address (Email channel) or E.164 phone number (SMS
	// channel).
	To string
	// Subject, Text and HTML of an email.
	Subject, Text, HTML string
	// SMS is the text of a text message.
	SMS string
	// Unsubscribe is the one-click unsubscribe URL: List-Unsubscribe and
	// List-Unsubscribe-Post headers of an email.
	Unsubscribe string
}

// SendToCustomer sends msg once (no retries: the caller keeps the message
// durable and retries it) through the NotificationChannel namespace/channel
// to msg.To. The channel's own recipients are not used and its status is
// not touched: customer addresses must not show in a channel's status.
// Errors for which IsPermanent is true cannot be fixed by a retry.
func (n *Notifier) SendToCustomer(ctx context.Context, namespace, channel string, msg CustomerMessage) error {
	ch := &cxv1alpha1.NotificationChannel{}
	if err := n.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: channel}, ch); err != nil {
		if client.IgnoreNotFound(err) == nil {
			err = Permanent(fmt.Errorf("NotificationChannel %q not found in namespace %s; create it or fix distribution's channel", channel, namespace))
		}
		return err
	}
	typ := string(ch.Spec.Type)
	var err error
	switch {
	case ch.Spec.Type == cxv1alpha1.ChannelTypeEmail && ch.Spec.Email != nil:
		err = n.sendCustomerEmail(ctx, ch, msg)
	case ch.Spec.Type == cxv1alpha1.ChannelTypeSMS && ch.Spec.SMS != nil:
		err = n.sendCustomerSMS(ctx, ch, msg)
	default:
		err = Permanent(fmt.Errorf("NotificationChannel %s/%s is of type %s; customers are reached by an Email or SMS channel", namespace, channel, ch.Spec.Type))
	}
	if err != nil {
		n.metrics.count(typ, resultFailed)
		return err
	}
	n.metrics.count(typ, resultDelivered)
	return nil
}

func (n *Notifier) sendCustomerEmail(ctx context.Context, ch *cxv1alpha1.NotificationChannel, msg CustomerMessage) error {
	if _, err := mail.ParseAddress(msg.To); err != nil {
		return Permanent(fmt.Errorf("the customer's email address is not valid: %w", err))
	}
	c := ch.DeepCopy()
	c.Spec.Email.To = []string{msg.To}
	s, err := n.newEmailSender(ctx, c)
	if err != nil {
		return err
	}
	es, ok := s.(*emailSender)
	if !ok {
		return fmt.Errorf("email sender of unexpected type %T", s)
	}
	return es.sendWith(ctx, emailHeader{ListUnsubscribe: msg.Unsubscribe},
		Message{Key: msg.Key, Event: "SurveyInvitation", Title: msg.Subject, Text: msg.Text, HTML: msg.HTML})
}

// sendCustomerSMS posts one text message to the channel's gateway.
func (n *Notifier) sendCustomerSMS(ctx context.Context, ch *cxv1alpha1.NotificationChannel, msg CustomerMessage) error {
	const field = "spec.sms.url"
	if !e164.MatchString(msg.To) {
		return Permanent(errors.New("the customer's phone number is not an E.164 number such as +14155550100"))
	}
	u, err := parseTarget(field, ch.Spec.SMS.URL)
	if err != nil {
		return err
	}
	sec, err := n.secret(ctx, ch.Namespace, "spec.sms.credentialsSecretRef", ch.Spec.SMS.CredentialsSecretRef.Name)
	if err != nil {
		return err
	}
	user, pass := string(sec.Data["username"]), string(sec.Data["password"])
	if user == "" || pass == "" {
		return Permanent(fmt.Errorf("spec.sms.credentialsSecretRef: Secret %s needs the keys username (account id) and password (auth token)", ch.Spec.SMS.CredentialsSecretRef.Name))
	}
	httpc := n.guarded
	if ch.Spec.AllowPrivateDestinations {
		httpc = n.open
	}
	body := url.Values{"To": {msg.To}, "From": {ch.Spec.SMS.From}, "Body": {msg.SMS}}.Encode()
	key := smsIdempotencyKey(ch.Namespace+"/"+ch.Name, msg.Key)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	h.Set("Idempotency-Key", key)
	h.Set("I-Twilio-Idempotency-Token", key)
	return n.post(ctx, httpTarget{url: u, field: field, client: httpc}, []byte(body), h)
}

// e164 is an international phone number.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// smsIdempotencyKey derives the header value from the message key (which
// may name the customer), scoped to the channel.
func smsIdempotencyKey(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}
