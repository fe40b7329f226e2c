// Package programtest is `cxloop test`: unit tests of a CX program in the
// spirit of `promtool test rules`. A test file names the program's
// manifests, a start time, responses at given times and clock advances,
// and what must happen: the Cases opened (template, severity, assignee,
// due time, merged responses, escalations), the notifications sent
// (channel, event), the aggregate groups that fire and resolve, and the
// headline numbers of reports. It runs the code the collector and the
// manager run, with no cluster (see sim): the collector's rule evaluation
// and its outbox dispatcher (dedup merges and throttling on a real SQLite
// case ledger), the Case planner (internal/cases) for defaults,
// deadlines, overdue and escalation, the aggregate state machine
// (internal/alerting) and the report builder (internal/report).
package programtest
