package controllers

import (
	"errors"
	"io"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// mailbox is a real SMTP server on loopback that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []received
}

type received struct {
	rcpt    []string
	subject string
	body    string
}

func (m *mailbox) all() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// to is how many messages each recipient got.
func (m *mailbox) to() map[string]int {
	out := map[string]int{}
	for _, r := range m.all() {
		for _, a := range r.rcpt {
			out[a]++
		}
	}
	return out
}

type mailSession struct {
	box  *mailbox
	rcpt []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(msg.Body)
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, received{rcpt: s.rcpt, subject: msg.Header.Get("Subject"), body: string(body)})
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.rcpt = nil }
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) (*mailbox, int) {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: box}, nil }))
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("SMTP server: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	addr, _ := l.Addr().(*net.TCPAddr)
	return box, addr.Port
}

// The people a template names get a message of their own through its
// people channel, at the email their team entry gives, once each however
// often the Case is reconciled; an escalation step naming the team reaches
// each member; a person without an email is recorded as skipped.
func TestPeopleGetTheirOwnEmailOnce(t *testing.T) {
	ns := env.Namespace(t)
	box, port := startMailbox(t)
	create(t, &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "people-mail"},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type: cxv1alpha1.ChannelTypeEmail, AllowPrivateDestinations: true,
			Email: &cxv1alpha1.EmailChannel{
				SMTP: cxv1alpha1.SMTPServer{Host: "127.0.0.1", Port: int32(port), Security: cxv1alpha1.SMTPNone},
				From: "cxloop <cx@acme.example>", To: []string{"everyone@acme.example"},
			},
		},
	})
	caseDeliveries.forwardTo(t, ns, notify.New(env.Client, notify.Options{}))
	tmpl := overdueTemplate(ns, cxv1alpha1.EscalationStep{Name: "tell-team", After: cxv1alpha1.Duration{}, Notify: &cxv1alpha1.Recipients{Team: true}})
	tmpl.Spec.PeopleChannel = "people-mail"
	tmpl.Spec.Team.CaseManagers[0].Email = "maria@acme.example"
	tmpl.Spec.Team.Members = []cxv1alpha1.Subject{{Name: "priya", Email: "priya@acme.example"}, {Name: "jonas"}}
	tmpl.Spec.Notifications = []cxv1alpha1.EventNotification{
		{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened}, To: cxv1alpha1.Recipients{Assignee: true, CaseManagers: true}},
	}
	create(t, tmpl)
	c := newCase(ns, "person", "overdue", &cxv1alpha1.Customer{ID: "C-7"})
	create(t, c)
	waitCase(t, c, "opening notified", func(c *cxv1alpha1.Case) bool { return len(c.Status.Notifications) >= 2 })
	for range 3 {
		poke(t, c)
		reconcileCase(t, c)
	}
	eventually(t, "opening mails", func() error {
		if got := box.to(); got["priya@acme.example"] != 1 || got["maria@acme.example"] != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	if got := box.to(); len(got) != 2 {
		t.Errorf("opening mails went to %v, want priya (assignee) and maria (case manager) once each, and not the channel's own list", got)
	}
	for _, m := range box.all() {
		if len(m.rcpt) != 1 || !strings.Contains(m.subject, "person") || !strings.Contains(m.body, "C-7") {
			t.Errorf("mail to %v: subject %q body %q; want one recipient, the Case and its customer", m.rcpt, m.subject, m.body)
		}
	}

	caseClock.Set(t, c.Status.DueAt.Time)
	for range 3 {
		reconcileCase(t, c)
	}
	if got := box.to(); got["priya@acme.example"] != 2 || got["maria@acme.example"] != 1 || len(got) != 2 {
		t.Errorf("after the escalation to the team, mails by recipient = %v; want priya twice (opening, escalation), maria once", got)
	}
	var skipped *cxv1alpha1.NotificationRecord
	for i, n := range c.Status.Notifications {
		if strings.HasSuffix(n.Key, "/to/jonas") {
			skipped = &c.Status.Notifications[i]
		}
	}
	if skipped == nil || skipped.Outcome != cxv1alpha1.DeliverySkipped || !strings.Contains(skipped.Message, "no email") {
		t.Errorf("jonas has no email: record %+v, want Skipped naming the fix", skipped)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(box.all()); n != 3 {
		t.Errorf("%d mails in all, want 3", n)
	}
}
