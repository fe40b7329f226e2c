package collector

import (
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The dispatcher counts refused attempts in a row and keeps the last error
// for /v1/status; a success resets the count, not the last error.
func TestDispatcherRecordsRefusals(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	d := &Dispatcher{opts: DispatcherOptions{Now: func() time.Time { return now }}}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "cx.cxloop.io", Resource: "cases"}, "c-1", errors.New("denied by policy"))
	for range 3 {
		d.recordOutcome(forbidden, apierrors.IsForbidden(forbidden))
	}
	d.recordOutcome(errors.New("connection refused"), false)
	f := d.LastFailure()
	if f.Refusals != 3 || f.Error != "connection refused" || !f.At.Equal(now) {
		t.Errorf("failure = %+v, want 3 refusals and the last (transient) error", f)
	}
	d.recordOutcome(nil, false)
	if f := d.LastFailure(); f.Refusals != 0 || f.Error != "connection refused" {
		t.Errorf("after a success: %+v, want no refusals, the last error kept", f)
	}
}
