package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Event reasons of the Case lifecycle (Kubernetes events on the Case).
const (
	reasonOpened               = "Opened"
	reasonAssigned             = "Assigned"
	reasonStateChanged         = "StateChanged"
	reasonClosed               = "Closed"
	reasonReopened             = "Reopened"
	reasonFirstActionLogged    = "FirstActionLogged"
	reasonOverdue              = "Overdue"
	reasonFirstResponseOverdue = "FirstResponseOverdue"
	reasonEscalated            = "Escalated"
	reasonArchived             = "Archived"
)

// caseTransition is one thing that happened to a Case in a reconciliation: a
// Kubernetes event, and, when event is set, a lifecycle notification.
type caseTransition struct {
	// event is the lifecycle event that may notify people; empty for
	// transitions that only emit a Kubernetes event.
	event cxv1alpha1.LifecycleEvent
	// key is the notification's idempotency key.
	key string
	// step is the escalation step that ran (event Escalated).
	step *cxv1alpha1.EscalationStep
	// headline says what happened, for the message title ("is overdue").
	headline string

	warning bool
	// reason and note make the Kubernetes event; no event without a
	// reason.
	reason string
	note   string
}

func (tr caseTransition) eventType() string {
	if tr.warning {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}

// lifecycle is what one evaluation of a Case decided.
type lifecycle struct {
	// specChanged is true when template defaults or an escalation changed
	// the spec.
	specChanged bool
	transitions []caseTransition
	// timeToFirstAction and timeToClose are set when the first action or
	// the closing was seen now, for the histograms.
	timeToFirstAction *time.Duration
	timeToClose       *time.Duration
	// next is the nearest future deadline.
	next earliest
	// retentionEnded is true for a closed Case past its template's
	// retention: archive it, then delete it.
	retentionEnded bool
}

// evaluate advances a Case's lifecycle to now: it mutates c (spec defaults,
// escalation changes, status) and returns the transitions to announce. It
// does not talk to the API server.
func evaluate(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, now time.Time, routes *routeCache) *lifecycle {
	lc := &lifecycle{next: earliest{now: now}}
	uid := string(c.UID)
	opening := c.Status.DueAt == nil
	if opening {
		lc.open(c, t, routes)
	}
	if c.Spec.ClosureGoal != nil {
		due := metav1.NewTime(c.Status.OpenedAt.Add(c.Spec.ClosureGoal.Duration))
		c.Status.DueAt = &due
	}
	trackEscalationSteps(c, t, now)
	lc.firstAction(c)
	lc.stateChange(c, uid, now, t)
	lc.deadlines(c, uid, now)
	lc.escalate(c, t, uid, now)
	if a := c.Spec.Assignee; a != "" && a != c.Status.ObservedAssignee {
		tr := caseTransition{
			event: cxv1alpha1.EventAssigned, key: fmt.Sprintf("%s/Assigned/%s/g%d", uid, a, c.Status.ObservedGeneration),
			headline: "was assigned to " + a, reason: reasonAssigned, note: "assigned to " + a,
		}
		if opening {
			// The Opened event already names the assignee: one event,
			// not two, for every new Case.
			tr.reason = ""
		}
		lc.add(tr)
	}
	c.Status.ObservedAssignee = c.Spec.Assignee
	c.Status.ObservedState = stateOf(c)
	return lc
}

func (lc *lifecycle) add(tr caseTransition) { lc.transitions = append(lc.transitions, tr) }

// open applies the template to a new Case and records its deadlines.
func (lc *lifecycle) open(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, routes *routeCache) {
	before := c.Spec.DeepCopy()
	p, how := applyTemplateDefaults(c, t, routes)
	lc.specChanged = !equality.Semantic.DeepEqual(before, &c.Spec)
	opened := c.CreationTimestamp
	c.Status.OpenedAt = &opened
	if g := firstResponseGoal(t, p); g > 0 {
		due := metav1.NewTime(opened.Add(g))
		c.Status.FirstResponseDueAt = &due
	}
	// Steps the template has when the Case opens count from the opening.
	trackEscalationSteps(c, t, opened.Time)
	lc.add(caseTransition{
		event: cxv1alpha1.EventOpened, key: string(c.UID) + "/Opened", headline: "was opened",
		reason: reasonOpened, note: how,
	})
}

// firstAction records when the first action was logged.
func (lc *lifecycle) firstAction(c *cxv1alpha1.Case) {
	if c.Status.FirstActionAt != nil || len(c.Spec.Actions) == 0 {
		return
	}
	at := c.Spec.Actions[0].At
	c.Status.FirstActionAt = &at
	d := at.Sub(c.Status.OpenedAt.Time)
	lc.timeToFirstAction = &d
	lc.add(caseTransition{reason: reasonFirstActionLogged, note: fmt.Sprintf("first action by %s, %s after opening", c.Spec.Actions[0].By, d.Round(time.Second))})
}

// stateChange records the effects of a change of spec.state: closedAt and
// timeToClose on Closed, their removal on reopening.
func (lc *lifecycle) stateChange(c *cxv1alpha1.Case, uid string, now time.Time, t *cxv1alpha1.CaseTemplate) {
	state, prev := stateOf(c), c.Status.ObservedState
	if prev != "" && prev != state {
		lc.add(caseTransition{
			event: cxv1alpha1.EventStateChanged, key: fmt.Sprintf("%s/StateChanged/%s-%s/g%d", uid, prev, state, c.Status.ObservedGeneration),
			headline: fmt.Sprintf("moved from %s to %s", prev, state), reason: reasonStateChanged, note: fmt.Sprintf("%s -> %s", prev, state),
		})
	}
	switch {
	case state == cxv1alpha1.CaseClosed && c.Status.ClosedAt == nil:
		closed := metav1.NewTime(now)
		c.Status.ClosedAt = &closed
		d := now.Sub(c.Status.OpenedAt.Time)
		c.Status.TimeToClose = &metav1.Duration{Duration: d.Round(time.Second)}
		lc.timeToClose = &d
		lc.add(caseTransition{
			event: cxv1alpha1.EventClosed, key: fmt.Sprintf("%s/Closed/g%d", uid, c.Status.ObservedGeneration),
			headline: "was closed", reason: reasonClosed, note: fmt.Sprintf("closed %s after opening", d.Round(time.Second)),
		})
	case state != cxv1alpha1.CaseClosed && c.Status.ClosedAt != nil:
		c.Status.ClosedAt, c.Status.TimeToClose, c.Status.ArchivedAt = nil, nil, nil
		lc.add(caseTransition{reason: reasonReopened, note: fmt.Sprintf("reopened (%s); the closing time is cleared", state)})
	}
	if c.Status.ClosedAt != nil {
		end := c.Status.ClosedAt.Add(retention(t))
		if !now.Before(end) {
			lc.retentionEnded = true
		}
		lc.next.add(end)
	}
}

// deadlines sets Overdue and FirstResponseOverdue. A deadline is missed
// when the Case was still waiting at it: for Overdue, closedAt (or now) is
// at or after dueAt; for FirstResponseOverdue, the first action (or the
// closing, or now) is at or after firstResponseDueAt. Only a deadline that
// passes while the Case still waits is announced.
func (lc *lifecycle) deadlines(c *cxv1alpha1.Case, uid string, now time.Time) {
	ref := now
	if c.Status.ClosedAt != nil {
		ref = c.Status.ClosedAt.Time
	}
	waiting := c.Status.ClosedAt == nil
	if lc.deadline(c, cxv1alpha1.ConditionOverdue, c.Status.DueAt, ref, now, waiting) {
		lc.add(caseTransition{
			event: cxv1alpha1.EventOverdue, key: fmt.Sprintf("%s/Overdue/%d", uid, c.Status.DueAt.Unix()),
			headline: "is overdue", warning: true, reason: reasonOverdue,
			note: "not closed by its deadline " + c.Status.DueAt.UTC().Format(time.RFC3339),
		})
	}
	if c.Status.FirstActionAt != nil {
		ref = c.Status.FirstActionAt.Time
	}
	waiting = waiting && c.Status.FirstActionAt == nil
	if lc.deadline(c, cxv1alpha1.ConditionFirstResponseOverdue, c.Status.FirstResponseDueAt, ref, now, waiting) {
		lc.add(caseTransition{
			event: cxv1alpha1.EventOverdue, key: fmt.Sprintf("%s/FirstResponseOverdue/%d", uid, c.Status.FirstResponseDueAt.Unix()),
			headline: "has no first response", warning: true, reason: reasonFirstResponseOverdue,
			note: "no action logged by the first-response deadline " + c.Status.FirstResponseDueAt.UTC().Format(time.RFC3339),
		})
	}
}

// deadline sets one deadline condition: True once ref is at or after due.
// It reports whether the condition became True now while the Case waits,
// and otherwise, while it waits, remembers due as the next deadline.
func (lc *lifecycle) deadline(c *cxv1alpha1.Case, condType string, due *metav1.Time, ref, now time.Time, waiting bool) bool {
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
		lc.next.add(due.Time)
	}
	apimeta.SetStatusCondition(&c.Status.Conditions, cond)
	return missed && waiting && !wasTrue
}

