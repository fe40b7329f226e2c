package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// CollectorArchiver archives closed Cases into the program's store through
// a collector's archive API: the collector of the Case's touchpoint, or,
// for a Case without one (opened by hand or by an aggregate rule), the
// first touchpoint of the namespace by name. With PostgreSQL every
// collector of a program shares the store, so any of them will do.
type CollectorArchiver struct {
	// Client reads touchpoints (the manager's cache).
	Client client.Reader
	// APIReader reads the collector API Secret (uncached).
	APIReader client.Reader
	// Collectors talks to collectors (default: a 30 s timeout client).
	Collectors *collectorclient.Client
	// Endpoint overrides the collector's private surface URL (tests, the
	// in-process demo).
	Endpoint func(tp *cxv1alpha1.SurveyTouchpoint) string
}

var _ CaseArchiver = (*CollectorArchiver)(nil)

// ArchiveCase stores the Case's JSON in the store behind its collector.
func (a *CollectorArchiver) ArchiveCase(ctx context.Context, c *cxv1alpha1.Case) error {
	tp, err := a.touchpointOf(ctx, c)
	if err != nil {
		return err
	}
	target, err := CollectorTargets{Reader: a.APIReader, Endpoint: a.Endpoint}.Target(ctx, tp)
	if err != nil {
		return fmt.Errorf("archive case %s: %w", c.Name, err)
	}
	doc, err := ArchiveDocument(c)
	if err != nil {
		return err
	}
	closedAt := time.Now()
	if c.Status.ClosedAt != nil {
		closedAt = c.Status.ClosedAt.Time
	}
	cl := a.Collectors
	if cl == nil {
		cl = collectorclient.New(nil)
	}
	if err := cl.ArchiveCase(ctx, target, c.Name, closedAt, doc); err != nil {
		return fmt.Errorf("archive case %s through the collector of touchpoint %s: %w", c.Name, tp.Name, err)
	}
	return nil
}

func (a *CollectorArchiver) touchpointOf(ctx context.Context, c *cxv1alpha1.Case) (*cxv1alpha1.SurveyTouchpoint, error) {
	if src := c.Spec.Source; src != nil && src.Touchpoint != "" {
		tp := &cxv1alpha1.SurveyTouchpoint{}
		err := a.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: src.Touchpoint}, tp)
		if err == nil {
			return tp, nil
		}
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("archive case %s: read touchpoint %s: %w", c.Name, src.Touchpoint, err)
		}
	}
	var list cxv1alpha1.SurveyTouchpointList
	if err := a.Client.List(ctx, &list, client.InNamespace(c.Namespace)); err != nil {
		return nil, fmt.Errorf("archive case %s: list touchpoints: %w", c.Name, err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("archive case %s: namespace %s has no SurveyTouchpoint whose store could keep it", c.Name, c.Namespace)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return &list.Items[0], nil
}
