package validate

import (
	"context"
	"fmt"
	"net/url"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/rules"
)

// Namespace is what a check reads about the other objects of the checked
// object's namespace. The controllers implement it over their cached
// client; Program.Validate over the manifests it was given, so that `cxloop
// validate` and the controllers run the same checks and print the same
// messages. An error is transient (a failed read), never a problem of the
// object.
type Namespace interface {
	// Touchpoints are the namespace's SurveyTouchpoints.
	Touchpoints(ctx context.Context) ([]cxv1alpha1.SurveyTouchpoint, error)
	// ChannelNames are the names of its NotificationChannels.
	ChannelNames(ctx context.Context) ([]string, error)
	// CaseTemplates are its CaseTemplates.
	CaseTemplates(ctx context.Context) ([]cxv1alpha1.CaseTemplate, error)
}

// refs checks names against one kind of object, read once.
type refs struct {
	kind  string
	names map[string]bool
}

func (r refs) require(ps *Problems, field, name string) {
	if r.names[name] {
		return
	}
	ps.add(field, cxv1alpha1.ReasonReferenceNotFound, fmt.Sprintf(
		"%s %q not found%s; create it or fix the name", r.kind, name, available(r.names)))
}

func channelRefs(ctx context.Context, ns Namespace) (refs, error) {
	names, err := ns.ChannelNames(ctx)
	if err != nil {
		return refs{}, fmt.Errorf("list notification channels: %w", err)
	}
	r := refs{kind: KindNotificationChannel, names: make(map[string]bool, len(names))}
	for _, n := range names {
		r.names[n] = true
	}
	return r, nil
}

func templateRefs(ctx context.Context, ns Namespace) (refs, error) {
	ts, err := ns.CaseTemplates(ctx)
	if err != nil {
		return refs{}, fmt.Errorf("list case templates: %w", err)
	}
	r := refs{kind: KindCaseTemplate, names: make(map[string]bool, len(ts))}
	for i := range ts {
		r.names[ts[i].Name] = true
	}
	return r, nil
}

// CheckAlertRule runs every check of an AlertRule: its touchpoint
// selection, AlertRule against the selected touchpoints, and the channels
// and template its actions name. It returns the selected touchpoints.
func CheckAlertRule(ctx context.Context, ns Namespace, rule *cxv1alpha1.AlertRule) (Problems, []cxv1alpha1.SurveyTouchpoint, error) {
	all, err := ns.Touchpoints(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list touchpoints: %w", err)
	}
	selected, ps := SelectTouchpoints(rule.Spec.Touchpoints, all)
	ps = append(ps, AlertRule(rule, selected)...)
	if len(rule.Spec.Actions.Notify) > 0 {
		channels, err := channelRefs(ctx, ns)
		if err != nil {
			return nil, nil, err
		}
		for i, n := range rule.Spec.Actions.Notify {
			channels.require(&ps, fmt.Sprintf("spec.actions.notify[%d].channel", i), n.Channel)
		}
	}
	if oc := rule.Spec.Actions.OpenCase; oc != nil {
		templates, err := templateRefs(ctx, ns)
		if err != nil {
			return nil, nil, err
		}
		templates.require(&ps, "spec.actions.openCase.template", oc.Template)
	}
	return ps, selected, nil
}

