package collector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

// DefaultMaxGroups caps the groups of one metrics answer.
const DefaultMaxGroups = 1000

// MaxBatchItems is the most responses one batch request may carry.
const MaxBatchItems = 1000

// maxBatchBytes bounds a batch request's body.
const maxBatchBytes = 16 << 20

// Options configure a Server.
type Options struct {
	// Namespace of the touchpoint (tokens are scoped to it).
	Namespace string
	// OutboxFailure reports the dispatcher's last failure for /v1/status
	// (nil: none known, a collector without API access).
	OutboxFailure func() OutboxFailure
	// Store keeps responses durably.
	Store store.Store
	// APIToken is the touchpoint's bearer credential for the private
	// surface (the Secret <touchpoint>-collector-api the manager reads).
	APIToken []byte
	// ProgramAPIToken is a second accepted credential, shared by the
	// program's collectors (the optional Secret cxloop-program-api), for
	// business systems that call every touchpoint. With neither token the
	// private surface answers 403 to everything but /metrics and probes.
	ProgramAPIToken []byte
	// Profiling serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the private surface, behind the bearer credential
	// like its other routes. Off by default.
	Profiling bool
	// SigningKey signs invitation tokens; nil disables /v1/invitations.
	SigningKey []byte
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Random returns a number in [0, 1) for sampling (default: a hash of
	// customer and day, so retries within a day get the same answer).
	Random func(customerID string, now time.Time) float64
	// MaxGroups caps the groups of GET /v1/metrics (default 1,000): the
	// largest are answered, the rest merged into "other" and the answer
	// says it was capped.
	MaxGroups int
	// RateLimit is requests per second per client; 0 disables it.
	RateLimit float64
	// RateBurst is the burst per client.
	RateBurst int
	// MaxInflightBytes bounds the request bytes all requests in flight
	// may hold together (each reserves twice its body size before its
	// body is read); a request that does not fit is answered 503 with
	// Retry-After. 0: InflightBytesFor(ContainerMemoryLimit()), a quarter
	// of the container's memory limit; negative: no bound.
	MaxInflightBytes int64
	// Registerer receives the Prometheus metrics (default: a new registry).
	Registerer prometheus.Registerer
	// Gatherer serves /metrics (default: the registry above).
	Gatherer prometheus.Gatherer
	// Log receives structured logs; customer contact details never go in.
	Log logr.Logger
	// PublicURL overrides the touchpoint's spec.survey.publicURL: the
	// collector's address as customers reach it, for links in invitations
	// and the public link's QR code (the demo, tests).
	PublicURL string
	// CustomerSender sends invitations and reminders to customers; nil
	// records them as failed.
	CustomerSender CustomerSender
	// Cases reads the Cases of follow-up answers and records the answers
	// in them (spec.resolution.customerRecovered); nil keeps the answers
	// stored until a collector with API access applies them.
	Cases client.Client
	// OnActions, when set, is called after responses that triggered
	// actions were stored (it wakes the outbox dispatcher).
	OnActions func()
}

// Server is a touchpoint's ingestion API.
type Server struct {
	opts    Options
	state   atomic.Pointer[state]
	stateMu sync.Mutex
	signer  *TokenSigner
	limiter *clientLimiter
	// inflight bounds request bytes in flight (nil: no bound).
	inflight *inflight
	metrics  *serverMetrics
	matches  matchCounter
	public   *http.ServeMux
	private  *http.ServeMux
	surveyPages
	dist distribution
	// prediction is the touchpoint's prediction model (predict.go).
	prediction predictionState
	// The last write probe of the store (/readyz, /v1/status).
	probeMu  sync.Mutex
	probedAt time.Time
	probeErr string
}

// NewServer returns a server for tp. Call SetTouchpoint when tp changes.
func NewServer(tp *cxv1alpha1.SurveyTouchpoint, opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("collector: a store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = daySample
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	if opts.Registerer == nil {
		reg := newRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}
	s := &Server{opts: opts, metrics: newServerMetrics(opts.Registerer)}
	if opts.SigningKey != nil {
		signer, err := NewTokenSigner(opts.SigningKey)
		if err != nil {
			return nil, err
		}
		s.signer = signer
	}
	if opts.MaxInflightBytes == 0 {
		opts.MaxInflightBytes = InflightBytesFor(ContainerMemoryLimit())
		s.opts.MaxInflightBytes = opts.MaxInflightBytes
	}
	if opts.MaxInflightBytes > 0 {
		s.inflight = &inflight{limit: opts.MaxInflightBytes}
		s.metrics.inflightLimit.Set(float64(opts.MaxInflightBytes))
	}
	if opts.RateLimit > 0 {
		s.limiter = newClientLimiter(opts.RateLimit, max(opts.RateBurst, 1), opts.Now)
	}
	if err := s.SetTouchpoint(tp); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// SetTouchpoint switches to a new version of the touchpoint; requests in
// flight finish with the version they started with.
func (s *Server) SetTouchpoint(tp *cxv1alpha1.SurveyTouchpoint) error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	var alertRules []cxv1alpha1.AlertRule
	if cur := s.state.Load(); cur != nil {
		alertRules = cur.alertRules
	}
	st, err := newState(tp, alertRules)
	if err != nil {
		return err
	}
	s.state.Store(st)
	return nil
}

// SetAlertRules replaces the namespace's AlertRules; those that select the
// touchpoint and have a condition are compiled and evaluated on every
// response from now on. It returns the rules left out and why (suspended,
// or not compiling: the AlertRule controller reports those in status).
func (s *Server) SetAlertRules(alertRules []cxv1alpha1.AlertRule) map[string]string {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	cur := s.state.Load()
	rs, err := compileRules(cur.tp, alertRules)
	if err != nil {
		s.opts.Log.Error(err, "compile alert rules; keeping the previous ones")
		return nil
	}
	next := *cur
	next.rules, next.alertRules = rs, alertRules
	s.state.Store(&next)
	return rs.skipped
}

// ActiveRules returns the names of the rules evaluated on each response.
func (s *Server) ActiveRules() []string {
	rs := s.state.Load().rules
	names := make([]string, 0, len(rs.rules))
	for _, r := range rs.rules {
		names = append(names, r.rule.Name)
	}
	return names
}

// PublicHandler serves the public surface: what an Ingress may expose to
// customers. It holds POST /v1/responses (with the invitation token when
// the touchpoint requires one), the probes, and the routes added with
// HandlePublic (survey pages). Every route is rate-limited per client.
func (s *Server) PublicHandler() http.Handler { return s.public }

// PrivateHandler serves the private surface, which only the manager's
// namespace may reach (the NetworkPolicy) and which requires a bearer
// credential: /v1/status, /v1/metrics, GET /v1/responses, /v1/invitations,
// /v1/responses:batch, /v1/archive, erasure and the routes added with
// HandlePrivate. Prometheus' /metrics and the probes are on it too,
// without a credential (they hold no customer data).
func (s *Server) PrivateHandler() http.Handler { return s.private }

// Handler serves both surfaces on one handler, for a process that embeds
// the collector and controls who reaches it (tests, benchmarks). Private
// routes still require the credential. cxloop collector serves the two
// surfaces on two listeners instead.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.private.Handler(r); pattern != "" {
			s.private.ServeHTTP(w, r)
			return
		}
		s.public.ServeHTTP(w, r)
	})
}

