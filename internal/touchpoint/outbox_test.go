package touchpoint

import (
	"strings"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/collectorclient"
)

func TestOutbox(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	for _, tc := range []struct {
		name        string
		st          collectorclient.Status
		wantBlocked bool
		// wantMessage are the parts the Ready message of a blocked
		// outbox must carry.
		wantMessage []string
	}{
		{name: "empty", st: collectorclient.Status{}},
		{name: "draining", st: collectorclient.Status{OutboxDepth: 40, OutboxOldest: ago(time.Minute)}},
		{
			name:        "waited too long",
			st:          collectorclient.Status{OutboxDepth: 7, OutboxOldest: ago(16 * time.Minute), OutboxLastError: "create case: connection refused"},
			wantBlocked: true,
			wantMessage: []string{"7 actions wait", "oldest action has waited 16m0s (more than 15m0s)", "last error: create case: connection refused"},
		},
		{
			name:        "refused in a row",
			st:          collectorclient.Status{OutboxDepth: 2, OutboxOldest: ago(time.Minute), OutboxRefusals: 3, OutboxLastError: `cases.cx.cxloop.io is forbidden`},
			wantBlocked: true,
			wantMessage: []string{"2 actions wait", "3 attempts in a row were refused", "forbidden"},
		},
		{name: "an old empty outbox is not blocked", st: collectorclient.Status{OutboxOldest: ago(time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := Outbox(&tc.st, now, DefaultBlockedAfter)
			if ob.Blocked != tc.wantBlocked {
				t.Fatalf("blocked %v, want %v: %+v", ob.Blocked, tc.wantBlocked, ob)
			}
			if ob.Depth != tc.st.OutboxDepth || ob.Refusals != int32(tc.st.OutboxRefusals) {
				t.Errorf("depth %d refusals %d, want %d %d", ob.Depth, ob.Refusals, tc.st.OutboxDepth, tc.st.OutboxRefusals)
			}
			msg := BlockedMessage(ob, DefaultBlockedAfter)
			for _, want := range tc.wantMessage {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
}

// A long last error is cut to the API's bound, visibly.
func TestOutboxTruncatesTheLastError(t *testing.T) {
	ob := Outbox(&collectorclient.Status{OutboxLastError: strings.Repeat("x", 2000)}, time.Now(), time.Minute)
	if len(ob.LastError) > maxLastError || !strings.HasSuffix(ob.LastError, " …") {
		t.Errorf("last error of %d bytes, ending %q", len(ob.LastError), ob.LastError[len(ob.LastError)-5:])
	}
}
