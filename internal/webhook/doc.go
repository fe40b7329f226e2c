// Package webhook holds the admission webhook the manager serves for Cases
// and the certificate it serves it with.
//
// What the ValidatingAdmissionPolicies of config/admission cannot do, for
// they have no clock and cannot change the object, the webhook does:
//
//   - an action's `at` is the server's time: a new entry without `at` gets
//     it, one more than Skew away from the server's clock is refused with
//     the field, the time given and the server's time;
//   - every change of spec.state, spec.assignee and spec.severity is logged
//     in spec.actions (StateChanged, Reassigned, Escalated) with the
//     requesting user and the server's time.
//
// The certificate is managed by the manager itself (Certificates): a CA and
// a serving certificate kept in a Secret of the manager's namespace, shared
// by all replicas, renewed before expiry, with the CA written into the
// MutatingWebhookConfiguration's caBundle. No cert-manager is needed.
package webhook
