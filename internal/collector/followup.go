package collector

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/survey"
)

// The follow-up of a closed Case ("did we solve it?"):
//
//  1. When a Case opens from an answer to an invitation this collector
//     sent, and its template has customerMessages.followUp, the follow-up
//     is recorded in the store as Waiting (key followup/<case>), with its
//     own copy of the contact details, kept until the Case closes or
//     keepContactFor ends (then the retention loop erases them and counts
//     the follow-up as expired).
//  2. The collector watches the Cases of its touchpoint (an informer,
//     label-selected). When one is Closed and the Case controller has
//     recorded its closedAt, the follow-up is scheduled at
//     closedAt + after: an update of the store row that only a Waiting
//     follow-up takes, so every replica and every replay of the watch
//     after a restart schedules it once. A Case reopened before it was
//     sent puts it back to waiting.
//  3. The sender sends it like any scheduled message (one lease, one
//     idempotency key, quiet hours for SMS, not after unsubscribe), with
//     links that open the page with the answer chosen.
//  4. GET /f/{token} shows the question; POST /f/{token} keeps the first
//     answer in the store, then writes it to the Case's
//     spec.resolution.customerRecovered unless a person set it first
//     (optimistic lock), with an Event on the Case. An answer the API
//     server did not take yet is written by the distribution loop later.

// followUpKeyPrefix makes a follow-up's idempotency key from its Case.
const followUpKeyPrefix = "followup/"

// followUpQuestionID is the question of the follow-up page.
const followUpQuestionID = "solved"

// Follow-up answers and how they were applied to the Case.
const (
	answerYes = "yes"
	answerNo  = "no"

	appliedSet         = "Applied"
	appliedSetByPerson = "SetByPerson"
	appliedCaseGone    = "CaseGone"
	appliedRefused     = "Refused"
)

// AnnotationCustomerRecoveredBy says who set a Case's
// spec.resolution.customerRecovered when it was not a person: the value
// "follow-up" is the customer's answer to the follow-up survey.
const AnnotationCustomerRecoveredBy = "cx.cxloop.io/customer-recovered-by"

// EventReasonCustomerAnsweredFollowUp is the reason of the Event on a
// Case whose customer answered the follow-up.
const EventReasonCustomerAnsweredFollowUp = "CustomerAnsweredFollowUp"

// scheduleFollowUp records the follow-up a new Case owes its customer as
// Waiting, with ci's contact details until keepContactFor after now.
func (d *Dispatcher) scheduleFollowUp(ctx context.Context, c *cxv1alpha1.Case, fu *cxv1alpha1.FollowUp, inv store.ScheduledMessage, ci contactInfo, now time.Time) error {
	if fu == nil || len(fu.Messages) == 0 {
		return nil
	}
	locales := make([]string, len(fu.Messages))
	for i, t := range fu.Messages {
		locales[i] = t.Locale
	}
	loc := survey.Negotiate(locales, ci.Locale, "")
	var t cxv1alpha1.FollowUpText
	for _, x := range fu.Messages {
		if x.Locale == loc {
			t = x
		}
	}
	keep, ttl := 720*time.Hour, 168*time.Hour
	if fu.KeepContactFor != nil && fu.KeepContactFor.Duration > 0 {
		keep = fu.KeepContactFor.Duration
	}
	if fu.LinkTTL != nil && fu.LinkTTL.Duration > 0 {
		ttl = fu.LinkTTL.Duration
	}
	r := strings.NewReplacer("{firstName}", ci.FirstName)
	ci.Message = &customerText{Subject: r.Replace(t.Subject), Body: r.Replace(t.Body), SMS: r.Replace(t.SMS),
		Question: r.Replace(t.Question), Locale: t.Locale, LinkTTL: ttl.String()}
	contact, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	return d.opts.Store.ScheduleMessage(ctx, store.ScheduledMessage{Namespace: inv.Namespace, Touchpoint: inv.Touchpoint,
		Key: followUpKeyPrefix + c.Name, Kind: store.KindFollowUp, EventID: inv.EventID, CustomerID: inv.CustomerID,
		Channel: inv.Channel, Contact: contact, State: store.MessageWaiting, DueAt: now.Add(keep)})
}

