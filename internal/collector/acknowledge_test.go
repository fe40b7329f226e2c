package collector

import (
	"encoding/json"
	"testing"

	"github.com/cxloop/cxloop/internal/store"
)

func TestFirstNameOfAUserName(t *testing.T) {
	for user, want := range map[string]string{
		"maria.lopez": "Maria", "maria_lopez@acme.example": "Maria", "Maria Lopez": "Maria",
		"priya": "Priya", "élodie-martin": "Élodie", "": "",
	} {
		if got := FirstNameOf(user); got != want {
			t.Errorf("FirstNameOf(%q) = %q, want %q", user, got, want)
		}
	}
}

// An acknowledgement the dispatcher scheduled goes to the customer once,
// with the text rendered for it, and not to a customer who unsubscribed.
func TestAcknowledgementSentOnceAndNotAfterUnsubscribe(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		sender := &outbox{}
		ts := startServer(t, e, distributingTouchpoint(), Options{PublicURL: "https://survey.example.com/install", CustomerSender: sender})
		for _, id := range []string{"C-1", "C-2"} {
			contact, _ := json.Marshal(contactInfo{Customer: store.Customer{ID: id}, Email: id + "@example.com", FirstName: "Ada",
				Message: &customerText{Subject: "We are on it, Ada", Body: "Maria has your case."}})
			if err := ts.Store.ScheduleMessage(t.Context(), store.ScheduledMessage{Namespace: "acme", Touchpoint: "install",
				Key: "ack/case-" + id, Kind: store.KindAcknowledgement, EventID: "e-" + id, CustomerID: id, Channel: "Email",
				Contact: contact, DueAt: ts.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := ts.Store.Unsubscribe(t.Context(), "acme", "C-2", ts.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		ts.sendDue(t)
		ts.sendDue(t)
		got := sender.take()
		if len(got) != 1 || got[0].To != "C-1@example.com" || got[0].Channel != "customer-mail" ||
			got[0].Subject != "We are on it, Ada" || got[0].Text != "Maria has your case." || got[0].Key != "acme/install/ack/case-C-1" {
			t.Fatalf("sent %+v, want one acknowledgement to C-1", got)
		}
		c, err := ts.Store.OutreachCounts(t.Context(), "acme", "install")
		if err != nil || c.Acknowledged != 1 || c.Sent != 0 || c.Skipped != 1 {
			t.Errorf("counts %+v %v, want 1 acknowledged, 1 skipped (unsubscribed)", c, err)
		}
	})
}
