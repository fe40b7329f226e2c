// Package validate checks a cxloop program offline: what the CRD schema and
// its CEL rules cannot, such as rule expressions compiled against the
// touchpoints they watch, cron schedules and time zones, a Case's root
// cause against its template, and references between objects.
//
// Controllers call the per-object functions (AlertRule, CaseTemplate,
// ReportSubscription, Case, Schedule, SelectTouchpoints) and report the
// Problems in status; a CLI validates a directory of manifests with
// Program.Validate. Nothing here talks to an API server.
package validate
