package report_test

import (
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Each channel type gets the shape it can show: email the full HTML with
// its charts, chat a compact summary with the link, webhooks the JSON.
func TestMessagePerChannelType(t *testing.T) {
	rd := buildFixture(t)
	const key, link = "report/acme/weekly/2026-03-09T07:00:00Z", "https://cx.example.com/reports/weekly"

	email, err := rd.Message(cxv1alpha1.ChannelTypeEmail, key, link)
	if err != nil {
		t.Fatal(err)
	}
	if email.Key != key || email.Event != "Report" || email.Title != "Weekly installation experience" {
		t.Errorf("email key/event/title: %q %q %q", email.Key, email.Event, email.Title)
	}
	if email.HTML == "" || email.Text != rd.Text || len(email.Attachments) != 3 || email.Fields != nil {
		t.Errorf("email: HTML %d bytes, text is the full text %v, %d attachments; want HTML, the full text and 3 charts",
			len(email.HTML), email.Text == rd.Text, len(email.Attachments))
	}
	for _, a := range email.Attachments {
		if a.ContentType != "image/png" || !strings.Contains(email.HTML, `src="cid:`+a.ContentID+`"`) || len(a.Data) < 1000 {
			t.Errorf("attachment %s (%s, %d bytes) is not a PNG the HTML shows", a.ContentID, a.ContentType, len(a.Data))
		}
	}

	slack, err := rd.Message(cxv1alpha1.ChannelTypeSlack, key, link)
	if err != nil {
		t.Fatal(err)
	}
	if slack.HTML != "" || len(slack.Attachments) != 0 || slack.Data != nil {
		t.Error("Slack gets HTML, attachments or data")
	}
	fields := map[string]string{}
	for _, f := range slack.Fields {
		fields[f.Name] = f.Value
	}
	for name, want := range map[string]string{"NPS": "5.4 (-12.2)", "CSAT": "47.0% (+2.0)", "CES": "8.13 (+0.14)",
		"Responses": "112", "Cases opened": "4", "Cases overdue": "1"} {
		if fields[name] != want {
			t.Errorf("Slack field %s = %q, want %q", name, fields[name], want)
		}
	}
	if want := "Mon 2 Mar 2026 08:00 CET to Mon 9 Mar 2026 08:00 CET, 2 touchpoints"; slack.Text != want || slack.Link != link {
		t.Errorf("Slack text %q link %q, want %q and the link", slack.Text, slack.Link, want)
	}

	hook, err := rd.Message(cxv1alpha1.ChannelTypeWebhook, key, "")
	if err != nil {
		t.Fatal(err)
	}
	sections, ok := hook.Data["sections"].([]any)
	if !ok || len(sections) != 7 || hook.Data["subscription"] != "weekly" || !strings.Contains(hook.Text, "NPS 5.4 (-12.2)") {
		t.Errorf("webhook data: %d sections, subscription %v; want the report with 7 sections", len(sections), hook.Data["subscription"])
	}
}