// FollowCases schedules the follow-ups of the touchpoint's Cases as they
// close, from inf (an informer on the Cases this touchpoint opened) and
// the CaseTemplates templates reads (their followUp.after). The handler
// only moves a store row that is still Waiting, so the replay of every
// Case when the informer starts (a restart) and other replicas watching
// the same Cases schedule each follow-up once.
func (s *Server) FollowCases(ctx context.Context, inf cache.Informer, templates client.Reader) error {
	handle := func(obj any) {
		if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		c, ok := obj.(*cxv1alpha1.Case)
		if !ok {
			return
		}
		if err := s.caseChanged(ctx, c, templates); err != nil && ctx.Err() == nil {
			s.opts.Log.Error(err, "follow-up of a Case; trying again at the next change or resync", "case", c.Name)
		}
	}
	_, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
		// A Case archived and deleted while no collector ran: its last
		// state still says whether it closed.
		DeleteFunc: handle,
	})
	if err != nil {
		return fmt.Errorf("watch cases: %w", err)
	}
	return nil
}

// caseChanged schedules the follow-up of a Closed Case, or holds that of
// a reopened one.
func (s *Server) caseChanged(ctx context.Context, c *cxv1alpha1.Case, templates client.Reader) error {
	st := s.state.Load()
	if st == nil || c.Spec.Source == nil || c.Spec.Source.Touchpoint != st.tp.Name {
		return nil
	}
	key := followUpKeyPrefix + c.Name
	// The template (a copy out of the cache) is read only in the states
	// that use it: every new Case of the touchpoint comes here too.
	followUp := func() *cxv1alpha1.FollowUp {
		tmpl := &cxv1alpha1.CaseTemplate{}
		if err := templates.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Template}, tmpl); err == nil && tmpl.Spec.CustomerMessages != nil && tmpl.Spec.CustomerMessages.FollowUp != nil {
			return tmpl.Spec.CustomerMessages.FollowUp
		}
		return &cxv1alpha1.FollowUp{}
	}
	switch c.Spec.State {
	case cxv1alpha1.CaseClosed:
		// The closing counts once the Case controller recorded closedAt
		// (the next update brings it): scheduling from the moment this
		// collector saw spec.state change would move the follow-up by the
		// controller's delay, and no later update could correct it.
		if c.Status.ClosedAt == nil {
			return nil
		}
		closed := c.Status.ClosedAt.Time
		fu := followUp()
		after := 24 * time.Hour
		if fu.After != nil {
			after = fu.After.Duration
		}
		released, err := s.opts.Store.ReleaseFollowUp(ctx, s.opts.Namespace, st.tp.Name, key, closed.Add(after))
		if released {
			s.onScheduled()
		}
		return err
	case cxv1alpha1.CaseReopened:
		fu := followUp()
		keep := 720 * time.Hour
		if fu.KeepContactFor != nil && fu.KeepContactFor.Duration > 0 {
			keep = fu.KeepContactFor.Duration
		}
		_, err := s.opts.Store.HoldFollowUp(ctx, s.opts.Namespace, st.tp.Name, key, s.opts.Now().Add(keep))
		return err
	}
	return nil
}