// HandlePublic adds a route to the public surface, behind the per-client
// rate limit and the bound on bytes in flight. Whatever it serves is
// reachable from the internet without a credential: add only what
// customers need (survey pages).
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	s.handlePublic(pattern, defaultReserve, h.ServeHTTP)
}

// HandlePrivate adds a route to the private surface, behind the bearer
// credential and the bound on bytes in flight.
func (s *Server) HandlePrivate(pattern string, h http.Handler) {
	s.handlePrivate(pattern, defaultReserve, h.ServeHTTP)
}

// handlePublic and handlePrivate add a route whose body may hold up to
// bodyLimit() bytes (what a request of unknown length reserves).
func (s *Server) handlePublic(pattern string, bodyLimit func() int64, h http.HandlerFunc) {
	s.public.Handle(pattern, s.limited(s.bounded(bodyLimit, h)))
}

func (s *Server) handlePrivate(pattern string, bodyLimit func() int64, h http.HandlerFunc) {
	s.private.Handle(pattern, s.credentialed(s.bounded(bodyLimit, h)))
}

func defaultReserve() int64 { return defaultBodyReserve }

func (s *Server) routes() {
	s.public, s.private = http.NewServeMux(), http.NewServeMux()
	s.handlePublic("POST /v1/responses", func() int64 { return s.state.Load().validator.BodyLimit() }, s.handleResponse)
	s.surveyRoutes()
	s.unsubscribeRoutes()
	s.followUpRoutes()
	s.eventRoutes()
	s.erasureRoutes()
	s.handlePrivate("POST /v1/responses:batch", func() int64 { return maxBatchBytes }, s.handleBatch)
	s.HandlePrivate("POST /v1/invitations", http.HandlerFunc(s.handleInvitation))
	s.HandlePrivate("GET /v1/status", http.HandlerFunc(s.handleStatus))
	s.HandlePrivate("GET /v1/metrics", http.HandlerFunc(s.handleMetrics))
	s.HandlePrivate("GET /v1/responses", http.HandlerFunc(s.handleListResponses))
	s.HandlePrivate("GET /v1/predictions", http.HandlerFunc(s.handlePredictions))
	s.HandlePrivate("PUT /v1/archive/cases/{name}", http.HandlerFunc(s.handleArchivePut))
	s.HandlePrivate("GET /v1/archive/cases/{name}", http.HandlerFunc(s.handleArchiveGet))
	for _, mux := range []*http.ServeMux{s.public, s.private} {
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		mux.HandleFunc("GET /readyz", s.handleReady)
	}
	s.private.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	if s.opts.Profiling {
		// pprof.Index serves the named profiles (heap, goroutine,
		// allocs...) under the prefix. The package also registers on
		// http.DefaultServeMux, which no listener of the collector serves.
		s.HandlePrivate("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
		s.HandlePrivate("GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
		s.HandlePrivate("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
		s.HandlePrivate("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
		s.HandlePrivate("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
	}
}

// limited applies the per-client rate limit.
func (s *Server) limited(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter != nil {
			if wait, ok := s.limiter.allow(s.clientKey(r)); !ok {
				s.metrics.responses.WithLabelValues(resultRateLimited).Inc()
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				writeProblem(w, Problem{Type: problemRateLimited, Title: "Too many requests", Status: http.StatusTooManyRequests,
					Detail: fmt.Sprintf("this client sends more than %.0f requests per second; retry after the Retry-After seconds", s.opts.RateLimit)})
				return
			}
		}
		h(w, r)
	})
}

// clientKey is who a request comes from, for the per-client rate limit:
// the connection's address, or, when that is a trusted proxy, the last
// address in X-Forwarded-For that is not one (a client cannot forge the
// entries a trusted proxy appended after its own).
func (s *Server) clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	trusted := s.state.Load().trustedProxies
	isTrusted := func(a string) bool {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		for _, p := range trusted {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !isTrusted(hop) {
			return hop
		}
	}
	return host
}

// Receipt is the body of a 202 answer.
type Receipt struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Seq        int64     `json:"seq"`
	ReceivedAt time.Time `json:"receivedAt"`
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	st := s.state.Load()
	limit := st.validator.BodyLimit()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		s.metrics.responses.WithLabelValues(resultInvalid).Inc()
		writeTooLarge(w, limit, body, "a response body", "use POST /v1/responses:batch for many responses")
		return
	}
	nr, fieldErrs, tokenErr := s.prepare(st, body, start)
	switch {
	case fieldErrs != nil:
		s.metrics.responses.WithLabelValues(resultInvalid).Inc()
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid response", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%d field(s) of the response are invalid; nothing was stored", len(fieldErrs)), Errors: fieldErrs})
		return
	case tokenErr != nil:
		s.metrics.responses.WithLabelValues(resultUnauthorized).Inc()
		writeProblem(w, Problem{Type: problemUnauthorized, Title: "Invalid invitation token", Status: http.StatusUnauthorized, Detail: tokenErr.Error()})
		return
	}
	results, err := s.opts.Store.SaveResponses(r.Context(), []store.NewResponse{*nr})
	if err == nil && results[0].Status == store.StatusFailed {
		err = results[0].Err
	}
	if err != nil {
		s.opts.Log.Error(err, "store response", "touchpoint", st.tp.Name, "response", nr.ID)
		if store.IsPermanent(err) {
			s.metrics.responses.WithLabelValues(resultInvalid).Inc()
			writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Response refused by the store", Status: http.StatusBadRequest,
				Detail: "the store refused a value of this response; nothing was stored, and sending it again as is fails again"})
			return
		}
		s.metrics.responses.WithLabelValues(resultError).Inc()
		writeProblem(w, Problem{Type: problemUnavailable, Title: "Response not stored", Status: http.StatusServiceUnavailable,
			Detail: "the store could not take the response; nothing was acknowledged, retry with the same id"})
		return
	}
	res := results[0]
	if res.Status == store.StatusConflict {
		s.metrics.responses.WithLabelValues(resultConflict).Inc()
		writeProblem(w, Problem{Type: problemConflict, Title: "Another response has this id", Status: http.StatusConflict,
			Detail: "nothing was stored", Errors: FieldErrors{conflictError(nr.ID)}})
		return
	}
	if res.Status == store.StatusTokenRejected {
		s.metrics.responses.WithLabelValues(resultUnauthorized).Inc()
		writeProblem(w, Problem{Type: problemUnauthorized, Title: "Invalid invitation token", Status: http.StatusUnauthorized,
			Detail: "the token was already used, or was never issued by this collector; ask for a new invitation"})
		return
	}
	if res.Status == store.StatusStored && len(nr.Actions) > 0 {
		s.matches.record(nr, start)
		if s.opts.OnActions != nil {
			s.opts.OnActions()
		}
	}
	result := resultAccepted
	if res.Status == store.StatusDuplicate {
		result = resultDuplicate
		w.Header().Set("Idempotent-Replayed", "true")
	}
	s.metrics.responses.WithLabelValues(result).Inc()
	s.metrics.latency.Observe(s.opts.Now().Sub(start).Seconds())
	writeJSON(w, http.StatusAccepted, Receipt{ID: nr.ID, Status: "accepted", Seq: res.Receipt.Seq, ReceivedAt: res.Receipt.ReceivedAt})
}

