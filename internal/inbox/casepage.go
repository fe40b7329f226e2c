package inbox

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// CaseView is what the Case page shows.
type CaseView struct {
	Case     *cxv1alpha1.Case
	Template *cxv1alpha1.CaseTemplate // nil when the person may not read it
	Row      Row
	Now      time.Time

	Answers   []Answer
	Customer  []Field
	Timeline  []Entry
	May       Permissions
	Assignees []string
	// Notes explain what the page could not show.
	Notes []string
}

// Answer is one answer of the triggering response, with its question.
type Answer struct {
	Question, Value string
}

// Field is a labelled value.
type Field struct{ Name, Value string }

// Entry is one line of the timeline.
type Entry struct {
	At               time.Time
	Kind, By, Text   string
	Outcome, Channel string
}

// Permissions are the changes the API server would accept from this
// person on this Case now, found by dry-run requests.
type Permissions struct {
	Act      bool
	States   []cxv1alpha1.CaseState
	Close    bool
	Severity bool
	Reassign bool
}

// loadCase reads a Case as the person, with its template and touchpoint
// when the person may read them.
func (s *Server) loadCase(ctx context.Context, id Identity, namespace, name string) (*CaseView, error) {
	c, err := s.im.client(id)
	if err != nil {
		return nil, err
	}
	cs := &cxv1alpha1.Case{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cs); err != nil {
		return nil, err
	}
	v := &CaseView{Case: cs, Row: *rowOf(cs), Now: s.now()}
	tmpl := &cxv1alpha1.CaseTemplate{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: cs.Spec.Template}, tmpl); err != nil {
		v.Notes = append(v.Notes, fmt.Sprintf("The CaseTemplate %s could not be read (%s): root causes and the team are not shown.", cs.Spec.Template, reason(err)))
	} else {
		v.Template = tmpl
	}
	var tp *cxv1alpha1.SurveyTouchpoint
	if src := cs.Spec.Source; src != nil && src.Touchpoint != "" {
		tp = &cxv1alpha1.SurveyTouchpoint{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: src.Touchpoint}, tp); err != nil {
			v.Notes = append(v.Notes, fmt.Sprintf("The SurveyTouchpoint %s could not be read (%s): questions are shown by id.", src.Touchpoint, reason(err)))
			tp = nil
		}
	}
	v.Answers = answers(cs, tp)
	v.Customer = customerFields(cs, v.Template)
	v.Timeline = timeline(cs)
	if v.Template != nil {
		v.Assignees = teamUsers(v.Template)
	}
	v.May = s.permissions(ctx, id, c, v)
	return v, nil
}

func reason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "forbidden"
	case apierrors.IsNotFound(err):
		return "not found"
	}
	return err.Error()
}

