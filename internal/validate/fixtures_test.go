package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// The seed program: an upgrade-installation survey and a relationship NPS
// survey.

func upgradeInstall() cxv1alpha1.SurveyTouchpoint {
	return cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "upgrade-install", Labels: map[string]string{"journey": "upgrade"}},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}, KPI: cxv1alpha1.KPICES},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo},
			},
		},
	}
}

func relationshipNPS() cxv1alpha1.SurveyTouchpoint {
	return cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "relationship-nps", Labels: map[string]string{"journey": "relationship"}},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "nps", Text: "How likely are you to recommend Acme?", Type: cxv1alpha1.QuestionNPS},
				{ID: "completed", Text: "Did we solve your problem?", Type: cxv1alpha1.QuestionYesNo},
			},
		},
	}
}

func touchpoints() []cxv1alpha1.SurveyTouchpoint {
	return []cxv1alpha1.SurveyTouchpoint{upgradeInstall(), relationshipNPS()}
}

func conditionRule(condition string, names ...string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Name: "install-failed"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Kind:        cxv1alpha1.AlertEscalation,
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: names},
			Condition:   condition,
			Actions: cxv1alpha1.AlertActions{
				Notify:   []cxv1alpha1.NotifyAction{{Channel: "cx-team"}},
				OpenCase: &cxv1alpha1.OpenCaseAction{Template: "installation-followup"},
			},
		},
	}
}

func aggregateRule(metric cxv1alpha1.AggregateMetric, question, condition string, names ...string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Name: "nps-drop"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Kind:        cxv1alpha1.AlertEscalation,
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: names},
			Aggregate: &cxv1alpha1.AggregateCondition{
				Metric:    metric,
				Question:  question,
				Window:    cxv1alpha1.Duration{Duration: 24 * 3600e9},
				Condition: condition,
			},
			Actions: cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{{Channel: "cx-team"}}},
		},
	}
}

func caseTemplate() *cxv1alpha1.CaseTemplate {
	return &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "installation-followup"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}},
			Routes: []cxv1alpha1.Route{
				{Name: "emea", When: "customer.attributes.region == 'emea'", Assignee: "jonas"},
				{Name: "gold", When: "customer.tier == 'Gold'", Assignee: "ana"},
			},
			Notifications: []cxv1alpha1.EventNotification{
				{Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened}, To: cxv1alpha1.Recipients{Assignee: true, Channels: []string{"cx-team"}}},
			},
			Escalation: []cxv1alpha1.EscalationStep{
				{Name: "tell-managers", Notify: &cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"cx-managers"}}},
			},
			Closure: cxv1alpha1.ClosureRequirements{
				RootCauses:               []string{"documentation-gap", "product-defect", "download-failure"},
				RequireCustomerRecovered: true,
			},
		},
	}
}

func report() *cxv1alpha1.ReportSubscription {
	target := 40.0
	return &cxv1alpha1.ReportSubscription{
		ObjectMeta: metav1.ObjectMeta{Name: "weekly-install"},
		Spec: cxv1alpha1.ReportSubscriptionSpec{
			Schedule:      "0 8 * * MON",
			TimeZone:      "Europe/Berlin",
			Touchpoints:   cxv1alpha1.TouchpointSelection{Names: []string{"upgrade-install"}},
			Sections:      []cxv1alpha1.ReportSection{cxv1alpha1.SectionKPIs, cxv1alpha1.SectionGoals},
			Goals:         []cxv1alpha1.Goal{{KPI: cxv1alpha1.KPINPS, Target: &target, By: "2026-12-31"}},
			CaseTemplates: []string{"installation-followup"},
			Channels:      []string{"cx-team"},
		},
	}
}

func channel(name string) cxv1alpha1.NotificationChannel {
	return cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       cxv1alpha1.NotificationChannelSpec{Type: cxv1alpha1.ChannelTypeSlack},
	}
}

// wantProblems compares problems field by field, with whole messages.
func wantProblems(t *testing.T, got Problems, want ...Problem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d:\n got: %+v\nwant: %+v", i, got[i], want[i])
		}
	}
}
