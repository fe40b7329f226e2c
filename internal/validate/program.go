package validate

import (
	"fmt"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
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

// Validate checks every object (AlertRule, CaseTemplate, Case,
// ReportSubscription, and that each touchpoint's questions make a rule
// environment) and the references between them: touchpoint selections,
// the channels of rules (actions.notify), templates (notifications,
// escalation) and reports (channels), the template of a rule's
// actions.openCase and of a Case, and a report's caseTemplates. It returns
// only the objects that have problems, in the order of the Program's
// fields and, within a kind, of the slices.
func (p *Program) Validate() []ObjectProblems {
	var out []ObjectProblems
	report := func(kind, name string, ps Problems) {
		if len(ps) > 0 {
			out = append(out, ObjectProblems{Kind: kind, Name: name, Problems: ps})
		}
	}
	channels := map[string]bool{}
	for _, c := range p.NotificationChannels {
		channels[c.Name] = true
	}
	templates := map[string]*cxv1alpha1.CaseTemplate{}
	for i := range p.CaseTemplates {
		templates[p.CaseTemplates[i].Name] = &p.CaseTemplates[i]
	}
	channel := func(ps *Problems, field, name string) {
		if !channels[name] {
			ps.add(field, cxv1alpha1.ReasonReferenceNotFound, fmt.Sprintf(
				"NotificationChannel %q not found%s; create it or fix the name", name, available(channels)))
		}
	}
	template := func(ps *Problems, field, name string) {
		if _, ok := templates[name]; !ok {
			ps.add(field, cxv1alpha1.ReasonReferenceNotFound, fmt.Sprintf(
				"CaseTemplate %q not found%s; create it or fix the name", name, available(templates)))
		}
	}

	for i := range p.Touchpoints {
		tp := &p.Touchpoints[i]
		var ps Problems
		if _, err := rules.NewResponseEnv(tp); err != nil {
			ps.add("spec.questions", cxv1alpha1.ReasonInvalidSpec, err.Error())
		}
		report(KindSurveyTouchpoint, tp.Name, ps)
	}

	for i := range p.AlertRules {
		rule := &p.AlertRules[i]
		selected, ps := SelectTouchpoints(rule.Spec.Touchpoints, p.Touchpoints)
		ps = append(ps, AlertRule(rule, selected)...)
		for j, n := range rule.Spec.Actions.Notify {
			channel(&ps, fmt.Sprintf("spec.actions.notify[%d].channel", j), n.Channel)
		}
		if oc := rule.Spec.Actions.OpenCase; oc != nil {
			template(&ps, "spec.actions.openCase.template", oc.Template)
		}
		report(KindAlertRule, rule.Name, ps)
	}

	for i := range p.CaseTemplates {
		t := &p.CaseTemplates[i]
		ps := CaseTemplate(t)
		for j, n := range t.Spec.Notifications {
			for k, c := range n.To.Channels {
				channel(&ps, fmt.Sprintf("spec.notifications[%d].to.channels[%d]", j, k), c)
			}
		}
		for j, step := range t.Spec.Escalation {
			if step.Notify == nil {
				continue
			}
			for k, c := range step.Notify.Channels {
				channel(&ps, fmt.Sprintf("spec.escalation[%d].notify.channels[%d]", j, k), c)
			}
		}
		report(KindCaseTemplate, t.Name, ps)
	}

	for i := range p.Cases {
		c := &p.Cases[i]
		report(KindCase, c.Name, Case(c, templates[c.Spec.Template]))
	}

	for i := range p.ReportSubscriptions {
		r := &p.ReportSubscriptions[i]
		ps := ReportSubscription(r)
		selected, sps := SelectTouchpoints(r.Spec.Touchpoints, p.Touchpoints)
		ps = append(ps, sps...)
		if len(selected) == 0 && len(sps) == 0 {
			ps.add("spec.touchpoints", cxv1alpha1.ReasonNoTouchpointSelected, fmt.Sprintf(
				"%s selects no SurveyTouchpoint; the report would be empty: fix spec.touchpoints.names "+
					"or spec.touchpoints.selector", describeSelection(r.Spec.Touchpoints)))
		}
		for j, c := range r.Spec.Channels {
			channel(&ps, fmt.Sprintf("spec.channels[%d]", j), c)
		}
		for j, t := range r.Spec.CaseTemplates {
			template(&ps, fmt.Sprintf("spec.caseTemplates[%d]", j), t)
		}
		report(KindReportSubscription, r.Name, ps)
	}
	return out
}
