package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// outbox is a CustomerSender that keeps what it was asked to send (the
// real one, notify.SendToCustomer, is tested against real SMTP and HTTP
// receivers in internal/notify).
type outbox struct {
	mu   sync.Mutex
	sent []sentMessage
	fail error
}

type sentMessage struct {
	Channel string
	notify.CustomerMessage
}

func (o *outbox) SendToCustomer(_ context.Context, _, channel string, msg notify.CustomerMessage) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.sent = append(o.sent, sentMessage{Channel: channel, CustomerMessage: msg})
	return nil
}

func (o *outbox) take() []sentMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.sent
	o.sent = nil
	return out
}

func hours(h int) *cxv1alpha1.Duration {
	return &cxv1alpha1.Duration{Duration: time.Duration(h) * time.Hour}
}

// distributingTouchpoint invites 72h after upgrade-downloaded by email and
// after technician-visit-completed by SMS, with one reminder after 48h.
func distributingTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	tp := pageTouchpoint(true, nil)
	tp.Spec.Invitations.TokenTTL = hours(24)
	tp.Spec.Distribution = &cxv1alpha1.DistributionSpec{
		Events: []cxv1alpha1.InvitingEvent{
			{Name: "upgrade-downloaded", Delay: hours(72), Channel: cxv1alpha1.DistributionEmail},
			{Name: "technician-visit-completed", Delay: hours(1), Channel: cxv1alpha1.DistributionSMS},
		},
		Email: &cxv1alpha1.ChannelRef{Channel: "customer-mail"},
		SMS:   &cxv1alpha1.ChannelRef{Channel: "customer-sms"},
		Messages: []cxv1alpha1.InvitationMessage{
			{Locale: "en", Subject: "{firstName}, how did the upgrade go?", Body: "Hello {firstName},\n\nplease tell us: {link}", SMS: "How was the visit? {link}", ReminderSubject: "Reminder: how did it go?"},
			{Locale: "de", Subject: "{firstName}, wie lief das Upgrade?", Body: "Hallo {firstName},\n\nbitte sagen Sie es uns: {link}"},
		},
		Reminder:   &cxv1alpha1.ReminderSpec{After: cxv1alpha1.Duration{Duration: 48 * time.Hour}},
		LinkTTL:    hours(168),
		QuietHours: &cxv1alpha1.QuietHours{Start: "21:00", End: "08:00"},
	}
	return tp
}

func event(id, name, customer string, extra map[string]any) map[string]any {
	c := map[string]any{"id": customer, "tier": "Gold", "firstName": "Ada", "email": customer + "@example.com"}
	for k, v := range extra {
		c[k] = v
	}
	return map[string]any{"id": id, "name": name, "customer": c}
}

func (ts *testServer) sendDue(t *testing.T) {
	t.Helper()
	if _, err := ts.SendDue(t.Context()); err != nil {
		t.Fatalf("send due: %v", err)
	}
}

var linkPattern = regexp.MustCompile(`https://survey\.example\.com/install/s/[A-Za-z0-9_.-]+`)

