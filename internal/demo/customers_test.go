package demo

import (
	"fmt"
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// rawEmail is an email as the notifier sends it: multipart/alternative
// with a quoted-printable plain-text part and the one-click unsubscribe
// headers.
func rawEmail(messageID, text string) []byte {
	return fmt.Appendf(nil, "From: Acme <feedback@acme.example>\r\nTo: <ada@%[1]s>\r\nSubject: Hi\r\nMessage-ID: <%[2]s>\r\n"+
		"List-Unsubscribe: <http://127.0.0.1:1/u/abc.def>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
		"%[3]s\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n--b1--\r\n", CustomerDomain, messageID, text)
}

// A simulated customer tells an invitation (the first survey link) from
// its reminder (the same link again), from an acknowledgement (no link)
// and from the follow-up of a closed Case (its links), reads the survey link across quoted-printable soft line breaks,
// and ignores a copy of an email it already has (same Message-ID).
func TestCustomersReadTheirMail(t *testing.T) {
	tp := cxv1alpha1.SurveyTouchpoint{}
	tp.Name = "upgrade-install"
	c := &customers{clock: NewClock(1), byAddr: map[string]*invitee{}, seen: map[string]bool{}, gen: NewGenerator(1, []cxv1alpha1.SurveyTouchpoint{tp}, 0)}
	iv := &invitee{touchpoint: tp.Name, channel: cxv1alpha1.DistributionEmail, intent: answerReminder,
		event: collector.EventRequest{Customer: collector.EventCustomer{Email: "ada@" + CustomerDomain}}}
	c.byAddr[iv.address()] = iv
	link := "http://127.0.0.1:1/s/eyJqdGkiOiJhYmMifQ.c2ln"
	// Quoted-printable breaks the link with a soft line break.
	wrapped := "Hello Ada, it takes a minute: " + link[:30] + "=\r\n" + link[30:]
	rcpts := []string{"ADA@" + strings.ToUpper(CustomerDomain)}
	c.receiveEmail(rcpts, rawEmail("inv-1@acme.example", wrapped))
	c.receiveEmail(rcpts, rawEmail("inv-1@acme.example", wrapped)) // a resend
	if got := c.Counts(); got.Emails != 2 || got.Copies != 1 || got.Invitations != 1 || iv.link != link || len(c.pending) != 0 {
		t.Fatalf("after the invitation and its copy: %+v, link %q, %d actions (this customer waits for the reminder)", got, iv.link, len(c.pending))
	}
	c.receiveEmail(rcpts, rawEmail("remind-1@acme.example", wrapped))
	if got := c.Counts(); got.Reminders != 1 || len(c.pending) != 1 || c.pending[0].do != "answer" || c.pending[0].url != link {
		t.Fatalf("after the reminder: %+v, actions %+v, want one answer to the link", got, c.pending)
	}
	c.receiveEmail(rcpts, rawEmail("ack-1@acme.example", "Priya from our support team has your case."))
	c.receiveEmail([]string{"someone@acme.example"}, rawEmail("x@acme.example", wrapped))
	if got := c.Counts(); got.Acknowledgements != 1 || got.Emails != 4 || got.Failed != 0 {
		t.Fatalf("after the acknowledgement and a stranger's email: %+v", got)
	}
	// After the Case closed: the follow-up, with its yes and no links.
	c.receiveEmail(rcpts, rawEmail("followup-1@acme.example", "Is the upgrade working now?\r\n\r\nYes: http://127.0.0.1:1/f/Zm9sbG93LXVw?a.solved=3Dyes\r\n"+
		"No: http://127.0.0.1:1/f/Zm9sbG93LXVw?a.solved=3Dno"))
	if got := c.Counts(); got.FollowUps != 1 || got.Acknowledgements != 1 || got.Emails != 5 {
		t.Fatalf("after the follow-up: %+v, want it counted as a follow-up, not an acknowledgement", got)
	}
}
