package alerting

import (
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tests := []struct {
		name         string
		created      []time.Time
		limit        int32
		wantInHour   int
		wantThrottle bool
		wantClears   time.Time
	}{
		{"none", nil, 2, 0, false, time.Time{}},
		{"below the limit", []time.Time{ago(time.Minute)}, 2, 1, false, time.Time{}},
		{"older Cases do not count", []time.Time{ago(61 * time.Minute), ago(2 * time.Hour), ago(time.Minute)}, 2, 1, false, time.Time{}},
		{"exactly an hour old still counts", []time.Time{ago(time.Hour), ago(time.Minute)}, 2, 2, true, now},
		{"clears when enough have aged out", []time.Time{ago(10 * time.Minute), ago(50 * time.Minute), ago(30 * time.Minute)}, 2, 3, true, ago(30 * time.Minute).Add(time.Hour)},
		{"limit one", []time.Time{ago(20 * time.Minute), ago(5 * time.Minute)}, 1, 2, true, ago(5 * time.Minute).Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inHour, clears, throttled := Throttle(tt.created, tt.limit, now)
			if inHour != tt.wantInHour || throttled != tt.wantThrottle || !clears.Equal(tt.wantClears) {
				t.Errorf("Throttle = %d, %s, %v; want %d, %s, %v", inHour, clears, throttled, tt.wantInHour, tt.wantClears, tt.wantThrottle)
			}
		})
	}
}

// The Throttled condition says whether the rule is throttled, how many
// Cases count and until when; the requeue is a second after it clears.
func TestThrottledCondition(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rule := &cxv1alpha1.AlertRule{}
	rule.Generation = 3
	for _, tc := range []struct {
		name       string
		throttle   *cxv1alpha1.ThrottleSpec
		created    []time.Time
		wantStatus metav1.ConditionStatus
		wantReason string
		wantText   string
		wantClear  time.Duration
	}{
		{"no throttle", nil, []time.Time{now}, metav1.ConditionFalse, cxv1alpha1.ReasonNoThrottle, "spec.throttle is not set", 0},
		{"below", &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 2}, []time.Time{now.Add(-time.Minute)}, metav1.ConditionFalse, cxv1alpha1.ReasonBelowLimit, "1 of at most 2", 0},
		{"reached", &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 1}, []time.Time{now.Add(-20 * time.Minute)}, metav1.ConditionTrue, cxv1alpha1.ReasonThrottled, "until 2026-05-01T12:40:00Z", 40*time.Minute + time.Second},
	} {
		rule.Spec.Throttle = tc.throttle
		cond, clearIn := ThrottledCondition(rule, tc.created, now)
		if cond.Type != cxv1alpha1.ConditionThrottled || cond.Status != tc.wantStatus || cond.Reason != tc.wantReason || cond.ObservedGeneration != 3 ||
			!strings.Contains(cond.Message, tc.wantText) || clearIn != tc.wantClear {
			t.Errorf("%s: %+v, clears in %v; want %s %s %q, %v", tc.name, cond, clearIn, tc.wantStatus, tc.wantReason, tc.wantText, tc.wantClear)
		}
	}
}

func TestRecordCases(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	later := metav1.NewTime(ago(time.Minute))
	for _, tc := range []struct {
		name          string
		throttle      *cxv1alpha1.ThrottleSpec
		lastMatch     *metav1.Time
		created       []time.Time
		wantOpened    int64
		wantLastMatch *time.Time
		wantThrottled metav1.ConditionStatus
		wantClearIn   time.Duration
	}{
		{name: "no Cases", wantThrottled: metav1.ConditionFalse},
		{name: "counts and the latest match", created: []time.Time{ago(3 * time.Hour), ago(10 * time.Minute), ago(2 * time.Hour)},
			wantOpened: 3, wantLastMatch: new(ago(10 * time.Minute)), wantThrottled: metav1.ConditionFalse},
		{name: "lastMatchTime never moves back (the latest Case was deleted)", lastMatch: &later, created: []time.Time{ago(time.Hour)},
			wantOpened: 1, wantLastMatch: new(ago(time.Minute)), wantThrottled: metav1.ConditionFalse},
		{name: "throttled until the older Case ages out", throttle: &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 2}, created: []time.Time{ago(40 * time.Minute), ago(5 * time.Minute)},
			wantOpened: 2, wantLastMatch: new(ago(5 * time.Minute)), wantThrottled: metav1.ConditionTrue, wantClearIn: 20*time.Minute + time.Second},
		{name: "below the limit", throttle: &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 2}, created: []time.Time{ago(90 * time.Minute), ago(5 * time.Minute)},
			wantOpened: 2, wantLastMatch: new(ago(5 * time.Minute)), wantThrottled: metav1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := &cxv1alpha1.AlertRule{Spec: cxv1alpha1.AlertRuleSpec{Throttle: tc.throttle}}
			rule.Status.LastMatchTime = tc.lastMatch
			rule.Status.CasesOpened = 99
			clearIn := RecordCases(rule, tc.created, now)
			if rule.Status.CasesOpened != tc.wantOpened {
				t.Errorf("casesOpened = %d, want %d", rule.Status.CasesOpened, tc.wantOpened)
			}
			switch got := rule.Status.LastMatchTime; {
			case tc.wantLastMatch == nil && got != nil, tc.wantLastMatch != nil && (got == nil || !got.Time.Equal(*tc.wantLastMatch)):
				t.Errorf("lastMatchTime = %v, want %v", got, tc.wantLastMatch)
			}
			cond := apimeta.FindStatusCondition(rule.Status.Conditions, cxv1alpha1.ConditionThrottled)
			if cond == nil || cond.Status != tc.wantThrottled {
				t.Errorf("Throttled = %+v, want %s", cond, tc.wantThrottled)
			}
			if clearIn != tc.wantClearIn {
				t.Errorf("clears in %v, want %v", clearIn, tc.wantClearIn)
			}
		})
	}
}
