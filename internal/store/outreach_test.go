package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// A sent invitation keeps the customer's contact details until its link
// expires, then the retention sweep erases them; a scheduled message keeps
// its own.
func TestExpiredInvitationsGiveUpContactDetails(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		s, _ := e.open(t, Config{})
		contact := json.RawMessage(`{"customer":{"id":"C-1"},"email":"c1@example.com"}`)
		for _, m := range []ScheduledMessage{
			{Key: "inv/1", Kind: KindInvitation, CustomerID: "C-1", Contact: contact, DueAt: t0},
			{Key: "remind/1", Kind: KindReminder, CustomerID: "C-1", Contact: contact, DueAt: t0.Add(48 * time.Hour)},
		} {
			m.Namespace, m.Touchpoint, m.EventID, m.Channel = "acme", "install", "e1", "email"
			if err := s.ScheduleMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		ms, err := s.ClaimMessages(ctx, t0, 10, time.Minute)
		if err != nil || len(ms) != 1 {
			t.Fatalf("claim: %v %v", ms, err)
		}
		inv := &Invitation{TokenID: "tok-1", Touchpoint: "install", CustomerID: "C-1", IssuedAt: t0, ExpiresAt: t0.Add(168 * time.Hour)}
		if decs, err := s.PrepareMessages(ctx, []PreparedMessage{{ID: ms[0].ID, Token: "t", TokenID: "tok-1", Invitation: inv}}); err != nil || !decs[0].Issued {
			t.Fatalf("prepare: %v %v", decs, err)
		}
		if err := s.FinishMessages(ctx, []MessageOutcome{{ID: ms[0].ID, State: MessageSent, At: t0}}); err != nil {
			t.Fatal(err)
		}
		email := func() string {
			m, err := s.MessageByToken(ctx, "acme", "install", "tok-1")
			if err != nil {
				t.Fatal(err)
			}
			var c struct{ Email string }
			_ = json.Unmarshal(m.Contact, &c)
			return c.Email
		}
		if n, err := s.EraseExpiredContacts(ctx, "acme", t0.Add(167*time.Hour)); err != nil || n != 0 || email() != "c1@example.com" {
			t.Fatalf("before the link expires: erased %d (%v), email %q", n, err, email())
		}
		if n, err := s.EraseExpiredContacts(ctx, "acme", t0.Add(168*time.Hour)); err != nil || n != 1 || email() != "" {
			t.Fatalf("once the link expired: erased %d (%v), email %q", n, err, email())
		}
		// The scheduled reminder is not the sweep's to erase.
		rs, err := s.ClaimMessages(ctx, t0.Add(48*time.Hour), 10, time.Minute)
		if err != nil || len(rs) != 1 || string(rs[0].Contact) == "{}" {
			t.Fatalf("reminder %v %v", rs, err)
		}
	})
}
