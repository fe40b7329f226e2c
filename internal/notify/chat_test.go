package notify

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// chatChannel is a Slack or Teams channel whose URL is in Secret
// "<name>-url".
func chatChannel(ns, name string, typ cxv1alpha1.ChannelType) *cxv1alpha1.NotificationChannel {
	ref := cxv1alpha1.SecretKeyReference{Name: name + "-url", Key: "url"}
	ch := &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cxv1alpha1.NotificationChannelSpec{Type: typ, AllowPrivateDestinations: true},
	}
	if typ == cxv1alpha1.ChannelTypeSlack {
		ch.Spec.Slack = &cxv1alpha1.SlackChannel{WebhookURLSecretRef: ref}
	} else {
		ch.Spec.Teams = &cxv1alpha1.TeamsChannel{WebhookURLSecretRef: ref}
	}
	return ch
}

// deliverToChat delivers msg through a new channel of typ to a loopback
// receiver and returns the one request body it got.
func deliverToChat(t *testing.T, typ cxv1alpha1.ChannelType, msg Message) []byte {
	t.Helper()
	ns := env.Namespace(t)
	rcv := newReceiver(t)
	create(t, secret(ns, "chat-url", map[string]string{"url": rcv.URL + "/services/T000/B000/XXXX"}), chatChannel(ns, "chat", typ))
	n, _ := newTestNotifier(t)
	if err := n.Deliver(context.Background(), ns, "chat", msg); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	return reqs[0].Body
}

// Slack gets Block Kit: a header with the title, a mrkdwn section with the
// (escaped) text, a section with the fields, and a context with the
// severity, the event and the link.
func TestSlackBlockKit(t *testing.T) {
	msg := sampleMessage("case-1-opened")
	msg.Text = "Comment: <!channel> installer *crashed* & stopped"
	var got struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"text"`
			Fields   []struct{ Type, Text string } `json:"fields"`
			Elements []struct{ Type, Text string } `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(deliverToChat(t, cxv1alpha1.ChannelTypeSlack, msg), &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != msg.Title {
		t.Errorf("fallback text %q", got.Text)
	}
	var types []string
	for _, b := range got.Blocks {
		types = append(types, b.Type)
	}
	if len(got.Blocks) != 4 || types[0] != "header" || types[1] != "section" || types[2] != "section" || types[3] != "context" {
		t.Fatalf("blocks %v, want header, section, section, context", types)
	}
	if h := got.Blocks[0].Text; h.Type != "plain_text" || h.Text != msg.Title {
		t.Errorf("header %+v", h)
	}
	if s := got.Blocks[1].Text; s.Type != "mrkdwn" || s.Text != "Comment: &lt;!channel&gt; installer *crashed* &amp; stopped" {
		t.Errorf("section %+v; customer text must not form mentions", s)
	}
	if f := got.Blocks[2].Fields; len(f) != 2 || f[0].Type != "mrkdwn" || f[0].Text != "*Customer*\nAcme Corp (Gold)" || f[1].Text != "*Due*\n2026-03-15 09:26 UTC" {
		t.Errorf("fields %+v", f)
	}
	e := got.Blocks[3].Elements
	if len(e) != 3 || e[0].Text != "Severity: *Urgent*" || e[1].Text != "CaseOpened" || e[2].Text != "<https://cx.example.com/cases/acme-4711|Open>" {
		t.Errorf("context %+v", e)
	}
}

// Teams gets a workflow message with one Adaptive Card: a heading
// TextBlock, the text, a FactSet of the fields and an Action.OpenUrl.
func TestTeamsAdaptiveCard(t *testing.T) {
	msg := sampleMessage("case-1-opened")
	var got struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string  `json:"contentType"`
			ContentURL  *string `json:"contentUrl"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string                          `json:"type"`
					Text  string                          `json:"text"`
					Style string                          `json:"style"`
					Facts []struct{ Title, Value string } `json:"facts"`
				} `json:"body"`
				Actions []struct{ Type, Title, URL string } `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(deliverToChat(t, cxv1alpha1.ChannelTypeTeams, msg), &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "message" || len(got.Attachments) != 1 {
		t.Fatalf("message %+v", got)
	}
	a := got.Attachments[0]
	if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.Content.Type != "AdaptiveCard" || a.Content.Version == "" {
		t.Errorf("attachment %s / %s %s", a.ContentType, a.Content.Type, a.Content.Version)
	}
	body := a.Content.Body
	if len(body) < 3 || body[0].Type != "TextBlock" || body[0].Text != msg.Title || body[0].Style != "heading" ||
		body[1].Type != "TextBlock" || body[1].Text != msg.Text || body[2].Type != "FactSet" {
		t.Fatalf("card body %+v", body)
	}
	facts := body[2].Facts
	if len(facts) != 3 || facts[0].Title != "Severity" || facts[0].Value != "Urgent" || facts[1].Title != "Customer" || facts[1].Value != "Acme Corp (Gold)" {
		t.Errorf("facts %+v", facts)
	}
	if acts := a.Content.Actions; len(acts) != 1 || acts[0].Type != "Action.OpenUrl" || acts[0].URL != msg.Link {
		t.Errorf("actions %+v", acts)
	}
}
