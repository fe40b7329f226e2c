// Package programcheck is `cxloop validate`: it checks a CX program
// without a cluster, as applying it would. Documents are applied in order
// to an in-memory API server made of the CRDs' own validation (see
// internal/crdcheck: the message is the one `kubectl apply` prints); a
// later document with the kind and name of an earlier one is an update of
// it, so transition rules run. The objects that would be stored are then
// checked per namespace by internal/validate, the checks the controllers
// run (rule expressions against the selected touchpoints' questions,
// references, cron schedules and time zones, root causes against
// templates).
package programcheck