func answers(c *cxv1alpha1.Case, tp *cxv1alpha1.SurveyTouchpoint) []Answer {
	src := c.Spec.Source
	if src == nil || src.Response == nil {
		return nil
	}
	var out []Answer
	seen := map[string]bool{}
	format := func(raw []byte) string {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw)
		}
		switch x := v.(type) {
		case bool:
			if x {
				return "yes"
			}
			return "no"
		case string:
			return x
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			return strings.Join(parts, ", ")
		}
		return fmt.Sprint(v)
	}
	if tp != nil {
		for _, q := range tp.Spec.Questions {
			if a, ok := src.Response.Answers[q.ID]; ok {
				out = append(out, Answer{Question: q.Text, Value: format(a.Raw)})
				seen[q.ID] = true
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(src.Response.Answers)) {
		if !seen[k] {
			out = append(out, Answer{Question: k, Value: format(src.Response.Answers[k].Raw)})
		}
	}
	return out
}

// customerFields shows as much of the customer as the template's
// customerDetail allows: IDOnly the id, IDAndTier (the default) tier and
// segment too, Full the attributes too.
func customerFields(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate) []Field {
	cu := c.Spec.Customer
	if cu == nil {
		return nil
	}
	detail := cxv1alpha1.CustomerDetailIDAndTier
	if t != nil && t.Spec.CustomerDetail != "" {
		detail = t.Spec.CustomerDetail
	}
	out := []Field{{"Customer", cu.ID}}
	if detail == cxv1alpha1.CustomerDetailIDOnly {
		return out
	}
	if cu.Tier != "" {
		out = append(out, Field{"Tier", cu.Tier})
	}
	if cu.Segment != "" {
		out = append(out, Field{"Segment", cu.Segment})
	}
	if detail == cxv1alpha1.CustomerDetailFull {
		for _, k := range slices.Sorted(maps.Keys(cu.Attributes)) {
			out = append(out, Field{k, cu.Attributes[k]})
		}
	}
	return out
}

func timeline(c *cxv1alpha1.Case) []Entry {
	var out []Entry
	opened := c.CreationTimestamp.Time
	if c.Status.OpenedAt != nil {
		opened = c.Status.OpenedAt.Time
	}
	text := "Opened"
	if src := c.Spec.Source; src != nil && src.Rule != "" {
		text = "Opened by rule " + src.Rule
	}
	out = append(out, Entry{At: opened, Kind: "Opened", Text: text})
	for _, a := range c.Spec.Actions {
		out = append(out, Entry{At: a.At.Time, Kind: string(a.Type), By: a.By, Text: a.Text})
	}
	for _, e := range c.Status.Escalations {
		out = append(out, Entry{At: e.At.Time, Kind: "Escalated", Text: cmp.Or(e.Message, e.Step)})
	}
	for _, n := range c.Status.Notifications {
		out = append(out, Entry{At: n.Time.Time, Kind: "Notified", Text: string(n.Event) + ": " + n.Message,
			Outcome: string(n.Outcome), Channel: n.Channel})
	}
	if c.Status.ClosedAt != nil {
		text := "Closed"
		if r := c.Spec.Resolution; r != nil {
			text = fmt.Sprintf("Closed: %s. %s", r.RootCause, r.Summary)
		}
		out = append(out, Entry{At: c.Status.ClosedAt.Time, Kind: "Closed", Text: text})
	}
	slices.SortStableFunc(out, func(a, b Entry) int { return a.At.Compare(b.At) })
	return out
}

func teamUsers(t *cxv1alpha1.CaseTemplate) []string {
	var out []string
	for _, s := range slices.Concat(t.Spec.Team.CaseManagers, t.Spec.Team.Members) {
		if s.Kind != cxv1alpha1.SubjectGroup && !slices.Contains(out, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// changeKind is what a change does.
type changeKind string

const (
	kindAction   changeKind = "action"
	kindState    changeKind = "state"
	kindClose    changeKind = "close"
	kindSeverity changeKind = "severity"
	kindAssignee changeKind = "assignee"
)

// change is one thing a person asks of a Case.
type change struct {
	kind changeKind
	// action
	actionType cxv1alpha1.ActionType
	text       string
	// state / close
	to         cxv1alpha1.CaseState
	resolution *cxv1alpha1.Resolution
	// severity / assignee
	severity cxv1alpha1.Severity
	assignee string
}

// apply makes the change on a copy of the Case as the person: actions are
// stamped with the person's name and the server's time, and a change of
// state, assignee or severity is logged in the action log.
func (ch change) apply(c *cxv1alpha1.Case, by string, now time.Time) {
	log := func(t cxv1alpha1.ActionType, text string) {
		c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: metav1.NewTime(now.UTC().Truncate(time.Second)), By: by, Type: t, Text: text})
	}
	state := cases.State(c)
	switch ch.kind {
	case kindAction:
		log(ch.actionType, ch.text)
	case kindState, kindClose:
		log(cxv1alpha1.ActionStateChanged, fmt.Sprintf("%s → %s", stateLabel(state), stateLabel(ch.to)))
		c.Spec.State = ch.to
		if ch.resolution != nil {
			c.Spec.Resolution = ch.resolution
		}
	case kindSeverity:
		log(cxv1alpha1.ActionNote, fmt.Sprintf("Severity %s → %s", c.Spec.Severity, ch.severity))
		c.Spec.Severity = ch.severity
	case kindAssignee:
		log(cxv1alpha1.ActionReassigned, fmt.Sprintf("%s → %s", cmp.Or(c.Spec.Assignee, "nobody"), ch.assignee))
		c.Spec.Assignee = ch.assignee
	}
}

// permissions asks the API server, with dry-run updates as the person,
// which changes it would accept now; the answers are cached per Case
// version for a short time.
func (s *Server) permissions(ctx context.Context, id Identity, c client.Client, v *CaseView) Permissions {
	cs := v.Case
	key := id.key() + "\x01" + cs.Namespace + "/" + cs.Name + "@" + cs.ResourceVersion
	if p, ok := s.perms.get(key); ok {
		return p
	}
	now := s.now()
	probe := func(ch change) bool {
		cp := cs.DeepCopy()
		ch.apply(cp, id.User, now)
		return c.Update(ctx, cp, client.DryRunAll) == nil
	}
	var (
		p  Permissions
		mu sync.Mutex
		wg sync.WaitGroup
	)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() {
		ok := probe(change{kind: kindAction, actionType: cxv1alpha1.ActionNote, text: "dry run"})
		mu.Lock()
		p.Act = ok
		mu.Unlock()
	})
	for _, st := range nextStates(cs.Spec.State) {
		ch := change{kind: kindState, to: st}
		if st == cxv1alpha1.CaseClosed {
			if v.Template == nil || len(v.Template.Spec.Closure.RootCauses) == 0 {
				continue
			}
			yes := true
			ch = change{kind: kindClose, to: st, resolution: &cxv1alpha1.Resolution{
				RootCause: v.Template.Spec.Closure.RootCauses[0], Summary: "dry run", CustomerRecovered: &yes}}
		}
		run(func() {
			ok := probe(ch)
			mu.Lock()
			defer mu.Unlock()
			if !ok {
				return
			}
			if st == cxv1alpha1.CaseClosed {
				p.Close = true
			} else {
				p.States = append(p.States, st)
			}
		})
	}
	run(func() {
		other := cxv1alpha1.SeverityUrgent
		if cs.Spec.Severity == other {
			other = cxv1alpha1.SeverityHigh
		}
		ok := probe(change{kind: kindSeverity, severity: other})
		mu.Lock()
		p.Severity = ok
		mu.Unlock()
	})
	run(func() {
		ok := probe(change{kind: kindAssignee, assignee: cs.Spec.Assignee + "-dry-run"})
		mu.Lock()
		p.Reassign = ok
		mu.Unlock()
	})
	wg.Wait()
	order := nextStates(cs.Spec.State)
	slices.SortFunc(p.States, func(a, b cxv1alpha1.CaseState) int {
		return cmp.Compare(slices.Index(order, a), slices.Index(order, b))
	})
	s.perms.put(key, p)
	return p
}

// permCache keeps dry-run answers for a short time, keyed by person and
// Case version (a changed Case asks again).
type permCache struct {
	mu      sync.Mutex
	entries map[string]permEntry
}

type permEntry struct {
	p     Permissions
	until time.Time
}

const permTTL = 30 * time.Second

func (pc *permCache) get(k string) (Permissions, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[k]
	if !ok || time.Now().After(e.until) {
		return Permissions{}, false
	}
	return e.p, true
}

func (pc *permCache) put(k string, p Permissions) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil || len(pc.entries) > 10000 {
		pc.entries = map[string]permEntry{}
	}
	pc.entries[k] = permEntry{p: p, until: time.Now().Add(permTTL)}
}
