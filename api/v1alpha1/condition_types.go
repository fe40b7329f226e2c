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
)

// Condition reasons. They are CamelCase and name the cause, so that
// `kubectl get -o wide` and events are readable without the message.
const (
	// ReasonSucceeded means the last reconciliation applied the spec.
	ReasonSucceeded = "Succeeded"
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
)
