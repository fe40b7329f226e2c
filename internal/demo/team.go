package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// plan is what the simulated team does with one Case, in simulated time
// after it was opened. A zero duration means the step never happens.
type plan struct {
	contact, resolve, close time.Duration
	recovered               bool
	rootCause               int
}

// planFor draws a Case's plan from its name and the seed: about a third
// of the Cases are never picked up (and escalate), the others are worked
// within hours, most of them resolved and closed within days.
func planFor(name string, seed uint64) plan {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d/%s", seed, name)
	x := h.Sum64()
	u := func(bits uint) float64 { // a uniform in [0,1) from 10 bits of x
		return float64((x>>bits)&1023) / 1024
	}
	var p plan
	if u(0) < 0.35 {
		return p
	}
	p.contact = time.Duration((0.5 + 30*u(10)) * float64(time.Hour))
	if u(20) < 0.8 {
		p.resolve = p.contact + time.Duration((2+40*u(30))*float64(time.Hour))
		if u(40) < 0.85 {
			p.close = p.resolve + time.Duration((1+12*u(50))*float64(time.Hour))
		}
	}
	p.recovered = u(54) < 0.75
	p.rootCause = int(x % 97)
	return p
}

// team is the simulated frontline team: it works Cases through the
// inbox's HTTP endpoints, signed in as the Case's assignee (and as the
// template's first case manager to close), as people would in a browser.
type team struct {
	seed  uint64
	inbox *inboxClient

	mu     sync.Mutex
	worked map[string]bool // Cases changed through the inbox
}

// Worked is how many Cases the team changed through the inbox.
func (tm *team) Worked() int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return len(tm.worked)
}

// work plays the frontline team: for each Case whose plan step is due on
// the simulated clock, the assignee logs a call and moves it to
// InProgress, then logs the fix and resolves it, then a case manager of
// its template closes it with a root cause from the template, a summary
// and whether the customer recovered. A step the inbox refuses (the Case
// changed meanwhile) is tried again at the next tick, and so is one the
// inbox failed on (its first error is returned after every Case had its
// turn).
func (tm *team) work(ctx context.Context, cases []cxv1alpha1.Case, templates map[string]*cxv1alpha1.CaseTemplate, now time.Time) error {
	var firstErr error
	for i := range cases {
		c := &cases[i]
		t := templates[c.Spec.Template]
		if c.Status.OpenedAt == nil || t == nil || c.Spec.Assignee == "" {
			continue
		}
		p := planFor(c.Name, tm.seed)
		age := now.Sub(c.Status.OpenedAt.Time)
		var steps []inboxStep
		switch state := c.Spec.State; {
		case (state == "" || state == cxv1alpha1.CaseOpen) && p.contact > 0 && age >= p.contact:
			steps = []inboxStep{
				{user: c.Spec.Assignee, op: "actions", form: url.Values{"kind": {"call"}, "text": {"went through what happened; working on it"}}},
				{user: c.Spec.Assignee, op: "state", form: url.Values{"to": {string(cxv1alpha1.CaseInProgress)}}},
			}
		case state == cxv1alpha1.CaseInProgress && p.resolve > 0 && age >= p.resolve:
			steps = []inboxStep{
				{user: c.Spec.Assignee, op: "actions", form: url.Values{"kind": {"note"}, "text": {"Walked the customer through the fix and confirmed it works."}}},
				{user: c.Spec.Assignee, op: "state", form: url.Values{"to": {string(cxv1alpha1.CaseResolved)}}},
			}
		case state == cxv1alpha1.CaseResolved && p.close > 0 && age >= p.close:
			manager := firstUser(t.Spec.Team.CaseManagers)
			causes := t.Spec.Closure.RootCauses
			if manager == "" || len(causes) == 0 {
				continue
			}
			recovered := map[bool]string{true: formYes, false: formNo}[p.recovered]
			steps = []inboxStep{{user: manager, op: "close", form: url.Values{
				"rootCause": {causes[p.rootCause%len(causes)]}, "summary": {"Fixed and confirmed with the customer."}, "recovered": {recovered}}}}
		default:
			continue
		}
		for _, st := range steps {
			if err := tm.inbox.post(ctx, st.user, c.Namespace, c.Name, st.op, st.form); err != nil {
				if !errors.Is(err, errRefused) && firstErr == nil {
					firstErr = err // the inbox failed: the other Cases still get their turn
				}
				break // the Case changed meanwhile (or the inbox failed): the next tick tries again
			}
			tm.mu.Lock()
			tm.worked[c.Namespace+"/"+c.Name] = true
			tm.mu.Unlock()
		}
	}
	return firstErr
}

// The inbox's close form says whether the customer recovered with yes or no.
const formYes, formNo = "yes", "no"

type inboxStep struct {
	user, op string
	form     url.Values
}

func firstUser(subjects []cxv1alpha1.Subject) string {
	for _, s := range subjects {
		if s.Kind != cxv1alpha1.SubjectGroup {
			return s.Name
		}
	}
	return ""
}