// CheckCaseTemplate runs every check of a CaseTemplate: CaseTemplate (its
// routes) and the channels of its notifications and escalation steps.
func CheckCaseTemplate(ctx context.Context, ns Namespace, t *cxv1alpha1.CaseTemplate) (Problems, error) {
	ps := CaseTemplate(t)
	var channels refs
	loaded := false
	require := func(field, name string) error {
		if !loaded {
			var err error
			if channels, err = channelRefs(ctx, ns); err != nil {
				return err
			}
			loaded = true
		}
		channels.require(&ps, field, name)
		return nil
	}
	for i, n := range t.Spec.Notifications {
		for j, ch := range n.To.Channels {
			if err := require(fmt.Sprintf("spec.notifications[%d].to.channels[%d]", i, j), ch); err != nil {
				return nil, err
			}
		}
	}
	for i, step := range t.Spec.Escalation {
		if step.Notify == nil {
			continue
		}
		for j, ch := range step.Notify.Channels {
			if err := require(fmt.Sprintf("spec.escalation[%d].notify.channels[%d]", i, j), ch); err != nil {
				return nil, err
			}
		}
	}
	if t.Spec.PeopleChannel != "" {
		if err := require("spec.peopleChannel", t.Spec.PeopleChannel); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// CheckReportSubscription runs every check of a ReportSubscription:
// ReportSubscription (schedule, time zone, goals, sections), its touchpoint
// selection (selecting none is a problem: the report would be empty), its
// channels and its caseTemplates. It returns the selected touchpoints.
func CheckReportSubscription(ctx context.Context, ns Namespace, r *cxv1alpha1.ReportSubscription) (Problems, []cxv1alpha1.SurveyTouchpoint, error) {
	ps := ReportSubscription(r)
	all, err := ns.Touchpoints(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list touchpoints: %w", err)
	}
	selected, sps := SelectTouchpoints(r.Spec.Touchpoints, all)
	ps = append(ps, sps...)
	if len(selected) == 0 && len(sps) == 0 {
		ps.add("spec.touchpoints", cxv1alpha1.ReasonNoTouchpointSelected, fmt.Sprintf(
			"%s selects no SurveyTouchpoint; the report would be empty: fix spec.touchpoints.names "+
				"or spec.touchpoints.selector", describeSelection(r.Spec.Touchpoints)))
	}
	if len(r.Spec.Channels) > 0 {
		channels, err := channelRefs(ctx, ns)
		if err != nil {
			return nil, nil, err
		}
		for i, c := range r.Spec.Channels {
			channels.require(&ps, fmt.Sprintf("spec.channels[%d]", i), c)
		}
	}
	if len(r.Spec.CaseTemplates) > 0 {
		templates, err := templateRefs(ctx, ns)
		if err != nil {
			return nil, nil, err
		}
		for i, t := range r.Spec.CaseTemplates {
			templates.require(&ps, fmt.Sprintf("spec.caseTemplates[%d]", i), t)
		}
	}
	return ps, selected, nil
}

// CheckCase runs Case against the Case's template, read from ns.
func CheckCase(ctx context.Context, ns Namespace, c *cxv1alpha1.Case) (Problems, error) {
	ts, err := ns.CaseTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("list case templates: %w", err)
	}
	for i := range ts {
		if ts[i].Name == c.Spec.Template {
			return Case(c, &ts[i]), nil
		}
	}
	return Case(c, nil), nil
}

// SurveyTouchpoint checks that the touchpoint's questions make a rule
// environment (the answers type rules compile against).
func SurveyTouchpoint(tp *cxv1alpha1.SurveyTouchpoint) Problems {
	var ps Problems
	if _, err := rules.NewResponseEnv(tp); err != nil {
		ps.add("spec.questions", cxv1alpha1.ReasonInvalidSpec, err.Error())
	}
	return ps
}

// NotificationChannel refuses, without resolving anything, destinations
// that are private addresses or cluster-internal names when the channel
// does not allow them (spec.allowPrivateDestinations). The notifier checks
// every resolved address again when it connects. The Secrets a channel
// reads are checked by the controller only: they are rarely in the
// manifests of a program.
func NotificationChannel(spec *cxv1alpha1.NotificationChannelSpec) Problems {
	if spec.AllowPrivateDestinations {
		return nil
	}
	var field, host string
	switch {
	case spec.Email != nil:
		field, host = "spec.email.smtp.host", spec.Email.SMTP.Host
	case spec.Webhook != nil && spec.Webhook.URL != "":
		u, err := url.Parse(spec.Webhook.URL)
		if err != nil {
			return nil // the CRD's rules report a malformed URL
		}
		field, host = "spec.webhook.url", u.Hostname()
	}
	reason := notify.PrivateHost(host)
	if host == "" || reason == "" {
		return nil
	}
	return Problems{{
		Field: field, Reason: cxv1alpha1.ReasonInvalidSpec,
		Message: fmt.Sprintf("destination %s is %s, which is refused so that notifications cannot reach internal services; set spec.allowPrivateDestinations: true if this is intended", host, reason),
	}}
}
