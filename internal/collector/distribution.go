package collector

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
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
	// sendBatch is how many due messages one claim takes.
	sendBatch = 32
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
		for i := range ms {
			if err := s.sendMessage(ctx, &ms[i]); err != nil {
				return total, err
			}
		}
		total += len(ms)
		if len(ms) < sendBatch {
			return total, nil
		}
	}
}

// sendMessage decides and sends one claimed message. Only store errors
// are returned; a message that cannot be sent is recorded as such.
func (s *Server) sendMessage(ctx context.Context, m *store.ScheduledMessage) error {
	st := s.state.Load()
	now := s.opts.Now()
	d := st.tp.Spec.Distribution
	// finish ends the message; unless keep, the contact details are
	// erased (the customer's id, tier, segment, attributes and locale stay
	// for the survey page).
	var c contactInfo
	finish := func(state, reason string, keep bool) error {
		s.dist.sent.WithLabelValues(m.Kind, state, reason).Inc()
		var contact json.RawMessage
		if !keep {
			contact, _ = json.Marshal(contactInfo{Customer: c.Customer, Locale: c.Locale, TimeZone: c.TimeZone})
		}
		return s.opts.Store.FinishMessage(ctx, m.ID, state, reason, now, contact)
	}
	if d == nil {
		return finish(store.MessageSkipped, reasonNoDistribution, false)
	}
	if s.publicURL(st) == "" || s.signer == nil {
		return finish(store.MessageFailed, reasonNoPublicURL, false)
	}
	if err := json.Unmarshal(m.Contact, &c); err != nil {
		return finish(store.MessageFailed, "ContactUnreadable", false)
	}
	if out, err := s.opts.Store.Unsubscribed(ctx, m.Namespace, m.CustomerID); err != nil || out {
		if err != nil {
			return err
		}
		return finish(store.MessageSkipped, reasonUnsubscribed, false)
	}
	if m.Channel == string(cxv1alpha1.DistributionSMS) {
		if until, quiet := quietUntil(d, c.TimeZone, now); quiet {
			s.dist.sent.WithLabelValues(m.Kind, "Delayed", "QuietHours").Inc()
			return s.opts.Store.DelayMessage(ctx, m.ID, until, "QuietHours")
		}
	}
	if skip, err := s.surveyLink(ctx, st, d, m); err != nil || skip != "" {
		if err != nil {
			return err
		}
		return finish(store.MessageSkipped, skip, false)
	}

	msg, channel, err := s.renderMessage(st, d, m, &c)
	if err != nil {
		return finish(store.MessageFailed, "MessageInvalid", false)
	}
	if s.opts.CustomerSender == nil {
		return finish(store.MessageFailed, "NoSender", false)
	}
	err = s.opts.CustomerSender.SendToCustomer(ctx, s.opts.Namespace, channel, msg)
	switch {
	case err == nil:
	case notify.IsPermanent(err) || m.Attempts >= maxSendAttempts:
		// Ids only in logs: the error may quote the customer's address.
		s.opts.Log.Info("invitation not sent", "touchpoint", st.tp.Name, "message", m.ID, "kind", m.Kind, "attempts", m.Attempts)
		return finish(store.MessageFailed, "SendFailed", false)
	default:
		backoff := min(time.Duration(1<<min(m.Attempts, 10))*30*time.Second, 6*time.Hour)
		s.dist.sent.WithLabelValues(m.Kind, "Delayed", "SendError").Inc()
		return s.opts.Store.DelayMessage(ctx, m.ID, now.Add(backoff), "SendError")
	}
	remind := m.Kind == store.KindInvitation && d.Reminder != nil
	if err := finish(store.MessageSent, "", remind); err != nil {
		return err
	}
	if remind {
		r := *m
		r.Key, r.Kind, r.DueAt = "remind/"+m.EventID, store.KindReminder, now.Add(d.Reminder.After.Duration)
		if err := s.opts.Store.ScheduleMessage(ctx, r); err != nil {
			return err
		}
		// The invitation's copy of the contact details is no longer needed.
		stripped, _ := json.Marshal(contactInfo{Customer: c.Customer, Locale: c.Locale, TimeZone: c.TimeZone})
		return s.opts.Store.FinishMessage(ctx, m.ID, store.MessageSent, "", now, stripped)
	}
	return nil
}

// surveyLink gives m its survey link: for a first attempt of an
// invitation, a new token once sampling and contact frequency (decided now,
// at send time) allow it; for a retry or a reminder, the token it has,
// unless the survey was answered or the link expired. It returns why not
// to send, or "".
func (s *Server) surveyLink(ctx context.Context, st *state, d *cxv1alpha1.DistributionSpec, m *store.ScheduledMessage) (string, error) {
	now := s.opts.Now()
	if m.Kind == store.KindReminder || m.Token != "" {
		done, err := s.answered(ctx, st, surveyResponsePrefix+m.TokenID)
		if err != nil || done {
			return reasonAnswered, err
		}
		claims, err := s.signer.Verify(m.Token, s.opts.Namespace, st.tp.Name, m.CustomerID, now)
		switch {
		case errors.Is(err, ErrTokenExpired):
			return reasonLinkExpired, nil
		case err != nil || claims.ID != m.TokenID:
			return "TokenInvalid", nil
		}
		return "", nil
	}
	ttl := 168 * time.Hour
	if d.LinkTTL != nil {
		ttl = d.LinkTTL.Duration
	}
	sst := *st
	sst.policy.tokenTTL = ttl
	ans, err := s.decideInvitation((&http.Request{}).WithContext(ctx), &sst, m.CustomerID)
	if err != nil {
		return "", err
	}
	if !ans.Invite {
		return ans.Reason, nil
	}
	claims, err := s.readToken(ans.Token)
	if err != nil {
		return "", err
	}
	m.Token, m.TokenID = ans.Token, claims.ID
	return "", s.opts.Store.SetMessageToken(ctx, m.ID, m.Token, m.TokenID)
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
	page := survey.New(st.tp, survey.Negotiate(survey.Locales(st.tp), c.Locale, ""))
	base := strings.TrimSuffix(s.publicURL(st), "/")
	subject := tmpl.Subject
	if m.Kind == store.KindReminder && tmpl.ReminderSubject != "" {
		subject = tmpl.ReminderSubject
	}
	inv, err := survey.RenderInvitation(page, survey.InvitationParts{
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
	return &InvitationStatus{Scheduled: c.Scheduled, Sent: c.Sent, Reminded: c.Reminded, Failed: c.Failed, Skipped: c.Skipped, Answered: c.Answered}, nil
}
