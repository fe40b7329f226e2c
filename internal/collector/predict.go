package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/predict"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// The touchpoint's prediction (spec.prediction) runs here, where the data
// is: on a timer the collector (re)trains the model when it is due (never
// trained, the spec changed, retrainEvery passed) on the events and the
// answers to the predicted question of the last PredictionHistory, joined
// into interactions, and stores the result, accepted or refused. With an
// accepted model, every interaction that got no response once the join
// window has passed gets a predicted score, stored apart from responses
// (store.Predictions) with the actions of the AlertRules that read
// predicted.*, in one transaction: the dispatcher opens their Cases
// through the same outbox, dedup and throttle as a response's. A model's
// first pass reads the whole history; later passes read only the
// customers with something new since the store's scoring cursor.

const (
	// PredictionHistory is how far back training and scoring read events
	// and responses.
	PredictionHistory = 90 * 24 * time.Hour
	// DefaultPredictEvery is how often the collector looks for a due
	// training and for interactions to score.
	DefaultPredictEvery = 5 * time.Minute
	// predictionBatch is how many scores one transaction stores.
	predictionBatch = 500
)

// predictionState is the collector's view of its prediction.
type predictionState struct {
	// pass serializes training and scoring passes.
	pass sync.Mutex
	// last is the last training result (nil: none yet); loaded once from
	// the store, so a restart does not retrain.
	last   atomic.Pointer[predict.Result]
	loaded bool
}

