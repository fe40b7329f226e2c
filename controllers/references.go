package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// clientNamespace is the validate.Namespace of one namespace, read through
// the controller's (cached) client: the controllers and `cxloop validate`
// run the same checks of internal/validate over it.
type clientNamespace struct {
	c         client.Reader
	namespace string
}

var _ validate.Namespace = clientNamespace{}

func (n clientNamespace) Touchpoints(ctx context.Context) ([]cxv1alpha1.SurveyTouchpoint, error) {
	var l cxv1alpha1.SurveyTouchpointList
	if err := n.c.List(ctx, &l, client.InNamespace(n.namespace)); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (n clientNamespace) ChannelNames(ctx context.Context) ([]string, error) {
	var l cxv1alpha1.NotificationChannelList
	if err := n.c.List(ctx, &l, client.InNamespace(n.namespace)); err != nil {
		return nil, err
	}
	names := make([]string, len(l.Items))
	for i := range l.Items {
		names[i] = l.Items[i].Name
	}
	return names, nil
}

func (n clientNamespace) CaseTemplates(ctx context.Context) ([]cxv1alpha1.CaseTemplate, error) {
	var l cxv1alpha1.CaseTemplateList
	if err := n.c.List(ctx, &l, client.InNamespace(n.namespace)); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// createOrDelete passes only creations and deletions: the controllers that
// use it care whether a referenced object exists, not what it says.
func createOrDelete() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(event.UpdateEvent) bool { return false },
	}
}
