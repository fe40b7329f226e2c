package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// ReturnClaim says what the return on acting can and cannot claim; the
// report prints it under the figures.
const ReturnClaim = "Net return counts the full value of each customer whose Case closed recovered in the window, " +
	"less the declared cost of the Cases closed in it, as if every recovered customer would otherwise have been lost; " +
	"nothing here tests that (there is no control group), so it is an upper bound of what acting earned, not a measured effect."

// CaseReturn is the return on acting of the Cases valued in one currency.
// Each customer counts once per figure, at the value of their latest Case.
type CaseReturn struct {
	// Currency of the amounts (ISO 4217).
	Currency string `json:"currency"`
	// AtRiskMeasured is the value of the customers with a Case open at the
	// window's end that a response opened, AtRiskPredicted of those whose
	// Case a prediction opened (and no measured Case); with their counts.
	AtRiskMeasured           float64 `json:"atRiskMeasured"`
	AtRiskMeasuredCustomers  int     `json:"atRiskMeasuredCustomers"`
	AtRiskPredicted          float64 `json:"atRiskPredicted"`
	AtRiskPredictedCustomers int     `json:"atRiskPredictedCustomers"`
	// Recovered is the value of the customers whose Case closed in the
	// window with customerRecovered true.
	Recovered          float64 `json:"recovered"`
	RecoveredCustomers int     `json:"recoveredCustomers"`
	// Cost of handling the Cases closed in the window: costPerCase each,
	// plus costPerHour over HoursSpent logged in their action logs.
	Cost        float64 `json:"cost"`
	ClosedCases int     `json:"closedCases"`
	HoursSpent  float64 `json:"hoursSpent"`
	// NetReturn is Recovered − Cost.
	NetReturn float64 `json:"netReturn"`
	// Unvalued counts the considered Cases whose customer has no value
	// (no attribute, tier value or default).
	Unvalued int `json:"unvalued,omitempty"`
}

// ReturnOnActing values the Cases of the named templates (all when empty)
// for the window w with their CaseTemplate's spec.value; Cases of templates
// without one are left out. The result has one entry per currency, sorted.
func ReturnOnActing(cases []cxv1alpha1.Case, caseTemplates []cxv1alpha1.CaseTemplate, templates []string, w Window) []CaseReturn {
	values := map[string]*cxv1alpha1.CaseValue{}
	for i := range caseTemplates {
		if v := caseTemplates[i].Spec.Value; v != nil {
			values[caseTemplates[i].Name] = v
		}
	}
	type customerKey struct{ currency, id string }
	type valued struct {
		value float64
		at    time.Time
	}
	// latest value of each customer in each figure
	atRiskMeasured := map[customerKey]valued{}
	atRiskPredicted := map[customerKey]valued{}
	recovered := map[customerKey]valued{}
	byCurrency := map[string]*CaseReturn{}
	ret := func(cur string) *CaseReturn {
		if byCurrency[cur] == nil {
			byCurrency[cur] = &CaseReturn{Currency: cur}
		}
		return byCurrency[cur]
	}
	keep := func(m map[customerKey]valued, k customerKey, v float64, at time.Time) {
		if old, ok := m[k]; !ok || at.After(old.at) {
			m[k] = valued{v, at}
		}
	}
	for i := range cases {
		c := &cases[i]
		spec := values[c.Spec.Template]
		if spec == nil || len(templates) > 0 && !slices.Contains(templates, c.Spec.Template) {
			continue
		}
		r := ret(spec.Currency)
		opened, closed := caseTimes(c)
		openAtEnd := opened.Before(w.To) && (closed.IsZero() || !closed.Before(w.To))
		closedIn := !closed.IsZero() && !closed.Before(w.From) && closed.Before(w.To)
		if closedIn {
			r.ClosedCases++
			hours := hoursSpent(c)
			r.HoursSpent += hours
			r.Cost += ptrOr(spec.CostPerCase) + ptrOr(spec.CostPerHour)*hours
		}
		if !openAtEnd && !closedIn {
			continue
		}
		v, ok := customerValue(spec, c.Spec.Customer)
		if !ok {
			r.Unvalued++
			continue
		}
		k := customerKey{spec.Currency, customerID(c)}
		switch {
		case openAtEnd && c.Spec.Source != nil && c.Spec.Source.Prediction != nil:
			keep(atRiskPredicted, k, v, opened)
		case openAtEnd:
			keep(atRiskMeasured, k, v, opened)
		case c.Spec.Resolution != nil && ptrOr(c.Spec.Resolution.CustomerRecovered):
			keep(recovered, k, v, closed)
		}
	}
	for k, v := range atRiskMeasured {
		r := ret(k.currency)
		r.AtRiskMeasured += v.value
		r.AtRiskMeasuredCustomers++
	}
	for k, v := range atRiskPredicted {
		if _, measured := atRiskMeasured[k]; measured {
			continue // a measured Case says more than a prediction
		}
		r := ret(k.currency)
		r.AtRiskPredicted += v.value
		r.AtRiskPredictedCustomers++
	}
	for k, v := range recovered {
		r := ret(k.currency)
		r.Recovered += v.value
		r.RecoveredCustomers++
	}
	out := make([]CaseReturn, 0, len(byCurrency))
	for _, r := range byCurrency {
		r.NetReturn = r.Recovered - r.Cost
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b CaseReturn) int { return cmp.Compare(a.Currency, b.Currency) })
	return out
}

// customerValue is the customer's value under spec: the attribute, else
// the tier's value, else the default.
func customerValue(spec *cxv1alpha1.CaseValue, c *cxv1alpha1.Customer) (float64, bool) {
	if c != nil && spec.CustomerAttribute != "" {
		if s, ok := c.Attributes[spec.CustomerAttribute]; ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && v >= 0 {
				return v, true
			}
		}
	}
	if c != nil {
		for _, t := range spec.PerTier {
			if t.Tier == c.Tier {
				return t.Value, true
			}
		}
	}
	if spec.DefaultValue != nil {
		return *spec.DefaultValue, true
	}
	return 0, false
}

// caseTimes are the Case's opening (status.openedAt, else its creation) and
// closing times (zero while open).
func caseTimes(c *cxv1alpha1.Case) (opened, closed time.Time) {
	opened = c.CreationTimestamp.Time
	if c.Status.OpenedAt != nil {
		opened = c.Status.OpenedAt.Time
	}
	if c.Status.ClosedAt != nil {
		closed = c.Status.ClosedAt.Time
	}
	return opened, closed
}

// hoursSpent sums the timeSpent of the Case's action log.
func hoursSpent(c *cxv1alpha1.Case) float64 {
	h := 0.0
	for _, a := range c.Spec.Actions {
		if a.TimeSpent != nil {
			h += a.TimeSpent.Hours()
		}
	}
	return h
}

// customerID is who the Case is about; a Case without a customer id is a
// customer of its own.
func customerID(c *cxv1alpha1.Case) string {
	if c.Spec.Customer != nil && c.Spec.Customer.ID != "" {
		return c.Spec.Customer.ID
	}
	return "case/" + c.Name
}

// ptrOr is *p, or the zero value when p is nil.
func ptrOr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
