package collector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/survey"

	"github.com/prometheus/client_golang/prometheus"
)

// CustomerSender sends one message to a customer through a
// NotificationChannel (notify.Notifier implements it).
type CustomerSender interface {
	SendToCustomer(ctx context.Context, namespace, channel string, msg notify.CustomerMessage) error
}

// Sending scheduled invitations.
const (
	// sendLease is how long a claimed message is held before another
	// collector may take it (a crash in between).
	sendLease = 2 * time.Minute
	// sendBatch is how many due messages one claim takes. A batch costs
	// three durable writes (the claim, the links and invitations before
	// sending, the outcomes after), so its size sets their share of a
	// message: at 32 their fsyncs were about 40% of the time of a send to
	// a fast receiver (BenchmarkScheduledInvitations). 128 sent four at a
	// time at 100ms a message (a slow SMTP server) still take about 3s,
	// far within the lease; a crash resends at most one batch, with the
	// same idempotency keys.
	sendBatch = 128
	// maxSendAttempts: a message that failed this often is Failed.
	maxSendAttempts = 8
)

// Skip and failure reasons of scheduled messages.
const (
	reasonUnsubscribed   = "Unsubscribed"
	reasonAnswered       = "Answered"
	reasonLinkExpired    = "LinkExpired"
	reasonNoDistribution = "NoDistribution"
	reasonNoPublicURL    = "NoPublicURL"
)

// distribution is the sending part of the Server.
type distribution struct {
	wake chan struct{}
	sent *prometheus.CounterVec
}

// onScheduled wakes the sender after an event scheduled a message.
func (s *Server) onScheduled() {
	select {
	case s.dist.wake <- struct{}{}:
	default:
	}
}

// RunDistribution sends due invitations and reminders until ctx is done:
// every interval, and at once after an event scheduled one.
func (s *Server) RunDistribution(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Error(err, "send scheduled invitations")
		}
		if _, err := s.ApplyFollowUpAnswers(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Error(err, "apply follow-up answers to their Cases")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.dist.wake:
		}
	}
}

// SendDue sends every message due now and returns how many it handled.
func (s *Server) SendDue(ctx context.Context) (int, error) {
	total := 0
	for {
		ms, err := s.opts.Store.ClaimMessages(ctx, s.opts.Now(), sendBatch, sendLease)
		if err != nil {
			return total, err
		}
		if err := s.sendBatch(ctx, ms); err != nil {
			return total, err
		}
		total += len(ms)
		if len(ms) < sendBatch {
			return total, nil
		}
	}
}

// sendWorkers send the messages of one batch concurrently.
const sendWorkers = 4

// outgoing is a claimed message ready to send.
type outgoing struct {
	m       *store.ScheduledMessage
	c       contactInfo
	msg     notify.CustomerMessage
	channel string
}

// sendBatch decides and sends claimed messages with two durable writes
// for the batch: the survey links and the invitations they issue before
// sending (quarantine and cap decided there, one customer after the
// other, so two invitations to one customer in a batch count each other),
// and every outcome (with the reminders it schedules) after. A crash in
// between sends the batch again once its lease ends, with the same links
// and idempotency keys, so the receiver can tell the copies. Only store
// errors are returned; a message that cannot be sent is recorded as such.
func (s *Server) sendBatch(ctx context.Context, ms []store.ScheduledMessage) error {
	if len(ms) == 0 {
		return nil
	}
	st := s.state.Load()
	now := s.opts.Now()
	var (
		outs  []store.MessageOutcome
		preps []store.PreparedMessage
		ready []*outgoing
		// prepOf is the index in preps of a ready message's new link, or -1.
		prepOf []int
	)
	for i := range ms {
		m := &ms[i]
		out, og, prep, err := s.prepareSend(ctx, st, m, now)
		if err != nil {
			return err
		}
		if out != nil {
			outs = append(outs, *out)
			continue
		}
		ready, prepOf = append(ready, og), append(prepOf, -1)
		if prep != nil {
			prepOf[len(prepOf)-1] = len(preps)
			preps = append(preps, *prep)
		}
	}
	decs, err := s.opts.Store.PrepareMessages(ctx, preps)
	if err != nil {
		return err
	}
	send := ready[:0]
	for i, og := range ready {
		if j := prepOf[i]; j >= 0 && !decs[j].Issued {
			reason := s.invitationAnswer(st, InvitationAnswer{}, decs[j]).Reason
			outs = append(outs, *s.ended(og.m, &og.c, store.MessageSkipped, reason, false, now))
			continue
		}
		send = append(send, og)
	}
	outs = append(outs, s.sendAll(ctx, st, send, now)...)
	return s.opts.Store.FinishMessages(ctx, outs)
}

