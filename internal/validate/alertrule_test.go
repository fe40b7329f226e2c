package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestAlertRuleValid(t *testing.T) {
	tps := touchpoints()
	for _, rule := range []*cxv1alpha1.AlertRule{
		conditionRule("answers.completed == false", "upgrade-install"),
		conditionRule("answers.completed == false", "upgrade-install", "relationship-nps"),
		conditionRule("has(answers.ease) && answers.ease <= 5", "upgrade-install"),
		aggregateRule(cxv1alpha1.AggregateNPS, "", "value < 30.0 || (has_previous && delta < -10.0)", "relationship-nps"),
		aggregateRule(cxv1alpha1.AggregateCES, "ease", "value < 5", "upgrade-install"),
		aggregateRule(cxv1alpha1.AggregateResponseCount, "", "count < 10", "upgrade-install"),
		aggregateRule(cxv1alpha1.AggregateSentiment, "", "value < 0", "upgrade-install"),
	} {
		selected, ps := SelectTouchpoints(rule.Spec.Touchpoints, tps)
		ps = append(ps, AlertRule(rule, selected)...)
		if len(ps) > 0 {
			t.Errorf("%s %q: unexpected problems:\n%s", rule.Name, rule.Spec.Condition, ps)
		}
	}
	rule := conditionRule("answers.completed == false", "upgrade-install")
	rule.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 72 * 3600e9}}
	if ps := AlertRule(rule, tps[:1]); len(ps) > 0 {
		t.Errorf("dedup: unexpected problems:\n%s", ps)
	}
}

