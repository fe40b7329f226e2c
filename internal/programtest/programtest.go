package programtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
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
	// Repeat sends the response this many times, from as many customers:
	// the n-th has id "<id>-<n>" and customer id "<customer.id>-<n>".
	Repeat int `json:"repeat,omitempty"`
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

// Expect is what must have happened: exactly these Cases opened by
// responses and, when given, exactly these notifications (in any order)
// and aggregate transitions (in order), and these report numbers at the
// end.
type Expect struct {
	Cases         []ExpectCase         `json:"cases"`
	Notifications []ExpectNotification `json:"notifications"`
	Firings       []ExpectFiring       `json:"firings"`
	Reports       []ExpectReport       `json:"reports,omitempty"`
	// CaseCount, when set, is how many Cases responses opened; cases then
	// lists some of them (the others are not unexpected).
	CaseCount *int `json:"caseCount,omitempty"`
	// Merged and Throttled, when set, count the matches the dispatcher
	// merged into an open Case (dedup) and left without a Case because
	// the rule was throttled.
	Merged    *int `json:"merged,omitempty"`
	Throttled *int `json:"throttled,omitempty"`
}

// ExpectFiring is a group of an aggregate rule that began or stopped
// firing.
type ExpectFiring struct {
	Rule string `json:"rule"`
	// Group is the group's value ("" when the rule has no groupBy).
	Group string `json:"group,omitempty"`
	// Event is Firing or Resolved.
	Event string `json:"event"`
	// At is the evaluation time it happened (RFC 3339; optional).
	At string `json:"at,omitempty"`
}

func (f ExpectFiring) String() string {
	s := f.Event + " " + f.Rule
	if f.Group != "" {
		s += " group " + f.Group
	}
	if f.At != "" {
		s += " at " + f.At
	}
	return s
}

// ExpectReport is the headline of a ReportSubscription's report built at
// the end of the test: responses in the window, the overall KPIs (NPS,
// CSAT, CES, to 0.1) and the Cases section's counts. Empty fields are
// not checked.
type ExpectReport struct {
	Subscription string             `json:"subscription"`
	Responses    *int64             `json:"responses,omitempty"`
	KPIs         map[string]float64 `json:"kpis,omitempty"`
	Cases        *ExpectCaseStats   `json:"cases,omitempty"`
}

// ExpectCaseStats are the counts of a report's Cases section.
type ExpectCaseStats struct {
	Opened  *int `json:"opened,omitempty"`
	OpenNow *int `json:"openNow,omitempty"`
	Overdue *int `json:"overdue,omitempty"`
	Closed  *int `json:"closed,omitempty"`
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
		r.Failures, err = run(ctx, prog, f.Namespace, f.Start, t)
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

func run(ctx context.Context, prog *validate.Program, ns string, start time.Time, t Test) ([]string, error) {
	s, err := newSim(prog, ns, start)
	if err != nil {
		return nil, err
	}
	defer s.close()
	// The manager evaluates the aggregate rules when the program is
	// applied, then every spec.aggregate.every.
	if err := s.tick(ctx); err != nil {
		return nil, err
	}
	for i, st := range t.Steps {
		switch {
		case st.Advance != "" && st.Response == nil:
			d, err := cxv1alpha1.ParseDuration(st.Advance)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("step %d: advance %q: use a positive duration such as 30m, 26h or 2d", i+1, st.Advance)
			}
			if err := s.advanceTo(ctx, s.now.Add(d)); err != nil {
				return nil, fmt.Errorf("step %d: %w", i+1, err)
			}
		case st.Response != nil && st.Advance == "":
			for _, r := range st.Response.repeated(st.Repeat) {
				resp, err := r.rulesResponse(s, s.now)
				if err == nil {
					err = s.respond(ctx, resp, r.Sentiment, nil)
				}
				if err != nil {
					return nil, fmt.Errorf("step %d: %w", i+1, err)
				}
			}
		default:
			return nil, fmt.Errorf("step %d: set either advance or response", i+1)
		}
	}
	fails := append([]string(nil), s.failures...)
	fails = append(fails, compare(ctx, s, t.Expect)...)
	return fails, nil
}

// repeated is r sent n times from n customers (once when n is 0).
func (r *Response) repeated(n int) []*Response {
	if n <= 0 {
		return []*Response{r}
	}
	out := make([]*Response, n)
	for i := range n {
		c := *r
		c.ID = fmt.Sprintf("%s-%d", r.ID, i+1)
		c.Customer.ID = fmt.Sprintf("%s-%d", r.Customer.ID, i+1)
		out[i] = &c
	}
	return out
}

// rulesResponse is r as the collector's ingest hands it to the rules: the
// answers converted by the touchpoint's questions.
func (r *Response) rulesResponse(s *sim, now time.Time) (*rules.Response, error) {
	tp, err := s.touchpoint(r.Touchpoint)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", r.ID, err)
	}
	raw, err := json.Marshal(r.Answers)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", r.ID, err)
	}
	answers, err := collector.StoredAnswers(tp, raw)
	if err != nil {
		return nil, fmt.Errorf("response %s: %w", r.ID, err)
	}
	return &rules.Response{
		ID: r.ID, Touchpoint: r.Touchpoint, Answers: answers, Comment: r.Comment, Metadata: r.Metadata, SubmittedAt: now,
		Customer: rules.Customer{ID: r.Customer.ID, Tier: r.Customer.Tier, Segment: r.Customer.Segment, Attributes: r.Customer.Attributes},
	}, nil
}
