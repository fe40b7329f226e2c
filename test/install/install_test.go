// Package install_test checks the two ways to install cxloop on a cluster —
// the Helm chart (charts/cxloop) and the kustomize build (config/default) —
// against a real kube-apiserver: every rendered object is created with
// server-side dry run and strict field validation, the way
// `kubectl apply --server-side --dry-run=server` would, so a wrong field,
// a bad CEL expression in an admission policy or an invalid RBAC rule fails
// here rather than at a user's install.
//
// The tests run bin/helm and bin/kustomize, which `make test` installs
// (`make helm kustomize`). Without them the tests skip, unless CI is set.
package install_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxloop/cxloop/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "./test/install/") }

// helmKubeVersion is the Kubernetes version `helm template` renders for; it
// matches the envtest control plane (hack/setup-envtest.sh) and the Makefile.
const helmKubeVersion = "1.36.3"

// fieldManager names the test in server-side apply requests.
const fieldManager = "cxloop-install-test"

// tool returns the path of a pinned tool in bin/. A missing tool skips the
// test on a workstation and fails it in CI, where `make test` installs it.
func tool(t *testing.T, name, makeTarget string) string {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(), "bin", name)
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s is missing (%v): run `make %s` (or `make test`, which installs it)", path, err, makeTarget)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping because CI is unset")
	}
	return path
}

// run runs a tool in the repository root and returns its standard output.
func run(t *testing.T, path string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = testenv.RepoRoot()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// helmTemplate renders charts/cxloop with its CRDs.
func helmTemplate(t *testing.T, release, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	helm := tool(t, "helm", "helm")
	args = append([]string{"template", release, "charts/cxloop",
		"--namespace", namespace, "--kube-version", helmKubeVersion, "--include-crds"}, args...)
	return decode(t, run(t, helm, args...))
}

// kustomizeBuild renders a kustomization directory of the repository.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	kustomize := tool(t, "kustomize", "kustomize")
	return decode(t, run(t, kustomize, "build", dir))
}

// decode splits a YAML stream into objects, dropping empty documents.
func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("the rendering produced no objects")
	}
	return objs
}

func describe(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// dryRunAll sends every object to the API server the way an install would,
// without persisting anything but the namespaces: Namespaces are created for
// real (namespaced objects cannot be dry-run into a namespace that does not
// exist); CustomResourceDefinitions, which the test control plane already has
// from config/crd, are server-side applied with dry run, so they must be
// valid updates of the installed ones; everything else is created with dry
// run. All requests use strict field validation. It returns one error per
// object the API server refused.
func dryRunAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) []error {
	t.Helper()
	var errs []error
	ordered := make([]*unstructured.Unstructured, 0, len(objs))
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			ordered = append(ordered, u)
		}
	}
	for _, u := range objs {
		if u.GetKind() != "Namespace" {
			ordered = append(ordered, u)
		}
	}
	// Objects the chart puts into program namespaces (the collectors'
	// NetworkPolicy) need those namespaces, which exist before the chart is
	// installed: create them for real, as the user already has.
	for _, u := range ordered {
		if ns := u.GetNamespace(); ns != "" {
			err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, fmt.Errorf("create namespace %s for %s: %w", ns, describe(u), err))
			}
		}
	}
	for _, u := range ordered {
		var err error
		switch u.GetKind() {
		case "Namespace":
			err = env.Client.Create(ctx, u.DeepCopy())
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
		case "CustomResourceDefinition":
			err = env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
				client.FieldOwner(fieldManager), client.ForceOwnership, client.DryRunAll)
		default:
			err = env.Client.Create(ctx, u.DeepCopy(), client.DryRunAll)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", describe(u), err))
		}
	}
	return errs
}

func countKinds(objs []*unstructured.Unstructured) map[string]int {
	kinds := map[string]int{}
	for _, u := range objs {
		kinds[u.GetKind()]++
	}
	return kinds
}

// requireKinds fails unless the rendering holds at least these objects, so a
// template that silently renders nothing cannot pass.
func requireKinds(t *testing.T, objs []*unstructured.Unstructured, want map[string]int) {
	t.Helper()
	got := countKinds(objs)
	for kind, n := range want {
		if got[kind] < n {
			t.Errorf("rendered %d %s objects, want at least %d (all kinds: %v)", got[kind], kind, n, got)
		}
	}
}