func TestAlertRuleProblems(t *testing.T) {
	install, nps := upgradeInstall(), relationshipNPS()
	both := []cxv1alpha1.SurveyTouchpoint{install, nps}
	noSentiment := func(tp cxv1alpha1.SurveyTouchpoint) cxv1alpha1.SurveyTouchpoint {
		tp.Spec.TextAnalytics = &cxv1alpha1.TextAnalyticsSpec{Sentiment: false}
		return tp
	}
	withDedup := func(key string) *cxv1alpha1.AlertRule {
		r := conditionRule("answers.completed == false", "upgrade-install")
		r.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: key, Window: cxv1alpha1.Duration{Duration: 72 * 3600e9}}
		return r
	}
	labelRule := conditionRule("answers.completed == false")
	labelRule.Spec.Touchpoints.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "onboarding"}}

	tests := []struct {
		name     string
		rule     *cxv1alpha1.AlertRule
		selected []cxv1alpha1.SurveyTouchpoint
		want     []Problem
	}{
		{
			name:     "no touchpoint selected by name",
			rule:     conditionRule("answers.completed == false", "upgrade"),
			selected: nil,
			want: []Problem{{
				Field:   "spec.touchpoints",
				Reason:  cxv1alpha1.ReasonNoTouchpointSelected,
				Message: `spec.touchpoints (names "upgrade") selects no SurveyTouchpoint; the rule watches nothing until a touchpoint matches: fix spec.touchpoints.names or spec.touchpoints.selector`,
			}},
		},
		{
			name:     "no touchpoint selected by label",
			rule:     labelRule,
			selected: nil,
			want: []Problem{{
				Field:   "spec.touchpoints",
				Reason:  cxv1alpha1.ReasonNoTouchpointSelected,
				Message: `spec.touchpoints (selector {journey=onboarding}) selects no SurveyTouchpoint; the rule watches nothing until a touchpoint matches: fix spec.touchpoints.names or spec.touchpoints.selector`,
			}},
		},
		{
			name:     "undeclared variable",
			rule:     conditionRule("answrs.completed == false", "upgrade-install"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.condition",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoint "upgrade-install": 1:1: undeclared reference to 'answrs' (variables: answers, comment, sentiment, themes, customer, metadata, touchpoint, submittedAt, predicted)`,
			}},
		},
		{
			name:     "question of one touchpoint only",
			rule:     conditionRule("answers.ease <= 5", "upgrade-install", "relationship-nps"),
			selected: both,
			want: []Problem{{
				Field:   "spec.condition",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoint "relationship-nps": 1:8: undefined field 'ease' (questions of touchpoint "relationship-nps": nps, completed)`,
			}},
		},
		{
			name:     "same error against every touchpoint is reported once",
			rule:     conditionRule("answers.completed == 5", "upgrade-install", "relationship-nps"),
			selected: both,
			want: []Problem{{
				Field:   "spec.condition",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoints "upgrade-install", "relationship-nps": 1:19: found no matching overload for '_==_' applied to '(bool, int)'`,
			}},
		},
		{
			name:     "condition is not bool",
			rule:     conditionRule("answers.ease", "upgrade-install"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.condition",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoint "upgrade-install": 1:1: expression must evaluate to bool, but has type int`,
			}},
		},
		{
			name:     "aggregate condition does not compile",
			rule:     aggregateRule(cxv1alpha1.AggregateNPS, "", "nps < 30", "relationship-nps"),
			selected: []cxv1alpha1.SurveyTouchpoint{nps},
			want: []Problem{{
				Field:   "spec.aggregate.condition",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `1:1: undeclared reference to 'nps' (variables: value, previous, delta, has_previous, count, group)`,
			}},
		},
		{
			name:     "aggregate condition checked without touchpoints",
			rule:     aggregateRule(cxv1alpha1.AggregateNPS, "", "value", "gone"),
			selected: nil,
			want: []Problem{
				{
					Field:   "spec.touchpoints",
					Reason:  cxv1alpha1.ReasonNoTouchpointSelected,
					Message: `spec.touchpoints (names "gone") selects no SurveyTouchpoint; the rule watches nothing until a touchpoint matches: fix spec.touchpoints.names or spec.touchpoints.selector`,
				},
				{
					Field:   "spec.aggregate.condition",
					Reason:  cxv1alpha1.ReasonInvalidExpression,
					Message: `1:1: expression must evaluate to bool, but has type double`,
				},
			},
		},
		{
			name:     "aggregate question does not exist",
			rule:     aggregateRule(cxv1alpha1.AggregateNPS, "ltr", "value < 30.0", "relationship-nps"),
			selected: []cxv1alpha1.SurveyTouchpoint{nps},
			want: []Problem{{
				Field:   "spec.aggregate.question",
				Reason:  cxv1alpha1.ReasonInvalidSpec,
				Message: `question "ltr" is in none of the selected touchpoints ("relationship-nps"); questions feeding NPS: relationship-nps/nps (touchpoint/question); set aggregate.question to one of them or remove it to use them all`,
			}},
		},
		{
			name:     "aggregate question feeds another KPI",
			rule:     aggregateRule(cxv1alpha1.AggregateNPS, "ease", "value < 30.0", "upgrade-install", "relationship-nps"),
			selected: both,
			want: []Problem{{
				Field:   "spec.aggregate.question",
				Reason:  cxv1alpha1.ReasonInvalidSpec,
				Message: `question "ease" of touchpoint "upgrade-install" (Rating) feeds CES, not NPS; questions feeding NPS: relationship-nps/nps (touchpoint/question); set aggregate.question to one of them or remove it to use them all`,
			}},
		},
		{
			name:     "aggregate question feeds no KPI",
			rule:     aggregateRule(cxv1alpha1.AggregateCSAT, "completed", "value < 80.0", "upgrade-install"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.aggregate.question",
				Reason:  cxv1alpha1.ReasonInvalidSpec,
				Message: `question "completed" of touchpoint "upgrade-install" (YesNo) feeds no KPI, not CSAT; no question there feeds CSAT: add one, or choose another metric`,
			}},
		},
		{
			name:     "no question feeds the metric",
			rule:     aggregateRule(cxv1alpha1.AggregateNPS, "", "value < 30.0", "upgrade-install"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.aggregate.metric",
				Reason:  cxv1alpha1.ReasonInvalidSpec,
				Message: `no question of the selected touchpoints ("upgrade-install") feeds the NPS KPI; add a question of type NPS (or with kpi: NPS) or choose another metric`,
			}},
		},
		{
			name:     "sentiment is off everywhere",
			rule:     aggregateRule(cxv1alpha1.AggregateSentiment, "", "value < 0.0", "upgrade-install", "relationship-nps"),
			selected: []cxv1alpha1.SurveyTouchpoint{noSentiment(install), noSentiment(nps)},
			want: []Problem{{
				Field:   "spec.aggregate.metric",
				Reason:  cxv1alpha1.ReasonInvalidSpec,
				Message: `metric Sentiment needs sentiment scores, but textAnalytics.sentiment is false on "upgrade-install", "relationship-nps"; enable it on the touchpoint or choose another metric`,
			}},
		},
		{
			name:     "dedup key does not compile",
			rule:     withDedup("customer.email"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.dedup.key",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoint "upgrade-install": 1:9: undefined field 'email'`,
			}},
		},
		{
			name:     "dedup key is not a string",
			rule:     withDedup("answers.ease"),
			selected: []cxv1alpha1.SurveyTouchpoint{install},
			want: []Problem{{
				Field:   "spec.dedup.key",
				Reason:  cxv1alpha1.ReasonInvalidExpression,
				Message: `against touchpoint "upgrade-install": 1:1: expression must evaluate to string, but has type int`,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblems(t, AlertRule(tt.rule, tt.selected), tt.want...)
		})
	}
}

func TestAlertRuleUnusableTouchpoint(t *testing.T) {
	tp := upgradeInstall()
	tp.Spec.Questions[0].Type = "Slider"
	ps := AlertRule(conditionRule("answers.completed == false", "upgrade-install"), []cxv1alpha1.SurveyTouchpoint{tp})
	wantProblems(t, ps, Problem{
		Field:   "spec.touchpoints",
		Reason:  cxv1alpha1.ReasonInvalidSpec,
		Message: `touchpoint "upgrade-install": question "ease" has unknown type "Slider"; fix the SurveyTouchpoint`,
	})
}
