package collector

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/survey"
)

// customerText is a message to the customer rendered when it was
// scheduled (an acknowledgement, a follow-up); it lives in the message's
// contact JSON and is erased with the contact details once the message is
// done. A sent follow-up keeps only Question, Locale and ExpiresAt, for
// its page.
type customerText struct {
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
	SMS     string `json:"sms,omitempty"`
	// Question of a follow-up, its Locale, how long its answer links
	// work once sent (LinkTTL, a Go duration) and, once sent, until when
	// (ExpiresAt, RFC 3339).
	Question  string `json:"question,omitempty"`
	Locale    string `json:"locale,omitempty"`
	LinkTTL   string `json:"linkTTL,omitempty"`
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// acknowledge schedules the messages a new Case owes its customer (its
// template's customerMessages) when the Case came from an answer to an
// invitation this collector sent: the acknowledgement, due now, and the
// follow-up, waiting for the Case to close. They take the invitation's
// contact details, which the invitation then gives up; their keys are the
// Case's, so an action retried after a crash schedules them once.
func (d *Dispatcher) acknowledge(ctx context.Context, c *cxv1alpha1.Case, tmpl *cxv1alpha1.CaseTemplate, p *OpenCasePayload, now time.Time) error {
	if tmpl == nil || tmpl.Spec.CustomerMessages == nil || !strings.HasPrefix(p.ResponseID, surveyResponsePrefix) {
		return nil
	}
	cm := tmpl.Spec.CustomerMessages
	if len(cm.Acknowledgement) == 0 && cm.FollowUp == nil {
		return nil
	}
	inv, err := d.opts.Store.MessageByToken(ctx, p.Namespace, p.Touchpoint, strings.TrimPrefix(p.ResponseID, surveyResponsePrefix))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var ci contactInfo
	if json.Unmarshal(inv.Contact, &ci) != nil || (ci.Email == "" && ci.Phone == "") {
		return nil // the link expired and the details were erased
	}
	if err := d.scheduleFollowUp(ctx, c, cm.FollowUp, inv, ci, now); err != nil {
		return err
	}
	if len(cm.Acknowledgement) > 0 {
		if err := d.scheduleAcknowledgement(ctx, c, tmpl, inv, ci, now); err != nil {
			return err
		}
	}
	stripped, _ := json.Marshal(contactInfo{Customer: ci.Customer, Locale: ci.Locale, TimeZone: ci.TimeZone})
	return d.opts.Store.SetMessageContact(ctx, inv.ID, stripped)
}

// scheduleAcknowledgement schedules the acknowledgement of a new Case,
// due now, with ci's contact details.
func (d *Dispatcher) scheduleAcknowledgement(ctx context.Context, c *cxv1alpha1.Case, tmpl *cxv1alpha1.CaseTemplate, inv store.ScheduledMessage, ci contactInfo, now time.Time) error {
	texts := tmpl.Spec.CustomerMessages.Acknowledgement
	locales := make([]string, len(texts))
	for i, t := range texts {
		locales[i] = t.Locale
	}
	loc := survey.Negotiate(locales, ci.Locale, "")
	var t cxv1alpha1.CustomerMessageText
	for _, x := range texts {
		if x.Locale == loc {
			t = x
		}
	}
	policy, _ := cases.PolicyFor(tmpl, tierOf(c))
	wait := cases.FirstResponseGoal(tmpl, policy)
	if wait <= 0 && c.Spec.ClosureGoal != nil {
		wait = c.Spec.ClosureGoal.Duration
	}
	tz, _ := time.LoadLocation(ci.TimeZone)
	if tz == nil || ci.TimeZone == "" {
		tz = time.UTC
	}
	r := strings.NewReplacer("{firstName}", ci.FirstName, "{ownerFirstName}", FirstNameOf(c.Spec.Assignee),
		"{expectContactBy}", now.Add(wait).In(tz).Format("Mon 2 Jan 15:04 MST"))
	ci.Message = &customerText{Subject: r.Replace(t.Subject), Body: r.Replace(t.Body), SMS: r.Replace(t.SMS)}
	contact, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	return d.opts.Store.ScheduleMessage(ctx, store.ScheduledMessage{Namespace: inv.Namespace, Touchpoint: inv.Touchpoint,
		Key: "ack/" + c.Name, Kind: store.KindAcknowledgement, EventID: inv.EventID, CustomerID: inv.CustomerID,
		Channel: inv.Channel, Contact: contact, DueAt: now})
}

func tierOf(c *cxv1alpha1.Case) string {
	if c.Spec.Customer != nil {
		return c.Spec.Customer.Tier
	}
	return ""
}

// FirstNameOf is the first name in a user name: "maria.lopez",
// "maria_lopez@acme.example" and "Maria Lopez" give "Maria".
func FirstNameOf(user string) string {
	user, _, _ = strings.Cut(user, "@")
	first, _, _ := strings.Cut(strings.TrimSpace(user), " ")
	if i := strings.IndexAny(first, "._-"); i > 0 {
		first = first[:i]
	}
	r, n := utf8.DecodeRuneInString(first)
	if n == 0 {
		return ""
	}
	return string(unicode.ToUpper(r)) + first[n:]
}

// acknowledgementMessage is the acknowledgement m carries, ready to send.
func (s *Server) acknowledgementMessage(st *state, d *cxv1alpha1.DistributionSpec, m *store.ScheduledMessage, c *contactInfo) (notify.CustomerMessage, string, error) {
	out := notify.CustomerMessage{Key: s.opts.Namespace + "/" + st.tp.Name + "/" + m.Key}
	if c.Message == nil {
		return out, "", errors.New("the acknowledgement has no text")
	}
	out.Subject, out.Text, out.SMS = c.Message.Subject, c.Message.Body, c.Message.SMS
	switch m.Channel {
	case string(cxv1alpha1.DistributionSMS):
		if d.SMS == nil || out.SMS == "" {
			return out, "", errors.New("no SMS channel or text")
		}
		out.To = c.Phone
		return out, d.SMS.Channel, nil
	default:
		if d.Email == nil || out.Subject == "" || out.Text == "" {
			return out, "", errors.New("no email channel or text")
		}
		out.To = c.Email
		return out, d.Email.Channel, nil
	}
}
