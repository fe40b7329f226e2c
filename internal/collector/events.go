package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"

	"github.com/prometheus/client_golang/prometheus"
)

// POST /v1/events (private surface): the business system says what
// happened to a customer. An event the touchpoint's distribution names
// schedules an invitation, sent after its delay; any other event is stored
// and reported as UnknownEvent. Idempotent by event id.

// MaxEventBatch is the most events one POST /v1/events:batch carries.
const MaxEventBatch = 1000

// Event outcomes.
const (
	OutcomeScheduled    = "Scheduled"
	OutcomeUnknownEvent = "UnknownEvent"
	OutcomeNoContact    = "NoContact"
)

// EventRequest is one business event.
type EventRequest struct {
	// ID is the idempotency key of the event.
	ID string `json:"id"`
	// Name of the event, for example "upgrade-downloaded".
	Name string `json:"name"`
	// OccurredAt is when it happened; now when absent.
	OccurredAt *time.Time `json:"occurredAt,omitempty"`
	// Customer it happened to, with contact details.
	Customer EventCustomer `json:"customer"`
	// Metadata such as the product or the order.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// EventCustomer is the customer of an event. The contact details (email,
// phone, names) stay in the collector's store only until the invitation is
// done with; they never go into responses or Cases.
type EventCustomer struct {
	ID         string            `json:"id"`
	Tier       string            `json:"tier,omitempty"`
	Segment    string            `json:"segment,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Email      string            `json:"email,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	Name       string            `json:"name,omitempty"`
	FirstName  string            `json:"firstName,omitempty"`
	// Locale (BCP 47) of the invitation and the survey page.
	Locale string `json:"locale,omitempty"`
	// TimeZone (IANA) for quiet hours.
	TimeZone string `json:"timeZone,omitempty"`
}

// EventResult is the answer for one event.
type EventResult struct {
	Index  int         `json:"index"`
	ID     string      `json:"id,omitempty"`
	Status int         `json:"status"`
	Errors FieldErrors `json:"errors,omitempty"`
	// Outcome: Scheduled, UnknownEvent or NoContact.
	Outcome string `json:"outcome,omitempty"`
	// Detail explains the outcome for a person.
	Detail string `json:"detail,omitempty"`
	// InvitationDueAt is when the invitation is due, when Scheduled.
	InvitationDueAt *time.Time `json:"invitationDueAt,omitempty"`
	// Replayed is true when the event id was stored before.
	Replayed bool `json:"replayed,omitempty"`
}

// EventBatch is the body of POST /v1/events:batch.
type EventBatch struct {
	Events []json.RawMessage `json:"events"`
}

// EventBatchResult answers a batch, one result per event in order.
type EventBatchResult struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Results  []EventResult `json:"results"`
}

