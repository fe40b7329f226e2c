package demo

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlserializer "k8s.io/apimachinery/pkg/runtime/serializer/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The demo installs what `make deploy` does for access: the objects of
// config/admission and config/webhook, named with config/default's prefix,
// and runs the manager as the ServiceAccount user those policies exempt.
const (
	accessPrefix    = "cxloop-"
	managerNS       = "cxloop-system"
	managerUserName = "system:serviceaccount:" + managerNS + ":cxloop-controller-manager"
)

// managerConfig is a client configuration authenticated as the manager's
// ServiceAccount user (a cluster administrator: the demo runs no RBAC setup
// for the manager; the admission policies treat it as the manager).
func managerConfig(env *envtest.Environment) (*rest.Config, error) {
	user, err := env.AddUser(envtest.User{Name: managerUserName, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add the manager's user: %w", err)
	}
	cfg := user.Config()
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

// installAccess creates the ValidatingAdmissionPolicies of config/admission
// and the Case webhook configuration of config/webhook, pointed at the
// manager's webhook server on webhookAddr (host:port) instead of the
// in-cluster Service.
func installAccess(ctx context.Context, cl client.Client, repo, webhookAddr string) error {
	files, err := filepath.Glob(filepath.Join(repo, "config", "admission", "*_policies.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no admission policies in %s/config/admission", repo)
	}
	files = append(files, filepath.Join(repo, "config", "webhook", "mutating_webhook.yaml"))
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", managerNS, err)
	}
	for _, f := range files {
		objs, err := readObjects(f, yamlserializer.NewDecodingSerializer(unstructured.UnstructuredJSONScheme))
		if err != nil {
			return err
		}
		for _, o := range objs {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("%s: decoded a %T", f, o)
			}
			u.SetName(accessPrefix + u.GetName())
			if name, ok, _ := unstructured.NestedString(u.Object, "spec", "policyName"); ok {
				_ = unstructured.SetNestedField(u.Object, accessPrefix+name, "spec", "policyName")
			}
			if u.GetKind() == "MutatingWebhookConfiguration" {
				hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
				for i, h := range hooks {
					hook, ok := h.(map[string]any)
					if !ok {
						return fmt.Errorf("%s: webhooks[%d] is a %T, want an object", f, i, h)
					}
					path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
					hook["clientConfig"] = map[string]any{"url": "https://" + webhookAddr + path}
					hooks[i] = hook
				}
				_ = unstructured.SetNestedSlice(u.Object, hooks, "webhooks")
			}
			if err := cl.Create(ctx, u); err != nil {
				return fmt.Errorf("%s: create %s %s: %w", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
	return nil
}

// freeLoopback is a loopback address with a port free now.
func freeLoopback() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = lis.Close() }()
	return lis.Addr().String(), nil
}
