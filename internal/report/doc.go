// Package report builds, renders and delivers the scheduled customer
// experience reports of ReportSubscriptions.
//
// Build reads the mergeable aggregates of each selected touchpoint from a
// Source (a collector's /v1/metrics, or a store directly) and the Case
// objects of the namespace, and computes the sections the subscription
// chooses: KPIs against the comparison window with their margins of error,
// the trend per period, segments, case statistics, key drivers, themes and
// goals. All KPI arithmetic is internal/metrics'; the aggregates of several
// touchpoints merge exactly before a KPI is computed from them. Every section
// states what it was computed from (window, responses counted).
//
// Render turns a Report into an HTML email (inline CSS, single column,
// readable on a phone, trend charts as PNG images referenced by Content-ID),
// a plain-text alternative and JSON; Messages shapes one Message per
// channel type (the full email, a compact summary with the headline numbers
// for Slack and Teams, the JSON for webhooks).
//
// The package runs without a cluster: its inputs are API objects and a
// Source, its clock is the report's end time.
package report