var (
	e164Pattern      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	localePattern    = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)
	eventNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$`)
)

// contactInfo is what a scheduled message keeps of the customer.
type contactInfo struct {
	Customer  store.Customer `json:"customer"`
	Email     string         `json:"email,omitempty"`
	Phone     string         `json:"phone,omitempty"`
	Name      string         `json:"name,omitempty"`
	FirstName string         `json:"firstName,omitempty"`
	Locale    string         `json:"locale,omitempty"`
	TimeZone  string         `json:"timeZone,omitempty"`
	// Message is the text of an acknowledgement, rendered when it was
	// scheduled.
	Message *customerText `json:"message,omitempty"`
}

func (s *Server) eventRoutes() {
	s.dist.wake = make(chan struct{}, 1)
	s.dist.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cxloop_collector_invitations_total",
		Help: "Scheduled invitations and reminders handled, by kind (invitation, reminder), state (Sent, Failed, Skipped, Delayed) and reason.",
	}, []string{"kind", "state", "reason"})
	s.opts.Registerer.MustRegister(s.dist.sent)
	s.lookupInvitation = func(ctx context.Context, tokenID string) (InvitationContext, bool, error) {
		m, err := s.opts.Store.MessageByToken(ctx, s.opts.Namespace, s.state.Load().tp.Name, tokenID)
		if errors.Is(err, store.ErrNotFound) {
			return InvitationContext{}, false, nil
		}
		if err != nil {
			return InvitationContext{}, false, err
		}
		var c contactInfo
		_ = json.Unmarshal(m.Contact, &c)
		// The invitation's contact copy is erased once sent; the customer
		// id is the token's.
		c.Customer.ID = m.CustomerID
		return InvitationContext{Customer: c.Customer, Locale: c.Locale}, true, nil
	}
	s.onAnswered = func(ctx context.Context, nr *store.NewResponse) {
		if err := s.opts.Store.MarkAnswered(ctx, s.opts.Namespace, nr.Touchpoint, nr.TokenID, s.opts.Now()); err != nil {
			s.opts.Log.Error(err, "mark invitation answered", "touchpoint", nr.Touchpoint)
		}
	}
	s.HandlePrivate("POST /v1/events", http.HandlerFunc(s.handleEvent))
	s.HandlePrivate("POST /v1/events:batch", http.HandlerFunc(s.handleEventBatch))
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		writeProblem(w, Problem{Type: problemTooLarge, Title: "Event too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("an event may hold at most %d bytes", MaxBodyBytes)})
		return
	}
	res := s.recordEvent(r, s.state.Load(), body)
	switch {
	case len(res.Errors) > 0:
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid event", Status: res.Status,
			Detail: "nothing was stored; fix the fields listed", Errors: res.Errors})
	case res.Status == http.StatusServiceUnavailable:
		writeStoreUnavailable(w, res.Detail)
	case res.Status == http.StatusConflict:
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Event id reused", Status: http.StatusConflict, Detail: res.Detail,
			Errors: FieldErrors{{Field: "id", Message: res.Detail}}})
	default:
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeJSON(w, res.Status, res)
	}
}

func (s *Server) handleEventBatch(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBytes))
	if err != nil {
		writeProblem(w, Problem{Type: problemTooLarge, Title: "Event batch too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("a batch may hold at most %d bytes; split it", maxBatchBytes)})
		return
	}
	var batch EventBatch
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil {
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid event batch", Status: http.StatusBadRequest,
			Detail: `send {"events": [ ... ]}`, Errors: FieldErrors{jsonError(err)}})
		return
	}
	if n := len(batch.Events); n == 0 || n > MaxEventBatch {
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid event batch", Status: http.StatusBadRequest,
			Errors: FieldErrors{{Field: "events", Message: fmt.Sprintf("holds %d items; send 1 to %d", n, MaxEventBatch)}}})
		return
	}
	st := s.state.Load()
	out := EventBatchResult{Results: make([]EventResult, len(batch.Events))}
	for i, raw := range batch.Events {
		res := s.recordEvent(r, st, raw)
		res.Index = i
		res.Errors = prefixFields(res.Errors, fmt.Sprintf("events[%d]", i))
		if res.Status < 300 {
			out.Accepted++
		} else {
			out.Rejected++
		}
		out.Results[i] = res
	}
	writeJSON(w, http.StatusOK, out)
}

// recordEvent validates, stores and schedules one event.
func (s *Server) recordEvent(r *http.Request, st *state, body []byte) EventResult {
	var req EventRequest
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return EventResult{Status: http.StatusBadRequest, Errors: FieldErrors{jsonError(err)}}
	}
	now := s.opts.Now()
	if errs := validateEvent(&req, now); len(errs) > 0 {
		return EventResult{ID: req.ID, Status: http.StatusBadRequest, Errors: errs}
	}
	occurred := now
	if req.OccurredAt != nil {
		occurred = req.OccurredAt.UTC()
	}
	sum := sha256.Sum256(body)
	e := store.Event{
		Namespace: s.opts.Namespace, Touchpoint: st.tp.Name, ID: req.ID, Name: req.Name, CustomerID: req.Customer.ID,
		OccurredAt: occurred, ReceivedAt: now, BodyHash: hex.EncodeToString(sum[:]), Detail: newEventDetail(st, &req),
	}
	res := EventResult{ID: req.ID, Status: http.StatusAccepted}
	msg, outcome, detail := s.planInvitation(st, &req, occurred)
	e.Outcome, res.Outcome, res.Detail = outcome, outcome, detail
	stored, isNew, err := s.opts.Store.RecordEvent(r.Context(), e, msg)
	switch {
	case errors.Is(err, store.ErrConflict):
		return EventResult{ID: req.ID, Status: http.StatusConflict, Detail: "an event with this id was stored with another body; give each event its own id"}
	case err != nil:
		s.opts.Log.Error(err, "store event", "touchpoint", st.tp.Name, "event", req.ID)
		return EventResult{ID: req.ID, Status: http.StatusServiceUnavailable, Detail: "the store could not take the event; retry with the same id"}
	}
	if !isNew {
		res.Replayed, res.Status, res.Outcome = true, http.StatusOK, stored
		if stored != outcome {
			res.Detail = "stored before with this outcome"
		}
	}
	if res.Outcome == OutcomeScheduled && msg != nil {
		due := msg.DueAt
		res.InvitationDueAt = &due
	}
	if isNew && msg != nil {
		s.onScheduled()
	}
	return res
}

func validateEvent(req *EventRequest, now time.Time) FieldErrors {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case req.ID == "":
		add("id", "is required: a unique key per event, so a retried post is stored once")
	case !idPattern.MatchString(req.ID):
		add("id", "must be 1-128 characters of letters, digits and . _ : @ / -, starting with a letter or digit")
	}
	if !eventNamePattern.MatchString(req.Name) {
		add("name", "is required: 1-100 letters, digits, '.', '_' or '-', for example upgrade-downloaded")
	}
	c := req.Customer
	switch {
	case c.ID == "":
		add("customer.id", "is required")
	case len(c.ID) > rules.MaxCustomerIDLength:
		add("customer.id", "is longer than %d characters", rules.MaxCustomerIDLength)
	case strings.ContainsRune(c.ID, 0):
		add("customer.id", "holds a NUL character")
	}
	if len(c.Tier) > rules.MaxTierLength {
		add("customer.tier", "is longer than %d characters", rules.MaxTierLength)
	}
	if len(c.Segment) > rules.MaxTierLength {
		add("customer.segment", "is longer than %d characters", rules.MaxTierLength)
	}
	checkMap(&errs, "customer.attributes", c.Attributes)
	checkMap(&errs, "metadata", req.Metadata)
	if c.Email != "" {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			add("customer.email", "is not an email address such as name@example.com")
		}
	}
	if c.Phone != "" && !e164Pattern.MatchString(c.Phone) {
		add("customer.phone", "must be an E.164 number such as +14155550100")
	}
	if len(c.Name) > 200 || len(c.FirstName) > 100 {
		add("customer.name", "name and firstName may hold at most 200 and 100 characters")
	}
	if c.Locale != "" && !localePattern.MatchString(c.Locale) {
		add("customer.locale", "must be a BCP 47 language tag such as en or de-CH")
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			add("customer.timeZone", "%q is not an IANA time zone such as Europe/Berlin", c.TimeZone)
		}
	}
	if t := req.OccurredAt; t != nil {
		switch {
		case t.IsZero() || t.Year() < 2000:
			add("occurredAt", "must be a real time (RFC 3339)")
		case t.After(now.Add(maxClockSkew)):
			add("occurredAt", "lies in the future (%s); send the time the event happened", t.UTC().Format(time.RFC3339))
		}
	}
	return errs
}

// planInvitation decides what an event schedules: an invitation after the
// event's delay through its channel, or nothing with the reason.
func (s *Server) planInvitation(st *state, req *EventRequest, occurred time.Time) (*store.ScheduledMessage, string, string) {
	d := st.tp.Spec.Distribution
	var ev *cxv1alpha1.InvitingEvent
	var names []string
	if d != nil {
		for i := range d.Events {
			names = append(names, d.Events[i].Name)
			if d.Events[i].Name == req.Name {
				ev = &d.Events[i]
			}
		}
	}
	if ev == nil {
		if len(names) == 0 {
			return nil, OutcomeUnknownEvent, fmt.Sprintf("touchpoint %s invites on no event (spec.distribution is not set); the event is stored, nobody is invited", st.tp.Name)
		}
		return nil, OutcomeUnknownEvent, fmt.Sprintf("event %q invites nobody on touchpoint %s, which invites on: %s; the event is stored", req.Name, st.tp.Name, strings.Join(names, ", "))
	}
	channel := ev.Channel
	if channel == "" {
		channel = cxv1alpha1.DistributionEmail
	}
	c := req.Customer
	switch {
	case channel == cxv1alpha1.DistributionEmail && c.Email == "":
		return nil, OutcomeNoContact, fmt.Sprintf("event %q invites by Email, but customer.email is missing; nobody is invited", req.Name)
	case channel == cxv1alpha1.DistributionSMS && c.Phone == "":
		return nil, OutcomeNoContact, fmt.Sprintf("event %q invites by SMS, but customer.phone is missing; nobody is invited", req.Name)
	}
	contact, err := json.Marshal(contactInfo{
		Customer: store.Customer{ID: c.ID, Tier: c.Tier, Segment: c.Segment, Attributes: c.Attributes},
		Email:    c.Email, Phone: c.Phone, Name: c.Name, FirstName: c.FirstName, Locale: c.Locale, TimeZone: c.TimeZone,
	})
	if err != nil {
		return nil, OutcomeNoContact, err.Error()
	}
	due := occurred
	if ev.Delay != nil {
		due = due.Add(ev.Delay.Duration)
	}
	return &store.ScheduledMessage{
		Namespace: s.opts.Namespace, Touchpoint: st.tp.Name, Key: "invite/" + req.ID, Kind: store.KindInvitation,
		EventID: req.ID, CustomerID: c.ID, Channel: string(channel), Contact: contact, DueAt: due,
	}, OutcomeScheduled, fmt.Sprintf("an invitation by %s is due at %s", channel, due.UTC().Format(time.RFC3339))
}
