package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// deliver delivers notifications status.pendingNotifications records as
// due (see cases.RecordDue) and moves each to status.notifications with
// its outcome; the caller writes that status. It is called only for
// records the API server holds: those the stored status already had
// (cases.DeliverableNow) before the status write, the others after it.
// The Deliverer retries transient failures itself; what it returns is
// recorded as Failed and announced with a Warning event, and not retried.
// A delivery cut short by the manager stopping stays pending: the
// restarted manager delivers it, under the same idempotency key.
func (r *CaseReconciler) deliver(ctx context.Context, c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, due []cxv1alpha1.PendingNotification) []cases.Transition {
	var failures []cases.Transition
	for _, n := range due {
		if r.Deliverer == nil {
			cases.Done(c, n, r.now(), cxv1alpha1.DeliverySkipped, "the manager has no notifier configured")
			continue
		}
		mem := deliveryKey{uid: string(c.UID), key: n.Key, channel: n.Channel}
		d, ok := r.delivered.get(mem)
		if !ok {
			err := r.Deliverer.Deliver(ctx, c.Namespace, n.Channel, cases.Message(c, t, n, r.NotificationBaseURL))
			if err != nil && ctx.Err() != nil {
				continue // stopping: the next manager delivers it
			}
			d = deliveryResult{outcome: cxv1alpha1.DeliveryDelivered}
			if err != nil {
				d = deliveryResult{outcome: cxv1alpha1.DeliveryFailed, message: err.Error()}
			}
			r.delivered.put(mem, d, r.now())
		}
		cases.Done(c, n, r.now(), d.outcome, d.message)
		if d.outcome == cxv1alpha1.DeliveryFailed && !ok {
			failures = append(failures, cases.Transition{Warning: true, Reason: cxv1alpha1.ReasonDeliveryFailed,
				Note: fmt.Sprintf("%s notification to channel %s failed: %s", n.Event, n.Channel, d.message)})
		}
	}
	return failures
}

// deliveryMemory remembers, for a while, the deliveries this manager made
// and their outcome. Its cache of Cases can be behind the manager's own
// status writes: a reconciliation that reads a Case from before the write
// that marked a notification done must not deliver it again. It finds the
// delivery here, marks it done with the same outcome, and its status
// write (which locks on the stale resourceVersion) conflicts and is
// retried on the fresh Case. A restarted manager starts with a fresh
// cache and an empty memory; the record in the Case is what survives.
type deliveryMemory struct {
	mu        sync.Mutex
	m         map[deliveryKey]deliveryResult
	lastPrune time.Time
}

type deliveryKey struct{ uid, key, channel string }

type deliveryResult struct {
	outcome cxv1alpha1.DeliveryOutcome
	message string
	at      time.Time
}

// deliveryMemoryTTL is how long a delivery is remembered: far longer than
// the cache is ever behind the API server.
const deliveryMemoryTTL = 10 * time.Minute

func (m *deliveryMemory) get(k deliveryKey) (deliveryResult, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.m[k]
	return d, ok
}

func (m *deliveryMemory) put(k deliveryKey, d deliveryResult, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[deliveryKey]deliveryResult{}
	}
	if now.Sub(m.lastPrune) > time.Minute {
		for k, old := range m.m {
			if now.Sub(old.at) > deliveryMemoryTTL {
				delete(m.m, k)
			}
		}
		m.lastPrune = now
	}
	d.at = now
	m.m[k] = d
}