// escalate runs the ladder steps that are due, once each, never on a
// Resolved or Closed Case, and never for a step whose time had passed
// before the Case knew it (see trackEscalationSteps).
func (lc *lifecycle) escalate(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, uid string, now time.Time) {
	if isDone(stateOf(c)) {
		return
	}
	for i := range t.Spec.Escalation {
		s := &t.Spec.Escalation[i]
		deadline := stepDeadline(c, *s)
		if deadline == nil || escalationRan(c, s.Name) {
			continue
		}
		at := deadline.Add(s.After.Duration)
		if at.Before(knownSince(c, s.Name)) {
			continue // not retroactive
		}
		if now.Before(at) {
			lc.next.add(at)
			continue
		}
		did := lc.runStep(c, t, s)
		c.Status.Escalations = append(c.Status.Escalations, cxv1alpha1.EscalationRecord{Step: s.Name, At: metav1.NewTime(now), Message: did})
		lc.add(caseTransition{
			event: cxv1alpha1.EventEscalated, key: fmt.Sprintf("%s/Escalated/%s", uid, s.Name), step: s,
			headline: "was escalated (" + s.Name + ")", warning: true, reason: reasonEscalated,
			note: fmt.Sprintf("step %s: %s", s.Name, did),
		})
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
func (lc *lifecycle) runStep(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, s *cxv1alpha1.EscalationStep) string {
	var did []string
	if s.ReassignToCaseManager && len(t.Spec.Team.CaseManagers) > 0 {
		if m := t.Spec.Team.CaseManagers[0].Name; c.Spec.Assignee != m {
			did = append(did, fmt.Sprintf("reassigned from %q to case manager %s", c.Spec.Assignee, m))
			c.Spec.Assignee = m
			lc.specChanged = true
		}
	}
	if s.RaiseSeverityTo != "" && severityRank(c.Spec.Severity) < severityRank(s.RaiseSeverityTo) {
		did = append(did, fmt.Sprintf("raised severity from %s to %s", c.Spec.Severity, s.RaiseSeverityTo))
		c.Spec.Severity = s.RaiseSeverityTo
		lc.specChanged = true
	}
	if s.Notify != nil {
		did = append(did, "notified "+describeRecipients(*s.Notify))
	}
	if len(did) == 0 {
		return "nothing to change"
	}
	return strings.Join(did, "; ")
}

// describeRecipients names recipients for messages: "assignee, case
// managers, channels support-slack".
func describeRecipients(r cxv1alpha1.Recipients) string {
	var parts []string
	if r.Assignee {
		parts = append(parts, "the assignee")
	}
	if r.Team {
		parts = append(parts, "the team")
	}
	if r.CaseManagers {
		parts = append(parts, "the case managers")
	}
	if len(r.Channels) > 0 {
		parts = append(parts, "channels "+strings.Join(r.Channels, ", "))
	}
	return strings.Join(parts, ", ")
}
