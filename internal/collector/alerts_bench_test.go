package collector

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

// benchRules returns n per-response rules of the shapes programs use:
// answer thresholds, yes/no, sentiment and themes, customer tier and
// metadata, each scoped to one store as programs with many rules are; the
// benchmark's response matches the rules of its store (one in 50).
func benchRules(n int) []cxv1alpha1.AlertRule {
	shapes := []string{
		"metadata.store == 'store-%d' && answers.ease <= 4 && customer.tier == 'Gold'",
		"answers.completed == false && metadata.store == 'store-%d'",
		"metadata.store == 'store-%d' && sentiment < -0.5 && has_theme('refund')",
		"answers.recommend <= 6 && customer.segment == 'enterprise' && metadata.store == 'store-%d'",
		"metadata.store == 'store-%d' && comment.contains('crash') && answers.ease < 5",
	}
	out := make([]cxv1alpha1.AlertRule, n)
	for i := range out {
		out[i] = cxv1alpha1.AlertRule{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rule-%04d", i)},
			Spec: cxv1alpha1.AlertRuleSpec{
				Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"upgrade-install"}},
				Condition:   fmt.Sprintf(shapes[i%len(shapes)], i/len(shapes)%50),
				Actions: cxv1alpha1.AlertActions{
					OpenCase: &cxv1alpha1.OpenCaseAction{Template: "installation-support"},
					Notify:   []cxv1alpha1.NotifyAction{{Channel: "support"}},
				},
			},
		}
	}
	return out
}

// BenchmarkRuleEvaluation is the cost per response of evaluating every
// compiled rule of the touchpoint and building the outbox actions of the
// matches (ns/op is per response).
func BenchmarkRuleEvaluation(b *testing.B) {
	tp := installTouchpoint()
	tp.Spec.TextAnalytics = &cxv1alpha1.TextAnalyticsSpec{Themes: []cxv1alpha1.Theme{{Name: "refund", Keywords: []string{"refund"}}}}
	resp := &rules.Response{
		ID: "r-1", Touchpoint: tp.Name,
		Customer:  rules.Customer{ID: "C-1", Tier: "Gold", Segment: "enterprise", Attributes: map[string]string{"region": "emea"}},
		Answers:   map[string]any{"ease": int64(3), "completed": false, "recommend": int64(4), "os": "linux"},
		Comment:   "The installer crashed twice and I want a refund.",
		Sentiment: -0.6, Themes: []string{"refund"},
		Metadata:    map[string]string{"store": "store-3", "agent": "Priya"},
		SubmittedAt: testNow,
	}
	sentiment := -0.6
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			rs, err := compileRules(tp, benchRules(n))
			if err != nil {
				b.Fatal(err)
			}
			if len(rs.rules) != n {
				b.Fatalf("%d of %d rules compiled: %v", len(rs.rules), n, rs.skipped)
			}
			matched := 0
			b.ReportAllocs()
			for b.Loop() {
				m, err := rs.evaluate("acme", resp, &sentiment, testNow.Add(time.Minute))
				if err != nil {
					b.Fatal(err)
				}
				matched = len(m.rules)
			}
			b.ReportMetric(float64(matched), "matches/response")
		})
	}
}