// prepare decodes, validates, checks the token and scores the text of one
// response body.
func (s *Server) prepare(st *state, body []byte, now time.Time) (*store.NewResponse, FieldErrors, error) {
	if fe := checkText(body); fe != nil {
		return nil, FieldErrors{*fe}, nil
	}
	req, errs := DecodeRequest(body)
	if req == nil {
		return nil, errs, nil
	}
	resp, verrs := st.validator.Validate(req, now)
	if errs = append(errs, verrs...); errs != nil {
		return nil, errs, nil
	}
	var tokenID string
	if st.policy.requireToken {
		if req.Token == "" {
			return nil, nil, errors.New("this touchpoint requires an invitation token (field token); ask POST /v1/invitations for one")
		}
		if s.signer == nil {
			return nil, nil, errors.New("this collector has no signing key to check tokens with")
		}
		claims, err := s.signer.Verify(req.Token, s.opts.Namespace, st.tp.Name, resp.Customer.ID, now)
		if err != nil {
			return nil, nil, err
		}
		tokenID = claims.ID
	}
	analysis := st.analyzer.Analyze(resp.Comment, st.textAnswers(resp.Answers))
	if analysis.Sentiment != nil {
		resp.Sentiment = *analysis.Sentiment
	}
	resp.Themes = analysis.Themes
	nr, err := toNewResponse(resp, analysis.Sentiment, tokenID)
	if err != nil {
		return nil, FieldErrors{{Field: "answers", Message: err.Error()}}, nil
	}
	nr.BodyHash = requestHash(req)
	m, err := st.rules.evaluate(s.opts.Namespace, resp, analysis.Sentiment, now)
	if err != nil {
		// A rule that fails on this response does not match it; the
		// others did run. Ids only: no customer detail in logs.
		s.opts.Log.V(1).Info("rule evaluation failed", "touchpoint", st.tp.Name, "response", resp.ID, "error", err.Error())
	}
	nr.Actions = m.actions
	return nr, nil, nil
}