// ended is the outcome that ends m; unless keep, its contact details are
// erased (the customer's id, tier, segment, attributes and locale stay for
// the survey page).
func (s *Server) ended(m *store.ScheduledMessage, c *contactInfo, state, reason string, keep bool, now time.Time) *store.MessageOutcome {
	s.dist.sent.WithLabelValues(m.Kind, state, reason).Inc()
	out := &store.MessageOutcome{ID: m.ID, State: state, Reason: reason, At: now}
	if !keep {
		out.Contact, _ = json.Marshal(contactInfo{Customer: c.Customer, Locale: c.Locale, TimeZone: c.TimeZone})
	}
	return out
}

// delayed is the outcome that releases m until at.
func (s *Server) delayed(m *store.ScheduledMessage, at time.Time, reason string) *store.MessageOutcome {
	s.dist.sent.WithLabelValues(m.Kind, "Delayed", reason).Inc()
	return &store.MessageOutcome{ID: m.ID, DelayUntil: at, Reason: reason}
}

// prepareSend decides one claimed message: the outcome when it is not to
// be sent now, or what to send and the survey link to record first.
func (s *Server) prepareSend(ctx context.Context, st *state, m *store.ScheduledMessage, now time.Time) (*store.MessageOutcome, *outgoing, *store.PreparedMessage, error) {
	d := st.tp.Spec.Distribution
	var c contactInfo
	if d == nil {
		return s.ended(m, &c, store.MessageSkipped, reasonNoDistribution, false, now), nil, nil, nil
	}
	if s.publicURL(st) == "" || s.signer == nil {
		return s.ended(m, &c, store.MessageFailed, reasonNoPublicURL, false, now), nil, nil, nil
	}
	if err := json.Unmarshal(m.Contact, &c); err != nil {
		return s.ended(m, &c, store.MessageFailed, "ContactUnreadable", false, now), nil, nil, nil
	}
	if out, err := s.opts.Store.Unsubscribed(ctx, m.Namespace, m.CustomerID); err != nil || out {
		if err != nil {
			return nil, nil, nil, err
		}
		return s.ended(m, &c, store.MessageSkipped, reasonUnsubscribed, false, now), nil, nil, nil
	}
	if m.Channel == string(cxv1alpha1.DistributionSMS) {
		if until, quiet := quietUntil(d, c.TimeZone, now); quiet {
			return s.delayed(m, until, "QuietHours"), nil, nil, nil
		}
	}
	if m.Kind == store.KindFollowUp {
		og, prep, err := s.prepareFollowUp(st, d, m, &c)
		if err != nil || s.opts.CustomerSender == nil {
			return s.ended(m, &c, store.MessageFailed, "MessageInvalid", false, now), nil, nil, nil
		}
		return nil, og, prep, nil
	}
	if m.Kind == store.KindAcknowledgement {
		msg, channel, err := s.acknowledgementMessage(st, d, m, &c)
		if err != nil || s.opts.CustomerSender == nil {
			return s.ended(m, &c, store.MessageFailed, "MessageInvalid", false, now), nil, nil, nil
		}
		return nil, &outgoing{m: m, c: c, msg: msg, channel: channel}, nil, nil
	}
	prep, skip, err := s.surveyLink(ctx, st, d, m)
	if err != nil {
		return nil, nil, nil, err
	}
	if skip != "" {
		return s.ended(m, &c, store.MessageSkipped, skip, false, now), nil, nil, nil
	}
	msg, channel, err := s.renderMessage(st, d, m, &c)
	if err != nil {
		return s.ended(m, &c, store.MessageFailed, "MessageInvalid", false, now), nil, nil, nil
	}
	if s.opts.CustomerSender == nil {
		return s.ended(m, &c, store.MessageFailed, "NoSender", false, now), nil, nil, nil
	}
	return nil, &outgoing{m: m, c: c, msg: msg, channel: channel}, prep, nil
}

