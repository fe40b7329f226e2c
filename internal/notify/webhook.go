package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
)

// webhookSecretPrefix marks a signing secret given as base64, per the
// Standard Webhooks convention.
const webhookSecretPrefix = "whsec_"

// webhookSender posts signed JSON to a generic endpoint.
type webhookSender struct {
	n       *Notifier
	target  httpTarget
	key     []byte
	headers http.Header
	// namespace and channel go into the payload, so a receiver shared by
	// several programs can tell them apart.
	namespace, channel string
}

// newWebhookSender reads the URL, the signing secret and the extra headers.
func (n *Notifier) newWebhookSender(ctx context.Context, ch *cxv1alpha1.NotificationChannel, httpc *http.Client) (sender, error) {
	w := ch.Spec.Webhook
	s := &webhookSender{n: n, namespace: ch.Namespace, channel: ch.Name}
	var err error
	if w.URLSecretRef != nil {
		s.target, err = n.secretTarget(ctx, ch.Namespace, "spec.webhook.urlSecretRef", *w.URLSecretRef, httpc)
	} else {
		s.target.field, s.target.client = "spec.webhook.url", httpc
		s.target.url, err = parseTarget(s.target.field, w.URL)
	}
	if err != nil {
		return nil, err
	}
	raw, err := n.secretKey(ctx, ch.Namespace, "spec.webhook.signingSecretRef", w.SigningSecretRef)
	if err != nil {
		return nil, err
	}
	if s.key, err = signingKey(raw); err != nil {
		return nil, err
	}
	if w.HeadersSecretRef != nil {
		sec, err := n.secret(ctx, ch.Namespace, "spec.webhook.headersSecretRef", w.HeadersSecretRef.Name)
		if err != nil {
			return nil, err
		}
		if s.headers, err = extraHeaders(w.HeadersSecretRef.Name, sec.Data); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// signingKey decodes a signing secret: "whsec_" followed by standard
// base64 is decoded (the Standard Webhooks form); any other value is used
// byte for byte as the HMAC key.
func signingKey(v []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(v)), webhookSecretPrefix)
	if !ok {
		return v, nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) == 0 {
		return nil, Permanent(fmt.Errorf("spec.webhook.signingSecretRef: the value starts with %q but the rest is not standard base64; store %s<base64 of the key>, or the raw key without the prefix",
			webhookSecretPrefix, webhookSecretPrefix))
	}
	return key, nil
}

// extraHeaders turns the keys of the headers Secret into HTTP headers.
// Headers cxloop sets itself cannot be replaced.
func extraHeaders(secret string, data map[string][]byte) (http.Header, error) {
	h := http.Header{}
	for k, v := range data {
		name := http.CanonicalHeaderKey(k)
		switch strings.ToLower(k) {
		case headerWebhookID, headerWebhookTimestamp, headerWebhookSignature, "content-type", "content-length", "host":
			return nil, Permanent(fmt.Errorf("spec.webhook.headersSecretRef: Secret %q key %q would replace a header cxloop sets; remove it", secret, k))
		}
		val := strings.TrimSpace(string(v))
		if !validHeaderName(k) || strings.ContainsAny(val, "\r\n\x00") {
			return nil, Permanent(fmt.Errorf("spec.webhook.headersSecretRef: Secret %q key %q is not a valid HTTP header name and value; fix it", secret, k))
		}
		h.Set(name, val)
	}
	return h, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// webhookPayload is the JSON body: {type, timestamp, data}.
type webhookPayload struct {
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	Key       string         `json:"key"`
	Namespace string         `json:"namespace"`
	Channel   string         `json:"channel"`
	Title     string         `json:"title"`
	Text      string         `json:"text,omitempty"`
	Severity  string         `json:"severity,omitempty"`
	Link      string         `json:"link,omitempty"`
	Fields    []webhookField `json:"fields,omitempty"`
	// Details is Message.Data.
	Details map[string]any `json:"details,omitempty"`
}

type webhookField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (s *webhookSender) send(ctx context.Context, msg Message) error {
	now := s.n.opts.Now()
	body, err := webhookBody(msg, s.namespace, s.channel, now)
	if err != nil {
		return err
	}
	h := s.headers.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(headerWebhookID, msg.Key)
	h.Set(headerWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(headerWebhookSignature, sign(s.key, msg.Key, now.Unix(), body))
	return s.n.post(ctx, s.target, body, h)
}

// webhookBody renders the payload; the type is the event.
func webhookBody(msg Message, namespace, channel string, now time.Time) ([]byte, error) {
	p := webhookPayload{
		Type:      msg.Event,
		Timestamp: now.UTC().Format(time.RFC3339),
		Data: webhookData{
			Key: msg.Key, Namespace: namespace, Channel: channel,
			Title: msg.Title, Text: msg.Text, Severity: msg.Severity, Link: msg.Link,
			Details: msg.Data,
		},
	}
	if p.Type == "" {
		p.Type = "Notification"
	}
	for _, f := range msg.Fields {
		p.Data.Fields = append(p.Data.Fields, webhookField(f))
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode webhook payload (Message.Data must be JSON-encodable): %w", err))
	}
	return body, nil
}

// sign computes the Standard Webhooks signature header value:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	_, _ = fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	_, _ = mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
