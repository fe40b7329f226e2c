package inbox_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/inbox"
)

// benchCases is the size of the namespace in BenchmarkListPage.
const benchCases = 10000

// BenchmarkListPage serves the list page for one person on a namespace
// with 10,000 Cases (50 assignees, all on the template's team), through
// the inbox's HTTP handler on loopback, beside the raw lookup in the
// informer cache it is served from. It reports p50/p99 per request and the
// heap the inbox's cache and index hold for the namespace.
//
//	go test ./internal/inbox/ -run '^$' -bench ListPage -benchtime 200x
func BenchmarkListPage(b *testing.B) {
	ctx := context.Background()
	installAccess(ctx, b)
	ns := env.Namespace(b)
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agents"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "case-editor-role"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "agents"}},
	}
	if err := env.Client.Create(ctx, rb); err != nil {
		b.Fatal(err)
	}
	tmpl := &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "support", Closure: cxv1alpha1.ClosureRequirements{RootCauses: []string{"defect"}},
			Team: cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "lead"}}, Members: []cxv1alpha1.Subject{{Kind: cxv1alpha1.SubjectGroup, Name: "agents"}}},
		},
	}
	if err := env.Client.Create(ctx, tmpl); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < benchCases; i += 16 {
				c := &cxv1alpha1.Case{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("case-%05d", i)},
					Spec: cxv1alpha1.CaseSpec{
						Template: "support", Title: fmt.Sprintf("Installation failed %d", i),
						Customer: &cxv1alpha1.Customer{ID: fmt.Sprintf("C-%05d", i), Tier: "Gold"},
						Source:   &cxv1alpha1.CaseSource{Rule: "failed", Touchpoint: "install", ResponseID: fmt.Sprint(i)},
						Severity: cxv1alpha1.SeverityHigh, Assignee: fmt.Sprintf("agent-%02d", i%50),
					},
				}
				if err := env.Client.Create(ctx, c); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("created %d Cases in %s", benchCases, time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	srv, err := inbox.New(inbox.Options{
		Config: env.Config, Scheme: env.Scheme, Namespaces: []string{ns},
		Auth: inbox.ProxyAuth{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(sctx, l) }()
	base := "http://" + l.Addr().String()
	get := func(path string) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set("X-Forwarded-User", "agent-07")
		req.Header.Set("X-Forwarded-Groups", "agents")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s", path, resp.Status)
		}
		return string(body)
	}
	// Wait until the index holds every Case (the page counts them).
	deadline := time.Now().Add(time.Minute)
	for {
		var list cxv1alpha1.CaseList
		if err := srv.Cache().List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err == nil && len(list.Items) == benchCases {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the inbox's cache does not hold every Case after a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The first request asks the access review; the page lists agent-07's
	// Cases.
	if page := get("/cases"); !strings.Contains(page, fmt.Sprintf("%d Cases", benchCases/50)) {
		b.Fatalf("the list page does not count agent-07's %d Cases:\n%.2000s", benchCases/50, page)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heapMiB := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)

	measure := func(b *testing.B, f func()) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for b.Loop() {
			t := time.Now()
			f()
			lat = append(lat, time.Since(t))
		}
		b.StopTimer()
		slices.Sort(lat)
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
		b.ReportMetric(q(0.5), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(heapMiB, "inbox-heap-MiB")
	}
	b.Run("cache-lookup-mine", func(b *testing.B) {
		measure(b, func() {
			var list cxv1alpha1.CaseList
			if err := srv.Cache().List(ctx, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
				b.Fatal(err)
			}
			n := 0
			for i := range list.Items {
				if list.Items[i].Spec.Assignee == "agent-07" {
					n++
				}
			}
			if n != benchCases/50 {
				b.Fatalf("%d Cases of agent-07, want %d", n, benchCases/50)
			}
		})
	})
	b.Run("page-mine", func(b *testing.B) { measure(b, func() { get("/cases?view=mine") }) })
	// Every Case is on agent-07's team: 10,000 rows filtered and sorted,
	// the first 200 rendered.
	b.Run("page-team", func(b *testing.B) { measure(b, func() { get("/cases?view=team") }) })
	b.Run("page-search", func(b *testing.B) { measure(b, func() { get("/cases?view=all&customer=C-0700") }) })
}