// sendAll sends the ready messages, a few at a time, and returns their
// outcomes: Sent (scheduling the reminder an invitation owes), Failed, or
// delayed with backoff after a transient failure.
func (s *Server) sendAll(ctx context.Context, st *state, ready []*outgoing, now time.Time) []store.MessageOutcome {
	outs := make([]store.MessageOutcome, len(ready))
	var wg sync.WaitGroup
	sem := make(chan struct{}, sendWorkers)
	for i, og := range ready {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = *s.sendOne(ctx, st, og, now)
		}()
	}
	wg.Wait()
	return outs
}

func (s *Server) sendOne(ctx context.Context, st *state, og *outgoing, now time.Time) *store.MessageOutcome {
	m, d := og.m, st.tp.Spec.Distribution
	err := s.opts.CustomerSender.SendToCustomer(ctx, s.opts.Namespace, og.channel, og.msg)
	switch {
	case err == nil:
	case notify.IsPermanent(err) || m.Attempts >= maxSendAttempts:
		// Ids only in logs: the error may quote the customer's address.
		s.opts.Log.Info("invitation not sent", "touchpoint", st.tp.Name, "message", m.ID, "kind", m.Kind, "attempts", m.Attempts)
		return s.ended(m, &og.c, store.MessageFailed, "SendFailed", false, now)
	default:
		backoff := min(time.Duration(1<<min(m.Attempts, 10))*30*time.Second, 6*time.Hour)
		return s.delayed(m, now.Add(backoff), "SendError")
	}
	// A sent invitation keeps the contact details until its link expires
	// (the retention loop erases them then), for the acknowledgement of a
	// Case its answer opens; a reminder carries its own copy.
	out := s.ended(m, &og.c, store.MessageSent, "", m.Kind == store.KindInvitation, now)
	if m.Kind == store.KindFollowUp {
		out.Contact = followUpPage(&og.c, now) // what its page shows
	}
	if m.Kind == store.KindInvitation && d.Reminder != nil {
		r := *m
		r.Key, r.Kind, r.DueAt = "remind/"+m.EventID, store.KindReminder, now.Add(d.Reminder.After.Duration)
		out.Next = &r
	}
	return out
}

// surveyLink gives m its survey link: for a first attempt of an
// invitation, a new token once sampling (decided now, at send time) allows
// it, returned as the link to prepare (the store decides quarantine and
// cap when it records it); for a retry or a reminder, the token it has,
// unless the survey was answered or the link expired. It returns why not
// to send, or "".
func (s *Server) surveyLink(ctx context.Context, st *state, d *cxv1alpha1.DistributionSpec, m *store.ScheduledMessage) (*store.PreparedMessage, string, error) {
	now := s.opts.Now()
	if m.Kind == store.KindReminder || m.Token != "" {
		done, err := s.answered(ctx, st, surveyResponsePrefix+m.TokenID)
		if err != nil || done {
			return nil, reasonAnswered, err
		}
		claims, err := s.signer.Verify(m.Token, s.opts.Namespace, st.tp.Name, m.CustomerID, now)
		switch {
		case errors.Is(err, ErrTokenExpired):
			return nil, reasonLinkExpired, nil
		case err != nil || claims.ID != m.TokenID:
			return nil, "TokenInvalid", nil
		}
		return nil, "", nil
	}
	ttl := 168 * time.Hour
	if d.LinkTTL != nil {
		ttl = d.LinkTTL.Duration
	}
	sst := *st
	sst.policy.tokenTTL = ttl
	ans, prep, err := s.planInvitationToken(&sst, m.CustomerID)
	if err != nil {
		return nil, "", err
	}
	if prep == nil {
		return nil, ans.Reason, nil
	}
	m.Token, m.TokenID, prep.ID = prep.Token, prep.TokenID, m.ID
	return prep, "", nil
}

// readToken reads the claims of a token this collector just issued.
func (s *Server) readToken(tok string) (TokenClaims, error) {
	payload, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return TokenClaims{}, err
	}
	var c TokenClaims
	return c, json.Unmarshal(raw, &c)
}

