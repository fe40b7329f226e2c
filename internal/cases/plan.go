package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Transition is one thing that happened to a Case in an evaluation: a
// Kubernetes event and, when Event is set, a lifecycle notification.
type Transition struct {
	// Event is the lifecycle event that may notify people; empty for
	// transitions that only emit a Kubernetes event.
	Event cxv1alpha1.LifecycleEvent
	// Key is the notification's idempotency key, deterministic: the same
	// transition evaluated again (a retry, another replica, a restart) has
	// the same key.
	Key string
	// Step is the escalation step that ran (Event Escalated).
	Step *cxv1alpha1.EscalationStep
	// Headline says what happened, for a message title ("is overdue").
	Headline string
	// Warning marks a transition people should look at (Warning event).
	Warning bool
	// Reason and Note make the Kubernetes event; no event without a
	// Reason.
	Reason string
	Note   string
}

// Plan is what one evaluation of a Case decided. Evaluate has already
// applied the status (and any spec change) to the Case it was given.
type Plan struct {
	// SpecChanged is true when template defaults or an escalation changed
	// the spec.
	SpecChanged bool
	// Transitions to announce, in the order they happened.
	Transitions []Transition
	// TimeToFirstAction and TimeToClose are set when the first action or
	// the closing was seen in this evaluation, for the histograms.
	TimeToFirstAction *time.Duration
	TimeToClose       *time.Duration
	// Next is the nearest future deadline (zero when there is none):
	// evaluate the Case again then.
	Next time.Time
	// RetentionEnded is true for a closed Case past its template's
	// retention: archive it, then delete it.
	RetentionEnded bool

	now time.Time
}

// RequeueAfter is how long after the evaluation's now to look again, 0
// when nothing is due.
func (p *Plan) RequeueAfter() time.Duration {
	if p.Next.IsZero() {
		return 0
	}
	return p.Next.Sub(p.now)
}

// wake keeps t as the next deadline when it is in the future and earlier.
func (p *Plan) wake(t time.Time) {
	if !t.After(p.now) {
		return
	}
	if p.Next.IsZero() || t.Before(p.Next) {
		p.Next = t
	}
}

func (p *Plan) add(tr Transition) { p.Transitions = append(p.Transitions, tr) }

// Evaluate advances a Case's lifecycle to now. It mutates c: on a Case
// not opened yet (no status.dueAt) the template defaults are applied to
// the spec and openedAt, dueAt and firstResponseDueAt recorded; then
// firstActionAt, closedAt and timeToClose, the Overdue,
// FirstResponseOverdue and Escalated conditions, the escalation steps due
// (which may reassign or raise severity), observedAssignee and
// observedState. It returns the Plan. router may be nil.
func Evaluate(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, now time.Time, router *Router) *Plan {
	p := &Plan{now: now}
	uid := string(c.UID)
	opening := c.Status.DueAt == nil
	if opening {
		p.open(c, t, router)
	}
	if c.Spec.ClosureGoal != nil {
		due := Deadline(c.Status.OpenedAt.Time, c.Spec.ClosureGoal.Duration)
		c.Status.DueAt = &due
	}
	trackEscalationSteps(c, t, now)
	p.firstAction(c)
	p.stateChange(c, uid, now, t)
	p.deadlines(c, uid, now)
	p.escalate(c, t, uid, now)
	if a := c.Spec.Assignee; a != "" && a != c.Status.ObservedAssignee {
		tr := Transition{
			Event: cxv1alpha1.EventAssigned, Key: fmt.Sprintf("%s/Assigned/%s/g%d", uid, a, c.Status.ObservedGeneration),
			Headline: "was assigned to " + a, Reason: cxv1alpha1.ReasonAssigned, Note: "assigned to " + a,
		}
		if opening {
			// The Opened event already names the assignee: one event,
			// not two, for every new Case.
			tr.Reason = ""
		}
		p.add(tr)
	}
	c.Status.ObservedAssignee = c.Spec.Assignee
	c.Status.ObservedState = State(c)
	return p
}

// Deadline is the deadline goal after from, in the whole seconds the API
// server records a time in (rounded up: a Case is never Overdue before its
// goal has passed). The deadline recorded is the one the controller acts
// on: a deadline kept to the nanosecond but stored to the second would
// make a Case Overdue up to a second after the dueAt it shows, and every
// evaluation would differ from the stored status and write it again.
func Deadline(from time.Time, goal time.Duration) metav1.Time {
	at := from.Add(goal)
	if whole := at.Truncate(time.Second); !whole.Equal(at) {
		at = whole.Add(time.Second)
	}
	return metav1.NewTime(at)
}

