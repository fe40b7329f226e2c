// Package alerting is the aggregate AlertRule state machine, apart from
// the code that reads collectors and writes status: given a rule, the
// mergeable aggregates of its touchpoints for the current and the
// previous window, and the time, it decides which groups start or stop
// firing, updates status.firing and the Firing condition, and renders the
// notifications and strategic Cases a transition owes, with deterministic
// keys and names. Everything here runs with plain `go test`, and offline
// tools (`cxloop test`) drive it directly.
//
// The entry points:
//
//   - Due and Next say whether a rule must be evaluated at a time, and
//     when next.
//   - Evaluate takes an Input (both windows, the collectors that could not
//     be read, now) and returns the Transitions.
//   - Measure computes a rule's metric for one group of a Window, merging
//     the touchpoints exactly.
//   - Key, Message and StrategicCase render what a Transition owes.
//   - Throttle and ThrottledCondition decide spec.throttle from the
//     creation times of the Cases a rule opened; RecordCases sets
//     casesOpened, lastMatchTime and Throttled from them.
//   - Effects and Record list and record in status.pendingEffects what
//     transitions owe; DescribeEffect names one for events and errors.
package alerting