// conflictError names the id of a response whose body differs from the
// stored one.
func conflictError(id string) FieldError {
	return FieldError{Field: "id", Message: fmt.Sprintf("response %q was stored before with another body: a new response needs a new id; a retry must resend the same body", id)}
}

// requestHash identifies a response request by what it says (the token
// aside), not by its bytes: a retry that re-encodes the same response
// (other whitespace, key order) hashes the same.
func requestHash(req *ResponseRequest) string {
	answers := make(map[string]json.RawMessage, len(req.Answers))
	for k, v := range req.Answers {
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			answers[k] = v
			continue
		}
		answers[k] = buf.Bytes()
	}
	canon := struct {
		ID          string                     `json:"id"`
		Customer    CustomerRequest            `json:"customer"`
		Answers     map[string]json.RawMessage `json:"answers"`
		Comment     string                     `json:"comment"`
		Metadata    map[string]string          `json:"metadata"`
		SubmittedAt *time.Time                 `json:"submittedAt"`
	}{req.ID, req.Customer, answers, req.Comment, req.Metadata, req.SubmittedAt}
	raw, err := json.Marshal(canon)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

func toNewResponse(r *rules.Response, sentiment *float64, tokenID string) (*store.NewResponse, error) {
	answers, err := json.Marshal(r.Answers)
	if err != nil {
		return nil, fmt.Errorf("encode answers: %w", err)
	}
	return &store.NewResponse{
		Touchpoint: r.Touchpoint,
		ID:         r.ID,
		Customer: store.Customer{
			ID: r.Customer.ID, Tier: r.Customer.Tier, Segment: r.Customer.Segment, Attributes: r.Customer.Attributes,
		},
		Answers:     answers,
		Comment:     r.Comment,
		Sentiment:   sentiment,
		Themes:      r.Themes,
		Metadata:    r.Metadata,
		SubmittedAt: r.SubmittedAt,
		TokenID:     tokenID,
	}, nil
}

