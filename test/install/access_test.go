package install_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
	cxwebhook "github.com/cxloop/cxloop/internal/webhook"
)

// access is one install of cxloop's RBAC and admission policies, the way a
// user gets it from the chart or from config/default, created for real in
// the test API server.
type access struct {
	source string
	// prefix of the object names (cxloop- from kustomize, <release>-cxloop-
	// from the chart).
	prefix string
	// managerNS and managerSA are the manager's ServiceAccount.
	managerNS, managerSA string
}

// manager returns a client and a REST config acting as the manager's
// ServiceAccount.
func (a access) manager(t *testing.T) (client.Client, *rest.Config) {
	return asServiceAccount(t, a.managerNS, a.managerSA)
}

// helmRelease is the release name of the chart's install.
const helmRelease = "access"

// program makes ns a program namespace the way the install path's user
// does: the manager's role is bound there (the chart's programNamespaces;
// `kubectl apply -n <ns> -k config/program`) and nowhere else.
func (a access) program(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	switch a.source {
	case "helm":
		objs = helmTemplate(t, helmRelease, a.managerNS, "--set", "programNamespaces={"+ns+"}")
	case "kustomize":
		objs = kustomizeBuild(t, "config/program")
		for _, u := range objs {
			u.SetNamespace(ns)
		}
	}
	bound := 0
	for _, u := range objs {
		if u.GetKind() != "RoleBinding" || u.GetNamespace() != ns {
			continue
		}
		if err := env.Client.Create(ctx, u.DeepCopy()); err != nil {
			t.Fatalf("%s: create %s: %v", a.source, describe(u), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
		bound++
	}
	if bound != 1 {
		t.Fatalf("%s rendered %d RoleBindings for program namespace %s, want 1", a.source, bound, ns)
	}
}

// installed kinds: what a user's install creates besides the CRDs (the test
// control plane has them) and the Deployment (the tests run the manager in
// process when they need it).
var installedKinds = map[string]bool{
	"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingWebhookConfiguration": true,
}

// installAccess creates the RBAC and admission policies of one install
// path and removes them when the test ends, waiting until the API server
// no longer enforces them (so the next install path starts clean).
func installAccess(t *testing.T, source string) access {
	t.Helper()
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	var a access
	switch source {
	case "helm":
		ns := env.Namespace(t)
		// The program namespaces are each test's own (access.program):
		// none is bound here, and the manager's role is bound nowhere
		// cluster-wide.
		objs = helmTemplate(t, helmRelease, ns, "--set", "programNamespaces={"+env.Namespace(t)+"}")
		a = access{source: source, prefix: helmRelease + "-cxloop-", managerNS: ns, managerSA: helmRelease + "-cxloop-controller-manager"}
	case "kustomize":
		objs = kustomizeBuild(t, "config/default")
		a = access{source: source, prefix: "cxloop-", managerNS: "cxloop-system", managerSA: "cxloop-controller-manager"}
		for _, u := range objs {
			if u.GetKind() == "Namespace" {
				if err := env.Client.Create(ctx, u.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatalf("create %s: %v", describe(u), err)
				}
			}
		}
	default:
		t.Fatalf("unknown install source %q", source)
	}
	var created []*unstructured.Unstructured
	t.Cleanup(func() {
		for _, u := range created {
			_ = env.Client.Delete(context.Background(), u)
		}
		waitForPoliciesGone(t)
	})
	policies, webhooks := 0, 0
	webhookAddr := freeAddr(t)
	for _, u := range objs {
		if !installedKinds[u.GetKind()] {
			continue
		}
		if u.GetKind() == "MutatingWebhookConfiguration" {
			webhooks++
			pointAtLoopback(t, u, webhookAddr)
		}
		if u.GetKind() == "ValidatingAdmissionPolicy" {
			policies++
		}
		if err := env.Client.Create(ctx, u.DeepCopy()); err != nil {
			t.Fatalf("%s: create %s: %v", source, describe(u), err)
		}
		created = append(created, u)
	}
	if policies < 4 || webhooks != 1 {
		t.Fatalf("%s rendered %d ValidatingAdmissionPolicies and %d MutatingWebhookConfigurations, want at least 4 and 1", source, policies, webhooks)
	}
	serveWebhook(t, a, webhookAddr)
	waitForPolicies(ctx, t)
	return a
}

// pointAtLoopback makes a rendered webhook configuration call the manager
// this test runs on loopback instead of the in-cluster Service; everything
// else (rules, match conditions, failure policy) stays as shipped.
func pointAtLoopback(t *testing.T, u *unstructured.Unstructured, addr string) {
	t.Helper()
	hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
	for i, h := range hooks {
		hook, ok := h.(map[string]any)
		if !ok {
			t.Fatalf("webhooks[%d] is a %T, want an object", i, h)
		}
		path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
		hook["clientConfig"] = map[string]any{"url": "https://" + addr + path}
		hooks[i] = hook
	}
	if err := unstructured.SetNestedSlice(u.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
}

// serveWebhook runs the manager's webhook server as the manager's
// ServiceAccount: it creates its certificate Secret and sets the caBundle of
// the install's webhook configuration with the install's RBAC, as in a
// cluster.
func serveWebhook(t *testing.T, a access, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	portNum, _ := strconv.Atoi(port)
	_, cfg := a.manager(t)
	certDir := t.TempDir()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: host, Port: portNum, CertDir: certDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	if err := cxwebhook.Add(ctx, mgr, &cxwebhook.Certificates{
		Namespace: a.managerNS, SecretName: a.prefix + "webhook-cert", WebhookConfiguration: a.prefix + "case-audit",
		CertDir: certDir, IPs: []net.IP{net.ParseIP(host)},
	}, nil); err != nil {
		stop()
		t.Fatalf("%s: set up the webhook as the manager: %v", a.source, err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("webhook manager: %v", err)
		}
		_ = env.Client.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: a.managerNS, Name: a.prefix + "webhook-cert"}})
	})
}

