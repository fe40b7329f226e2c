package controllers

import (
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

// The pure part of the Case lifecycle: which policy and route apply, and
// when things are due. Nothing here talks to the API server.

// defaultClosureGoal is the closure goal of a template without a matching
// tier policy nor a defaultPolicy (the CRD defaults defaultPolicy to the
// same).
const defaultClosureGoal = 72 * time.Hour

// defaultRetention keeps closed Cases 30 days when a template sets none.
const defaultRetention = 30 * 24 * time.Hour

// casePolicy returns the policy for a customer tier: the first tier policy
// whose tier equals it, else the template's defaultPolicy, else Normal/72h.
// source names where it came from, for events.
func casePolicy(t *cxv1alpha1.CaseTemplate, tier string) (p cxv1alpha1.CasePolicy, source string) {
	for _, tp := range t.Spec.TierPolicies {
		if tier != "" && tp.Tier == tier {
			return cxv1alpha1.CasePolicy{Severity: tp.Severity, ClosureGoal: tp.ClosureGoal, FirstResponseGoal: tp.FirstResponseGoal},
				fmt.Sprintf("tier policy %s", tp.Tier)
		}
	}
	if t.Spec.DefaultPolicy != nil {
		return *t.Spec.DefaultPolicy, "default policy"
	}
	return cxv1alpha1.CasePolicy{Severity: cxv1alpha1.SeverityNormal, ClosureGoal: metav1.Duration{Duration: defaultClosureGoal}}, "built-in default policy"
}

// firstResponseGoal is the policy's firstResponseGoal, else the template's;
// zero when neither sets one.
func firstResponseGoal(t *cxv1alpha1.CaseTemplate, p cxv1alpha1.CasePolicy) time.Duration {
	if p.FirstResponseGoal != nil {
		return p.FirstResponseGoal.Duration
	}
	if t.Spec.FirstResponseGoal != nil {
		return t.Spec.FirstResponseGoal.Duration
	}
	return 0
}

// retention is how long a closed Case stays before it is archived and
// deleted.
func retention(t *cxv1alpha1.CaseTemplate) time.Duration {
	if t.Spec.Retention != nil && t.Spec.Retention.Duration > 0 {
		return t.Spec.Retention.Duration
	}
	return defaultRetention
}

// applyTemplateDefaults fills the Case's empty category, severity,
// closureGoal and assignee from its template; values already set win. It
// returns the policy that applies and what it did, for the Opened event.
func applyTemplateDefaults(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, routes *routeCache) (cxv1alpha1.CasePolicy, string) {
	tier := ""
	if c.Spec.Customer != nil {
		tier = c.Spec.Customer.Tier
	}
	p, source := casePolicy(t, tier)
	if c.Spec.Category == "" {
		c.Spec.Category = t.Spec.Category
	}
	if c.Spec.Severity == "" {
		c.Spec.Severity = p.Severity
	}
	if c.Spec.ClosureGoal == nil {
		g := p.ClosureGoal
		c.Spec.ClosureGoal = &g
	}
	how := fmt.Sprintf("severity %s and closure goal %s from %s", c.Spec.Severity, c.Spec.ClosureGoal.Duration, source)
	if c.Spec.Assignee == "" {
		assignee, route := routes.assignee(c, t)
		c.Spec.Assignee = assignee
		if assignee != "" {
			how += fmt.Sprintf("; assigned to %s by %s", assignee, route)
		}
	}
	return p, how
}

// routeCache keeps the compiled routes of each template generation, so a
// template's expressions compile once, not once per Case.
type routeCache struct {
	mu      sync.Mutex
	byOwner map[string]compiledRoutes
}

// sharedCaseEnv is the CEL environment of routes, built once.
var sharedCaseEnv = sync.OnceValues(func() (*rules.CaseEnv, error) { return rules.NewCaseEnv() })

// compiledRoutes are the routes of one template generation; a nil program
// is a route that does not compile (the CaseTemplate reports it).
type compiledRoutes struct {
	generation int64
	programs   []*rules.CaseProgram
}

// maxCachedTemplates bounds the cache; past it the cache starts over.
const maxCachedTemplates = 512

// assignee picks the assignee of a new Case: the first route whose when is
// true (an evaluation error is no match), else the first case manager.
func (rc *routeCache) assignee(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate) (name, how string) {
	programs := rc.programs(t)
	if len(programs) > 0 {
		if act, err := rules.NewCaseActivation(c); err == nil {
			for i, p := range programs {
				if p == nil {
					continue
				}
				if ok, err := p.EvalActivation(act); err == nil && ok {
					return t.Spec.Routes[i].Assignee, fmt.Sprintf("route %s", t.Spec.Routes[i].Name)
				}
			}
		}
	}
	if len(t.Spec.Team.CaseManagers) > 0 {
		return t.Spec.Team.CaseManagers[0].Name, "the fallback to the first case manager (no route matched)"
	}
	return "", ""
}

func (rc *routeCache) programs(t *cxv1alpha1.CaseTemplate) []*rules.CaseProgram {
	if len(t.Spec.Routes) == 0 {
		return nil
	}
	env, err := sharedCaseEnv()
	if err != nil {
		return nil
	}
	key := t.Namespace + "/" + t.Name + "/" + string(t.UID)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if cr, ok := rc.byOwner[key]; ok && cr.generation == t.Generation && len(cr.programs) == len(t.Spec.Routes) {
		return cr.programs
	}
	programs := make([]*rules.CaseProgram, len(t.Spec.Routes))
	for i, r := range t.Spec.Routes {
		if p, err := env.Compile(r.When); err == nil {
			programs[i] = p
		}
	}
	if rc.byOwner == nil || len(rc.byOwner) >= maxCachedTemplates {
		rc.byOwner = map[string]compiledRoutes{}
	}
	rc.byOwner[key] = compiledRoutes{generation: t.Generation, programs: programs}
	return programs
}

// severityRank orders severities, Low lowest; unknown is below Low.
func severityRank(s cxv1alpha1.Severity) int {
	switch s {
	case cxv1alpha1.SeverityLow:
		return 1
	case cxv1alpha1.SeverityNormal:
		return 2
	case cxv1alpha1.SeverityHigh:
		return 3
	case cxv1alpha1.SeverityUrgent:
		return 4
	}
	return 0
}

// stepDeadline is the deadline an escalation step counts from, nil when the
// Case has none (no first-response goal) or it no longer applies (the first
// action was logged).
func stepDeadline(c *cxv1alpha1.Case, s cxv1alpha1.EscalationStep) *metav1.Time {
	if s.Trigger == cxv1alpha1.TriggerFirstResponseMissed {
		if c.Status.FirstActionAt != nil {
			return nil
		}
		return c.Status.FirstResponseDueAt
	}
	return c.Status.DueAt
}

// escalationRan reports whether a step has run on the Case.
func escalationRan(c *cxv1alpha1.Case, step string) bool {
	for _, e := range c.Status.Escalations {
		if e.Step == step {
			return true
		}
	}
	return false
}

// knownSince is when the Case first saw a step (zero when never).
func knownSince(c *cxv1alpha1.Case, step string) time.Time {
	for _, k := range c.Status.KnownEscalationSteps {
		if k.Step == step {
			return k.Since.Time
		}
	}
	return time.Time{}
}

// trackEscalationSteps records when each step of the template became known
// to the Case: steps of the template at opening date from openedAt, steps
// added later from now. Steps the template no longer has are forgotten, so
// a step removed and added again counts from its return.
func trackEscalationSteps(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, since time.Time) {
	known := make([]cxv1alpha1.KnownEscalationStep, 0, len(t.Spec.Escalation))
	for _, s := range t.Spec.Escalation {
		at := knownSince(c, s.Name)
		if at.IsZero() {
			at = since
		}
		known = append(known, cxv1alpha1.KnownEscalationStep{Step: s.Name, Since: metav1.NewTime(at)})
	}
	if len(known) == 0 {
		known = nil
	}
	c.Status.KnownEscalationSteps = known
}

// isDone is true for a Case nobody needs to work any more: escalation never
// runs on it.
func isDone(s cxv1alpha1.CaseState) bool {
	return s == cxv1alpha1.CaseResolved || s == cxv1alpha1.CaseClosed
}

// stateOf is spec.state with the CRD default applied.
func stateOf(c *cxv1alpha1.Case) cxv1alpha1.CaseState {
	if c.Spec.State == "" {
		return cxv1alpha1.CaseOpen
	}
	return c.Spec.State
}

// earliest keeps the earliest non-zero time after now.
type earliest struct {
	now time.Time
	at  time.Time
}

func (e *earliest) add(t time.Time) {
	if !t.After(e.now) {
		return
	}
	if e.at.IsZero() || t.Before(e.at) {
		e.at = t
	}
}

// after is how long until the earliest time, 0 when there is none.
func (e *earliest) after() time.Duration {
	if e.at.IsZero() {
		return 0
	}
	return e.at.Sub(e.now)
}