// BatchRequest is the body of POST /v1/responses:batch (the server
// decodes it item by item, see decodeBatch).
type BatchRequest struct {
	Responses []json.RawMessage `json:"responses"`
}

// BatchItemResult is the outcome of one item of a batch.
type BatchItemResult struct {
	Index      int         `json:"index"`
	ID         string      `json:"id,omitempty"`
	Status     int         `json:"status"`
	Seq        int64       `json:"seq,omitempty"`
	ReceivedAt *time.Time  `json:"receivedAt,omitempty"`
	Errors     FieldErrors `json:"errors,omitempty"`
	Detail     string      `json:"detail,omitempty"`
	// Replayed is true when the item's id was already stored: it was
	// acknowledged before and is answered as then.
	Replayed bool `json:"replayed,omitempty"`
}

// BatchResult is the answer to a batch: one result per item, in order.
type BatchResult struct {
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Results  []BatchItemResult `json:"results"`
}

// batchTimeout bounds reading and answering one batch. Items are checked
// (text analytics included) as the body arrives, so reading it takes as
// long as checking it: the server's 60s read and write timeouts are
// extended for this request.
const batchTimeout = 5 * time.Minute

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now()
	st := s.state.Load()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(batchTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(batchTimeout))
	var out BatchResult
	var toSave []store.NewResponse
	var index []int
	itemLimit := st.validator.BodyLimit()
	// Items are decoded one at a time from the body as it arrives and
	// checked at once; only what is to be stored is kept. Nothing is
	// stored before the whole batch has been read, so a malformed batch
	// stores nothing.
	n, err := decodeBatch(http.MaxBytesReader(w, r.Body, maxBatchBytes), func(i int, raw json.RawMessage) {
		if i >= MaxBatchItems {
			// Counted, not kept: the batch is refused whole.
			toSave, index, out.Results = nil, nil, nil
			return
		}
		item := BatchItemResult{Index: i}
		if int64(len(raw)) > itemLimit {
			item.Status = http.StatusRequestEntityTooLarge
			item.Detail = fmt.Sprintf("an item may hold at most %d bytes (field %s is where it went over)", itemLimit, joinField(fmt.Sprintf("responses[%d]", i), fieldAt(raw, int(itemLimit))))
			out.Results = append(out.Results, item)
			return
		}
		nr, errs, tokenErr := s.prepare(st, raw, now)
		switch {
		case errs != nil:
			item.Status, item.Errors = http.StatusBadRequest, prefixFields(errs, fmt.Sprintf("responses[%d]", i))
		case tokenErr != nil:
			item.Status, item.Detail = http.StatusUnauthorized, tokenErr.Error()
		default:
			item.ID = nr.ID
			toSave = append(toSave, *nr)
			index = append(index, i)
		}
		out.Results = append(out.Results, item)
	})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeProblem(w, Problem{Type: problemTooLarge, Title: "Body too large", Status: http.StatusRequestEntityTooLarge, Limit: maxBatchBytes,
			Detail: fmt.Sprintf("a batch body may hold at most %d bytes; it went over in item responses[%d]; split the batch", int64(maxBatchBytes), n),
			Errors: FieldErrors{{Field: fmt.Sprintf("responses[%d]", n), Message: fmt.Sprintf("the body went over the limit of %d bytes here; send this item and the rest in another batch", int64(maxBatchBytes))}}})
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeProblem(w, Problem{Type: problemUnavailable, Title: "Batch not read in time", Status: http.StatusRequestTimeout,
			Detail: fmt.Sprintf("the body did not arrive within %s; nothing was stored, send it again", batchTimeout)})
		return
	case err != nil:
		fe := jsonError(err)
		var be batchError
		if errors.As(err, &be) {
			fe = be.FieldError
		}
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid batch", Status: http.StatusBadRequest,
			Detail: `send exactly one object {"responses": [ ... ]}; nothing was stored`, Errors: FieldErrors{fe}})
		return
	case n == 0 || n > MaxBatchItems:
		writeProblem(w, Problem{Type: problemInvalidResponse, Title: "Invalid batch", Status: http.StatusBadRequest,
			Errors: FieldErrors{{Field: "responses", Message: fmt.Sprintf("holds %d items; send 1 to %d", n, MaxBatchItems)}}})
		return
	}
	if len(toSave) > 0 {
		results, err := s.opts.Store.SaveResponses(r.Context(), toSave)
		if err != nil {
			s.opts.Log.Error(err, "store batch", "touchpoint", st.tp.Name, "responses", len(toSave))
			writeProblem(w, Problem{Type: problemUnavailable, Title: "Batch not stored", Status: http.StatusServiceUnavailable,
				Detail: "the store could not take the batch; nothing was acknowledged, retry it as is (ids make it idempotent)"})
			return
		}
		wake := false
		for j, res := range results {
			if res.Status == store.StatusStored && len(toSave[j].Actions) > 0 {
				s.matches.record(&toSave[j], now)
				wake = true
			}
		}
		if wake && s.opts.OnActions != nil {
			s.opts.OnActions()
		}
		for j, res := range results {
			item := &out.Results[index[j]]
			switch res.Status {
			case store.StatusStored, store.StatusDuplicate:
				item.Status, item.Seq = http.StatusAccepted, res.Receipt.Seq
				item.Replayed = res.Status == store.StatusDuplicate
				at := res.Receipt.ReceivedAt
				item.ReceivedAt = &at
			case store.StatusConflict:
				item.Status, item.Errors = http.StatusConflict, prefixFields(FieldErrors{conflictError(item.ID)}, fmt.Sprintf("responses[%d]", index[j]))
			case store.StatusTokenRejected:
				item.Status, item.Detail = http.StatusUnauthorized, "the token was already used or never issued"
			default:
				if store.IsPermanent(res.Err) {
					item.Status, item.Detail = http.StatusBadRequest, "the store refused a value of this item; sending it again as is fails again"
				} else {
					item.Status, item.Detail = http.StatusServiceUnavailable, "not stored; retry this item"
				}
			}
		}
	}
	for _, it := range out.Results {
		result := resultAccepted
		if it.Status == http.StatusAccepted {
			out.Accepted++
			if it.Replayed {
				result = resultDuplicate
			}
		} else {
			out.Rejected++
			result = resultForStatus(it.Status)
		}
		s.metrics.responses.WithLabelValues(result).Inc()
	}
	s.metrics.latency.Observe(s.opts.Now().Sub(now).Seconds())
	writeJSON(w, http.StatusOK, out)
}