// open applies the template to a new Case and records its deadlines.
func (p *Plan) open(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, router *Router) {
	before := c.Spec.DeepCopy()
	policy, how := ApplyDefaults(c, t, router)
	p.SpecChanged = !equality.Semantic.DeepEqual(before, &c.Spec)
	opened := c.CreationTimestamp
	c.Status.OpenedAt = &opened
	if g := FirstResponseGoal(t, policy); g > 0 {
		due := Deadline(opened.Time, g)
		c.Status.FirstResponseDueAt = &due
	}
	// Steps the template has when the Case opens count from the opening.
	trackEscalationSteps(c, t, opened.Time)
	p.add(Transition{
		Event: cxv1alpha1.EventOpened, Key: string(c.UID) + "/Opened", Headline: "was opened",
		Reason: cxv1alpha1.ReasonOpened, Note: how,
	})
}

// firstAction records when the first action was logged. Reassigned and
// Escalated entries, which the admission webhook writes when the assignee
// or severity changes (an escalation among them), record who owns the
// Case, not work on it: they do not count as the first response.
func (p *Plan) firstAction(c *cxv1alpha1.Case) {
	if c.Status.FirstActionAt != nil {
		return
	}
	i := slices.IndexFunc(c.Spec.Actions, func(a cxv1alpha1.CaseAction) bool {
		return a.Type != cxv1alpha1.ActionReassigned && a.Type != cxv1alpha1.ActionEscalated
	})
	if i < 0 {
		return
	}
	first := c.Spec.Actions[i]
	at := first.At
	c.Status.FirstActionAt = &at
	d := at.Sub(c.Status.OpenedAt.Time)
	p.TimeToFirstAction = &d
	p.add(Transition{Reason: cxv1alpha1.ReasonFirstActionLogged, Note: fmt.Sprintf("first action by %s, %s after opening", first.By, d.Round(time.Second))})
}

// stateChange records the effects of a change of spec.state: closedAt and
// timeToClose on Closed, their removal on reopening.
func (p *Plan) stateChange(c *cxv1alpha1.Case, uid string, now time.Time, t *cxv1alpha1.CaseTemplate) {
	state, prev := State(c), c.Status.ObservedState
	if prev != "" && prev != state {
		p.add(Transition{
			Event: cxv1alpha1.EventStateChanged, Key: fmt.Sprintf("%s/StateChanged/%s-%s/g%d", uid, prev, state, c.Status.ObservedGeneration),
			Headline: fmt.Sprintf("moved from %s to %s", prev, state), Reason: cxv1alpha1.ReasonStateChanged, Note: fmt.Sprintf("%s -> %s", prev, state),
		})
	}
	switch {
	case state == cxv1alpha1.CaseClosed && c.Status.ClosedAt == nil:
		closed := metav1.NewTime(now)
		c.Status.ClosedAt = &closed
		d := now.Sub(c.Status.OpenedAt.Time)
		c.Status.TimeToClose = &cxv1alpha1.Duration{Duration: d.Round(time.Second)}
		p.TimeToClose = &d
		p.add(Transition{
			Event: cxv1alpha1.EventClosed, Key: fmt.Sprintf("%s/Closed/g%d", uid, c.Status.ObservedGeneration),
			Headline: "was closed", Reason: cxv1alpha1.ReasonClosed, Note: fmt.Sprintf("closed %s after opening", d.Round(time.Second)),
		})
	case state != cxv1alpha1.CaseClosed && c.Status.ClosedAt != nil:
		c.Status.ClosedAt, c.Status.TimeToClose, c.Status.ArchivedAt = nil, nil, nil
		p.add(Transition{Reason: cxv1alpha1.ReasonReopened, Note: fmt.Sprintf("reopened (%s); the closing time is cleared", state)})
	}
	if c.Status.ClosedAt != nil {
		end := c.Status.ClosedAt.Add(Retention(t))
		if !now.Before(end) {
			p.RetentionEnded = true
		}
		p.wake(end)
	}
}

