package notify

import (
	"fmt"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// FailingAfter is how many deliveries in a row (each after its retries)
// must fail before a channel counts as failing.
const FailingAfter = 3

// Failing reports whether a channel's last FailingAfter deliveries failed
// (as recorded in its status by the Notifier).
func Failing(st *cxv1alpha1.NotificationChannelStatus) bool {
	return st.ConsecutiveFailures >= FailingAfter && st.LastDelivery != nil
}

// Health says whether a valid channel is healthy, with the message of its
// Ready condition: healthy unless its last FailingAfter deliveries failed,
// and then the message names how many, when the last one failed and why.
// The next successful delivery makes it healthy again.
func Health(ch *cxv1alpha1.NotificationChannel) (healthy bool, message string) {
	st := ch.Status
	if !Failing(&st) {
		return true, fmt.Sprintf("%s channel configured", ch.Spec.Type)
	}
	return false, fmt.Sprintf("the last %d deliveries failed; last failure at %s: %s", st.ConsecutiveFailures,
		st.LastDelivery.Time.UTC().Format(time.RFC3339), st.LastDelivery.Message)
}