func prefixFields(errs FieldErrors, prefix string) FieldErrors {
	out := make(FieldErrors, len(errs))
	for i, e := range errs {
		out[i] = e
		if e.Field == "" {
			out[i].Field = prefix
		} else {
			out[i].Field = prefix + "." + e.Field
		}
	}
	return out
}

// writeProbeEvery bounds how often /readyz writes to the store (the two
// surfaces' probes and the status share one result).
const writeProbeEvery = 2 * time.Second

// storeProblem is why the store does not take writes now ("" when it
// does): a ping now, and a write probe at most writeProbeEvery old.
func (s *Server) storeProblem(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		return err.Error()
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	now := time.Now()
	if !s.probedAt.IsZero() && now.Sub(s.probedAt) < writeProbeEvery {
		return s.probeErr
	}
	s.probeErr = ""
	if err := s.opts.Store.ProbeWrite(ctx); err != nil {
		s.probeErr = err.Error()
		s.opts.Log.Info("store does not take writes; not ready", "error", s.probeErr)
	}
	s.probedAt = now
	return s.probeErr
}

// handleReady fails while the store does not take writes (a full disk, a
// read-only file, a lost database) and recovers by itself when it does.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if problem := s.storeProblem(r.Context()); problem != "" {
		writeStoreUnavailable(w, "the store does not take writes: "+problem)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	now := s.opts.Now()
	total, recent, last, err := s.opts.Store.Counts(r.Context(), st.tp.Name, now.Add(-24*time.Hour))
	if err != nil {
		writeStoreUnavailable(w, err.Error())
		return
	}
	depth, oldest, err := s.opts.Store.OutboxStats(r.Context())
	if err != nil {
		writeStoreUnavailable(w, err.Error())
		return
	}
	out := Status{Touchpoint: st.tp.Name, Generation: st.tp.Generation, Total: total, Last24h: recent, OutboxDepth: depth,
		StoreError: s.storeProblem(r.Context())}
	if !last.IsZero() {
		out.LastResponseTime = &last
	}
	if !oldest.IsZero() {
		out.OutboxOldest = &oldest
	}
	inv, err := s.invitationStatus(r.Context(), st)
	if err != nil {
		writeStoreUnavailable(w, err.Error())
		return
	}
	out.Invitations = inv
	if out.Prediction, out.PredictionCondition, err = s.predictionStatus(r.Context(), st); err != nil {
		writeStoreUnavailable(w, err.Error())
		return
	}
	if s.opts.OutboxFailure != nil {
		if f := s.opts.OutboxFailure(); f.Error != "" {
			at := f.At
			out.OutboxLastError, out.OutboxLastErrorTime, out.OutboxRefusals = f.Error, &at, f.Refusals
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// daySample maps a customer and day to [0, 1): the same customer asked
// twice the same day gets the same sampling decision.
func daySample(customerID string, now time.Time) float64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, customerID)
	_, _ = io.WriteString(h, now.UTC().Format("2006-01-02"))
	return float64(h.Sum64()>>11) / float64(1<<53)
}
