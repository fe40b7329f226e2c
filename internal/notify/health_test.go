package notify

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestHealth(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 4, 2, 9, 30, 0, 0, time.UTC))
	failed := &cxv1alpha1.DeliveryResult{Channel: "ops", Time: at, Outcome: cxv1alpha1.DeliveryFailed, Message: "535 authentication failed"}
	for _, tc := range []struct {
		name        string
		st          cxv1alpha1.NotificationChannelStatus
		wantHealthy bool
		wantMessage []string
	}{
		{name: "never delivered", wantHealthy: true, wantMessage: []string{"Email channel configured"}},
		{name: "two failures in a row are not yet failing", st: cxv1alpha1.NotificationChannelStatus{ConsecutiveFailures: 2, Failed: 2, LastDelivery: failed}, wantHealthy: true},
		{name: "three in a row", st: cxv1alpha1.NotificationChannelStatus{ConsecutiveFailures: 3, Failed: 5, Delivered: 7, LastDelivery: failed},
			wantMessage: []string{"the last 3 deliveries failed", "2026-04-02T09:30:00Z", "535 authentication failed"}},
		{name: "a success after failures resets", st: cxv1alpha1.NotificationChannelStatus{ConsecutiveFailures: 0, Failed: 5, Delivered: 8,
			LastDelivery: &cxv1alpha1.DeliveryResult{Channel: "ops", Time: at, Outcome: cxv1alpha1.DeliveryDelivered}}, wantHealthy: true},
		{name: "counted failures without a recorded delivery", st: cxv1alpha1.NotificationChannelStatus{ConsecutiveFailures: 4}, wantHealthy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := &cxv1alpha1.NotificationChannel{Spec: cxv1alpha1.NotificationChannelSpec{Type: cxv1alpha1.ChannelTypeEmail}, Status: tc.st}
			healthy, msg := Health(ch)
			if healthy != tc.wantHealthy || Failing(&ch.Status) == tc.wantHealthy {
				t.Errorf("Health = %v (Failing %v), want healthy %v", healthy, Failing(&ch.Status), tc.wantHealthy)
			}
			for _, part := range tc.wantMessage {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
}