// waitForPolicies waits until the policies just created are enforced: they
// load asynchronously. A dry-run delete of a Case must be refused.
func waitForPolicies(ctx context.Context, t *testing.T) {
	t.Helper()
	ns := env.Namespace(t)
	probe := caseObject(ns, cxv1.CaseOpen)
	mustCreate(ctx, t, probe)
	waitForDenial(ctx, t, "deletion of a Case", "Cases cannot be deleted", func() error {
		return env.Client.Delete(ctx, probe, client.DryRunAll)
	})
	// A policy with a paramKind refuses everything until its informer for
	// CaseTemplates has synced.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Client.Create(ctx, caseObject(ns, cxv1.CaseOpen), client.DryRunAll)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("creating an open Case is still refused: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitForDenial(ctx, t, "a backdated action", "from the server's time", func() error {
		c := probe.DeepCopy()
		c.Spec.Actions = append(c.Spec.Actions, cxv1.CaseAction{At: metav1.NewTime(time.Now().Add(-240 * time.Hour)), By: "admin", Type: cxv1.ActionNote})
		return env.Client.Update(ctx, c, client.DryRunAll)
	})
}

// waitForPoliciesGone waits until deleting a Case is allowed again: no
// install's policies are enforced any more.
func waitForPoliciesGone(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ns := env.Namespace(t)
	probe := caseObject(ns, cxv1.CaseOpen)
	mustCreate(ctx, t, probe)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Client.Delete(ctx, probe, client.DryRunAll)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted admission policies are still enforced: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// asServiceAccount returns a client (and its config) that impersonates a
// ServiceAccount as the API server authenticates its token: the user name
// and the groups of all ServiceAccounts and of its namespace.
func asServiceAccount(t *testing.T, namespace, name string) (client.Client, *rest.Config) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", namespace, name),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return client.WithFieldValidation(c, metav1.FieldValidationStrict), cfg
}

// TestAccessHierarchy installs cxloop's RBAC and admission policies from
// the chart and from config/default, in turn, and works Cases as people
// and as a collector, under each.
func TestAccessHierarchy(t *testing.T) {
	for _, source := range []string{"helm", "kustomize"} {
		t.Run(source, func(t *testing.T) {
			a := installAccess(t, source)
			t.Run("people", func(t *testing.T) { testCaseAccess(t, a) })
			t.Run("collector", func(t *testing.T) { testCollectorAccess(t, a) })
			t.Run("channels", func(t *testing.T) { testChannelAccess(t, a) })
		})
	}
}

// wantDenied fails unless err is an admission or RBAC refusal containing
// want.
func wantDenied(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want refused with %q", what, want)
		return
	}
	if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
		t.Errorf("%s: error %v is not a denial (403/422)", what, err)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: refused with %q, want a message containing %q", what, err.Error(), want)
	}
}
