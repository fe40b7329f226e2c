// Package collector is `cxloop collector`, the service of one
// SurveyTouchpoint. It runs apart from the manager and never imports
// controllers.
//
// Two HTTP surfaces (see Server.Handler, PublicHandler, PrivateHandler):
//
//   - Public, what an Ingress may expose: POST /v1/responses (and the
//     batch import) with an invitation token, the hosted survey page.
//     Rate-limited per client and bounded in memory; errors are RFC 7807.
//   - Private, reachable only from the manager's namespace and
//     authenticated by the touchpoint's (or the program's) API token:
//     /v1/status, /v1/metrics (mergeable aggregates), invitations, the Case
//     archive and per-customer erasure.
//
// A response is validated against the touchpoint's questions, scored
// (internal/textanalytics), evaluated against the namespace's per-response
// AlertRules (internal/rules), and stored with the actions it triggers in
// one transaction of internal/store (a transactional outbox). The
// Dispatcher drains the outbox: it creates Cases with deterministic names
// and sends notifications (internal/notify), with retries and backoff, so
// a crash neither loses nor repeats an action.
//
// The collector follows its touchpoint and the namespace's AlertRules
// through an informer cache, without a restart; Run wires it from Options.
package collector
