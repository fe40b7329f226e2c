package touchpoint

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// BlockedRefusals is how many refused attempts in a row block an outbox.
const BlockedRefusals = 3

// DefaultBlockedAfter is how long the oldest action may wait before the
// outbox counts as blocked, unless the manager is told otherwise.
const DefaultBlockedAfter = 15 * time.Minute

// maxLastError is the API's bound on status.outbox.lastError.
const maxLastError = 1024

// Outbox is the status.outbox of a touchpoint whose collector reported st
// at now: its depth, the age of its oldest action, the last error, and
// Blocked when actions wait longer than blockedAfter or BlockedRefusals
// attempts in a row were refused.
func Outbox(st *collectorclient.Status, now time.Time, blockedAfter time.Duration) *cxv1alpha1.OutboxStatus {
	ob := &cxv1alpha1.OutboxStatus{Depth: st.OutboxDepth, LastError: truncate(st.OutboxLastError, maxLastError), Refusals: int32(min(st.OutboxRefusals, 1<<30))}
	if st.OutboxOldest != nil {
		ob.OldestAge = &cxv1alpha1.Duration{Duration: now.Sub(*st.OutboxOldest).Round(time.Second)}
	}
	if st.OutboxLastErrorTime != nil {
		ob.LastErrorTime = &metav1.Time{Time: st.OutboxLastErrorTime.Truncate(time.Second)}
	}
	ob.Blocked = ob.Depth > 0 && ob.OldestAge != nil && ob.OldestAge.Duration > blockedAfter ||
		ob.Refusals >= BlockedRefusals
	return ob
}

// BlockedMessage says why the outbox does not drain and what failed, for
// the Ready condition of a touchpoint whose outbox is blocked.
func BlockedMessage(ob *cxv1alpha1.OutboxStatus, blockedAfter time.Duration) string {
	why := fmt.Sprintf("%d attempts in a row were refused", ob.Refusals)
	if ob.Refusals < BlockedRefusals && ob.OldestAge != nil {
		why = fmt.Sprintf("its oldest action has waited %s (more than %s)", ob.OldestAge.Duration, blockedAfter)
	}
	msg := fmt.Sprintf("the collector's outbox cannot drain: %d actions wait and %s", ob.Depth, why)
	if ob.LastError != "" {
		msg += "; last error: " + ob.LastError
	}
	return msg
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len(" …")] + " …"
}
