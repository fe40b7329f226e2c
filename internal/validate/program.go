package validate

import (
	"context"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Program is the set of objects of one namespace: a CX program.
type Program struct {
	Touchpoints          []cxv1alpha1.SurveyTouchpoint
	AlertRules           []cxv1alpha1.AlertRule
	CaseTemplates        []cxv1alpha1.CaseTemplate
	Cases                []cxv1alpha1.Case
	ReportSubscriptions  []cxv1alpha1.ReportSubscription
	NotificationChannels []cxv1alpha1.NotificationChannel
}

// ObjectProblems are the problems of one object.
type ObjectProblems struct {
	// Kind of the object, for example "AlertRule".
	Kind string
	// Name of the object.
	Name string
	// Problems found.
	Problems Problems
}

// Kinds, as ObjectProblems name them.
const (
	KindSurveyTouchpoint    = "SurveyTouchpoint"
	KindAlertRule           = "AlertRule"
	KindCaseTemplate        = "CaseTemplate"
	KindCase                = "Case"
	KindReportSubscription  = "ReportSubscription"
	KindNotificationChannel = "NotificationChannel"
)

// Validate checks every object with the checks the controllers run
// (CheckAlertRule, CheckCaseTemplate, CheckCase, CheckReportSubscription,
// NotificationChannel, and SurveyTouchpoint for each touchpoint's
// questions), looking the references up among the Program's objects. It
// returns only the objects that have problems, in the order of the
// Program's fields and, within a kind, of the slices.
func (p *Program) Validate() []ObjectProblems {
	ctx := context.Background()
	ns := programNamespace{p}
	var out []ObjectProblems
	report := func(kind, name string, ps Problems, err error) {
		if err != nil {
			// programNamespace never fails.
			ps = append(ps, Problem{Message: err.Error(), Reason: cxv1alpha1.ReasonInvalidSpec})
		}
		if len(ps) > 0 {
			out = append(out, ObjectProblems{Kind: kind, Name: name, Problems: ps})
		}
	}
	for i := range p.Touchpoints {
		report(KindSurveyTouchpoint, p.Touchpoints[i].Name, SurveyTouchpoint(&p.Touchpoints[i]), nil)
	}
	for i := range p.AlertRules {
		ps, _, err := CheckAlertRule(ctx, ns, &p.AlertRules[i])
		report(KindAlertRule, p.AlertRules[i].Name, ps, err)
	}
	for i := range p.CaseTemplates {
		ps, err := CheckCaseTemplate(ctx, ns, &p.CaseTemplates[i])
		report(KindCaseTemplate, p.CaseTemplates[i].Name, ps, err)
	}
	for i := range p.Cases {
		ps, err := CheckCase(ctx, ns, &p.Cases[i])
		report(KindCase, p.Cases[i].Name, ps, err)
	}
	for i := range p.ReportSubscriptions {
		ps, _, err := CheckReportSubscription(ctx, ns, &p.ReportSubscriptions[i])
		report(KindReportSubscription, p.ReportSubscriptions[i].Name, ps, err)
	}
	for i := range p.NotificationChannels {
		report(KindNotificationChannel, p.NotificationChannels[i].Name, NotificationChannel(&p.NotificationChannels[i].Spec), nil)
	}
	return out
}

// programNamespace is a Namespace over a Program's objects.
type programNamespace struct{ p *Program }

func (n programNamespace) Touchpoints(context.Context) ([]cxv1alpha1.SurveyTouchpoint, error) {
	return n.p.Touchpoints, nil
}

func (n programNamespace) ChannelNames(context.Context) ([]string, error) {
	names := make([]string, len(n.p.NotificationChannels))
	for i := range n.p.NotificationChannels {
		names[i] = n.p.NotificationChannels[i].Name
	}
	return names, nil
}

func (n programNamespace) CaseTemplates(context.Context) ([]cxv1alpha1.CaseTemplate, error) {
	return n.p.CaseTemplates, nil
}
