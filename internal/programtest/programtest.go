// Package programtest is `cxloop test`: unit tests of a CX program in the
// spirit of `promtool test rules`. A test file names the program's
// manifests, a start time, responses at given times and clock advances,
// and what must happen: the Cases opened (template, severity, assignee,
// due time, merged responses, escalations) and the notifications sent
// (channel, event). It runs the code the collector and the manager run,
// with no cluster: the collector's rule evaluation
// (collector.EvaluateResponse) and the Case planner (internal/cases) for
// defaults, deadlines, overdue and escalation.
package programtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/manifest"
	"github.com/cxloop/cxloop/internal/programcheck"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/validate"
)

// File is one test file.
type File struct {
	// Program lists manifests (files, folders, kustomizations), relative
	// to the test file.
	Program []string `json:"program"`
	// Namespace of the program (default "default").
	Namespace string `json:"namespace,omitempty"`
	// Start is the clock at the start of every test (RFC 3339).
	Start time.Time `json:"start"`
	// Tests run independently, each from Start with no Cases.
	Tests []Test `json:"tests"`
}

// Test is one scenario.
type Test struct {
	Name  string `json:"name"`
	Steps []Step `json:"steps"`
	// Expect is checked after the last step.
	Expect Expect `json:"expect"`
}

// Step is a response at a time, or the clock moving on.
type Step struct {
	// Advance moves the clock (a duration such as 30m, 26h or 2d); Cases
	// are evaluated then, as the manager does at their deadlines.
	Advance string `json:"advance,omitempty"`
	// Response arrives now.
	Response *Response `json:"response,omitempty"`
}

// Response is a customer's response.
type Response struct {
	Touchpoint string              `json:"touchpoint"`
	ID         string              `json:"id"`
	Customer   cxv1alpha1.Customer `json:"customer"`
	Answers    map[string]any      `json:"answers,omitempty"`
	Comment    string              `json:"comment,omitempty"`
	Sentiment  *float64            `json:"sentiment,omitempty"`
	Metadata   map[string]string   `json:"metadata,omitempty"`
}

// Expect is what must have happened: exactly these Cases and, when
// notifications is given, exactly these notifications, in any order.
type Expect struct {
	Cases         []ExpectCase         `json:"cases"`
	Notifications []ExpectNotification `json:"notifications"`
}

