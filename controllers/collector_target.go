package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// CollectorTargets resolves where the manager reaches a touchpoint's
// collector (its private surface) and the credential it sends there (the
// token of the collector API Secret).
type CollectorTargets struct {
	// Reader reads the collector API Secret (the manager's API reader:
	// Secret data is not cached).
	Reader client.Reader
	// Endpoint overrides the private surface's in-cluster URL (tests, the
	// in-process demo, a manager outside the cluster).
	Endpoint func(tp *cxv1alpha1.SurveyTouchpoint) string
}

// Target is the private API of tp's collector with its credential.
func (c CollectorTargets) Target(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (collectorclient.Target, error) {
	endpoint := collectorPrivateEndpoint(tp)
	if c.Endpoint != nil {
		endpoint = c.Endpoint(tp)
	}
	secret := &corev1.Secret{}
	if err := c.Reader.Get(ctx, client.ObjectKey{Namespace: tp.Namespace, Name: CollectorAPISecretName(tp)}, secret); err != nil {
		return collectorclient.Target{}, fmt.Errorf("read the collector API token of touchpoint %s: %w", tp.Name, err)
	}
	token := string(secret.Data[CollectorAPITokenKey])
	if token == "" {
		return collectorclient.Target{}, fmt.Errorf("secret %s has no key %s: the collector API token of touchpoint %s", secret.Name, CollectorAPITokenKey, tp.Name)
	}
	return collectorclient.Target{Endpoint: endpoint, Token: token}, nil
}