// prepareFollowUp gives a claimed follow-up its answer link (a random
// token, recorded before sending so a retry sends the same one) and the
// message to send.
func (s *Server) prepareFollowUp(st *state, d *cxv1alpha1.DistributionSpec, m *store.ScheduledMessage, c *contactInfo) (*outgoing, *store.PreparedMessage, error) {
	if c.Message == nil || c.Message.Question == "" {
		return nil, nil, errors.New("the follow-up has no text")
	}
	var prep *store.PreparedMessage
	if m.Token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		m.Token = base64.RawURLEncoding.EncodeToString(b)
		m.TokenID = m.Token
		prep = &store.PreparedMessage{ID: m.ID, Token: m.Token, TokenID: m.TokenID}
	}
	base := strings.TrimSuffix(s.publicURL(st), "/")
	link := base + "/f/" + m.Token
	ui := survey.UIStrings(c.Message.Locale)
	yes := link + "?" + survey.FieldName(followUpQuestionID) + "=" + answerYes
	no := link + "?" + survey.FieldName(followUpQuestionID) + "=" + answerNo
	r := strings.NewReplacer("{question}", c.Message.Question, "{yesLink}", yes, "{noLink}", no, "{link}", link)
	unsubscribe := base + "/u/" + s.unsubscribeToken(m.CustomerID)
	msg := notify.CustomerMessage{Key: s.opts.Namespace + "/" + st.tp.Name + "/" + m.Key, Unsubscribe: unsubscribe}
	switch m.Channel {
	case string(cxv1alpha1.DistributionSMS):
		if d.SMS == nil || c.Message.SMS == "" {
			return nil, nil, errors.New("no SMS channel or text")
		}
		msg.To, msg.SMS = c.Phone, r.Replace(c.Message.SMS)
		if !strings.Contains(msg.SMS, link) {
			msg.SMS = strings.TrimSpace(msg.SMS + " " + link)
		}
		return &outgoing{m: m, c: *c, msg: msg, channel: d.SMS.Channel}, prep, nil
	default:
		if d.Email == nil || c.Message.Subject == "" || c.Message.Body == "" {
			return nil, nil, errors.New("no email channel or text")
		}
		body := c.Message.Body
		if !strings.Contains(body, "{yesLink}") {
			body = strings.TrimRight(body, "\n") + "\n\n{question}\n" + ui.Yes + ": {yesLink}\n" + ui.No + ": {noLink}\n"
		}
		msg.To, msg.Subject, msg.Text = c.Email, c.Message.Subject, r.Replace(body)
		return &outgoing{m: m, c: *c, msg: msg, channel: d.Email.Channel}, prep, nil
	}
}

// followUpPage is what a sent follow-up keeps for its page: the question,
// its locale and when the link expires; no contact details.
func followUpPage(c *contactInfo, sent time.Time) json.RawMessage {
	page := contactInfo{Customer: c.Customer, Locale: c.Locale, TimeZone: c.TimeZone}
	if t := c.Message; t != nil {
		ttl, err := time.ParseDuration(t.LinkTTL)
		if err != nil || ttl <= 0 {
			ttl = 168 * time.Hour
		}
		page.Message = &customerText{Question: t.Question, Locale: t.Locale, ExpiresAt: sent.Add(ttl).UTC().Format(time.RFC3339)}
	}
	out, _ := json.Marshal(page)
	return out
}

// The follow-up page (public surface):
//
//	GET  /f/{token}   the question (the answer of the email's link chosen),
//	                  or thank you once answered, or "expired"
//	POST /f/{token}   the answer; 303 back to GET
//
// The token is the credential: random, sent only to the customer, used
// once. The page is the survey page's (no script, the same CSP).
func (s *Server) followUpRoutes() {
	s.HandlePublic("GET /f/{token}", http.HandlerFunc(s.handleFollowUpGet))
	s.HandlePublic("POST /f/{token}", http.HandlerFunc(s.handleFollowUpPost))
}

// followUpLink is a sent follow-up found by the token of the path.
type followUpLink struct {
	m       store.ScheduledMessage
	page    *survey.Survey
	expired bool
}

