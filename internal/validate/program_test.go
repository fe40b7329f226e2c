package validate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func seedProgram() *Program {
	return &Program{
		Touchpoints: touchpoints(),
		AlertRules: []cxv1alpha1.AlertRule{
			*conditionRule("answers.completed == false", "upgrade-install"),
			*aggregateRule(cxv1alpha1.AggregateNPS, "nps", "value < 30.0", "relationship-nps"),
		},
		CaseTemplates:        []cxv1alpha1.CaseTemplate{*caseTemplate()},
		Cases:                []cxv1alpha1.Case{*testCaseObject(cxv1alpha1.CaseOpen, nil)},
		ReportSubscriptions:  []cxv1alpha1.ReportSubscription{*report()},
		NotificationChannels: []cxv1alpha1.NotificationChannel{channel("cx-team"), channel("cx-managers")},
	}
}

func TestProgramValid(t *testing.T) {
	if got := seedProgram().Validate(); len(got) > 0 {
		t.Fatalf("seed program has problems: %+v", got)
	}
}

func TestProgramReferences(t *testing.T) {
	p := seedProgram()
	p.NotificationChannels = []cxv1alpha1.NotificationChannel{channel("cx-team")} // no cx-managers
	rule := &p.AlertRules[0]
	rule.Spec.Touchpoints.Names = []string{"upgrade-install", "renewal"}
	rule.Spec.Actions.Notify = append(rule.Spec.Actions.Notify, cxv1alpha1.NotifyAction{Channel: "product-team"})
	rule.Spec.Actions.OpenCase.Template = "install-followup"
	p.AlertRules[1].Spec.Touchpoints = cxv1alpha1.TouchpointSelection{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "onboarding"}},
	}
	p.CaseTemplates[0].Spec.Notifications[0].To.Channels = []string{"cx-team", "frontline"}
	p.Cases = append(p.Cases, *testCaseObject(cxv1alpha1.CaseOpen, nil))
	p.Cases[1].Name = "orphan"
	p.Cases[1].Spec.Template = "gone"
	p.Cases[0].Spec.State = cxv1alpha1.CaseResolved
	p.Cases[0].Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "user-error", Summary: "explained"}
	p.ReportSubscriptions[0].Spec.Touchpoints = cxv1alpha1.TouchpointSelection{Names: []string{"renewal"}}
	p.ReportSubscriptions[0].Spec.Channels = []string{"cx-team", "exec-email"}
	p.ReportSubscriptions[0].Spec.CaseTemplates = []string{"installation-followup", "billing"}
	p.ReportSubscriptions[0].Spec.TimeZone = "Mars/Olympus"
	p.ReportSubscriptions = append(p.ReportSubscriptions, *report())
	p.ReportSubscriptions[1].Name = "nothing-selected"
	p.ReportSubscriptions[1].Spec.Touchpoints = cxv1alpha1.TouchpointSelection{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"journey": "onboarding"}},
	}
	channels := `(existing: "cx-team")`
	templates := `(existing: "installation-followup")`

	want := []ObjectProblems{
		{Kind: KindAlertRule, Name: "install-failed", Problems: Problems{
			{Field: "spec.touchpoints.names[1]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `SurveyTouchpoint "renewal" not found (existing: "relationship-nps", "upgrade-install"); create it or fix the name`},
			{Field: "spec.actions.notify[1].channel", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `NotificationChannel "product-team" not found ` + channels + `; create it or fix the name`},
			{Field: "spec.actions.openCase.template", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `CaseTemplate "install-followup" not found ` + templates + `; create it or fix the name`},
		}},
		{Kind: KindAlertRule, Name: "nps-drop", Problems: Problems{
			{Field: "spec.touchpoints", Reason: cxv1alpha1.ReasonNoTouchpointSelected,
				Message: `spec.touchpoints (selector {journey=onboarding}) selects no SurveyTouchpoint; the rule watches nothing until a touchpoint matches: fix spec.touchpoints.names or spec.touchpoints.selector`},
		}},
		{Kind: KindCaseTemplate, Name: "installation-followup", Problems: Problems{
			{Field: "spec.notifications[0].to.channels[1]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `NotificationChannel "frontline" not found ` + channels + `; create it or fix the name`},
			{Field: "spec.escalation[0].notify.channels[0]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `NotificationChannel "cx-managers" not found ` + channels + `; create it or fix the name`},
		}},
		{Kind: KindCase, Name: "install-failed-c-42", Problems: Problems{
			{Field: "spec.resolution.rootCause", Reason: cxv1alpha1.ReasonInvalidRootCause,
				Message: `root cause "user-error" is not one of CaseTemplate "installation-followup"'s closure.rootCauses; use one of: "documentation-gap", "product-defect", "download-failure"`},
		}},
		{Kind: KindCase, Name: "orphan", Problems: Problems{
			{Field: "spec.template", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `CaseTemplate "gone" not found; create it (the template of a Case cannot be changed)`},
		}},
		{Kind: KindReportSubscription, Name: "weekly-install", Problems: Problems{
			{Field: "spec.timeZone", Reason: cxv1alpha1.ReasonUnknownTimeZone,
				Message: `unknown time zone "Mars/Olympus"; use an IANA name such as Europe/Berlin, America/New_York or UTC`},
			{Field: "spec.touchpoints.names[0]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `SurveyTouchpoint "renewal" not found (existing: "relationship-nps", "upgrade-install"); create it or fix the name`},
			{Field: "spec.channels[1]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `NotificationChannel "exec-email" not found ` + channels + `; create it or fix the name`},
			{Field: "spec.caseTemplates[1]", Reason: cxv1alpha1.ReasonReferenceNotFound,
				Message: `CaseTemplate "billing" not found ` + templates + `; create it or fix the name`},
		}},
		{Kind: KindReportSubscription, Name: "nothing-selected", Problems: Problems{
			{Field: "spec.touchpoints", Reason: cxv1alpha1.ReasonNoTouchpointSelected,
				Message: `spec.touchpoints (selector {journey=onboarding}) selects no SurveyTouchpoint; the report would be empty: fix spec.touchpoints.names or spec.touchpoints.selector`},
		}},
	}
	got := p.Validate()
	if len(got) != len(want) {
		for _, o := range got {
			t.Logf("%s %s:\n%s", o.Kind, o.Name, o.Problems)
		}
		t.Fatalf("got problems for %d objects, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].Name != want[i].Name {
			t.Errorf("object %d is %s %s, want %s %s", i, got[i].Kind, got[i].Name, want[i].Kind, want[i].Name)
			continue
		}
		t.Run(want[i].Kind+"/"+want[i].Name, func(t *testing.T) {
			wantProblems(t, got[i].Problems, want[i].Problems...)
		})
	}
}

func TestProgramConditionAgainstTouchpoints(t *testing.T) {
	p := seedProgram()
	p.AlertRules[0].Spec.Condition = "answers.ease <= 5"
	p.AlertRules[0].Spec.Touchpoints = cxv1alpha1.TouchpointSelection{Selector: &metav1.LabelSelector{}}
	got := p.Validate()
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	wantProblems(t, got[0].Problems, Problem{
		Field: "spec.condition", Reason: cxv1alpha1.ReasonInvalidExpression,
		Message: `against touchpoint "relationship-nps": 1:8: undefined field 'ease' (questions of touchpoint "relationship-nps": nps, completed)`,
	})
}

func TestProgramTouchpoint(t *testing.T) {
	p := seedProgram()
	p.Touchpoints[1].Spec.Questions = append(p.Touchpoints[1].Spec.Questions, cxv1alpha1.Question{ID: "nps", Type: cxv1alpha1.QuestionNPS})
	got := p.Validate()
	if len(got) == 0 || got[0].Kind != KindSurveyTouchpoint {
		t.Fatalf("got %+v", got)
	}
	wantProblems(t, got[0].Problems, Problem{
		Field: "spec.questions", Reason: cxv1alpha1.ReasonInvalidSpec,
		Message: `touchpoint "relationship-nps": question id "nps" appears twice`,
	})
}
