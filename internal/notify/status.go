package notify

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// maxStatusMessage is the API's limit on lastDelivery.message.
const maxStatusMessage = 1024

// statusTimeout bounds recording one outcome.
const statusTimeout = 10 * time.Second

// statusBackoff retries status patches that conflict with another writer
// (another delivery, the controller) or run ahead of a cached read.
var statusBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.2, Cap: time.Second}

// recordStatus writes the outcome of one delivery into the channel's
// status: lastDelivery, consecutiveFailures, delivered and failed. It is a
// merge patch of those fields only, guarded by the resourceVersion, so
// counters are never lost to a concurrent delivery and the conditions the
// controller owns are never touched. A failure to record is logged, not
// returned: the message itself was (or was not) delivered either way.
func (n *Notifier) recordStatus(ctx context.Context, ch *cxv1alpha1.NotificationChannel, deliveryErr error) {
	result := &cxv1alpha1.DeliveryResult{Channel: ch.Name, Time: metav1.NewTime(n.opts.Now()), Outcome: cxv1alpha1.DeliveryDelivered}
	if deliveryErr != nil {
		result.Outcome = cxv1alpha1.DeliveryFailed
		result.Message = clip(deliveryErr.Error(), maxStatusMessage)
	}
	// The outcome is recorded even when the caller's ctx ended (which may
	// be why the delivery failed).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statusTimeout)
	defer cancel()
	key := client.ObjectKeyFromObject(ch)
	cur := ch
	err := retry.OnError(statusBackoff, func(error) bool { return true }, func() error {
		if cur == nil {
			cur = &cxv1alpha1.NotificationChannel{}
			if err := n.client.Get(ctx, key, cur); err != nil {
				return client.IgnoreNotFound(err)
			}
		}
		before := cur.DeepCopy()
		cur.Status.LastDelivery = result
		if deliveryErr == nil {
			cur.Status.Delivered++
			cur.Status.ConsecutiveFailures = 0
		} else {
			cur.Status.Failed++
			cur.Status.ConsecutiveFailures++
		}
		err := n.client.Status().Patch(ctx, cur, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		cur = nil // read again before a retry
		return client.IgnoreNotFound(err)
	})
	if err != nil {
		n.opts.Log.Error(err, "record delivery in channel status", "namespace", ch.Namespace, "channel", ch.Name)
	}
}
