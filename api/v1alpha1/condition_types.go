package v1alpha1

// Condition types shared by all kinds. Ready is the summary a person reads
// first; Reconciling and Stalled follow the kstatus conventions.
const (
	// ConditionReady is True when the object is valid and fully in effect.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is still making
	// progress towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when no retry can make progress until the
	// spec (or something it references) changes.
	ConditionStalled = "Stalled"
)

// Condition types of specific kinds.
const (
	// ConditionOverdue is True on a Case whose closure deadline (status.dueAt)
	// has passed while it is not closed.
	ConditionOverdue = "Overdue"
	// ConditionFirstResponseOverdue is True on a Case with no action logged
	// by its first-response deadline (status.firstResponseDueAt).
	ConditionFirstResponseOverdue = "FirstResponseOverdue"
	// ConditionEscalated is True on a Case once a step of its template's
	// escalation ladder has run.
	ConditionEscalated = "Escalated"
	// ConditionThrottled is True on an AlertRule that has reached its
	// throttle.maxCasesPerHour in the current hour.
	ConditionThrottled = "Throttled"
	// ConditionFiring is True on an aggregate AlertRule whose condition is
	// breached.
	ConditionFiring = "Firing"
	// ConditionPredictionReady is True on a SurveyTouchpoint whose
	// prediction model met its minimum accuracy at the last training and is
	// scoring interactions; False (with the reason) when it is refused or
	// not trained yet. The touchpoint's Ready is about its collector and
	// does not depend on it.
	ConditionPredictionReady = "PredictionReady"
)

// Condition reasons. They are CamelCase and name the cause, so that
// `kubectl get -o wide` and events are readable without the message.
const (
	// ReasonSucceeded means the last reconciliation applied the spec.
	ReasonSucceeded = "Succeeded"
	// ReasonOutboxBlocked means a touchpoint's collector cannot drain its
	// outbox: actions wait too long or are refused again and again.
	ReasonOutboxBlocked = "OutboxBlocked"
	// ReasonProgressing means children are being created or rolled out.
	ReasonProgressing = "Progressing"
	// ReasonInvalidSpec means the spec is invalid in a way the CRD schema
	// cannot check; the message names the field.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonInvalidExpression means a CEL expression does not compile or
	// does not type-check; the message carries the compiler's position.
	ReasonInvalidExpression = "InvalidExpression"
	// ReasonInvalidSchedule means a cron schedule does not parse.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonUnknownTimeZone means a time zone is not an IANA name.
	ReasonUnknownTimeZone = "UnknownTimeZone"
	// ReasonReferenceNotFound means a referenced object (template, channel,
	// touchpoint) does not exist in the namespace.
	ReasonReferenceNotFound = "ReferenceNotFound"
	// ReasonSecretNotFound means a referenced Secret or key is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonNoTouchpointSelected means a selector matched no touchpoint.
	ReasonNoTouchpointSelected = "NoTouchpointSelected"
	// ReasonInvalidRootCause means a Case names a root cause that is not in
	// its template's closure.rootCauses.
	ReasonInvalidRootCause = "InvalidRootCause"
	// ReasonSuspended means spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonDeadlinePassed is used on Overdue conditions.
	ReasonDeadlinePassed = "DeadlinePassed"
	// ReasonWithinDeadline is used on Overdue=False conditions.
	ReasonWithinDeadline = "WithinDeadline"
	// ReasonDeliveryFailed means the last notification could not be sent.
	ReasonDeliveryFailed = "DeliveryFailed"
	// ReasonProgressingWithRetry is set on Ready=False and Reconciling=True
	// when a reconciliation failed for a reason a retry can fix (the API
	// server refused a write, a collector did not answer); the message has
	// the error and the controller retries with backoff.
	ReasonProgressingWithRetry = "ProgressingWithRetry"
)

