package controllers

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cxloop/cxloop/internal/testenv"
)

// env is the real control plane (etcd + kube-apiserver) shared by the tests
// of this package, with the manager and all controllers running against it.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapLevel())))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "controllers tests:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create manager:", err)
		return 1
	}
	if err := SetupWithManager(mgr, Options{
		CollectorImage: "example.com/cxloop:test", CollectorEndpoint: testCollectorEndpoint, CollectorStatusEvery: time.Second,
		Now: caseClock.Now, Deliverer: caseDeliveries, CaseArchiver: caseArchive, NotificationBaseURL: caseBaseURL,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "set up controllers:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// zapLevel is quiet by default: envtest runs no namespace controller, so
// every test namespace stays Terminating and controllers log retried
// "being terminated" errors that mean nothing. CXLOOP_TEST_VERBOSE=1 shows
// all controller logs.
func zapLevel() zapcore.Level {
	if os.Getenv("CXLOOP_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.DPanicLevel
}
