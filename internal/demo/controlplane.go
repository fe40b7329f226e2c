package demo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxscheme "github.com/cxloop/cxloop/internal/scheme"
)

// FindRepo returns the cxloop checkout holding dir or one of its parents
// (the directory with config/crd/bases and config/samples), else the
// checkout this package was built from.
func FindRepo(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if isRepo(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		if d := filepath.Join(filepath.Dir(file), "..", ".."); isRepo(d) {
			return filepath.Clean(d), nil
		}
	}
	return "", fmt.Errorf("no cxloop checkout (config/crd/bases and config/samples) in %s or its parents; run the demo from the repository or pass --repo", dir)
}

func isRepo(d string) bool {
	for _, p := range []string{"config/crd/bases", "config/samples/kustomization.yaml"} {
		if _, err := os.Stat(filepath.Join(d, p)); err != nil {
			return false
		}
	}
	return true
}

// FindAssets returns the directory holding kube-apiserver and etcd: dir
// when set, else $KUBEBUILDER_ASSETS, else <repo>/bin/k8s (which
// hack/setup-envtest.sh links).
func FindAssets(dir, repo string) (string, error) {
	source := "--assets"
	if dir == "" {
		dir, source = os.Getenv("KUBEBUILDER_ASSETS"), "KUBEBUILDER_ASSETS"
	}
	if dir == "" {
		dir, source = filepath.Join(repo, "bin", "k8s"), "bin/k8s"
		if _, err := os.Stat(dir); err != nil {
			return "", errors.New("no kube-apiserver and etcd found: run `hack/setup-envtest.sh` (`make demo` does; it builds them once and prints their directory), then pass that directory with --assets or KUBEBUILDER_ASSETS")
		}
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if fi, err := os.Stat(filepath.Join(dir, bin)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s %s has no executable %s: run `hack/setup-envtest.sh` to build the control plane binaries and pass the directory it prints", source, dir, bin)
		}
	}
	return dir, nil
}

// listenLoopback listens on 127.0.0.1:port (0: a free port) and names the
// flag that chose the port when it is taken.
func listenLoopback(port int, flagName string) (net.Listener, error) {
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if port != 0 {
			return nil, fmt.Errorf("port %d is taken (%s): stop what uses it, or choose another port (0 picks a free one): %w", port, flagName, err)
		}
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return lis, nil
}

// newControlPlane configures etcd and kube-apiserver from assets with the
// CRDs of repo installed; apiPort 0 lets envtest pick a free port.
func newControlPlane(assets, repo string, apiPort int) *envtest.Environment {
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repo, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                cxscheme.New(),
	}
	if apiPort != 0 {
		api := env.ControlPlane.GetAPIServer()
		api.SecureServing.Address, api.SecureServing.Port = "127.0.0.1", strconv.Itoa(apiPort)
	}
	return env
}

// checkPortFree fails, naming the flag, when port is taken, rather than
// let the API server fail with "address already in use" in its own log.
func checkPortFree(port int, flagName string) error {
	if port == 0 {
		return nil
	}
	lis, err := listenLoopback(port, flagName)
	if err != nil {
		return err
	}
	return lis.Close()
}
