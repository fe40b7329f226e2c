package collector

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/store"
)

var followUpLinkPattern = regexp.MustCompile(`https://survey\.example\.com/install/f/[A-Za-z0-9_-]+\?a\.solved=(yes|no)`)

// A follow-up waits for its Case to close, then reaches the customer's
// address once with a yes and a no link, not a customer who unsubscribed;
// its page, opened from the yes link, has yes chosen, keeps the first
// answer only, and expires.
func TestFollowUpSentAfterClosingAndAnsweredOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		sender := &outbox{}
		ts := startServer(t, e, distributingTouchpoint(), Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
		ctx := t.Context()
		for _, id := range []string{"C-1", "C-2"} {
			contact, _ := json.Marshal(contactInfo{Customer: store.Customer{ID: id}, Email: id + "@example.com", FirstName: "Ada",
				Message: &customerText{Subject: "Ada, did we solve it?", Body: "Hello Ada,\n\nyour case is closed.", Question: "Did we solve your problem?",
					Locale: "en", LinkTTL: "168h"}})
			// As the dispatcher records it when the Case opens.
			if err := ts.Store.ScheduleMessage(ctx, store.ScheduledMessage{Namespace: "acme", Touchpoint: "install",
				Key: "followup/case-" + id, Kind: store.KindFollowUp, EventID: "e-" + id, CustomerID: id, Channel: "Email",
				Contact: contact, State: store.MessageWaiting, DueAt: ts.Clock.Now().Add(720 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := ts.Store.Unsubscribe(ctx, "acme", "C-2", ts.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		ts.Clock.Advance(100 * time.Hour)
		ts.sendDue(t)
		if got := sender.take(); len(got) != 0 {
			t.Fatalf("%d follow-ups sent while the Cases are open", len(got))
		}
		// Both Cases close; the follow-ups are due a day later.
		for _, id := range []string{"C-1", "C-2"} {
			if _, err := ts.Store.ReleaseFollowUp(ctx, "acme", "install", "followup/case-"+id, ts.Clock.Now().Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		ts.Clock.Advance(23 * time.Hour)
		ts.sendDue(t)
		if got := sender.take(); len(got) != 0 {
			t.Fatalf("%d follow-ups sent before the delay", len(got))
		}
		ts.Clock.Advance(time.Hour)
		ts.sendDue(t)
		ts.sendDue(t)
		got := sender.take()
		if len(got) != 1 || got[0].To != "C-1@example.com" || got[0].Channel != "customer-mail" || got[0].Subject != "Ada, did we solve it?" ||
			got[0].Key != "acme/install/followup/case-C-1" || got[0].Unsubscribe == "" {
			t.Fatalf("sent %+v, want one follow-up to C-1", got)
		}
		links := followUpLinkPattern.FindAllString(got[0].Text, -1)
		if len(links) != 2 || !strings.HasSuffix(links[0], "=yes") || !strings.HasSuffix(links[1], "=no") ||
			!strings.Contains(got[0].Text, "Did we solve your problem?\nYes: ") {
			t.Fatalf("follow-up text lacks the question and its two links:\n%s", got[0].Text)
		}
		c, err := ts.Store.OutreachCounts(ctx, "acme", "install")
		if err != nil || c.FollowUpsSent != 1 || c.Skipped != 1 || c.Sent != 0 {
			t.Errorf("counts %+v %v, want 1 follow-up sent, 1 skipped (unsubscribed)", c, err)
		}

		// The yes link opens the page with yes chosen.
		b := browser{t: t, base: ts.URL}
		path := strings.TrimPrefix(links[0], "https://survey.example.com/install")
		p := b.do("GET", path, nil)
		if p.status != http.StatusOK || !strings.Contains(p.body, `Did we solve your problem?`) || !strings.Contains(p.body, `value="yes" checked`) ||
			!strings.Contains(p.header.Get("Content-Security-Policy"), "default-src 'none'") || strings.Contains(p.body, "<script") {
			t.Fatalf("GET follow-up page: %d %s", p.status, p.body)
		}
		form := p.hidden()
		page, _, _ := strings.Cut(path, "?")
		empty := url.Values{}
		for k, v := range form {
			empty[k] = v
		}
		if p = b.do("POST", page, empty); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, `is required: &#34;Did we solve your problem?&#34;`) {
			t.Fatalf("POST without an answer: %d %s", p.status, p.body)
		}
		for _, a := range []string{"yes", "no"} {
			v := url.Values{"a.solved": {a}}
			for k, x := range form {
				v[k] = x
			}
			if p = b.do("POST", page, v); p.status != http.StatusOK || !strings.Contains(p.body, "Thank you") || strings.Contains(p.body, "<form") {
				t.Fatalf("POST %s: %d %s", a, p.status, p.body)
			}
		}
		todo, err := ts.Store.FollowUpAnswersToApply(ctx, "acme", "install", 10)
		if err != nil || len(todo) != 1 || todo[0].Answer != "yes" || todo[0].Key != "followup/case-C-1" {
			t.Fatalf("stored answers %+v %v, want the first (yes), to apply", todo, err)
		}
		if strings.Contains(string(todo[0].Contact), "@example.com") {
			t.Errorf("a sent follow-up kept the customer's address: %s", todo[0].Contact)
		}
		if c, _ := ts.Store.OutreachCounts(ctx, "acme", "install"); c.FollowUpsAnswered != 1 {
			t.Errorf("counts %+v, want 1 follow-up answered", c)
		}

		// Another link, tampered with, and the link after a week.
		if p = b.do("GET", "/f/not-a-token", nil); p.status != http.StatusNotFound {
			t.Errorf("unknown token: %d", p.status)
		}
		ts.Clock.Advance(169 * time.Hour)
		if p = b.do("GET", page, nil); p.status != http.StatusOK || !strings.Contains(p.body, "Thank you") {
			t.Errorf("answered link after its expiry: %d %s", p.status, p.body)
		}
	})
}