// eventDetail is what an event keeps for predictions (store.Event.Detail):
// the customer without contact details and the metadata.
type eventDetail struct {
	Customer predict.Customer  `json:"customer"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// newEventDetail encodes the features of an event as the store keeps them.
// Contact details (attributes or metadata under a built-in or the
// touchpoint's extra contact key) are left out: they stay in the outreach
// table only until the invitation is sent.
func newEventDetail(st *state, req *EventRequest) json.RawMessage {
	extra := validate.ExtraContactKeys(st.tp)
	d := eventDetail{
		Customer: predict.Customer{Tier: req.Customer.Tier, Segment: req.Customer.Segment,
			Attributes: withoutContactDetails(req.Customer.Attributes, extra)},
		Metadata: withoutContactDetails(req.Metadata, extra),
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	return raw
}

// redactEventDetail is how an erasure in mode Redact rewrites an event's
// features: it keeps the tier and segment, and of the metadata and
// attributes only the keys the touchpoint's prediction reads (none
// without one), since free text may hide under any key.
func redactEventDetail(tp *cxv1alpha1.SurveyTouchpoint) func([]byte) ([]byte, error) {
	var metadata, attributes []string
	if spec, ok, err := predict.FromTouchpoint(tp); ok && err == nil {
		metadata, attributes = spec.Reads()
	}
	keep := func(m map[string]string, keys []string) map[string]string {
		var out map[string]string
		for k, v := range m {
			if slices.Contains(keys, k) {
				if out == nil {
					out = map[string]string{}
				}
				out[k] = v
			}
		}
		return out
	}
	return func(raw []byte) ([]byte, error) {
		var d eventDetail
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("stored event features: %w", err)
		}
		d.Customer.Attributes, d.Metadata = keep(d.Customer.Attributes, attributes), keep(d.Metadata, metadata)
		return json.Marshal(d)
	}
}

// predictEvent turns a stored event back into what the model reads.
func predictEvent(e store.Event) predict.Event {
	var d eventDetail
	_ = json.Unmarshal(e.Detail, &d) // an event stored before 0130 has no features
	out := predict.Event{ID: e.ID, Name: e.Name, Customer: d.Customer, OccurredAt: e.OccurredAt}
	out.Customer.ID = e.CustomerID
	if len(d.Metadata) > 0 {
		out.Metadata = make(map[string]any, len(d.Metadata))
		for k, v := range d.Metadata {
			out.Metadata[k] = v
		}
	}
	return out
}

// PredictionPass is what one pass did.
type PredictionPass struct {
	// Trained is true when the model was (re)trained, Why says why.
	Trained bool
	Why     string
	// Result is the current training result (nil: never trained).
	Result *predict.Result
	// Incremental is true when the pass read only the customers with
	// something new since the scoring cursor; false when it read the whole
	// history (it trained, the model changed, or there was no cursor).
	Incremental bool
	// Interactions counts the interactions the pass read, Answered those
	// joined to a response.
	Interactions, Answered int
	// Scored counts the interactions newly scored, Matches the rule
	// matches on them.
	Scored, Matches int
}

// receivedSlack is how far before a pass the next one looks again for
// events that arrived: an event is stamped when it is received and
// committed a moment later, perhaps on another replica's clock.
const receivedSlack = 10*time.Minute + maxClockSkew

// RunPredictions runs PredictOnce every interval until ctx is done.
func (s *Server) RunPredictions(ctx context.Context, every time.Duration, log logr.Logger) {
	if every <= 0 {
		every = DefaultPredictEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if pass, err := s.PredictOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error(err, "prediction pass")
		} else if pass.Trained || pass.Scored > 0 {
			log.Info("prediction pass", "trained", pass.Trained, "why", pass.Why, "incremental", pass.Incremental, "interactions", pass.Interactions,
				"answered", pass.Answered, "scored", pass.Scored, "ruleMatches", pass.Matches, "refused", refusedOf(pass.Result))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func refusedOf(r *predict.Result) string {
	if r == nil {
		return ""
	}
	return r.Refused
}

// PredictOnce trains the touchpoint's prediction if due and scores the
// interactions nobody answered. It does nothing without spec.prediction.
//
// Training reads the whole history (PredictionHistory), and so does the
// first scoring pass of a model. After it, the store's scoring cursor
// records what the pass covered, and the next pass reads only the events
// and answers of the customers with something new: an interaction whose
// join window closed since, or an event that arrived since (late).
func (s *Server) PredictOnce(ctx context.Context) (PredictionPass, error) {
	var pass PredictionPass
	st := s.state.Load()
	spec, ok, err := predict.FromTouchpoint(st.tp)
	if !ok || err != nil {
		return pass, err
	}
	p := &s.prediction
	p.pass.Lock()
	defer p.pass.Unlock()
	ns, tp := s.opts.Namespace, st.tp.Name
	if err := s.loadModel(ctx, ns, tp); err != nil {
		return pass, err
	}
	now := s.opts.Now()
	from, closed := now.Add(-PredictionHistory), now.Add(-spec.Window)
	every := 24 * time.Hour
	if r := st.tp.Spec.Prediction.RetrainEvery; r != nil && r.Duration > 0 {
		every = r.Duration
	}
	last := p.last.Load()
	due, why := predict.Due(spec, last, every, now)
	if !due && (last == nil || last.Model == nil) {
		pass.Result = last
		return pass, nil // refused: nothing to score until the next training
	}
	// The customers to look at; nil: all (the whole history).
	var customers []string
	if !due {
		c, err := s.opts.Store.LoadScoringCursor(ctx, ns, tp)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return pass, err
		case c.ModelTrainedAt.Equal(last.Model.TrainedAt):
			if customers, err = s.opts.Store.ChangedCustomers(ctx, ns, tp, from, closed, c); err != nil {
				return pass, err
			}
			if customers == nil {
				customers = []string{}
			}
			pass.Incremental = true
		}
	}
	examples, unanswered, err := s.readInteractions(ctx, st, spec, customers, from, now)
	if err != nil {
		return pass, err
	}
	pass.Interactions, pass.Answered = len(examples)+len(unanswered), len(examples)
	if due {
		res, err := predict.Train(spec, examples, now)
		if err != nil {
			return pass, fmt.Errorf("spec.prediction: %w", err)
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return pass, err
		}
		if err := s.opts.Store.SaveModel(ctx, ns, tp, now, raw); err != nil {
			return pass, err
		}
		p.last.Store(&res)
		last, pass.Trained, pass.Why = &res, true, why
	}
	pass.Result = last
	if last == nil || last.Model == nil {
		return pass, nil
	}
	var scored map[string]bool
	if customers == nil {
		scored, err = s.opts.Store.ScoredSince(ctx, ns, tp, from)
	} else {
		scored, err = s.opts.Store.ScoredOf(ctx, ns, tp, customers)
	}
	if err != nil {
		return pass, err
	}
	n, matches, err := s.scoreUnanswered(ctx, st, spec, last.Model, unanswered, scored, now)
	pass.Scored, pass.Matches = n, matches
	if err != nil {
		return pass, err
	}
	return pass, s.opts.Store.SaveScoringCursor(ctx, store.ScoringCursor{Namespace: ns, Touchpoint: tp,
		ModelTrainedAt: last.Model.TrainedAt, ClosedThrough: closed, ReceivedThrough: now.Add(-receivedSlack)})
}

// loadModel loads the last training result from the store once, so a
// restart does not retrain.
func (s *Server) loadModel(ctx context.Context, ns, tp string) error {
	p := &s.prediction
	if p.loaded {
		return nil
	}
	raw, err := s.opts.Store.LoadModel(ctx, ns, tp)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		var res predict.Result
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("stored prediction model: %w", err)
		}
		p.last.Store(&res)
	}
	p.loaded = true
	return nil
}

// readInteractions reads the events and answers of [from, now] (of the
// customers only, when not nil), and joins them into interactions.
func (s *Server) readInteractions(ctx context.Context, st *state, spec predict.Spec, customers []string, from, now time.Time) ([]predict.Example, []predict.Interaction, error) {
	if customers != nil && len(customers) == 0 {
		return nil, nil, nil
	}
	ns, tp, question := s.opts.Namespace, st.tp.Name, st.tp.Spec.Prediction.Question
	var stored []store.Event
	var answers []store.Answer
	var err error
	if customers == nil {
		stored, err = s.opts.Store.EventsBetween(ctx, ns, tp, from, now.Add(maxClockSkew))
		if err == nil {
			answers, err = s.opts.Store.Answers(ctx, tp, question, spec.InteractionKey, from, now.Add(maxClockSkew))
		}
	} else {
		stored, err = s.opts.Store.EventsOfCustomers(ctx, ns, tp, customers, from, now.Add(maxClockSkew))
		if err == nil {
			answers, err = s.opts.Store.AnswersOfCustomers(ctx, tp, question, spec.InteractionKey, customers, from, now.Add(maxClockSkew))
		}
	}
	if err != nil {
		return nil, nil, err
	}
	events := make([]predict.Event, len(stored))
	for i, e := range stored {
		events[i] = predictEvent(e)
	}
	responses := make([]predict.Response, len(answers))
	for i, a := range answers {
		responses[i] = predict.Response{ID: a.ResponseID, CustomerID: a.CustomerID, SubmittedAt: a.SubmittedAt, InteractionID: a.Interaction, Score: a.Score}
	}
	examples, unanswered := spec.Join(spec.Interactions(events), responses)
	return examples, unanswered, nil
}

// scoreUnanswered scores the interactions whose join window has passed
// without a response and that were not scored before, and stores the
// scores with the actions of the rules on predictions.
func (s *Server) scoreUnanswered(ctx context.Context, st *state, spec predict.Spec, m *predict.Model, unanswered []predict.Interaction, scored map[string]bool, now time.Time) (int, int, error) {
	ns, tp := s.opts.Namespace, st.tp.Name
	accuracy := m.Evaluation.Accuracy(m.Target)
	key := rules.PredictedKey(string(m.Target))
	var batch []store.NewPrediction
	newCount, matches := 0, 0
	var logErrs []error
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		isNew, err := s.opts.Store.SavePredictions(ctx, batch)
		if err != nil {
			return err
		}
		woke := false
		for i, ok := range isNew {
			if !ok {
				continue
			}
			newCount++
			if acts := batch[i].Actions; len(acts) > 0 {
				s.matches.record(&store.NewResponse{ID: batch[i].ResponseID, Actions: acts}, now)
				woke = true
			}
		}
		if woke && s.opts.OnActions != nil {
			s.opts.OnActions()
		}
		batch = batch[:0]
		return nil
	}
	for _, in := range unanswered {
		if now.Sub(in.Last()) < spec.Window || scored[in.Key()] {
			continue
		}
		score := m.Score(in)
		last := in.Events[len(in.Events)-1]
		np := store.NewPrediction{
			Namespace: ns, Touchpoint: tp, Interaction: in.Key(), CustomerID: in.CustomerID, CustomerTier: last.Customer.Tier,
			Target: string(m.Target), Score: score, OccurredAt: in.Last(), ScoredAt: now, ModelTrainedAt: m.TrainedAt, Accuracy: accuracy,
			ResponseID: "predicted-" + hashHex(ns+"/"+tp+"/"+in.Key(), 24),
		}
		resp := &rules.Response{
			ID: np.ResponseID, Touchpoint: tp, Customer: rules.Customer{ID: in.CustomerID, Tier: last.Customer.Tier,
				Segment: last.Customer.Segment, Attributes: last.Customer.Attributes},
			Metadata: interactionMetadata(in), SubmittedAt: in.Last(), Predicted: map[string]float64{key: score},
		}
		source := &cxv1alpha1.PredictionSource{InteractionID: truncate(in.Key(), 253), Target: cxv1alpha1.PredictionTarget(m.Target),
			Score: round4(score), Accuracy: round4(accuracy), TrainedAt: metav1.NewTime(m.TrainedAt)}
		acts, n, err := st.rules.evaluatePrediction(ns, resp, source, now)
		if err != nil {
			logErrs = append(logErrs, err)
		}
		np.Actions, matches = acts, matches+n
		batch = append(batch, np)
		if len(batch) == predictionBatch {
			if err := flush(); err != nil {
				return newCount, matches, err
			}
		}
	}
	if err := flush(); err != nil {
		return newCount, matches, err
	}
	if len(logErrs) > 0 {
		s.opts.Log.V(1).Info("rules on predictions failed on some interactions", "errors", errors.Join(logErrs...).Error())
	}
	return newCount, matches, nil
}

// interactionMetadata is the metadata of an interaction's events, later
// events winning, as strings (what rules see as metadata).
func interactionMetadata(in predict.Interaction) map[string]string {
	var out map[string]string
	for _, e := range in.Events {
		for k, v := range e.Metadata {
			if s, ok := v.(string); ok {
				if out == nil {
					out = map[string]string{}
				}
				out[k] = s
			}
		}
	}
	return out
}

// evaluatePrediction runs the rules that read predicted.* on a predicted
// score and returns their actions and how many rules matched. The Case an
// open_case action opens says it came from a prediction and with what
// accuracy (source.prediction and its title).
func (rs *ruleSet) evaluatePrediction(namespace string, resp *rules.Response, source *cxv1alpha1.PredictionSource, now time.Time) ([]store.NewAction, int, error) {
	if rs == nil {
		return nil, 0, nil
	}
	var act *rules.Activation
	var parts *responseParts
	var out []store.NewAction
	var errs []error
	matched := 0
	for i := range rs.rules {
		cr := &rs.rules[i]
		if !cr.onPredictions {
			continue
		}
		var err error
		if act == nil {
			if act, err = rs.env.NewActivation(resp); err != nil {
				return nil, 0, fmt.Errorf("rules: %w", err)
			}
			if parts, err = newResponseParts(resp, nil); err != nil {
				return nil, 0, err
			}
		}
		if !cr.matches(act, &errs) {
			continue
		}
		acts, err := cr.actions(namespace, resp, nil, parts, act, now, rs.staff, rs.contactKeys)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", cr.rule.Name, err))
			continue
		}
		for j := range acts {
			if acts[j].Payload, err = predictedAction(acts[j].Kind, acts[j].Payload, cr.rule, resp, source); err != nil {
				return nil, 0, err
			}
		}
		out = append(out, acts...)
		matched++
	}
	return out, matched, errors.Join(errs...)
}

// predictedAction makes an action of a rule on a predicted score say so,
// with the model's accuracy and date, never as if the customer had
// answered: an open_case payload carries source.prediction and a title
// saying it; a notification's title and text, and a digest's line, say
// the score was predicted for an interaction nobody asked about.
func predictedAction(kind string, raw json.RawMessage, rule *cxv1alpha1.AlertRule, resp *rules.Response, source *cxv1alpha1.PredictionSource) (json.RawMessage, error) {
	switch kind {
	case store.ActionOpenCase:
		var p OpenCasePayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		p.Prediction = source
		p.Title = predictedTitle(p.Title, source)
		return json.Marshal(p)
	case store.ActionNotify:
		var p NotifyPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		m := &p.Message
		m.Title = predictedTitle(m.Title, source)
		m.Text = fmt.Sprintf("Interaction %s of customer %s (touchpoint %s) was never asked: its score is predicted, not an answer. "+
			"The %s matched rule %s: %s\n", source.InteractionID, resp.Customer.ID, resp.Touchpoint, predictedWords(source), rule.Name, rule.Spec.Condition)
		m.Fields = append(m.Fields, notify.Field{Name: "Predicted", Value: predictedWords(source)})
		if m.Data == nil {
			m.Data = map[string]any{}
		}
		m.Data["predicted"] = true
		m.Data["interactionID"] = source.InteractionID
		return json.Marshal(p)
	case store.ActionDigest:
		var p DigestPayload
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		p.Line += ", " + predictedWords(source)
		return json.Marshal(p)
	}
	return raw, nil
}

// predictedWords says what was predicted, that nobody asked, and how good
// the model is: "predicted detractor probability 0.86, never asked; model
// AUC 0.81 trained 2026-12-01".
func predictedWords(src *cxv1alpha1.PredictionSource) string {
	what, measure := "detractor probability", "AUC"
	switch src.Target {
	case cxv1alpha1.PredictionBottomTwoBox:
		what = "bottom-two-box probability"
	case cxv1alpha1.PredictionMean:
		what, measure = "answer", "R²"
	}
	return fmt.Sprintf("predicted %s %.2f, never asked; model %s %.2f trained %s", what, src.Score, measure, src.Accuracy,
		src.TrainedAt.UTC().Format(time.DateOnly))
}

// predictedTitle says in a Case's or a message's title that it came from
// a prediction, with the model's accuracy and date, within the title's
// 200 characters.
func predictedTitle(title string, src *cxv1alpha1.PredictionSource) string {
	suffix := " (" + predictedWords(src) + ")"
	if len(title)+len(suffix) > 200 {
		title = title[:max(0, 197-len(suffix))] + "..."
	}
	return title + suffix
}

func round4(f float64) float64 { return float64(int64(f*1e4+0.5)) / 1e4 }

// predictionStatus is the prediction's status and PredictionReady
// condition for GET /v1/status; nil without spec.prediction.
func (s *Server) predictionStatus(ctx context.Context, st *state) (*cxv1alpha1.PredictionStatus, *metav1.Condition, error) {
	spec, ok, err := predict.FromTouchpoint(st.tp)
	if !ok {
		return nil, nil, nil
	}
	if err != nil {
		return nil, &metav1.Condition{Type: cxv1alpha1.ConditionPredictionReady, Status: metav1.ConditionFalse,
			Reason: cxv1alpha1.ReasonModelRefused, Message: "nothing is predicted: " + err.Error()}, nil
	}
	res := s.prediction.last.Load()
	if res != nil && res.Fingerprint != spec.Fingerprint() {
		res = nil // trained for another spec: nothing is scored until retrained
	}
	n, err := s.opts.Store.CountPredictions(ctx, s.opts.Namespace, st.tp.Name)
	if err != nil {
		return nil, nil, err
	}
	ps, cond := predict.Status(res, n)
	return ps, &cond, nil
}
