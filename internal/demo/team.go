package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// work plays the frontline team: for each Case whose plan step is due on
// the simulated clock, the assignee logs a CustomerContacted action and
// moves it to InProgress, then resolves it with a root cause from the
// template and a summary, then closes it, as people would with kubectl.
// A Case changed meanwhile (a conflict) is retried at the next tick.
func work(ctx context.Context, cl client.Client, cases []cxv1alpha1.Case, templates map[string]*cxv1alpha1.CaseTemplate, now time.Time, seed uint64) error {
	for i := range cases {
		c := cases[i].DeepCopy()
		t := templates[c.Spec.Template]
		if c.Status.OpenedAt == nil || t == nil || c.Spec.Assignee == "" {
			continue
		}
		p := planFor(c.Name, seed)
		age := now.Sub(c.Status.OpenedAt.Time)
		at := metav1.NewTime(now)
		switch state := c.Spec.State; {
		case (state == "" || state == cxv1alpha1.CaseOpen) && p.contact > 0 && age >= p.contact:
			c.Spec.State = cxv1alpha1.CaseInProgress
			c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: at, By: c.Spec.Assignee, Type: cxv1alpha1.ActionCustomerContacted,
				Text: "Called the customer and went through what happened; working on it."})
		case state == cxv1alpha1.CaseInProgress && p.resolve > 0 && age >= p.resolve:
			c.Spec.State = cxv1alpha1.CaseResolved
			recovered := p.recovered
			c.Spec.Resolution = &cxv1alpha1.Resolution{Summary: "Walked the customer through the fix and confirmed it works.", CustomerRecovered: &recovered}
			if causes := t.Spec.Closure.RootCauses; len(causes) > 0 {
				c.Spec.Resolution.RootCause = causes[p.rootCause%len(causes)]
			}
			c.Spec.Actions = append(c.Spec.Actions, cxv1alpha1.CaseAction{At: at, By: c.Spec.Assignee, Type: cxv1alpha1.ActionNote,
				Text: "Fixed; root cause " + c.Spec.Resolution.RootCause + "."})
		case state == cxv1alpha1.CaseResolved && p.close > 0 && age >= p.close:
			c.Spec.State = cxv1alpha1.CaseClosed
		default:
			continue
		}
		if err := cl.Update(ctx, c); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s works on case %s: %w", c.Spec.Assignee, c.Name, err)
		}
	}
	return nil
}