// Reasons of an aggregate AlertRule's Firing condition.
const (
	// ReasonBreached: the condition holds for at least one group
	// (Firing=True); status.firing lists them.
	ReasonBreached = "Breached"
	// ReasonNotBreached: the condition holds for no evaluated group
	// (Firing=False).
	ReasonNotBreached = "NotBreached"
	// ReasonInsufficientResponses: no group had minResponses in the window,
	// so nothing was evaluated (Firing=False, or True for groups already
	// firing, which stay firing until an evaluation with enough responses
	// clears them).
	ReasonInsufficientResponses = "InsufficientResponses"
	// ReasonCollectorUnreachable: a selected touchpoint's collector could not
	// be read; the evaluation was skipped (no group fires or resolves on
	// missing data) and is retried at the next period. Firing keeps its
	// status (Unknown when nothing was firing); the message names the
	// touchpoints and errors.
	ReasonCollectorUnreachable = "CollectorUnreachable"
	// ReasonEvaluationFailed: the condition could not be evaluated (a CEL
	// runtime error such as an overflow); the message has the error.
	ReasonEvaluationFailed = "EvaluationFailed"
)

// Reasons of an AlertRule's Throttled condition.
const (
	// ReasonThrottled: the Cases the rule opened in the last hour reached
	// spec.throttle.maxCasesPerHour; collectors open no more until the
	// oldest of them is an hour old.
	ReasonThrottled = "Throttled"
	// ReasonBelowLimit: spec.throttle is set and not reached.
	ReasonBelowLimit = "BelowLimit"
	// ReasonNoThrottle: spec.throttle is not set.
	ReasonNoThrottle = "NoThrottle"
)

// Reasons of Kubernetes events (not conditions) the controllers emit.
const (
	// ReasonOpened: a Case was opened (the template applied, deadlines
	// recorded).
	ReasonOpened = "Opened"
	// ReasonAssigned: a Case's assignee changed.
	ReasonAssigned = "Assigned"
	// ReasonStateChanged: a Case's spec.state changed.
	ReasonStateChanged = "StateChanged"
	// ReasonClosed: a Case was closed.
	ReasonClosed = "Closed"
	// ReasonReopened: a closed Case was reopened.
	ReasonReopened = "Reopened"
	// ReasonFirstActionLogged: the first action was logged on a Case.
	ReasonFirstActionLogged = "FirstActionLogged"
	// ReasonOverdue: a Case passed its closure deadline (status.dueAt).
	ReasonOverdue = "Overdue"
	// ReasonFirstResponseOverdue: a Case passed its first-response
	// deadline with no action logged.
	ReasonFirstResponseOverdue = "FirstResponseOverdue"
	// ReasonEscalated: an escalation step ran on a Case.
	ReasonEscalated = "Escalated"
	// ReasonArchived: a closed Case past its retention was archived to the
	// store before its deletion.
	ReasonArchived = "Archived"
	// ReasonCaseOpened: an aggregate AlertRule opened a Case.
	ReasonCaseOpened = "CaseOpened"
	// ReasonReportSent: a ReportSubscription's report was delivered.
	ReasonReportSent = "ReportSent"
	// ReasonReportFailed: a ReportSubscription's run failed.
	ReasonReportFailed = "ReportFailed"
	// ReasonMissedRun: a ReportSubscription's scheduled run was missed by
	// more than its startingDeadline (the manager was down) and skipped.
	ReasonMissedRun = "MissedRun"
)

// Reasons of a SurveyTouchpoint's PredictionReady condition.
const (
	// ReasonModelAccepted: the prediction model met its minimum accuracy and
	// training size and scores interactions.
	ReasonModelAccepted = "ModelAccepted"
	// ReasonModelRefused: the last training was below the minimum accuracy
	// or training size; the message gives the figures. Nothing is predicted.
	ReasonModelRefused = "ModelRefused"
	// ReasonNotTrained: the prediction has not been trained yet.
	ReasonNotTrained = "NotTrained"
)