// ExpectCase is one Case. Empty fields are not checked.
type ExpectCase struct {
	// Response is the id of the response that opened it.
	Response string `json:"response"`
	Rule     string `json:"rule,omitempty"`
	Template string `json:"template,omitempty"`
	Severity string `json:"severity,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	// DueAt is the deadline (RFC 3339).
	DueAt string `json:"dueAt,omitempty"`
	// Overdue, when set, is whether the Case is overdue at the end.
	Overdue *bool `json:"overdue,omitempty"`
	// Merged are the responses deduplicated into it ("touchpoint/id").
	Merged []string `json:"merged,omitempty"`
	// Escalations are the escalation steps that ran, in order.
	Escalations []string `json:"escalations,omitempty"`
}

// ExpectNotification is one delivery.
type ExpectNotification struct {
	Channel string `json:"channel"`
	// Event is RuleMatched, Recognition, or a Case lifecycle event
	// (Opened, Assigned, Overdue, Escalated, ...).
	Event string `json:"event"`
	// Response is the response it is about (optional).
	Response string `json:"response,omitempty"`
}

func (n ExpectNotification) String() string {
	s := n.Channel + " " + n.Event
	if n.Response != "" {
		s += " (response " + n.Response + ")"
	}
	return s
}

// Result of one test.
type Result struct {
	File, Name string
	// Failures say what differs; empty when the test passed.
	Failures []string
}

// RunFile runs the tests of one file.
func RunFile(ctx context.Context, path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if f.Start.IsZero() || len(f.Program) == 0 {
		return nil, fmt.Errorf("%s: set program (the manifests under test) and start (an RFC 3339 time)", path)
	}
	var paths []string
	for _, p := range f.Program {
		paths = append(paths, filepath.Join(filepath.Dir(path), p))
	}
	prog, err := loadProgram(ctx, paths, f.Namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Result
	for _, t := range f.Tests {
		r := Result{File: path, Name: t.Name}
		r.Failures, err = run(prog, f.Start, t)
		if err != nil {
			r.Failures = append(r.Failures, err.Error())
		}
		out = append(out, r)
	}
	return out, nil
}

// loadProgram reads and validates the program: a test of an invalid
// program fails with validate's findings.
func loadProgram(ctx context.Context, paths []string, ns string) (*validate.Program, error) {
	docs, err := manifest.Load(paths, nil, false)
	if err != nil {
		return nil, err
	}
	res, err := programcheck.Check(ctx, docs, programcheck.Options{Namespace: ns})
	if err != nil {
		return nil, err
	}
	if len(res.Findings) > 0 {
		lines := make([]string, len(res.Findings))
		for i, f := range res.Findings {
			lines[i] = f.String()
		}
		return nil, fmt.Errorf("the program is invalid:\n%s", strings.Join(lines, "\n"))
	}
	return programcheck.Program(ctx, docs, programcheck.Options{Namespace: ns})
}

// world is the state of one test.
type world struct {
	prog   *validate.Program
	now    time.Time
	router cases.Router
	cases  []*simCase
	sent   []ExpectNotification
}

type simCase struct {
	c        *cxv1alpha1.Case
	tmpl     *cxv1alpha1.CaseTemplate
	response string
	dedupKey string
	window   time.Duration
}

func run(prog *validate.Program, start time.Time, t Test) ([]string, error) {
	w := &world{prog: prog, now: start}
	for i, s := range t.Steps {
		switch {
		case s.Advance != "" && s.Response == nil:
			d, err := cxv1alpha1.ParseDuration(s.Advance)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("step %d: advance %q: use a positive duration such as 30m, 26h or 2d", i+1, s.Advance)
			}
			w.advance(d)
		case s.Response != nil && s.Advance == "":
			if err := w.respond(s.Response); err != nil {
				return nil, fmt.Errorf("step %d: %w", i+1, err)
			}
		default:
			return nil, fmt.Errorf("step %d: set either advance or response", i+1)
		}
	}
	return w.compare(t.Expect), nil
}

// advance moves the clock in steps to each deadline, evaluating the
// Cases as the manager does when their requeue comes.
func (w *world) advance(d time.Duration) {
	end := w.now.Add(d)
	for range 10000 {
		next := end
		for _, sc := range w.cases {
			if p := cases.Evaluate(sc.c.DeepCopy(), sc.tmpl, w.now, &w.router); !p.Next.IsZero() && p.Next.Before(next) {
				next = p.Next
			}
		}
		w.now = next
		w.evaluateAll()
		if !w.now.Before(end) {
			return
		}
	}
}

func (w *world) evaluateAll() {
	for _, sc := range w.cases {
		w.evaluate(sc)
	}
}

// evaluate runs the Case planner and records the notifications due, as
// the Case controller delivers them.
func (w *world) evaluate(sc *simCase) {
	p := cases.Evaluate(sc.c, sc.tmpl, w.now, &w.router)
	for _, due := range cases.NotificationsDue(sc.c, sc.tmpl, p.Transitions) {
		w.sent = append(w.sent, ExpectNotification{Channel: due.Channel, Event: string(due.Transition.Event), Response: sc.response})
		sc.c.Status.Notifications = append(sc.c.Status.Notifications, cxv1alpha1.NotificationRecord{
			Key: due.Transition.Key, Event: due.Transition.Event, Channel: due.Channel, Time: metav1.NewTime(w.now),
		})
	}
}

func (w *world) respond(r *Response) error {
	var tp *cxv1alpha1.SurveyTouchpoint
	for i := range w.prog.Touchpoints {
		if w.prog.Touchpoints[i].Name == r.Touchpoint {
			tp = &w.prog.Touchpoints[i]
		}
	}
	if tp == nil {
		return fmt.Errorf("response %s: no SurveyTouchpoint %q in the program", r.ID, r.Touchpoint)
	}
	answers := map[string]any{}
	for k, v := range r.Answers {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			v = int64(f)
		}
		answers[k] = v
	}
	resp := &rules.Response{
		ID: r.ID, Touchpoint: r.Touchpoint, Answers: answers, Comment: r.Comment, Metadata: r.Metadata, SubmittedAt: w.now,
		Customer: rules.Customer{ID: r.Customer.ID, Tier: r.Customer.Tier, Segment: r.Customer.Segment, Attributes: r.Customer.Attributes},
	}
	if r.Sentiment != nil {
		resp.Sentiment = *r.Sentiment
	}
	m, err := collector.EvaluateResponse(tp, w.prog.AlertRules, "test", resp, r.Sentiment, w.now)
	if err != nil && len(m.Rules) == 0 {
		var skipped []string
		for name, why := range m.Skipped {
			skipped = append(skipped, name+": "+why)
		}
		if len(skipped) > 0 {
			err = errors.Join(err, fmt.Errorf("rules not evaluated: %s", strings.Join(skipped, "; ")))
		}
		return fmt.Errorf("response %s: %w", r.ID, err)
	}
	for _, n := range m.Notifications {
		w.sent = append(w.sent, ExpectNotification{Channel: n.Channel, Event: n.Message.Event, Response: r.ID})
	}
	for _, oc := range m.OpenCases {
		w.open(oc, r.ID)
	}
	return nil
}

// open opens the Case of an open_case action, or merges the response
// into the open Case with its dedup key within the window, as the
// dispatcher does.
func (w *world) open(oc collector.OpenCasePayload, responseID string) {
	if oc.Dedup != nil {
		for _, sc := range w.cases {
			if sc.dedupKey == oc.Dedup.Key && !cases.IsDone(sc.c.Spec.State) &&
				!sc.c.CreationTimestamp.Add(oc.Dedup.Window).Before(w.now) {
				sc.c.Spec.RelatedResponses = append(sc.c.Spec.RelatedResponses, oc.Touchpoint+"/"+responseID)
				return
			}
		}
	}
	var tmpl *cxv1alpha1.CaseTemplate
	for i := range w.prog.CaseTemplates {
		if w.prog.CaseTemplates[i].Name == oc.Template {
			tmpl = &w.prog.CaseTemplates[i]
		}
	}
	if tmpl == nil {
		return // validate refused the program already
	}
	customer := oc.Customer
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{
			Name: oc.Template + "-" + responseID, Namespace: "test", UID: types.UID("case-" + responseID),
			CreationTimestamp: metav1.NewTime(w.now.Truncate(time.Second)),
		},
		Spec: cxv1alpha1.CaseSpec{
			Template: oc.Template, Title: oc.Title, Customer: &customer, State: cxv1alpha1.CaseOpen,
			Source: &cxv1alpha1.CaseSource{Rule: oc.Rule, RuleKind: oc.RuleKind, Touchpoint: oc.Touchpoint, ResponseID: responseID},
		},
	}
	sc := &simCase{c: c, tmpl: tmpl, response: responseID}
	if oc.Dedup != nil {
		sc.dedupKey, sc.window = oc.Dedup.Key, oc.Dedup.Window
	}
	w.cases = append(w.cases, sc)
	w.evaluate(sc)
}

// compare lists every difference between what happened and expect.
func (w *world) compare(expect Expect) []string {
	fails := w.compareCases(expect.Cases)
	if expect.Notifications == nil {
		return fails // not checked when the test lists none (notifications: [] requires none)
	}
	return append(fails, w.compareNotifications(expect.Notifications)...)
}

func (w *world) compareCases(expect []ExpectCase) []string {
	var fails []string
	got := map[string]*simCase{}
	for _, sc := range w.cases {
		got[sc.response] = sc
	}
	for _, e := range expect {
		sc := got[e.Response]
		if sc == nil {
			fails = append(fails, fmt.Sprintf("want a Case opened by response %s, got none", e.Response))
			continue
		}
		delete(got, e.Response)
		c := sc.c
		check := func(field, want, have string) {
			if want != "" && want != have {
				fails = append(fails, fmt.Sprintf("Case of response %s: %s: want %s, got %s", e.Response, field, want, have))
			}
		}
		check("rule", e.Rule, c.Spec.Source.Rule)
		check("template", e.Template, c.Spec.Template)
		check("severity", e.Severity, string(c.Spec.Severity))
		check("assignee", e.Assignee, c.Spec.Assignee)
		if e.DueAt != "" {
			have := "none"
			if c.Status.DueAt != nil {
				have = c.Status.DueAt.UTC().Format(time.RFC3339)
			}
			if want, err := time.Parse(time.RFC3339, e.DueAt); err != nil || c.Status.DueAt == nil || !want.Equal(c.Status.DueAt.Time) {
				fails = append(fails, fmt.Sprintf("Case of response %s: dueAt: want %s, got %s", e.Response, e.DueAt, have))
			}
		}
		if e.Overdue != nil {
			overdue := false
			for _, cond := range c.Status.Conditions {
				if cond.Type == cxv1alpha1.ConditionOverdue && cond.Status == metav1.ConditionTrue {
					overdue = true
				}
			}
			if overdue != *e.Overdue {
				fails = append(fails, fmt.Sprintf("Case of response %s: overdue: want %v, got %v", e.Response, *e.Overdue, overdue))
			}
		}
		if e.Merged != nil && strings.Join(e.Merged, ",") != strings.Join(c.Spec.RelatedResponses, ",") {
			fails = append(fails, fmt.Sprintf("Case of response %s: merged responses: want %v, got %v", e.Response, e.Merged, c.Spec.RelatedResponses))
		}
		var steps []string
		for _, esc := range c.Status.Escalations {
			steps = append(steps, esc.Step)
		}
		if e.Escalations != nil && strings.Join(e.Escalations, ",") != strings.Join(steps, ",") {
			fails = append(fails, fmt.Sprintf("Case of response %s: escalations: want %v, got %v", e.Response, e.Escalations, steps))
		}
	}
	extra := make([]string, 0, len(got))
	for id, sc := range got {
		extra = append(extra, fmt.Sprintf("unexpected Case opened by response %s (rule %s, template %s, severity %s, assignee %s)",
			id, sc.c.Spec.Source.Rule, sc.c.Spec.Template, sc.c.Spec.Severity, sc.c.Spec.Assignee))
	}
	sort.Strings(extra)
	return append(fails, extra...)
}

// compareNotifications is a multiset difference of what was sent and what
// is expected.
func (w *world) compareNotifications(expect []ExpectNotification) []string {
	var fails []string
	count := map[string]int{}
	for _, n := range w.sent {
		count[n.String()]++
		if n.Response != "" {
			// An expectation without a response matches any.
			count[ExpectNotification{Channel: n.Channel, Event: n.Event}.String()+"\x00any"]++
		}
	}
	var missing []string
	for _, e := range expect {
		key := e.String()
		if e.Response == "" {
			key += "\x00any"
		}
		if count[key] == 0 {
			missing = append(missing, e.String())
			continue
		}
		count[key]--
		if e.Response == "" {
			for _, n := range w.sent {
				if n.Channel == e.Channel && n.Event == e.Event && count[n.String()] > 0 {
					count[n.String()]--
					break
				}
			}
		} else {
			count[ExpectNotification{Channel: e.Channel, Event: e.Event}.String()+"\x00any"]--
		}
	}
	for _, m := range missing {
		fails = append(fails, "want notification "+m+", not sent")
	}
	var unexpected []string
	for k, n := range count {
		if strings.HasSuffix(k, "\x00any") {
			continue
		}
		for range n {
			unexpected = append(unexpected, "unexpected notification "+k)
		}
	}
	sort.Strings(unexpected)
	return append(fails, unexpected...)
}
