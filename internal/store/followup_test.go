package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// A follow-up waits while its Case is open, is scheduled once when it
// closes (however many collectors see the closing), waits again when the
// Case is reopened, keeps the first answer only, and is ended with its
// contact details erased when the Case does not close in time.
func TestFollowUpWaitsForTheClosingAndKeepsTheFirstAnswer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		s, _ := e.open(t, Config{})
		contact := json.RawMessage(`{"customer":{"id":"C-1"},"email":"c1@example.com"}`)
		for _, key := range []string{"followup/case-1", "followup/case-2"} {
			if err := s.ScheduleMessage(ctx, ScheduledMessage{Namespace: "acme", Touchpoint: "install", Key: key, Kind: KindFollowUp,
				EventID: "e1", CustomerID: "C-1", Channel: "Email", Contact: contact, State: MessageWaiting, DueAt: t0.Add(720 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if ms, err := s.ClaimMessages(ctx, t0.Add(800*time.Hour), 10, time.Minute); err != nil || len(ms) != 0 {
			t.Fatalf("claimed waiting follow-ups: %v %v", ms, err)
		}
		c, err := s.OutreachCounts(ctx, "acme", "install")
		if err != nil || c.FollowUpsWaiting != 2 || c.Scheduled != 0 {
			t.Fatalf("counts %+v %v, want 2 waiting", c, err)
		}

		// case-1 closes; two collectors see it.
		closed := t0.Add(10 * time.Hour)
		for i, want := range []bool{true, false} {
			if ok, err := s.ReleaseFollowUp(ctx, "acme", "install", "followup/case-1", closed.Add(24*time.Hour)); err != nil || ok != want {
				t.Fatalf("release %d: %v %v, want %v", i, ok, err, want)
			}
		}
		// Reopened before it was sent, then closed again.
		if ok, err := s.HoldFollowUp(ctx, "acme", "install", "followup/case-1", t0.Add(720*time.Hour)); err != nil || !ok {
			t.Fatalf("hold: %v %v", ok, err)
		}
		if ms, err := s.ClaimMessages(ctx, closed.Add(25*time.Hour), 10, time.Minute); err != nil || len(ms) != 0 {
			t.Fatalf("claimed a held follow-up: %v %v", ms, err)
		}
		if ok, err := s.ReleaseFollowUp(ctx, "acme", "install", "followup/case-1", closed.Add(30*time.Hour)); err != nil || !ok {
			t.Fatalf("release again: %v %v", ok, err)
		}
		if ms, err := s.ClaimMessages(ctx, closed.Add(29*time.Hour), 10, time.Minute); err != nil || len(ms) != 0 {
			t.Fatalf("claimed before due: %v %v", ms, err)
		}
		ms, err := s.ClaimMessages(ctx, closed.Add(30*time.Hour), 10, time.Minute)
		if err != nil || len(ms) != 1 || ms[0].Key != "followup/case-1" {
			t.Fatalf("claim: %v %v", ms, err)
		}
		if _, err := s.PrepareMessages(ctx, []PreparedMessage{{ID: ms[0].ID, Token: "tok-f1", TokenID: "tok-f1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FollowUpByToken(ctx, "acme", "install", "tok-f1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unsent follow-up's link: %v, want not found", err)
		}
		if err := s.FinishMessages(ctx, []MessageOutcome{{ID: ms[0].ID, State: MessageSent, At: closed.Add(30 * time.Hour), Contact: json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}

		// The first answer is kept; the second changes nothing.
		at := closed.Add(31 * time.Hour)
		for i, a := range []string{"yes", "no"} {
			first, err := s.AnswerFollowUp(ctx, "acme", "install", "tok-f1", a, at)
			if err != nil || first != (i == 0) {
				t.Fatalf("answer %q: first %v %v", a, first, err)
			}
		}
		if _, err := s.AnswerFollowUp(ctx, "acme", "other", "tok-f1", "no", at); err != nil {
			t.Fatal(err)
		}
		m, err := s.FollowUpByToken(ctx, "acme", "install", "tok-f1")
		if err != nil || m.Answer != "yes" || !m.AnsweredAt.Equal(at) || !m.AppliedAt.IsZero() {
			t.Fatalf("follow-up %+v %v, want answered yes, not applied", m, err)
		}
		todo, err := s.FollowUpAnswersToApply(ctx, "acme", "install", 10)
		if err != nil || len(todo) != 1 || todo[0].Key != "followup/case-1" || todo[0].Answer != "yes" {
			t.Fatalf("to apply %+v %v", todo, err)
		}
		if err := s.MarkFollowUpApplied(ctx, todo[0].ID, at, "Applied"); err != nil {
			t.Fatal(err)
		}
		if todo, err := s.FollowUpAnswersToApply(ctx, "acme", "install", 10); err != nil || len(todo) != 0 {
			t.Fatalf("to apply after marking %+v %v", todo, err)
		}

		// case-2 stays open past keepContactFor: its details go.
		if n, err := s.ExpireFollowUps(ctx, "acme", t0.Add(719*time.Hour)); err != nil || n != 0 {
			t.Fatalf("expired early: %d %v", n, err)
		}
		if n, err := s.ExpireFollowUps(ctx, "acme", t0.Add(720*time.Hour)); err != nil || n != 1 {
			t.Fatalf("expire: %d %v", n, err)
		}
		if ok, err := s.ReleaseFollowUp(ctx, "acme", "install", "followup/case-2", t0.Add(721*time.Hour)); err != nil || ok {
			t.Fatalf("an expired follow-up was released: %v %v", ok, err)
		}
		c, err = s.OutreachCounts(ctx, "acme", "install")
		if err != nil || c != (OutreachCounts{Skipped: 1, FollowUpsSent: 1, FollowUpsAnswered: 1, FollowUpsExpired: 1}) {
			t.Fatalf("counts %+v %v, want 1 follow-up sent and answered, 1 expired", c, err)
		}
	})
}
