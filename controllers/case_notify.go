package controllers

import (
	"context"
	"fmt"
	"slices"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// deliverPending delivers the notifications status.pendingNotifications
// records as due (see cases.RecordDue), once that status is stored, and
// moves each to status.notifications with its outcome. The Deliverer
// retries transient failures itself; what it returns is recorded as
// Failed and announced with a Warning event, and not retried. A delivery
// cut short by the manager stopping stays pending: the restarted manager
// delivers it, under the same idempotency key.
func (r *CaseReconciler) deliverPending(ctx context.Context, c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate) []cases.Transition {
	var failures []cases.Transition
	for _, n := range slices.Clone(c.Status.PendingNotifications) {
		if r.Deliverer == nil {
			cases.Done(c, n, r.now(), cxv1alpha1.DeliverySkipped, "the manager has no notifier configured")
			continue
		}
		err := r.Deliverer.Deliver(ctx, c.Namespace, n.Channel, cases.Message(c, t, n, r.NotificationBaseURL))
		switch {
		case err == nil:
			cases.Done(c, n, r.now(), cxv1alpha1.DeliveryDelivered, "")
		case ctx.Err() != nil:
			// Stopping: the next manager delivers it.
		default:
			cases.Done(c, n, r.now(), cxv1alpha1.DeliveryFailed, err.Error())
			failures = append(failures, cases.Transition{Warning: true, Reason: cxv1alpha1.ReasonDeliveryFailed,
				Note: fmt.Sprintf("%s notification to channel %s failed: %v", n.Event, n.Channel, err)})
		}
	}
	return failures
}