func TestEventsInviteOnceAfterTheDelayAndRemindOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		sender := &outbox{}
		tp := distributingTouchpoint()
		opts := Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender}
		ts := startServer(t, e, tp, opts)

		a := ts.post(t, "/v1/events", event("ev-1", "upgrade-downloaded", "C-1", map[string]any{"locale": "de-DE"}))
		var res EventResult
		_ = json.Unmarshal(a.Body, &res)
		if a.Status != http.StatusAccepted || res.Outcome != OutcomeScheduled || res.InvitationDueAt == nil || !res.InvitationDueAt.Equal(testNow.Add(72*time.Hour)) {
			t.Fatalf("event: %d %s", a.Status, a.Body)
		}
		// The same event again is a replay, not a second invitation.
		if a := ts.post(t, "/v1/events", event("ev-1", "upgrade-downloaded", "C-1", map[string]any{"locale": "de-DE"})); a.Status != http.StatusOK || a.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replayed event: %d %s", a.Status, a.Body)
		}
		if a := ts.post(t, "/v1/events", event("ev-1", "upgrade-downloaded", "C-other", nil)); a.Status != http.StatusConflict {
			t.Errorf("event id reused with another body: %d, want 409", a.Status)
		}

		ts.sendDue(t)
		ts.Clock.Advance(71 * time.Hour)
		ts.sendDue(t)
		if got := sender.take(); len(got) != 0 {
			t.Fatalf("%d messages before 72h", len(got))
		}
		ts.Clock.Advance(time.Hour)
		ts.sendDue(t)
		ts.sendDue(t)
		got := sender.take()
		if len(got) != 1 {
			t.Fatalf("%d messages at 72h, want 1", len(got))
		}
		m := got[0]
		link := linkPattern.FindString(m.Text)
		if m.Channel != "customer-mail" || m.To != "C-1@example.com" || m.Subject != "Ada, wie lief das Upgrade?" || link == "" ||
			!strings.Contains(m.Text, "Hallo Ada,") || !strings.HasPrefix(m.Unsubscribe, "https://survey.example.com/install/u/") ||
			m.Key != "acme/install/invite/ev-1" {
			t.Errorf("invitation %+v", m)
		}
		// The first question's scale, as links that prefill the page.
		if !strings.Contains(m.HTML, link+"?a.recommend=0") || !strings.Contains(m.HTML, link+"?a.recommend=10") {
			t.Errorf("email lacks the NPS scale as links:\n%s", m.HTML)
		}

		// A restarted collector on the same store sends nothing again.
		ts2 := serveStore(t, ts.Store, ts.Clock, nil, tp, opts)
		ts2.sendDue(t)
		if got := sender.take(); len(got) != 0 {
			t.Fatalf("%d messages again after a restart", len(got))
		}

		// The reminder, once, 48h later, with the same link.
		ts.Clock.Advance(48 * time.Hour)
		ts2.sendDue(t)
		ts.sendDue(t)
		got = sender.take()
		if len(got) != 1 || linkPattern.FindString(got[0].Text) != link || got[0].Key != "acme/install/remind/ev-1" {
			t.Fatalf("reminder: %+v", got)
		}
		ts.Clock.Advance(100 * time.Hour)
		ts.sendDue(t)
		if got := sender.take(); len(got) != 0 {
			t.Errorf("%d messages after the reminder", len(got))
		}

		// The page opened from the link knows the customer's tier and
		// language from the invitation.
		path := strings.TrimPrefix(link, "https://survey.example.com/install")
		p := browser{t: t, base: ts.URL}.do("GET", path, nil)
		if !strings.Contains(p.body, `<html lang="de">`) {
			t.Errorf("page of a German invitation is not German")
		}
		form := p.hidden()
		form.Set("a.recommend", "2")
		form.Set("a.resolved", "no")
		browser{t: t, base: ts.URL}.do("POST", path, form)
		r, err := ts.Store.GetResponse(t.Context(), "install", "s-"+tokenIDOf(t, ts, link))
		if err != nil || r.Customer.Tier != "Gold" || r.Customer.ID != "C-1" {
			t.Errorf("response from the invitation: %+v %v", r.Customer, err)
		}
		if _, ok := r.Customer.Attributes["email"]; ok {
			t.Errorf("contact details went into the response: %v", r.Customer.Attributes)
		}
		st := ts.status(t)
		if st.Invitations == nil || st.Invitations.Sent != 2 || st.Invitations.Reminded != 1 || st.Invitations.Answered != 1 || st.Invitations.Scheduled != 0 {
			t.Errorf("status invitations %+v", st.Invitations)
		}
	})
}

