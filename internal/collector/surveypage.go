package collector

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/survey"
)

// The hosted survey page (public surface):
//
//	GET  /s/{token}   the form of an invitation (or its thank-you, or "expired")
//	POST /s/{token}   the answers; 303 back to GET, which then says thank you
//	GET  /p           the public link's form (spec.survey.publicLink)
//	POST /p           its answers
//	GET  /p/qr.svg    the public link as a QR code (also /p/qr.png)
//
// The token in the path is the credential: a signed invitation token, used
// once. Pages carry no script, are never cached and never send the token on
// as a Referer.

// maxFormBytes bounds a submitted survey form.
const maxFormBytes = MaxBodyBytes

// surveyResponsePrefix makes a page submission's response id from its
// token id, so a second submission of the same link is a duplicate.
const surveyResponsePrefix = "s-"

// publicResponsePrefix does the same for a public-link form.
const publicResponsePrefix = "p-"

// metadata the page adds to its responses.
const (
	metaChannel        = "channel"
	metaLocale         = "locale"
	channelSurveyPage  = "survey-page"
	channelPublicLink  = "public-link"
	formFieldCSRF      = "csrf"
	formFieldTicket    = "ticket"
	publicTicketMaxAge = 24 * time.Hour
)

// InvitationContext is what the collector knows of the customer an
// invitation token was sent to, beyond the id in the token.
type InvitationContext struct {
	Customer store.Customer
	Locale   string
}

// invitationLookup finds the context of a token id; ok is false when the
// token was handed out by POST /v1/invitations (the caller sent it on).
type invitationLookup func(ctx context.Context, tokenID string) (InvitationContext, bool, error)

// surveyPages is the survey page's part of the Server.
type surveyPages struct {
	// pageKey signs form keys and public tickets.
	pageKey []byte
	// lookupInvitation finds the customer of a scheduled invitation.
	lookupInvitation invitationLookup
	// onAnswered is told of every response stored through a page.
	onAnswered func(ctx context.Context, nr *store.NewResponse)

	pageMu        sync.Mutex
	publicLimit   *clientLimiter
	publicPerHour int
}

func (s *Server) surveyRoutes() {
	s.pageKey = newPageKey(s.opts.SigningKey)
	s.HandlePublic("GET "+survey.StylePath, http.HandlerFunc(handleSurveyCSS))
	s.HandlePublic("GET /s/{token}", http.HandlerFunc(s.handleSurveyGet))
	s.HandlePublic("POST /s/{token}", http.HandlerFunc(s.handleSurveyPost))
	s.HandlePublic("GET /p", http.HandlerFunc(s.handlePublicGet))
	s.HandlePublic("POST /p", http.HandlerFunc(s.handlePublicPost))
	s.HandlePublic("GET /p/qr.svg", http.HandlerFunc(s.handleQR))
	s.HandlePublic("GET /p/qr.png", http.HandlerFunc(s.handleQR))
}

func handleSurveyCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(survey.CSS)
}

// pageHeaders are sent with every survey page.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", survey.ContentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (s *Server) writeForm(w http.ResponseWriter, status int, f survey.Form) {
	pageHeaders(w)
	w.WriteHeader(status)
	if err := survey.RenderForm(w, f); err != nil {
		s.opts.Log.Error(err, "render survey page")
	}
}

func (s *Server) writeMessage(w http.ResponseWriter, status int, m survey.Message) {
	pageHeaders(w)
	w.WriteHeader(status)
	if err := survey.RenderMessage(w, m); err != nil {
		s.opts.Log.Error(err, "render survey page")
	}
}

// pageFor returns the touchpoint's page in the best locale for r.
func pageFor(st *state, r *http.Request, invitationLocale string) *survey.Survey {
	return st.page(survey.Negotiate(st.locales, invitationLocale, r.Header.Get("Accept-Language")))
}

func message(sv *survey.Survey, heading, body string) survey.Message {
	return survey.Message{Locale: sv.Locale, Title: sv.Title, Heading: heading, Body: body}
}

// surveyLink is a verified invitation token of this touchpoint.
type surveyLink struct {
	token  string
	claims TokenClaims
	inv    InvitationContext
	// expired is true when the token is genuine but past its expiry.
	expired bool
}

func (l *surveyLink) responseID() string { return surveyResponsePrefix + l.claims.ID }