// TestHelmChartDryRun renders the chart with its default values and with
// every values file in charts/cxloop/ci/, and creates the result with
// server-side dry run.
func TestHelmChartDryRun(t *testing.T) {
	ctx := context.Background()
	valueFiles, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "charts", "cxloop", "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		policy bool
	}{{name: "default values", policy: true}}
	for _, f := range valueFiles {
		cases = append(cases, struct {
			name   string
			args   []string
			policy bool
		}{name: filepath.Base(f), args: []string{"-f", f}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The release namespace must exist, as `helm install
			// --create-namespace` would make it.
			ns := env.Namespace(t)
			objs := helmTemplate(t, "cxloop", ns, tc.args...)
			want := map[string]int{
				"CustomResourceDefinition": 6, "ServiceAccount": 1, "ClusterRole": 2,
				"ClusterRoleBinding": 1, "Deployment": 1,
			}
			if tc.policy {
				want["ValidatingAdmissionPolicy"] = 2
				want["ValidatingAdmissionPolicyBinding"] = 2
			}
			requireKinds(t, objs, want)
			for _, err := range dryRunAll(ctx, t, objs) {
				t.Error(err)
			}
			t.Logf("dry-run created %d objects: %v", len(objs), countKinds(objs))
		})
	}
}

// TestKustomizeDefaultDryRun does the same for `make deploy`'s build.
func TestKustomizeDefaultDryRun(t *testing.T) {
	ctx := context.Background()
	objs := kustomizeBuild(t, "config/default")
	requireKinds(t, objs, map[string]int{
		"Namespace": 1, "CustomResourceDefinition": 6, "ServiceAccount": 1, "ClusterRole": 2,
		"ClusterRoleBinding": 1, "Deployment": 1, "Service": 1,
		"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2,
	})
	for _, err := range dryRunAll(ctx, t, objs) {
		t.Error(err)
	}
	t.Logf("dry-run created %d objects: %v", len(objs), countKinds(objs))
}

// TestChartCopiesMatchConfig checks what `make verify` checks, so that a
// plain `go test` catches a chart that drifted from config/ too: the chart's
// CRDs, manager rules, user roles and admission policies are the files
// `make chart-crds` copies.
func TestChartCopiesMatchConfig(t *testing.T) {
	root := testenv.RepoRoot()
	chart := filepath.Join(root, "charts", "cxloop")
	same := func(src, dst string) {
		t.Helper()
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Errorf("%v: run `make chart-crds`", err)
			return
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run `make chart-crds`", dst, src)
		}
	}
	crds, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	copies, _ := filepath.Glob(filepath.Join(chart, "crds", "*.yaml"))
	if len(crds) == 0 || len(crds) != len(copies) {
		t.Errorf("config/crd/bases has %d CRDs, the chart %d: run `make chart-crds`", len(crds), len(copies))
	}
	for _, src := range crds {
		same(src, filepath.Join(chart, "crds", filepath.Base(src)))
	}
	roles, _ := filepath.Glob(filepath.Join(chart, "files", "rbac", "*.yaml"))
	if len(roles) == 0 {
		t.Error("charts/cxloop/files/rbac holds no roles: run `make chart-crds`")
	}
	for _, dst := range roles {
		same(filepath.Join(root, "config", "rbac", filepath.Base(dst)), dst)
	}
	policies, _ := filepath.Glob(filepath.Join(root, "config", "admission", "*_policies.yaml"))
	copied, _ := filepath.Glob(filepath.Join(chart, "files", "admission", "*.yaml"))
	if len(policies) == 0 || len(policies) != len(copied) {
		t.Errorf("config/admission has %d policy files, the chart %d: run `make chart-crds`", len(policies), len(copied))
	}
	for _, src := range policies {
		same(src, filepath.Join(chart, "files", "admission", filepath.Base(src)))
	}
	same(filepath.Join(root, "config", "webhook", "mutating_webhook.yaml"), filepath.Join(chart, "files", "mutating-webhook.yaml"))

	role, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, rules, ok := bytes.Cut(role, []byte("\nrules:\n"))
	if !ok {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	chartRules, err := os.ReadFile(filepath.Join(chart, "files", "manager-role-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(chartRules, rules) {
		t.Error("charts/cxloop/files/manager-role-rules.yaml differs from the rules of config/rbac/role.yaml: run `make chart-crds`")
	}
}
