package validate

import (
	"fmt"
	"sync"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

var (
	caseEnvOnce sync.Once
	caseEnvVal  *rules.CaseEnv
	caseEnvErr  error
)

func caseEnv() (*rules.CaseEnv, error) {
	caseEnvOnce.Do(func() { caseEnvVal, caseEnvErr = rules.NewCaseEnv() })
	return caseEnvVal, caseEnvErr
}

// CaseTemplate checks that every route's when compiles, to bool, in the
// case environment (Field "spec.routes[i].when"). Channel references are
// checked by Program.Validate.
func CaseTemplate(t *cxv1alpha1.CaseTemplate) Problems {
	var ps Problems
	if len(t.Spec.Routes) == 0 {
		return ps
	}
	env, err := caseEnv()
	if err != nil {
		ps.add("spec.routes", cxv1alpha1.ReasonInvalidExpression, err.Error())
		return ps
	}
	for i, r := range t.Spec.Routes {
		if _, err := env.Compile(r.When); err != nil {
			ps.add(fmt.Sprintf("spec.routes[%d].when", i), cxv1alpha1.ReasonInvalidExpression,
				fmt.Sprintf("route %q: %v", r.Name, err))
		}
	}
	return ps
}

// Case checks a Case against its template: resolution.rootCause is one of
// the template's closure.rootCauses, and a Closed Case of a template with
// closure.requireCustomerRecovered says whether the customer recovered. A
// nil template is a ReasonReferenceNotFound problem on spec.template.
func Case(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate) Problems {
	var ps Problems
	if t == nil {
		ps.add("spec.template", cxv1alpha1.ReasonReferenceNotFound, fmt.Sprintf(
			"CaseTemplate %q not found; create it (the template of a Case cannot be changed)", c.Spec.Template))
		return ps
	}
	res := c.Spec.Resolution
	if res != nil && res.RootCause != "" {
		allowed := false
		for _, rc := range t.Spec.Closure.RootCauses {
			if rc == res.RootCause {
				allowed = true
				break
			}
		}
		if !allowed {
			ps.add("spec.resolution.rootCause", cxv1alpha1.ReasonInvalidRootCause, fmt.Sprintf(
				"root cause %q is not one of CaseTemplate %q's closure.rootCauses; use one of: %s",
				res.RootCause, t.Name, quoteList(t.Spec.Closure.RootCauses)))
		}
	}
	if c.Spec.State == cxv1alpha1.CaseClosed && t.Spec.Closure.RequireCustomerRecovered &&
		(res == nil || res.CustomerRecovered == nil) {
		ps.add("spec.resolution.customerRecovered", cxv1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"CaseTemplate %q requires resolution.customerRecovered to close a Case; "+
				"set it to true or false", t.Name))
	}
	return ps
}