// readLink verifies the token of the path. A token of another touchpoint,
// altered or malformed gives ok false.
func (s *Server) readLink(r *http.Request, st *state) (*surveyLink, bool, error) {
	if s.signer == nil {
		return nil, false, nil
	}
	tok := r.PathValue("token")
	payload, _, found := strings.Cut(tok, ".")
	if !found {
		return nil, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false, nil
	}
	var unverified TokenClaims
	if json.Unmarshal(raw, &unverified) != nil {
		return nil, false, nil
	}
	claims, err := s.signer.Verify(tok, s.opts.Namespace, st.tp.Name, unverified.Customer, s.opts.Now())
	link := &surveyLink{token: tok, claims: claims, inv: InvitationContext{Customer: store.Customer{ID: unverified.Customer}}}
	switch {
	case errors.Is(err, ErrTokenExpired):
		link.claims, link.expired = unverified, true
	case err != nil:
		return nil, false, nil
	}
	if s.lookupInvitation != nil {
		inv, ok, err := s.lookupInvitation(r.Context(), link.claims.ID)
		if err != nil {
			return nil, false, err
		}
		if ok {
			link.inv = inv
		}
	}
	return link, true, nil
}

// answered reports whether the link's response is stored.
func (s *Server) answered(ctx context.Context, st *state, id string) (bool, error) {
	_, err := s.opts.Store.GetResponse(ctx, st.tp.Name, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// linkOrPage reads the link of the path, or answers with the page that
// says why it cannot be used.
func (s *Server) linkOrPage(w http.ResponseWriter, r *http.Request, st *state) (*surveyLink, bool) {
	link, ok, err := s.readLink(r, st)
	if err != nil {
		s.pageUnavailable(w, r, st, err)
		return nil, false
	}
	if !ok {
		sv := pageFor(st, r, "")
		s.writeMessage(w, http.StatusNotFound, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
	}
	return link, ok
}

func (s *Server) handleSurveyGet(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	link, ok := s.linkOrPage(w, r, st)
	if !ok {
		return
	}
	sv := pageFor(st, r, link.inv.Locale)
	done, err := s.answered(r.Context(), st, link.responseID())
	if err != nil {
		s.pageUnavailable(w, r, st, err)
		return
	}
	switch {
	case done:
		s.writeMessage(w, http.StatusOK, message(sv, sv.UI.ThanksTitle, sv.ThankYou))
	case link.expired:
		s.writeMessage(w, http.StatusGone, message(sv, sv.UI.ExpiredTitle, sv.UI.Expired))
	default:
		s.writeForm(w, http.StatusOK, survey.Form{
			Survey: sv, Action: "/s/" + link.token, Values: survey.Prefill(sv, r.URL.Query()),
			Hidden: map[string]string{formFieldCSRF: s.formKey("survey", link.claims.ID)},
		})
	}
}

func (s *Server) handleSurveyPost(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	if !sameOrigin(r) {
		sv := pageFor(st, r, "")
		s.writeMessage(w, http.StatusForbidden, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	link, ok := s.linkOrPage(w, r, st)
	if !ok {
		return
	}
	sv := pageFor(st, r, link.inv.Locale)
	if err := parseForm(w, r); err != nil {
		s.writeMessage(w, http.StatusRequestEntityTooLarge, message(sv, sv.UI.InvalidTitle, err.Error()))
		return
	}
	if !hmac.Equal([]byte(r.PostForm.Get(formFieldCSRF)), []byte(s.formKey("survey", link.claims.ID))) {
		s.writeMessage(w, http.StatusForbidden, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	if done, err := s.answered(r.Context(), st, link.responseID()); err != nil || done {
		if err != nil {
			s.pageUnavailable(w, r, st, err)
			return
		}
		http.Redirect(w, r, "/s/"+link.token, http.StatusSeeOther)
		return
	}
	if link.expired {
		s.writeMessage(w, http.StatusGone, message(sv, sv.UI.ExpiredTitle, sv.UI.Expired))
		return
	}
	req := ResponseRequest{
		ID: link.responseID(), Token: link.token,
		Customer: CustomerRequest{ID: link.inv.Customer.ID, Tier: link.inv.Customer.Tier, Segment: link.inv.Customer.Segment, Attributes: link.inv.Customer.Attributes},
		Metadata: map[string]string{metaChannel: channelSurveyPage, metaLocale: sv.Locale},
	}
	s.submitPage(w, r, st, sv, req, "/s/"+link.token, "/s/"+link.token, map[string]string{formFieldCSRF: s.formKey("survey", link.claims.ID)})
}

// submitPage validates and stores a page's answers exactly as POST
// /v1/responses does, then sees the browser to done; an invalid form is
// shown again with the API's messages next to the fields.
func (s *Server) submitPage(w http.ResponseWriter, r *http.Request, st *state, sv *survey.Survey, req ResponseRequest, action, done string, hidden map[string]string) {
	start := s.opts.Now()
	req.Answers, req.Comment = survey.Answers(sv, r.PostForm)
	body, err := json.Marshal(req)
	if err != nil {
		s.pageUnavailable(w, r, st, err)
		return
	}
	nr, fieldErrs, tokenErr := s.prepare(st, body, start)
	switch {
	case fieldErrs != nil:
		s.metrics.responses.WithLabelValues(resultInvalid).Inc()
		byField := make(map[string]string, len(fieldErrs))
		for _, fe := range fieldErrs {
			byField[fe.Field] = fe.Message
		}
		errs, general := survey.ErrorsByField(sv, byField)
		s.writeForm(w, http.StatusUnprocessableEntity, survey.Form{Survey: sv, Action: action, Hidden: hidden, Values: r.PostForm, Errors: errs, General: general})
		return
	case tokenErr != nil:
		s.metrics.responses.WithLabelValues(resultUnauthorized).Inc()
		s.writeMessage(w, http.StatusGone, message(sv, sv.UI.ExpiredTitle, sv.UI.Expired))
		return
	}
	results, err := s.opts.Store.SaveResponses(r.Context(), []store.NewResponse{*nr})
	if err == nil && results[0].Status == store.StatusFailed {
		err = results[0].Err
	}
	if err != nil {
		s.metrics.responses.WithLabelValues(resultError).Inc()
		s.pageUnavailable(w, r, st, err)
		return
	}
	switch results[0].Status {
	case store.StatusTokenRejected:
		// The token was used through the API, or never recorded.
		s.metrics.responses.WithLabelValues(resultUnauthorized).Inc()
		s.writeMessage(w, http.StatusConflict, message(sv, sv.UI.AnsweredTitle, sv.UI.Answered))
		return
	case store.StatusStored:
		s.metrics.responses.WithLabelValues(resultAccepted).Inc()
		if len(nr.Actions) > 0 {
			s.matches.record(nr, start)
			if s.opts.OnActions != nil {
				s.opts.OnActions()
			}
		}
		if s.onAnswered != nil {
			s.onAnswered(r.Context(), nr)
		}
	default:
		s.metrics.responses.WithLabelValues(resultDuplicate).Inc()
	}
	s.metrics.latency.Observe(s.opts.Now().Sub(start).Seconds())
	http.Redirect(w, r, done, http.StatusSeeOther)
}

func (s *Server) pageUnavailable(w http.ResponseWriter, r *http.Request, st *state, err error) {
	s.opts.Log.Error(err, "survey page", "touchpoint", st.tp.Name)
	sv := pageFor(st, r, "")
	w.Header().Set("Retry-After", "30")
	s.writeMessage(w, http.StatusServiceUnavailable, message(sv, sv.UI.TooManyTitle, sv.UI.TooMany))
}

// parseForm reads a bounded urlencoded form.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return errors.New("the form is too large")
	}
	return nil
}

// sameOrigin refuses form posts a browser marks as coming from another
// site: by Sec-Fetch-Site, else by Origin against Host. The pages' policy is
// no-referrer, so browsers send "Origin: null" even from the page itself;
// clients that send neither header (curl, old browsers) pass too: the token
// and the form key are what authorize a submission.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	host := strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
	return strings.EqualFold(host, r.Host)
}

// formKey is the CSRF key of a form: an HMAC of its token or ticket id
// under the signing key, so only a page the collector served can post.
func (s *Server) formKey(purpose, id string) string {
	m := hmac.New(sha256.New, s.pageKey)
	m.Write([]byte(purpose + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newPageKey is the key of form keys and public tickets: derived from the
// signing key (so every replica agrees), else random per process.
func newPageKey(signingKey []byte) []byte {
	if len(signingKey) > 0 {
		m := hmac.New(sha256.New, signingKey)
		m.Write([]byte("cxloop survey page"))
		return m.Sum(nil)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// Public link.

func (s *Server) publicLink(st *state) (perHour int, ok bool) {
	sp := st.tp.Spec.Survey
	if sp == nil || sp.PublicLink == nil || !sp.PublicLink.Enabled || st.policy.requireToken {
		return 0, false
	}
	perHour = int(sp.PublicLink.SubmissionsPerHour)
	if perHour <= 0 {
		perHour = 20
	}
	return perHour, true
}

// newTicket issues a public form's ticket: a random id and the time,
// signed.
func (s *Server) newTicket() string {
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	body := hex.EncodeToString(id) + "." + strconv.FormatInt(s.opts.Now().Unix(), 10)
	return body + "." + s.formKey("ticket", body)
}

// readTicket verifies a ticket and returns its id.
func (s *Server) readTicket(t string) (string, bool) {
	i := strings.LastIndexByte(t, '.')
	if i < 0 || !hmac.Equal([]byte(t[i+1:]), []byte(s.formKey("ticket", t[:i]))) {
		return "", false
	}
	id, at, _ := strings.Cut(t[:i], ".")
	sec, err := strconv.ParseInt(at, 10, 64)
	if err != nil || s.opts.Now().Sub(time.Unix(sec, 0)) > publicTicketMaxAge {
		return "", false
	}
	return id, true
}

func (s *Server) handlePublicGet(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	if _, ok := s.publicLink(st); !ok {
		http.NotFound(w, r)
		return
	}
	sv := pageFor(st, r, "")
	if r.URL.Query().Get("done") != "" {
		s.writeMessage(w, http.StatusOK, message(sv, sv.UI.ThanksTitle, sv.ThankYou))
		return
	}
	s.writeForm(w, http.StatusOK, survey.Form{Survey: sv, Action: "/p", Values: survey.Prefill(sv, r.URL.Query()),
		Hidden: map[string]string{formFieldTicket: s.newTicket()}})
}

func (s *Server) handlePublicPost(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	perHour, ok := s.publicLink(st)
	if !ok {
		http.NotFound(w, r)
		return
	}
	sv := pageFor(st, r, "")
	if !sameOrigin(r) {
		s.writeMessage(w, http.StatusForbidden, message(sv, sv.UI.InvalidTitle, sv.UI.Invalid))
		return
	}
	if err := parseForm(w, r); err != nil {
		s.writeMessage(w, http.StatusRequestEntityTooLarge, message(sv, sv.UI.InvalidTitle, err.Error()))
		return
	}
	ticket := r.PostForm.Get(formFieldTicket)
	id, ok := s.readTicket(ticket)
	if !ok {
		// A stale or forged form: show a fresh one with the answers kept.
		s.writeForm(w, http.StatusOK, survey.Form{Survey: sv, Action: "/p", Values: r.PostForm,
			Hidden: map[string]string{formFieldTicket: s.newTicket()}})
		return
	}
	if wait, ok := s.publicLimiter(perHour).allow(s.clientKey(r)); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.writeMessage(w, http.StatusTooManyRequests, message(sv, sv.UI.TooManyTitle, sv.UI.TooMany))
		return
	}
	req := ResponseRequest{
		ID:       publicResponsePrefix + id,
		Customer: CustomerRequest{ID: "anonymous-" + id},
		Metadata: map[string]string{metaChannel: channelPublicLink, metaLocale: sv.Locale},
	}
	s.submitPage(w, r, st, sv, req, "/p", "/p?done=1", map[string]string{formFieldTicket: ticket})
}

// publicLimiter is the per-client bucket of public-link submissions,
// rebuilt when the touchpoint's limit changes.
func (s *Server) publicLimiter(perHour int) *clientLimiter {
	s.pageMu.Lock()
	defer s.pageMu.Unlock()
	if s.publicLimit == nil || s.publicPerHour != perHour {
		s.publicLimit = newClientLimiter(float64(perHour)/3600, perHour, s.opts.Now)
		s.publicPerHour = perHour
	}
	return s.publicLimit
}

// handleQR serves the public link as a QR code to print on receipts and
// posters.
func (s *Server) handleQR(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	if _, ok := s.publicLink(st); !ok {
		http.NotFound(w, r)
		return
	}
	if s.publicURL(st) == "" {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "No public address", Status: http.StatusNotFound,
			Detail: "the collector does not know the address customers reach it at; set the collector's public URL"})
		return
	}
	link := strings.TrimSuffix(s.publicURL(st), "/") + "/p"
	var (
		body []byte
		err  error
	)
	if strings.HasSuffix(r.URL.Path, ".png") {
		w.Header().Set("Content-Type", "image/png")
		body, err = survey.QRPNG(link, 8)
	} else {
		w.Header().Set("Content-Type", "image/svg+xml")
		body, err = survey.QRSVG(link)
	}
	if err != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "QR code", Status: http.StatusInternalServerError, Detail: err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(body)
}

// publicURL is where customers reach the public surface: the option, else
// the touchpoint's spec.survey.publicURL.
func (s *Server) publicURL(st *state) string {
	if s.opts.PublicURL != "" {
		return strings.TrimSuffix(s.opts.PublicURL, "/")
	}
	if sp := st.tp.Spec.Survey; sp != nil {
		return strings.TrimSuffix(sp.PublicURL, "/")
	}
	return ""
}
