package cases

import (
	"fmt"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

// DefaultClosureGoal is the closure goal of a template without a matching
// tier policy nor a defaultPolicy (the CRD defaults defaultPolicy to the
// same).
const DefaultClosureGoal = 72 * time.Hour

// DefaultRetention keeps closed Cases 30 days when a template sets none.
const DefaultRetention = 30 * 24 * time.Hour

// PolicyFor returns the policy for a customer tier: the first tier policy
// whose tier equals it, else the template's defaultPolicy, else
// Normal/72h. source names where it came from, for events ("tier policy
// Gold", "default policy", "built-in default policy").
func PolicyFor(t *cxv1alpha1.CaseTemplate, tier string) (p cxv1alpha1.CasePolicy, source string) {
	for _, tp := range t.Spec.TierPolicies {
		if tier != "" && tp.Tier == tier {
			return cxv1alpha1.CasePolicy{Severity: tp.Severity, ClosureGoal: tp.ClosureGoal, FirstResponseGoal: tp.FirstResponseGoal},
				fmt.Sprintf("tier policy %s", tp.Tier)
		}
	}
	if t.Spec.DefaultPolicy != nil {
		return *t.Spec.DefaultPolicy, "default policy"
	}
	return cxv1alpha1.CasePolicy{Severity: cxv1alpha1.SeverityNormal, ClosureGoal: cxv1alpha1.Duration{Duration: DefaultClosureGoal}}, "built-in default policy"
}

// FirstResponseGoal is the policy's firstResponseGoal, else the
// template's; zero when neither sets one.
func FirstResponseGoal(t *cxv1alpha1.CaseTemplate, p cxv1alpha1.CasePolicy) time.Duration {
	if p.FirstResponseGoal != nil {
		return p.FirstResponseGoal.Duration
	}
	if t.Spec.FirstResponseGoal != nil {
		return t.Spec.FirstResponseGoal.Duration
	}
	return 0
}

// Retention is how long a closed Case stays before it is archived and
// deleted.
func Retention(t *cxv1alpha1.CaseTemplate) time.Duration {
	if t.Spec.Retention != nil && t.Spec.Retention.Duration > 0 {
		return t.Spec.Retention.Duration
	}
	return DefaultRetention
}

// tierOf is the customer's tier, "" for a Case without a customer.
func tierOf(c *cxv1alpha1.Case) string {
	if c.Spec.Customer != nil {
		return c.Spec.Customer.Tier
	}
	return ""
}

// ApplyDefaults fills the Case's empty category, severity, closureGoal and
// assignee from its template; values already set win. It returns the
// policy that applies and what it did, in words for the Opened event
// ("severity High and closure goal 48h0m0s from tier policy Silver;
// assigned to priya by route gold-first"). router may be nil (routes are
// then compiled for this call alone).
func ApplyDefaults(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, router *Router) (cxv1alpha1.CasePolicy, string) {
	p, source := PolicyFor(t, tierOf(c))
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
		if router == nil {
			router = &Router{}
		}
		assignee, route := router.Assignee(c, t)
		c.Spec.Assignee = assignee
		if assignee != "" {
			how += fmt.Sprintf("; assigned to %s by %s", assignee, route)
		}
	}
	return p, how
}

// Router picks assignees by a template's routes. It keeps the compiled
// routes of each template generation, so a template's expressions compile
// once, not once per Case. The zero value is ready; it is safe for
// concurrent use.
type Router struct {
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

// Assignee picks the assignee of a new Case: the first route whose when is
// true (an evaluation error is no match), else the first case manager. how
// says which ("route gold-first", "the fallback to the first case
// manager (no route matched)"); both are empty when the template names
// nobody.
func (rc *Router) Assignee(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate) (name, how string) {
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

func (rc *Router) programs(t *cxv1alpha1.CaseTemplate) []*rules.CaseProgram {
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

// SeverityRank orders severities, Low lowest; unknown is below Low.
func SeverityRank(s cxv1alpha1.Severity) int {
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

// IsDone is true for a state nobody needs to work any more (Resolved,
// Closed): escalation never runs on it.
func IsDone(s cxv1alpha1.CaseState) bool {
	return s == cxv1alpha1.CaseResolved || s == cxv1alpha1.CaseClosed
}

// State is spec.state with the CRD default (Open) applied.
func State(c *cxv1alpha1.Case) cxv1alpha1.CaseState {
	if c.Spec.State == "" {
		return cxv1alpha1.CaseOpen
	}
	return c.Spec.State
}
