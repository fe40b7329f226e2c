package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds a headless-capable Chromium or Chrome. In CI
// (CI=true) a missing browser fails the test: .ci/run installs Debian's
// chromium.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CXLOOP_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH in CI: .ci/run should have installed Debian's chromium package")
	}
	t.Skip("SKIP: chromium is not installed (apt-get install chromium, or set CXLOOP_TEST_CHROMIUM)")
	return ""
}

// Browser starts headless Chromium, driven over the DevTools protocol, for
// t (closed when t ends), and returns the context of its first tab.
func Browser(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", false),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// AxeScript returns axe-core's script, installed from the npm registry by
// `npm ci --prefix hack/axe` (.ci/run does it). In CI a missing package
// fails the test; elsewhere it skips.
func AxeScript(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "hack", "axe", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("axe-core is not installed (%v): .ci/run should have run npm ci --prefix hack/axe", err)
	}
	t.Skipf("SKIP: axe-core is not installed; run npm ci --prefix hack/axe (%v)", err)
	return ""
}
