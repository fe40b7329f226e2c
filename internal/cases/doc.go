// Package cases is the pure Case planner: given a Case, its CaseTemplate
// and the time, it decides what the Case should become. Nothing here talks
// to the API server, so the whole lifecycle is testable with plain
// `go test` and usable by every opener of a Case and by offline tools
// (`cxloop test`).
//
// The entry points:
//
//   - ApplyDefaults fills a new Case's category, severity, closure goal and
//     assignee from its template. An opener (the collector's dispatcher, an
//     aggregate AlertRule, the CLI, the inbox) calls it before it creates
//     the Case.
//   - Evaluate advances a Case to now: it records the opening, the
//     deadlines (dueAt, firstResponseDueAt), the first action, the closing,
//     the Overdue and FirstResponseOverdue conditions and the escalation
//     steps due, and returns a Plan: the Transitions to announce (each with
//     a deterministic idempotency key), whether the spec changed, and when
//     to look again.
//   - Recipients and NotificationsDue say whom a Transition notifies and
//     which of those notifications status.notifications does not record
//     yet; RecordDue records them in status.pendingNotifications (or as
//     Skipped, with the fix) before they are delivered, Message renders
//     one for people, and Done moves it to status.notifications with its
//     outcome.
//   - Upcoming lists the time-driven transitions still ahead (Overdue,
//     FirstResponseOverdue, escalation steps) and Schedule records their
//     notifications ahead with their dueAt, so that at the deadline
//     DeliverableNow finds them already recorded: delivered before the one
//     status write that stores the transition and marks them done.
//   - Deadline keeps a deadline in the whole seconds the API server
//     stores, so a Case falls due at the dueAt it shows.
//
// A Router compiles a template's assignment routes once per template
// generation; share one Router between calls.
package cases
