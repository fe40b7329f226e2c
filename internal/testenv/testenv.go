package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxscheme "github.com/cxloop/cxloop/internal/scheme"
)

// Env is a running control plane.
type Env struct {
	Environment *envtest.Environment
	Config      *rest.Config
	Scheme      *k8sruntime.Scheme
	// Client talks to the API server with strict field validation, as
	// `kubectl apply` does, so unknown fields are errors.
	Client client.Client
}

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Start starts etcd and kube-apiserver from KUBEBUILDER_ASSETS (or bin/k8s,
// which hack/setup-envtest.sh links) and installs the CRDs of config/crd.
// It returns an error, never skips: tests of controllers need the real thing,
// and `make test` provides it.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		local := filepath.Join(RepoRoot(), "bin", "k8s")
		if _, err := os.Stat(filepath.Join(local, "kube-apiserver")); err == nil {
			assets = local
		}
	}
	if assets == "" {
		return nil, fmt.Errorf("no control plane binaries: run the tests with `make test`, or set KUBEBUILDER_ASSETS to a directory holding kube-apiserver and etcd (hack/setup-envtest.sh builds them)")
	}
	scheme := cxscheme.New()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		// envtest leaves etcd and kube-apiserver running when a later step
		// (installing the CRDs) fails; stop them rather than orphan them.
		_ = env.Stop()
		return nil, fmt.Errorf("start envtest control plane from %s: %w", assets, err)
	}
	// Tests create many objects quickly; client-go's default QPS 5 would
	// make them slow for no reason.
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &Env{
		Environment: env,
		Config:      cfg,
		Scheme:      scheme,
		Client:      client.WithFieldValidation(c, metav1.FieldValidationStrict),
	}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	return e.Environment.Stop()
}

// Namespace creates a namespace with a random name for one test and deletes
// it when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "test-" + hex.EncodeToString(b)}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = e.Client.Delete(context.Background(), ns)
	})
	return ns.Name
}

// Main starts the control plane, stores it in *env, runs the package's tests
// and exits. It never skips: tests that need the real API server fail when
// it cannot start, with the command that provides its binaries.
func Main(m *testing.M, env **Env, pkg string) {
	e, err := Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start the test control plane: %v\n", err)
		fmt.Fprintf(os.Stderr, "run: KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go test %s\n", pkg)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the test control plane: %v\n", err)
	}
	os.Exit(code)
}
