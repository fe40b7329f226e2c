// Package demo runs the whole cxloop loop on one machine, in one process
// (`cxloop demo`, `make demo`): a real local control plane (etcd and
// kube-apiserver from hack/setup-envtest.sh) with the CRDs, the manager with
// every controller, one collector per SurveyTouchpoint serving its real
// HTTP API on loopback with an embedded SQLite store, and the sample
// program of config/samples whose notification channels point at a local
// SMTP sink, a local webhook sink and a local Twilio-style SMS gateway sink
// that keep every message as a file.
//
// It replays a seeded stream of survey answers through the collectors'
// API on an accelerated clock, so Cases go overdue and escalate within a
// minute, and plays the customer side of the touchpoints' distribution
// (customers.go): business events posted to POST /v1/events, invitations,
// reminders and acknowledgements received in the sinks by simulated
// customers who answer the hosted survey page over HTTP, wait for the
// reminder, never answer or unsubscribe. It runs the sample report, and
// prints a summary: responses, KPIs per touchpoint, invitations, Cases by
// state and severity, overdue and escalated Cases, notifications per
// channel and the rendered report.
package demo
