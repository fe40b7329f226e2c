package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// praiseKeys are the metadata keys that name the employee a Recognition
// rule praises, in order of preference.
var praiseKeys = []string{"employee", "agent", "technician", "associate", "staff"}

// compiledRule is one per-response AlertRule compiled for this touchpoint.
type compiledRule struct {
	rule *cxv1alpha1.AlertRule
	cond *rules.Program
	key  *rules.KeyProgram
	// onPredictions is true when the condition reads predicted: the rule
	// acts on predicted scores (predict.go), never on responses.
	onPredictions bool
}

// ruleSet is the touchpoint's per-response rules. Rules that do not
// compile are left out: the AlertRule controller reports them in their
// status, and the valid rules keep working.
type ruleSet struct {
	env   *rules.ResponseEnv
	rules []compiledRule
	// index picks the rules that can match a response.
	index *rules.Index
	// skipped maps a rule name to why it is not evaluated.
	skipped map[string]string
	// staff is the touchpoint's directory of employees Recognition rules
	// reach directly (nil: none).
	staff *cxv1alpha1.StaffDirectory
	// contactKeys are the touchpoint's extra contact attribute keys: with
	// the built-in ones, they stay out of Case payloads.
	contactKeys []string
}

// compileRules compiles the rules of the namespace that select tp.
func compileRules(tp *cxv1alpha1.SurveyTouchpoint, all []cxv1alpha1.AlertRule) (*ruleSet, error) {
	env, err := rules.NewResponseEnv(tp)
	if err != nil {
		return nil, fmt.Errorf("rule environment of touchpoint %s: %w", tp.Name, err)
	}
	rs := &ruleSet{env: env, skipped: map[string]string{}, staff: tp.Spec.StaffDirectory.DeepCopy(), contactKeys: validate.ExtraContactKeys(tp)}
	sorted := append([]cxv1alpha1.AlertRule(nil), all...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := range sorted {
		r := &sorted[i]
		if r.Spec.Condition == "" || r.DeletionTimestamp != nil {
			continue // aggregate rules run in the manager
		}
		if sel, _ := validate.SelectTouchpoints(r.Spec.Touchpoints, []cxv1alpha1.SurveyTouchpoint{*tp}); len(sel) == 0 {
			continue
		}
		if r.Spec.Suspend {
			rs.skipped[r.Name] = "suspended"
			continue
		}
		cr := compiledRule{rule: r.DeepCopy()}
		if cr.cond, err = env.Compile(r.Spec.Condition); err != nil {
			rs.skipped[r.Name] = "spec.condition: " + err.Error()
			continue
		}
		cr.onPredictions = cr.cond.OnPredictions()
		if d := r.Spec.Dedup; d != nil {
			if cr.key, err = env.CompileKey(d.Key); err != nil {
				rs.skipped[r.Name] = "spec.dedup.key: " + err.Error()
				continue
			}
		}
		rs.rules = append(rs.rules, cr)
	}
	conds := make([]*rules.Program, len(rs.rules))
	for i := range rs.rules {
		conds[i] = rs.rules[i].cond
	}
	rs.index = env.NewIndex(conds)
	return rs, nil
}

// OpenCasePayload is the outbox payload of an open_case action: all the
// dispatcher needs to create the Case without reading the rule again.
type OpenCasePayload struct {
	Namespace  string               `json:"namespace"`
	Rule       string               `json:"rule"`
	RuleKind   cxv1alpha1.AlertKind `json:"ruleKind"`
	Template   string               `json:"template"`
	Title      string               `json:"title"`
	Touchpoint string               `json:"touchpoint"`
	ResponseID string               `json:"responseID"`
	Customer   cxv1alpha1.Customer  `json:"customer"`
	Response   ResponseSnapshotJSON `json:"response"`
	Dedup      *DedupPayload        `json:"dedup,omitempty"`
	// Prediction is set when the rule matched a predicted score of an
	// interaction nobody asked about (ResponseID then stands for it).
	Prediction *cxv1alpha1.PredictionSource `json:"prediction,omitempty"`
	Throttle   int32                        `json:"maxCasesPerHour,omitempty"`
	Channels   []string                     `json:"channels,omitempty"`
	MatchedAt  time.Time                    `json:"matchedAt"`
}

// DedupPayload is a rule's dedup key for one response.
type DedupPayload struct {
	Key    string        `json:"key"`
	Window time.Duration `json:"window"`
}

// ResponseSnapshotJSON is the response copied into the Case.
type ResponseSnapshotJSON struct {
	Answers     map[string]any    `json:"answers,omitempty"`
	Comment     string            `json:"comment,omitempty"`
	Sentiment   *float64          `json:"sentiment,omitempty"`
	Themes      []string          `json:"themes,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	SubmittedAt time.Time         `json:"submittedAt"`
	// raw is the snapshot already encoded: every rule a response matches
	// carries the same snapshot, encoded once.
	raw json.RawMessage
}

// MarshalJSON encodes the snapshot, once per response.
func (s ResponseSnapshotJSON) MarshalJSON() ([]byte, error) {
	if s.raw != nil {
		return s.raw, nil
	}
	type plain ResponseSnapshotJSON
	return json.Marshal(plain(s))
}

// responseParts are the parts of the actions of one response that do not
// depend on the rule, built on the first match and shared by the others.
type responseParts struct {
	snapshot ResponseSnapshotJSON
	// answers is the answers and comment as matchMessage lists them.
	answers string
}

func newResponseParts(resp *rules.Response, sentiment *float64) (*responseParts, error) {
	p := &responseParts{snapshot: ResponseSnapshotJSON{
		Answers: resp.Answers, Comment: resp.Comment, Sentiment: sentiment, Themes: resp.Themes,
		Metadata: resp.Metadata, SubmittedAt: resp.SubmittedAt,
	}}
	raw, err := p.snapshot.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("response snapshot: %w", err)
	}
	p.snapshot.raw = raw
	var b strings.Builder
	ids := make([]string, 0, len(resp.Answers))
	for id := range resp.Answers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "  %s: %v\n", id, resp.Answers[id])
	}
	if resp.Comment != "" {
		fmt.Fprintf(&b, "Comment: %s\n", resp.Comment)
	}
	p.answers = b.String()
	return p, nil
}

// NotifyPayload is the outbox payload of a notify or recognition action.
type NotifyPayload struct {
	Namespace string         `json:"namespace"`
	Rule      string         `json:"rule"`
	Channel   string         `json:"channel"`
	Message   notify.Message `json:"message"`
}

// DigestPayload is the outbox payload of a digest action: one match to
// add to the digest of its rule and channel.
type DigestPayload struct {
	Namespace string        `json:"namespace"`
	Rule      string        `json:"rule"`
	Channel   string        `json:"channel"`
	Title     string        `json:"title"`
	Every     time.Duration `json:"every"`
	Line      string        `json:"line"`
	MatchedAt time.Time     `json:"matchedAt"`
}

// digestTitle names a rule's digests: its description, or its name.
func digestTitle(r *cxv1alpha1.AlertRule) string {
	if r.Spec.Description != "" {
		return r.Spec.Description
	}
	return "Rule " + r.Name + " matched"
}

// digestLine lists one match in a digest. Like matchMessage it names the
// customer by id and tier only; the comment (which may hold contact
// details) stays in the store.
func digestLine(kind cxv1alpha1.AlertKind, resp *rules.Response, sentiment *float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s", resp.Touchpoint, resp.ID)
	if resp.Customer.ID != "" {
		fmt.Fprintf(&b, " customer %s", resp.Customer.ID)
	}
	if resp.Customer.Tier != "" {
		fmt.Fprintf(&b, " (%s)", resp.Customer.Tier)
	}
	if sentiment != nil {
		fmt.Fprintf(&b, ", sentiment %.2f", *sentiment)
	}
	if who := praised(resp); kind == cxv1alpha1.AlertRecognition && who != "" {
		fmt.Fprintf(&b, ", praised %s", who)
	}
	return b.String()
}

// match is the actions one response triggers, and which rules matched.
type match struct {
	actions []store.NewAction
	rules   []string
}

// evaluate runs the rules that can match resp (see rules.Index) and returns the actions to store with
// it. A rule whose evaluation fails on this response (for example it reads
// an unanswered question) does not match; the error is returned for the
// log, the other rules still run.
func (rs *ruleSet) evaluate(namespace string, resp *rules.Response, sentiment *float64, now time.Time) (match, error) {
	var m match
	if rs == nil || len(rs.rules) == 0 {
		return m, nil
	}
	act, err := rs.env.NewActivation(resp)
	if err != nil {
		return m, fmt.Errorf("rules: %w", err)
	}
	var errs []error
	var parts *responseParts
	for _, i := range rs.index.Candidates(act, nil) {
		cr := &rs.rules[i]
		if cr.onPredictions || !cr.matches(act, &errs) {
			continue
		}
		var err error
		if parts == nil {
			if parts, err = newResponseParts(resp, sentiment); err != nil {
				return m, err
			}
		}
		actions, err := cr.actions(namespace, resp, sentiment, parts, act, now, rs.staff, rs.contactKeys)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", cr.rule.Name, err))
			continue
		}
		m.actions = append(m.actions, actions...)
		m.rules = append(m.rules, cr.rule.Name)
	}
	return m, errors.Join(errs...)
}

// matches evaluates the rule's condition; an error other than an
// unanswered question is added to errs for the log, and does not match.
func (cr *compiledRule) matches(act *rules.Activation, errs *[]error) bool {
	ok, err := cr.cond.EvalActivation(act)
	if err != nil && !errors.Is(err, rules.ErrNoAnswer) {
		*errs = append(*errs, fmt.Errorf("rule %s: %w", cr.rule.Name, err))
	}
	return err == nil && ok
}

// actions builds the outbox entries of one matched rule. Their dedup keys
// are "<response>/<rule>/<action>", so a rule's actions are written once
// per response.
func (cr *compiledRule) actions(namespace string, resp *rules.Response, sentiment *float64, parts *responseParts, act *rules.Activation, now time.Time, staff *cxv1alpha1.StaffDirectory, contactKeys []string) ([]store.NewAction, error) {
	r := cr.rule
	var out []store.NewAction
	add := func(kind, suffix string, payload any) error {
		raw, err := json.Marshal(payload)
		if err != nil {
			return err
		}
		out = append(out, store.NewAction{Kind: kind, DedupKey: resp.ID + "/" + r.Name + "/" + suffix, Payload: raw})
		return nil
	}
	kind := r.Spec.Kind
	if kind == "" {
		kind = cxv1alpha1.AlertEscalation
	}
	channels := make([]string, 0, len(r.Spec.Actions.Notify))
	for _, n := range r.Spec.Actions.Notify {
		channels = append(channels, n.Channel)
	}
	if oc := r.Spec.Actions.OpenCase; oc != nil && kind != cxv1alpha1.AlertRecognition {
		p := OpenCasePayload{
			Namespace: namespace, Rule: r.Name, RuleKind: kind, Template: oc.Template, Title: caseTitle(r, oc),
			Touchpoint: resp.Touchpoint, ResponseID: resp.ID,
			Customer: cxv1alpha1.Customer{ID: resp.Customer.ID, Tier: resp.Customer.Tier, Segment: resp.Customer.Segment, Attributes: withoutContactDetails(resp.Customer.Attributes, contactKeys)},
			Response: parts.snapshot,
			Channels: channels, MatchedAt: now,
		}
		if t := r.Spec.Throttle; t != nil {
			p.Throttle = t.MaxCasesPerHour
		}
		if cr.key != nil {
			key, err := cr.key.EvalActivation(act)
			if err != nil {
				return nil, fmt.Errorf("dedup key: %w", err)
			}
			p.Dedup = &DedupPayload{Key: key, Window: r.Spec.Dedup.Window.Duration}
		}
		if err := add(store.ActionOpenCase, "case", p); err != nil {
			return nil, err
		}
	}
	for _, n := range r.Spec.Actions.Notify {
		ch := n.Channel
		if n.Digest != nil && n.Digest.Every.Duration > 0 {
			p := DigestPayload{Namespace: namespace, Rule: r.Name, Channel: ch, Title: digestTitle(r),
				Every: n.Digest.Every.Duration, Line: digestLine(kind, resp, sentiment), MatchedAt: now}
			if err := add(store.ActionDigest, "digest/"+ch, p); err != nil {
				return nil, err
			}
			continue
		}
		kindName, msg := store.ActionNotify, matchMessage(namespace, r, resp, sentiment, parts)
		if kind == cxv1alpha1.AlertRecognition {
			kindName, msg = store.ActionRecognition, praiseMessage(r, resp)
		}
		msg.Key = resp.Touchpoint + "/" + resp.ID + "/" + r.Name + "/" + ch
		if err := add(kindName, "notify/"+ch, NotifyPayload{Namespace: namespace, Rule: r.Name, Channel: ch, Message: msg}); err != nil {
			return nil, err
		}
	}
	// Recognition also reaches the praised employee, when the touchpoint's
	// staff directory knows their address.
	if email := staffEmail(staff, praised(resp)); kind == cxv1alpha1.AlertRecognition && email != "" {
		msg := praiseMessage(r, resp)
		msg.Key = resp.Touchpoint + "/" + resp.ID + "/" + r.Name + "/praised"
		msg.To = []string{email}
		if err := add(store.ActionRecognition, "praised", NotifyPayload{Namespace: namespace, Rule: r.Name, Channel: staff.Channel, Message: msg}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// praised is the employee a response names (metadata employee, agent, ...).
func praised(resp *rules.Response) string {
	for _, k := range praiseKeys {
		if v := resp.Metadata[k]; v != "" {
			return v
		}
	}
	return ""
}

// staffEmail is the directory's address of an employee, "" when unknown.
func staffEmail(d *cxv1alpha1.StaffDirectory, id string) string {
	if d == nil || id == "" {
		return ""
	}
	for _, p := range d.People {
		if p.ID == id {
			return p.Email
		}
	}
	return ""
}

func caseTitle(r *cxv1alpha1.AlertRule, oc *cxv1alpha1.OpenCaseAction) string {
	title := oc.Title
	if title == "" {
		title = r.Spec.Description
	}
	if title == "" {
		title = r.Name
	}
	if len(title) > 200 {
		title = title[:197] + "..."
	}
	return title
}

// matchMessage tells a channel that a response matched an Escalation rule.
// It names the customer by id and tier only: contact details stay in the
// store.
func matchMessage(namespace string, r *cxv1alpha1.AlertRule, resp *rules.Response, sentiment *float64, parts *responseParts) notify.Message {
	title := r.Spec.Description
	if title == "" {
		title = "Rule " + r.Name + " matched"
	}
	fields := []notify.Field{{Name: "Customer", Value: resp.Customer.ID}}
	if resp.Customer.Tier != "" {
		fields = append(fields, notify.Field{Name: "Tier", Value: resp.Customer.Tier})
	}
	fields = append(fields, notify.Field{Name: "Touchpoint", Value: resp.Touchpoint})
	var b strings.Builder
	fmt.Fprintf(&b, "Response %s to %s (namespace %s) matched rule %s: %s\n", resp.ID, resp.Touchpoint, namespace, r.Name, r.Spec.Condition)
	b.WriteString(parts.answers)
	if sentiment != nil {
		fields = append(fields, notify.Field{Name: "Sentiment", Value: fmt.Sprintf("%.2f", *sentiment)})
	}
	return notify.Message{Event: "RuleMatched", Title: title, Text: b.String(), Fields: fields,
		Data: map[string]any{"rule": r.Name, "touchpoint": resp.Touchpoint, "responseID": resp.ID, "customerID": resp.Customer.ID}}
}

// praiseMessage is a "wow" alert: praise for the employee the response
// names (metadata employee, agent, ...).
func praiseMessage(r *cxv1alpha1.AlertRule, resp *rules.Response) notify.Message {
	who := praised(resp)
	title := "A customer praised the team"
	if who != "" {
		title = "A customer praised " + who
	}
	text := title + "."
	if resp.Comment != "" {
		text += "\n\n\"" + resp.Comment + "\""
	}
	fields := []notify.Field{{Name: "Touchpoint", Value: resp.Touchpoint}}
	if who != "" {
		fields = append(fields, notify.Field{Name: "Praised", Value: who})
	}
	if s := resp.Metadata["store"]; s != "" {
		fields = append(fields, notify.Field{Name: "Store", Value: s})
	}
	return notify.Message{Event: "Recognition", Title: title, Text: text, Fields: fields,
		Data: map[string]any{"rule": r.Name, "touchpoint": resp.Touchpoint, "responseID": resp.ID, "praised": who}}
}

// withoutContactDetails is attrs without the contact attributes (built-in
// or extra, whatever their case and punctuation), nil when none is left:
// contact details stay in the store, out of Cases in etcd.
func withoutContactDetails(attrs map[string]string, extra []string) map[string]string {
	var out map[string]string
	for k, v := range attrs {
		if validate.IsContactKey(k, extra) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}