// renderMessage fills the touchpoint's message for the customer's locale.
func (s *Server) renderMessage(st *state, d *cxv1alpha1.DistributionSpec, m *store.ScheduledMessage, c *contactInfo) (notify.CustomerMessage, string, error) {
	locales := make([]string, 0, len(d.Messages))
	for _, msg := range d.Messages {
		locales = append(locales, msg.Locale)
	}
	loc := survey.Negotiate(locales, c.Locale, "")
	var tmpl cxv1alpha1.InvitationMessage
	for _, msg := range d.Messages {
		if msg.Locale == loc {
			tmpl = msg
		}
	}
	page := st.page(survey.Negotiate(st.locales, c.Locale, ""))
	base := strings.TrimSuffix(s.publicURL(st), "/")
	subject := tmpl.Subject
	if m.Kind == store.KindReminder && tmpl.ReminderSubject != "" {
		subject = tmpl.ReminderSubject
	}
	inv, err := st.invites.Render(page, survey.InvitationParts{
		Subject: subject, Body: tmpl.Body, SMS: tmpl.SMS, FirstName: c.FirstName, Name: c.Name,
		Link: base + "/s/" + m.Token, Unsubscribe: base + "/u/" + s.unsubscribeToken(m.CustomerID),
	})
	if err != nil {
		return notify.CustomerMessage{}, "", err
	}
	out := notify.CustomerMessage{Key: s.opts.Namespace + "/" + st.tp.Name + "/" + m.Key, Subject: inv.Subject, Text: inv.Text, HTML: inv.HTML,
		SMS: inv.SMS, Unsubscribe: base + "/u/" + s.unsubscribeToken(m.CustomerID)}
	switch m.Channel {
	case string(cxv1alpha1.DistributionSMS):
		if d.SMS == nil {
			return out, "", errors.New("distribution.sms is not set")
		}
		out.To = c.Phone
		if !strings.Contains(out.SMS, base) {
			out.SMS = strings.TrimSpace(out.SMS + " " + base + "/s/" + m.Token)
		}
		return out, d.SMS.Channel, nil
	default:
		if d.Email == nil {
			return out, "", errors.New("distribution.email is not set")
		}
		out.To = c.Email
		return out, d.Email.Channel, nil
	}
}

// quietUntil reports whether now lies in the quiet hours in the customer's
// time zone, and when they end.
func quietUntil(d *cxv1alpha1.DistributionSpec, tz string, now time.Time) (time.Time, bool) {
	q := d.QuietHours
	if q == nil {
		return time.Time{}, false
	}
	if tz == "" {
		tz = d.DefaultTimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		loc = time.UTC
	}
	start, okS := clockMinutes(q.Start)
	end, okE := clockMinutes(q.End)
	if !okS || !okE || start == end {
		return time.Time{}, false
	}
	local := now.In(loc)
	m := local.Hour()*60 + local.Minute()
	inside := (start < end && m >= start && m < end) || (start > end && (m >= start || m < end))
	if !inside {
		return time.Time{}, false
	}
	day := time.Date(local.Year(), local.Month(), local.Day(), end/60, end%60, 0, 0, loc)
	if !day.After(local) {
		day = day.AddDate(0, 0, 1)
	}
	return day, true
}

func clockMinutes(hhmm string) (int, bool) {
	var h, m int
	if _, err := fmt.Sscanf(hhmm, "%d:%d", &h, &m); err != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// InvitationStatus counts a touchpoint's invitations (GET /v1/status).
type InvitationStatus = collectorclient.InvitationCounts

func (s *Server) invitationStatus(ctx context.Context, st *state) (*InvitationStatus, error) {
	c, err := s.opts.Store.OutreachCounts(ctx, s.opts.Namespace, st.tp.Name)
	if err != nil {
		return nil, err
	}
	if c == (store.OutreachCounts{}) && st.tp.Spec.Distribution == nil {
		return nil, nil
	}
	return &InvitationStatus{Scheduled: c.Scheduled, Sent: c.Sent, Reminded: c.Reminded, Failed: c.Failed, Skipped: c.Skipped, Answered: c.Answered, Acknowledged: c.Acknowledged,
		FollowUpsWaiting: c.FollowUpsWaiting, FollowUpsSent: c.FollowUpsSent, FollowUpsAnswered: c.FollowUpsAnswered, FollowUpsExpired: c.FollowUpsExpired}, nil
}