// deadlines sets Overdue and FirstResponseOverdue. A deadline is missed
// when the Case was still waiting at it: for Overdue, closedAt (or now) is
// at or after dueAt; for FirstResponseOverdue, the first action (or the
// closing, or now) is at or after firstResponseDueAt. Only a deadline that
// passes while the Case still waits is announced.
func (p *Plan) deadlines(c *cxv1alpha1.Case, uid string, now time.Time) {
	ref := now
	if c.Status.ClosedAt != nil {
		ref = c.Status.ClosedAt.Time
	}
	waiting := c.Status.ClosedAt == nil
	if p.deadline(c, cxv1alpha1.ConditionOverdue, c.Status.DueAt, ref, now, waiting) {
		p.add(overdue(uid, c.Status.DueAt.Time))
	}
	if c.Status.FirstActionAt != nil {
		ref = c.Status.FirstActionAt.Time
	}
	waiting = waiting && c.Status.FirstActionAt == nil
	if p.deadline(c, cxv1alpha1.ConditionFirstResponseOverdue, c.Status.FirstResponseDueAt, ref, now, waiting) {
		p.add(firstResponseOverdue(uid, c.Status.FirstResponseDueAt.Time))
	}
}

// overdue is the transition of a Case not closed by its deadline due.
func overdue(uid string, due time.Time) Transition {
	return Transition{
		Event: cxv1alpha1.EventOverdue, Key: fmt.Sprintf("%s/Overdue/%d", uid, due.Unix()),
		Headline: "is overdue", Warning: true, Reason: cxv1alpha1.ReasonOverdue,
		Note: "not closed by its deadline " + due.UTC().Format(time.RFC3339),
	}
}

// firstResponseOverdue is the transition of a Case without an action by
// its first-response deadline due.
func firstResponseOverdue(uid string, due time.Time) Transition {
	return Transition{
		Event: cxv1alpha1.EventOverdue, Key: fmt.Sprintf("%s/FirstResponseOverdue/%d", uid, due.Unix()),
		Headline: "has no first response", Warning: true, Reason: cxv1alpha1.ReasonFirstResponseOverdue,
		Note: "no action logged by the first-response deadline " + due.UTC().Format(time.RFC3339),
	}
}

// escalated is the transition of an escalation step that ran; did says
// what it changed.
func escalated(uid string, s *cxv1alpha1.EscalationStep, did string) Transition {
	return Transition{
		Event: cxv1alpha1.EventEscalated, Key: fmt.Sprintf("%s/Escalated/%s", uid, s.Name), Step: s,
		Headline: "was escalated (" + s.Name + ")", Warning: true, Reason: cxv1alpha1.ReasonEscalated,
		Note: fmt.Sprintf("step %s: %s", s.Name, did),
	}
}

// Upcoming lists the time-driven transitions a Case evaluated at now
// (after Evaluate) will go through at its future deadlines if it still
// waits then, each with the time it falls due: Overdue at dueAt,
// FirstResponseOverdue at firstResponseDueAt, and each escalation step
// still to run at its time. Their keys are the keys Evaluate gives the
// transitions when they happen; an escalation's note is only a
// placeholder (what the step changes is known when it runs). Schedule
// records their notifications ahead.
func Upcoming(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, now time.Time) []Expected {
	var out []Expected
	if c.Status.ClosedAt != nil || c.Status.OpenedAt == nil {
		return nil
	}
	uid := string(c.UID)
	if d := c.Status.DueAt; d != nil && d.After(now) && !apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionOverdue) {
		out = append(out, Expected{Transition: overdue(uid, d.Time), At: d.Time})
	}
	if d := c.Status.FirstResponseDueAt; d != nil && c.Status.FirstActionAt == nil && d.After(now) &&
		!apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionFirstResponseOverdue) {
		out = append(out, Expected{Transition: firstResponseOverdue(uid, d.Time), At: d.Time})
	}
	if IsDone(State(c)) {
		return out
	}
	for i := range t.Spec.Escalation {
		s := &t.Spec.Escalation[i]
		at, ok := stepTime(c, s)
		if !ok || !at.After(now) {
			continue
		}
		out = append(out, Expected{Transition: escalated(uid, s, "runs at "+at.UTC().Format(time.RFC3339)), At: at})
	}
	return out
}

// Expected is a transition Upcoming expects, and when.
type Expected struct {
	Transition Transition
	At         time.Time
}