// readFollowUp finds the follow-up of the path's token, or answers with
// the page that says why not.
func (s *Server) readFollowUp(w http.ResponseWriter, r *http.Request, st *state) (*followUpLink, bool) {
	m, err := s.opts.Store.FollowUpByToken(r.Context(), s.opts.Namespace, st.tp.Name, r.PathValue("token"))
	if errors.Is(err, store.ErrNotFound) {
		sv := pageFor(st, r, "")
		s.writeMessage(w, http.StatusNotFound, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return nil, false
	}
	if err != nil {
		s.pageUnavailable(w, r, st, err)
		return nil, false
	}
	var c contactInfo
	_ = json.Unmarshal(m.Contact, &c)
	if c.Message == nil {
		c.Message = &customerText{}
	}
	loc := c.Message.Locale
	sv := &survey.Survey{Locale: loc, Title: pageFor(st, r, loc).Title, UI: survey.UIStrings(loc)}
	sv.Questions = []survey.Question{{ID: followUpQuestionID, Type: cxv1alpha1.QuestionYesNo, Text: c.Message.Question, Required: true}}
	sv.ThankYou = sv.UI.ThankYou
	link := &followUpLink{m: m, page: sv}
	if exp, err := time.Parse(time.RFC3339, c.Message.ExpiresAt); err == nil && !s.opts.Now().Before(exp) {
		link.expired = true
	}
	return link, true
}

func (s *Server) handleFollowUpGet(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	link, ok := s.readFollowUp(w, r, st)
	if !ok {
		return
	}
	sv := link.page
	switch {
	case !link.m.AnsweredAt.IsZero():
		s.writeMessage(w, http.StatusOK, message(sv, sv.UI.ThanksTitle, sv.ThankYou))
	case link.expired:
		s.writeMessage(w, http.StatusGone, message(sv, sv.UI.ExpiredTitle, sv.UI.Expired))
	default:
		s.writeForm(w, http.StatusOK, survey.Form{Survey: sv, Action: "/f/" + link.m.TokenID, Values: survey.Prefill(sv, r.URL.Query()),
			Hidden: map[string]string{formFieldCSRF: s.formKey("followup", link.m.TokenID)}})
	}
}

func (s *Server) handleFollowUpPost(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	if !sameOrigin(r) {
		sv := pageFor(st, r, "")
		s.writeMessage(w, http.StatusForbidden, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	link, ok := s.readFollowUp(w, r, st)
	if !ok {
		return
	}
	sv, self := link.page, "/f/"+link.m.TokenID
	if err := parseForm(w, r); err != nil {
		s.writeMessage(w, http.StatusRequestEntityTooLarge, message(sv, sv.UI.InvalidTitle, err.Error()))
		return
	}
	hidden := map[string]string{formFieldCSRF: s.formKey("followup", link.m.TokenID)}
	if !hmac.Equal([]byte(r.PostForm.Get(formFieldCSRF)), []byte(hidden[formFieldCSRF])) {
		s.writeMessage(w, http.StatusForbidden, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	if !link.m.AnsweredAt.IsZero() {
		http.Redirect(w, r, self, http.StatusSeeOther)
		return
	}
	if link.expired {
		s.writeMessage(w, http.StatusGone, message(sv, sv.UI.ExpiredTitle, sv.UI.Expired))
		return
	}
	answer := r.PostForm.Get(survey.FieldName(followUpQuestionID))
	if answer != answerYes && answer != answerNo {
		s.writeForm(w, http.StatusUnprocessableEntity, survey.Form{Survey: sv, Action: self, Hidden: hidden, Values: r.PostForm,
			Errors: map[string]string{followUpQuestionID: fmt.Sprintf("is required: %q", sv.Questions[0].Text)}})
		return
	}
	if _, err := s.opts.Store.AnswerFollowUp(r.Context(), s.opts.Namespace, st.tp.Name, link.m.TokenID, answer, s.opts.Now()); err != nil {
		s.pageUnavailable(w, r, st, err)
		return
	}
	// The answer is stored: writing it to the Case now is a courtesy to
	// the people working it; the distribution loop retries what fails.
	if _, err := s.ApplyFollowUpAnswers(r.Context()); err != nil {
		s.opts.Log.Error(err, "apply follow-up answers; retrying in the distribution loop", "touchpoint", st.tp.Name)
	}
	http.Redirect(w, r, self, http.StatusSeeOther)
}

// applyBatch is how many answers one pass of ApplyFollowUpAnswers takes.
const applyBatch = 32

// ApplyFollowUpAnswers writes the stored follow-up answers to their Cases
// and returns how many it settled. Without an API client (Options.Cases)
// they stay stored until a collector with one applies them.
func (s *Server) ApplyFollowUpAnswers(ctx context.Context) (int, error) {
	st := s.state.Load()
	if s.opts.Cases == nil || st == nil {
		return 0, nil
	}
	ms, err := s.opts.Store.FollowUpAnswersToApply(ctx, s.opts.Namespace, st.tp.Name, applyBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for i := range ms {
		reason, err := s.applyFollowUpAnswer(ctx, &ms[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.opts.Store.MarkFollowUpApplied(ctx, ms[i].ID, s.opts.Now(), reason); err != nil {
			return n, err
		}
		n++
	}
	return n, errors.Join(errs...)
}

// applyFollowUpAnswer sets spec.resolution.customerRecovered of m's Case
// from the customer's answer, unless a person set it first, and returns
// how the answer was settled; an error is worth retrying.
func (s *Server) applyFollowUpAnswer(ctx context.Context, m *store.ScheduledMessage) (string, error) {
	name := strings.TrimPrefix(m.Key, followUpKeyPrefix)
	c := &cxv1alpha1.Case{}
	if err := s.opts.Cases.Get(ctx, client.ObjectKey{Namespace: s.opts.Namespace, Name: name}, c); err != nil {
		if apierrors.IsNotFound(err) {
			return appliedCaseGone, nil
		}
		return "", fmt.Errorf("read case %s: %w", name, err)
	}
	if c.Spec.Resolution != nil && c.Spec.Resolution.CustomerRecovered != nil {
		return appliedSetByPerson, nil // a person's word wins
	}
	base := c.DeepCopy()
	recovered := m.Answer == answerYes
	if c.Spec.Resolution == nil {
		c.Spec.Resolution = &cxv1alpha1.Resolution{}
	}
	c.Spec.Resolution.CustomerRecovered = &recovered
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[AnnotationCustomerRecoveredBy] = "follow-up"
	// The lock makes a person's edit made in between win: the patch fails
	// with a conflict, and the next pass reads the Case again.
	err := s.opts.Cases.Patch(ctx, c, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner("cxloop-collector"))
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		return appliedCaseGone, nil
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		// No retry changes the admission policies' answer; ids only: the
		// Case holds no contact details, the store keeps the answer.
		s.opts.Log.Info("the API server refused the follow-up answer", "case", name, "error", err.Error())
		return appliedRefused, nil
	default:
		return "", fmt.Errorf("record follow-up answer in case %s: %w", name, err)
	}
	s.caseEvent(ctx, c, recovered)
	return appliedSet, nil
}

// caseEvent records on the Case that its customer answered the follow-up
// (best effort, as every Event).
func (s *Server) caseEvent(ctx context.Context, c *cxv1alpha1.Case, recovered bool) {
	answer := "no, the problem is not solved"
	if recovered {
		answer = "yes, the problem is solved"
	}
	now := s.opts.Now()
	ev := &eventsv1.Event{
		// Named as client-go's recorders name Events (a generateName
		// ending in "." is not a valid name).
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: fmt.Sprintf("%s.%x", c.Name, now.UnixNano())},
		EventTime:  metav1.NewMicroTime(now), Type: corev1.EventTypeNormal,
		ReportingController: "cxloop.io/collector", ReportingInstance: s.opts.Namespace + "/" + s.state.Load().tp.Name,
		Action: "RecordCustomerAnswer", Reason: EventReasonCustomerAnsweredFollowUp,
		Regarding: corev1.ObjectReference{APIVersion: cxv1alpha1.GroupVersion.String(), Kind: "Case", Namespace: c.Namespace,
			Name: c.Name, UID: c.UID, ResourceVersion: c.ResourceVersion},
		Note: fmt.Sprintf("The customer answered the follow-up: %s; spec.resolution.customerRecovered set to %t.", answer, recovered),
	}
	if err := s.opts.Cases.Create(ctx, ev); err != nil {
		s.opts.Log.Info("event not recorded", "case", c.Name, "reason", EventReasonCustomerAnsweredFollowUp, "error", err.Error())
	}
}
