package alerting

import (
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestDescribeEffect(t *testing.T) {
	for _, tc := range []struct {
		e    cxv1alpha1.PendingEffect
		want string
	}{
		{cxv1alpha1.PendingEffect{Case: "nps-drop-3f2a", Channel: "ignored"}, "create Case nps-drop-3f2a"},
		{cxv1alpha1.PendingEffect{Channel: "ops"}, "AggregateFiring notification to channel ops"},
		{cxv1alpha1.PendingEffect{Channel: "ops", Resolved: true}, "AggregateResolved notification to channel ops"},
		{cxv1alpha1.PendingEffect{Channel: "ops", Group: cxv1alpha1.FiringGroup{Group: "emea", GroupBy: "customer.segment"}}, "AggregateFiring notification for group emea to channel ops"},
	} {
		if got := DescribeEffect(tc.e); got != tc.want {
			t.Errorf("DescribeEffect(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}