func tokenIDOf(t *testing.T, ts *testServer, link string) string {
	t.Helper()
	tok := link[strings.LastIndex(link, "/")+1:]
	c, err := ts.readToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func (ts *testServer) status(t *testing.T) Status {
	t.Helper()
	a := ts.get(t, "/v1/status")
	var st Status
	if err := json.Unmarshal(a.Body, &st); err != nil {
		t.Fatalf("status %d %s", a.Status, a.Body)
	}
	return st
}

func TestAnsweredOrUnsubscribedCustomersGetNoReminder(t *testing.T) {
	sender := &outbox{}
	tp := distributingTouchpoint()
	ts := startServer(t, testEngines[0], tp, Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
	ts.post(t, "/v1/events", event("ev-a", "upgrade-downloaded", "C-answers", nil))
	ts.post(t, "/v1/events", event("ev-u", "upgrade-downloaded", "C-unsub", nil))
	ts.Clock.Advance(72 * time.Hour)
	ts.sendDue(t)
	got := sender.take()
	if len(got) != 2 {
		t.Fatalf("%d invitations, want 2", len(got))
	}
	for _, m := range got {
		switch m.To {
		case "C-answers@example.com":
			path := strings.TrimPrefix(linkPattern.FindString(m.Text), "https://survey.example.com/install")
			b := browser{t: t, base: ts.URL}
			form := b.do("GET", path, nil).hidden()
			form.Set("a.recommend", "9")
			form.Set("a.resolved", "yes")
			if p := b.do("POST", path, form); !strings.Contains(p.body, "Thanks, we read every answer.") {
				t.Fatalf("answer: %d %s", p.status, p.body)
			}
		case "C-unsub@example.com":
			// RFC 8058: the mail provider POSTs List-Unsubscribe=One-Click.
			resp, err := http.Post(ts.URL+strings.TrimPrefix(m.Unsubscribe, "https://survey.example.com/install"), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("one-click unsubscribe: %v %v", resp, err)
			}
			_ = resp.Body.Close()
		}
	}
	ts.Clock.Advance(48 * time.Hour)
	ts.sendDue(t)
	if got := sender.take(); len(got) != 0 {
		t.Errorf("reminders sent to %d customers who answered or unsubscribed: %+v", len(got), got)
	}
	// An unsubscribed customer is not invited again either.
	ts.post(t, "/v1/events", event("ev-u2", "upgrade-downloaded", "C-unsub", nil))
	ts.Clock.Advance(72 * time.Hour)
	ts.sendDue(t)
	if got := sender.take(); len(got) != 0 {
		t.Errorf("an unsubscribed customer was invited: %+v", got)
	}
	if st := ts.status(t); st.Invitations == nil || st.Invitations.Skipped != 3 || st.Invitations.Answered != 1 {
		t.Errorf("status invitations %+v", st.Invitations)
	}
}

func TestEventsThatInviteNobodySaySo(t *testing.T) {
	sender := &outbox{}
	ts := startServer(t, testEngines[0], distributingTouchpoint(), Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
	a := ts.post(t, "/v1/events:batch", map[string]any{"events": []any{
		event("e1", "ticket-closed", "C-1", nil),
		event("e2", "technician-visit-completed", "C-2", nil), // SMS, no phone
		map[string]any{"id": "e3", "name": "upgrade-downloaded", "customer": map[string]any{"id": "C-3", "email": "not-an-address", "timeZone": "Mars/Olympus"}},
		map[string]any{"id": "e4", "name": "upgrade-downloaded", "customer": map[string]any{"id": "C-4"}}, // no email
	}})
	var out EventBatchResult
	if err := json.Unmarshal(a.Body, &out); err != nil || a.Status != http.StatusOK {
		t.Fatalf("batch: %d %s", a.Status, a.Body)
	}
	r := out.Results
	if r[0].Outcome != OutcomeUnknownEvent || !strings.Contains(r[0].Detail, "invites on: upgrade-downloaded, technician-visit-completed") {
		t.Errorf("unknown event: %+v", r[0])
	}
	if r[1].Outcome != OutcomeNoContact || !strings.Contains(r[1].Detail, "customer.phone is missing") {
		t.Errorf("SMS event without phone: %+v", r[1])
	}
	if r[2].Status != http.StatusBadRequest || len(r[2].Errors) != 2 || r[2].Errors[0].Field != "events[2].customer.email" || r[2].Errors[1].Field != "events[2].customer.timeZone" {
		t.Errorf("bad contact details: %+v", r[2])
	}
	if r[3].Outcome != OutcomeNoContact || !strings.Contains(r[3].Detail, "customer.email is missing") {
		t.Errorf("email event without email: %+v", r[3])
	}
	if out.Accepted != 3 || out.Rejected != 1 {
		t.Errorf("accepted %d rejected %d", out.Accepted, out.Rejected)
	}
	counts, err := ts.Store.EventCounts(t.Context(), "acme", "install")
	if err != nil || counts[OutcomeUnknownEvent] != 1 || counts[OutcomeNoContact] != 2 {
		t.Errorf("stored events %v %v", counts, err)
	}
	ts.Clock.Advance(100 * time.Hour)
	ts.sendDue(t)
	if got := sender.take(); len(got) != 0 {
		t.Errorf("events that invite nobody sent %d messages", len(got))
	}
	// The events API is private.
	if status, _, _ := rawRequest(t, http.MethodPost, ts.URL+"/v1/events", "", `{}`); status != http.StatusNotFound {
		t.Errorf("POST /v1/events on the public surface: %d, want 404", status)
	}
}

func TestSMSWaitsForTheEndOfQuietHoursInTheCustomersTimeZone(t *testing.T) {
	sender := &outbox{}
	ts := startServer(t, testEngines[0], distributingTouchpoint(), Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
	// testNow is 12:00 UTC = 21:00 in Tokyo: the visit ends then, the SMS
	// is due an hour later, 22:00 local, inside the quiet hours.
	ts.post(t, "/v1/events", event("v1", "technician-visit-completed", "C-jp", map[string]any{"phone": "+81312345678", "timeZone": "Asia/Tokyo"}))
	ts.Clock.Advance(time.Hour)
	ts.sendDue(t)
	if got := sender.take(); len(got) != 0 {
		t.Fatalf("SMS sent at 22:00 local time: %+v", got)
	}
	// 07:59 local (22:59 UTC) still quiet; 08:00 local it goes.
	ts.Clock.Set(time.Date(2026, 11, 22, 22, 59, 0, 0, time.UTC))
	ts.sendDue(t)
	if got := sender.take(); len(got) != 0 {
		t.Fatalf("SMS sent at 07:59 local time")
	}
	ts.Clock.Set(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC))
	ts.sendDue(t)
	got := sender.take()
	if len(got) != 1 || got[0].Channel != "customer-sms" || got[0].To != "+81312345678" || !strings.HasPrefix(got[0].SMS, "How was the visit? https://survey.example.com/install/s/") {
		t.Fatalf("SMS at 08:00 local: %+v", got)
	}
}

func TestContactFrequencyHoldsForInvitationsDueTogether(t *testing.T) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) {
			sender := &outbox{}
			tp := distributingTouchpoint()
			tp.Spec.ContactPolicy = &cxv1alpha1.ContactPolicy{Quarantine: days(30)}
			ts := startServer(t, e, tp, Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
			// Two downloads by C-1 and one by C-2, all due in the same send.
			for _, ev := range []map[string]any{
				event("e1", "upgrade-downloaded", "C-1", nil),
				event("e2", "upgrade-downloaded", "C-2", nil),
				event("e3", "upgrade-downloaded", "C-1", nil),
			} {
				if a := ts.post(t, "/v1/events", ev); a.Status != http.StatusAccepted {
					t.Fatalf("event: %d %s", a.Status, a.Body)
				}
			}
			ts.Clock.Advance(73 * time.Hour)
			ts.sendDue(t)
			to := map[string]int{}
			for _, m := range sender.take() {
				to[m.To]++
			}
			if to["C-1@example.com"] != 1 || to["C-2@example.com"] != 1 || len(to) != 2 {
				t.Errorf("sent to %v, want one invitation each to C-1 and C-2 (quarantine 30d)", to)
			}
			c, err := ts.Store.OutreachCounts(t.Context(), "acme", "install")
			if err != nil || c.Sent != 2 || c.Skipped != 1 || c.Scheduled != 2 {
				t.Errorf("counts %+v %v, want 2 sent, 1 skipped and their 2 reminders scheduled", c, err)
			}
		})
	}
}

