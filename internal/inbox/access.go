package inbox

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// maxCachedIdentities bounds the per-person caches (clients, access
// decisions); past it the oldest entries go.
const maxCachedIdentities = 2000

// impersonator hands out API clients that act as a person: every request
// carries Impersonate-User and Impersonate-Group, so the API server applies
// that person's RBAC and the admission policies see them as the requester.
// The clients share one connection pool and REST mapper.
type impersonator struct {
	cfg    *rest.Config
	base   http.RoundTripper
	scheme *runtime.Scheme
	mapper meta.RESTMapper

	mu      sync.Mutex
	clients map[string]client.Client
	order   []string
}

func newImpersonator(cfg *rest.Config, scheme *runtime.Scheme, mapper meta.RESTMapper) (*impersonator, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("inbox API client: %w", err)
	}
	return &impersonator{cfg: cfg, base: hc.Transport, scheme: scheme, mapper: mapper, clients: map[string]client.Client{}}, nil
}

func (im *impersonator) client(id Identity) (client.Client, error) {
	k := id.key()
	im.mu.Lock()
	defer im.mu.Unlock()
	if c, ok := im.clients[k]; ok {
		return c, nil
	}
	rt := transport.NewImpersonatingRoundTripper(transport.ImpersonationConfig{UserName: id.User, Groups: id.Groups}, im.base)
	c, err := client.New(im.cfg, client.Options{
		Scheme: im.scheme, Mapper: im.mapper, HTTPClient: &http.Client{Transport: rt},
	})
	if err != nil {
		return nil, fmt.Errorf("API client for %s: %w", id.User, err)
	}
	if len(im.order) >= maxCachedIdentities {
		delete(im.clients, im.order[0])
		im.order = im.order[1:]
	}
	im.clients[k] = c
	im.order = append(im.order, k)
	return c, nil
}

// accessTTL is how long a person's "may list Cases in this namespace"
// answer is reused. A RoleBinding removed takes at most this long to hide
// the namespace's lists; Case pages and every write are checked by the API
// server on each request.
const accessTTL = 30 * time.Second

type accessEntry struct {
	allowed bool
	until   time.Time
}

// accessCache answers "may this person list Cases in this namespace?" with
// an impersonated SelfSubjectAccessReview, cached for accessTTL.
type accessCache struct {
	im *impersonator

	mu      sync.Mutex
	entries map[string]accessEntry
}

func (a *accessCache) mayList(ctx context.Context, id Identity, namespace string) (bool, error) {
	k := id.key() + "\x01" + namespace
	now := time.Now()
	a.mu.Lock()
	e, ok := a.entries[k]
	a.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.allowed, nil
	}
	c, err := a.im.client(id)
	if err != nil {
		return false, err
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace, Verb: "list", Group: cxv1alpha1.GroupVersion.Group, Resource: "cases",
		},
	}}
	if err := c.Create(ctx, review); err != nil {
		return false, fmt.Errorf("ask the API server whether %s may list Cases in %s: %w", id.User, namespace, err)
	}
	a.mu.Lock()
	if len(a.entries) >= maxCachedIdentities*4 {
		for k, e := range a.entries {
			if now.After(e.until) {
				delete(a.entries, k)
			}
		}
		if len(a.entries) >= maxCachedIdentities*4 {
			a.entries = map[string]accessEntry{}
		}
	}
	a.entries[k] = accessEntry{allowed: review.Status.Allowed, until: now.Add(accessTTL)}
	a.mu.Unlock()
	return review.Status.Allowed, nil
}