// deadline sets one deadline condition: True once ref is at or after due.
// It reports whether the condition became True now while the Case waits,
// and otherwise, while it waits, remembers due as the next deadline.
func (p *Plan) deadline(c *cxv1alpha1.Case, condType string, due *metav1.Time, ref, now time.Time, waiting bool) bool {
	if due == nil {
		apimeta.RemoveStatusCondition(&c.Status.Conditions, condType)
		return false
	}
	wasTrue := apimeta.IsStatusConditionTrue(c.Status.Conditions, condType)
	dueText := due.UTC().Format(time.RFC3339)
	cond := metav1.Condition{
		Type: condType, Status: metav1.ConditionFalse, Reason: cxv1alpha1.ReasonWithinDeadline,
		Message: "due at " + dueText, ObservedGeneration: c.Generation, LastTransitionTime: metav1.NewTime(now),
	}
	missed := !ref.Before(due.Time)
	if missed {
		cond.Status, cond.Reason = metav1.ConditionTrue, cxv1alpha1.ReasonDeadlinePassed
		cond.Message = "deadline " + dueText + " passed"
	} else if waiting {
		p.wake(due.Time)
	}
	apimeta.SetStatusCondition(&c.Status.Conditions, cond)
	return missed && waiting && !wasTrue
}

// escalate runs the ladder steps that are due, once each, never on a
// Resolved or Closed Case, and never for a step whose time had passed
// before the Case knew it (see trackEscalationSteps).
func (p *Plan) escalate(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, uid string, now time.Time) {
	if IsDone(State(c)) {
		return
	}
	for i := range t.Spec.Escalation {
		s := &t.Spec.Escalation[i]
		at, ok := stepTime(c, s)
		if !ok {
			continue
		}
		if now.Before(at) {
			p.wake(at)
			continue
		}
		did := p.runStep(c, t, s)
		c.Status.Escalations = append(c.Status.Escalations, cxv1alpha1.EscalationRecord{Step: s.Name, At: metav1.NewTime(now), Message: did})
		p.add(escalated(uid, s, did))
	}
	if len(c.Status.Escalations) > 0 {
		steps := make([]string, 0, len(c.Status.Escalations))
		for _, e := range c.Status.Escalations {
			steps = append(steps, e.Step)
		}
		apimeta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
			Type: cxv1alpha1.ConditionEscalated, Status: metav1.ConditionTrue, Reason: cxv1alpha1.ReasonDeadlinePassed,
			Message: "escalation steps run: " + strings.Join(steps, ", "), ObservedGeneration: c.Generation, LastTransitionTime: metav1.NewTime(now),
		})
	}
}

// runStep applies a step's changes to the spec and says what it did.
func (p *Plan) runStep(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, s *cxv1alpha1.EscalationStep) string {
	var did []string
	if s.ReassignToCaseManager && len(t.Spec.Team.CaseManagers) > 0 {
		if m := t.Spec.Team.CaseManagers[0].Name; c.Spec.Assignee != m {
			did = append(did, fmt.Sprintf("reassigned from %q to case manager %s", c.Spec.Assignee, m))
			c.Spec.Assignee = m
			p.SpecChanged = true
		}
	}
	if s.RaiseSeverityTo != "" && SeverityRank(c.Spec.Severity) < SeverityRank(s.RaiseSeverityTo) {
		did = append(did, fmt.Sprintf("raised severity from %s to %s", c.Spec.Severity, s.RaiseSeverityTo))
		c.Spec.Severity = s.RaiseSeverityTo
		p.SpecChanged = true
	}
	if s.Notify != nil {
		did = append(did, "notified "+DescribeRecipients(*s.Notify))
	}
	if len(did) == 0 {
		return "nothing to change"
	}
	return strings.Join(did, "; ")
}

// stepTime is when an escalation step is to run, false when it does not
// (no deadline to count from, it ran, or its time passed before the Case
// knew the step: never retroactively).
func stepTime(c *cxv1alpha1.Case, s *cxv1alpha1.EscalationStep) (time.Time, bool) {
	deadline := stepDeadline(c, *s)
	if deadline == nil || escalationRan(c, s.Name) {
		return time.Time{}, false
	}
	at := Deadline(deadline.Time, s.After.Duration).Time
	return at, !at.Before(knownSince(c, s.Name))
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