// The survey page is built once per version of the touchpoint: a changed
// question text is in the next invitation's email and on its page, in
// both languages, with no restart.
func TestChangedTouchpointChangesTheNextInvitationAndItsPage(t *testing.T) {
	sender := &outbox{}
	tp := distributingTouchpoint()
	tp.Spec.Distribution.Reminder = nil
	ts := startServer(t, testEngines[0], tp, Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
	send := func(id, customer, locale string) sentMessage {
		t.Helper()
		ts.post(t, "/v1/events", event(id, "upgrade-downloaded", customer, map[string]any{"locale": locale}))
		ts.Clock.Advance(73 * time.Hour)
		ts.sendDue(t)
		got := sender.take()
		if len(got) != 1 {
			t.Fatalf("%d messages, want the invitation", len(got))
		}
		return got[0]
	}
	pageOf := func(m sentMessage) string {
		t.Helper()
		path := strings.TrimPrefix(linkPattern.FindString(m.Text), "https://survey.example.com/install")
		return browser{t: t, base: ts.URL}.do("GET", path, nil).body
	}
	first := send("e1", "C-1", "en")
	if !strings.Contains(first.HTML, "How likely are you to recommend us?") || !strings.Contains(pageOf(first), "How likely are you to recommend us?") {
		t.Fatalf("the first invitation or its page lacks the question:\n%s", first.HTML)
	}
	_ = pageOf(send("e2", "C-2", "de")) // the German page is built too

	changed := tp.DeepCopy()
	changed.Spec.Questions[0].Text = "Would you recommend our upgrade to a colleague?"
	changed.Spec.Survey.Translations[0].Questions = append(changed.Spec.Survey.Translations[0].Questions,
		cxv1alpha1.QuestionTranslation{ID: changed.Spec.Questions[0].ID, Text: "Würden Sie unser Upgrade weiterempfehlen?"})
	if err := ts.SetTouchpoint(changed); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ id, customer, locale, want string }{
		{"e3", "C-3", "en", "Would you recommend our upgrade to a colleague?"},
		{"e4", "C-4", "de", "Würden Sie unser Upgrade weiterempfehlen?"},
	} {
		m := send(tc.id, tc.customer, tc.locale)
		if !strings.Contains(m.HTML, tc.want) {
			t.Errorf("invitation in %s after the change lacks %q:\n%s", tc.locale, tc.want, m.HTML)
		}
		if p := pageOf(m); !strings.Contains(p, tc.want) || strings.Contains(p, "How likely are you to recommend us?") {
			t.Errorf("page in %s after the change lacks %q or shows the old text:\n%s", tc.locale, tc.want, p)
		}
	}
}
