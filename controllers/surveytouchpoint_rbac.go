package controllers

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// collectorSecretNames are the Secrets a touchpoint's collector may read:
// those its touchpoint names, and those of the NotificationChannels that
// the namespace's AlertRules selecting the touchpoint notify and of its
// staff directory's channel. A channel that
// does not exist (yet) names none; its creation brings the touchpoint back
// (the channel watch), and the Role follows.
func collectorSecretNames(ctx context.Context, c client.Reader, tp *cxv1alpha1.SurveyTouchpoint) ([]string, error) {
	var names []string
	for _, ref := range secretRefs(tp) {
		names = append(names, ref.Name)
	}
	var rules cxv1alpha1.AlertRuleList
	if err := c.List(ctx, &rules, client.InNamespace(tp.Namespace)); err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	var channels []string
	// The channels that carry the touchpoint's invitations to customers.
	if d := tp.Spec.Distribution; d != nil {
		for _, ref := range []*cxv1alpha1.ChannelRef{d.Email, d.SMS} {
			if ref != nil {
				channels = append(channels, ref.Channel)
			}
		}
	}
	for i := range rules.Items {
		r := &rules.Items[i]
		if selected, _ := validate.SelectTouchpoints(r.Spec.Touchpoints, []cxv1alpha1.SurveyTouchpoint{*tp}); len(selected) == 0 {
			continue
		}
		for _, n := range r.Spec.Actions.Notify {
			channels = append(channels, n.Channel)
		}
	}
	if d := tp.Spec.StaffDirectory; d != nil {
		channels = append(channels, d.Channel)
	}
	slices.Sort(channels)
	for _, name := range slices.Compact(channels) {
		ch := &cxv1alpha1.NotificationChannel{}
		err := c.Get(ctx, client.ObjectKey{Namespace: tp.Namespace, Name: name}, ch)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("get notification channel %s: %w", name, err)
		}
		if err != nil {
			continue
		}
		for _, need := range channelSecrets(&ch.Spec) {
			names = append(names, need.name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
