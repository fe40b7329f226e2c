package rules_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// BenchmarkCaseOpening measures how fast the real dispatcher (4 workers)
// turns open_case actions of a real SQLite store into Cases in the real API
// server, for a plain rule, a rule with dedup (every response its own key,
// so each one opens a Case) and a rule with a throttle (high enough never
// to bite), with 0, 2,000 and 10,000 Cases of those rules already in the
// namespace, beside the raw ceiling: a controller-runtime client creating
// the same Cases from 4 workers. Each figure is Cases/s and its ratio to
// the ceiling measured right before it, at the same size, in the same run.
//
// Target (issue 17): every ratio at least 0.8, at 0 and at 10,000.
//
//	make bench BENCH=CaseOpening BENCH_PKGS=./test/rules/ BENCHTIME=1x
//
// CXLOOP_BENCH_EXISTING (default 0,2000,10000) and CXLOOP_BENCH_CASES
// (default 400 per mode) resize it.
func BenchmarkCaseOpening(b *testing.B) {
	sizes := []int{0, 2000, 10000}
	if v := os.Getenv("CXLOOP_BENCH_EXISTING"); v != "" {
		sizes = sizes[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("CXLOOP_BENCH_EXISTING: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	perMode := 400
	if v := os.Getenv("CXLOOP_BENCH_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("CXLOOP_BENCH_CASES: %v", err)
		}
		perMode = n
	}
	for _, existing := range sizes {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			for b.Loop() {
				runCaseOpening(b, existing, perMode)
			}
		})
	}
}

// openingModes are the rules of the benchmark, one per mode.
func openingRules() []*cxv1alpha1.AlertRule {
	plain := rule("plain", "metadata.mode == 'plain'")
	dedup := rule("dedup", "metadata.mode == 'dedup'")
	dedup.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}}
	throttle := rule("throttle", "metadata.mode == 'throttle'")
	throttle.Spec.Throttle = &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 1_000_000}
	return []*cxv1alpha1.AlertRule{plain, dedup, throttle}
}

func runCaseOpening(b *testing.B, existing, perMode int) {
	ctx := context.Background()
	rules := openingRules()
	p := newProgram(b, nil, rules...)
	p.clock.FollowWallClock()

	// The Cases already there: of the three rules, with dedup-key labels,
	// as a program that has run for a while has them.
	if existing > 0 {
		start := time.Now()
		createRawCases(b, p.ns, "existing", existing, func(i int) map[string]string {
			return map[string]string{
				cxv1alpha1.LabelRule: rules[i%3].Name, cxv1alpha1.LabelTemplate: "installation-support",
				cxv1alpha1.LabelDedupKey: fmt.Sprintf("%016x", i),
			}
		})
		b.Logf("existing=%d: created in %v", existing, time.Since(start).Round(time.Millisecond))
	}

	// The ceiling is measured right before each mode, so that on a shared
	// machine whose load drifts each ratio compares two neighbours.
	var ceilings []float64
	report := fmt.Sprintf("existing=%d:", existing)
	rssBefore := rssMiBNow()
	for m, r := range rules {
		for i := range perMode {
			p.post(fmt.Sprintf("%s-%06d", r.Name, i), fmt.Sprintf("C-%s-%06d", r.Name, i), false, `,"metadata":{"mode":"`+r.Name+`"}`)
		}
		rawStart := time.Now()
		createRawCases(b, p.ns, fmt.Sprintf("raw%d", m), perMode, func(int) map[string]string {
			return map[string]string{cxv1alpha1.LabelRule: "raw", cxv1alpha1.LabelTemplate: "installation-support"}
		})
		ceiling := float64(perMode) / time.Since(rawStart).Seconds()
		ceilings = append(ceilings, ceiling)
		runCtx, cancel := context.WithCancel(ctx)
		start := time.Now()
		done := make(chan struct{})
		go func() { defer close(done); p.disp.Run(runCtx) }()
		p.disp.Wake()
		deadline := start.Add(5 * time.Minute)
		for {
			depth, _, err := p.st.OutboxStats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if depth == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d actions left after 5 minutes", r.Name, depth)
			}
			time.Sleep(5 * time.Millisecond)
		}
		rate := float64(perMode) / time.Since(start).Seconds()
		cancel()
		<-done
		b.ReportMetric(rate, r.Name+"-cases/s")
		b.ReportMetric(rate/ceiling, r.Name+"/raw")
		report += fmt.Sprintf(" raw %.0f/s, %s %.0f/s (%.2f);", ceiling, r.Name, rate, rate/ceiling)
	}
	var sum float64
	for _, c := range ceilings {
		sum += c
	}
	b.ReportMetric(sum/float64(len(ceilings)), "raw-cases/s")
	rss := rssMiBNow()
	b.ReportMetric(rss, "rss-MiB")
	apiRSS, apiPeak := apiServerRSSMiB()
	b.ReportMetric(apiRSS, "apiserver-rss-MiB")
	b.Logf("%s process RSS %.0f MiB (%.0f before the dispatcher ran); API server RSS %.0f MiB (peak %.0f since it started); target: every ratio >= 0.8",
		report, rss, rssBefore, apiRSS, apiPeak)
	b.ReportMetric(0, "ns/op")
}

// createRawCases creates n Cases named <prefix>-<i> with a
// controller-runtime client from 4 workers: the raw ceiling. They are the
// Cases the dispatcher makes of the benchmark's responses (customer,
// source and response snapshot, labels), so the two create the same
// objects.
func createRawCases(b *testing.B, ns, prefix string, n int, labels func(i int) map[string]string) {
	b.Helper()
	ctx := context.Background()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			next <- i
		}
	}()
	var wg sync.WaitGroup
	var once sync.Once
	for range 4 {
		wg.Go(func() {
			for i := range next {
				c := benchCase(ns, fmt.Sprintf("%s-%06d", prefix, i), labels(i), i)
				if err := env.Client.Create(ctx, c); err != nil {
					once.Do(func() { b.Errorf("create case: %v", err) })
				}
			}
		})
	}
	wg.Wait()
}

// benchCase is a Case as the dispatcher opens it for a response that
// program.post sends.
func benchCase(ns, name string, labels map[string]string, i int) *cxv1alpha1.Case {
	sentiment := -0.6
	submitted := metav1.Now()
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: cxv1alpha1.CaseSpec{
			Template: "installation-support", Title: "Installation failed",
			Customer: &cxv1alpha1.Customer{ID: fmt.Sprintf("C-%06d", i), Tier: "Gold", Attributes: map[string]string{"region": "emea"}},
			Source: &cxv1alpha1.CaseSource{
				Rule: labels[cxv1alpha1.LabelRule], RuleKind: cxv1alpha1.AlertEscalation, Touchpoint: "upgrade-install", ResponseID: fmt.Sprintf("R-%06d", i),
				Response: &cxv1alpha1.ResponseSnapshot{
					Answers:  map[string]apiextensionsv1.JSON{"completed": {Raw: []byte("false")}, "ease": {Raw: []byte("3")}},
					Comment:  "The installer stopped at 80 percent and I gave up.",
					Metadata: map[string]string{"mode": "raw"}, Sentiment: &sentiment, SubmittedAt: &submitted,
				},
			},
		},
	}
}

// rssMiBNow is this process's resident set (the dispatcher and the
// store), from /proc; the Go runtime's view where /proc is missing.
func rssMiBNow() float64 {
	if raw, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 1 {
			if pages, err := strconv.ParseFloat(f[1], 64); err == nil {
				return pages * float64(os.Getpagesize()) / (1 << 20)
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.Sys) / (1 << 20)
}

// apiServerRSSMiB is the resident set of the test's kube-apiserver (a
// child of this process) now and at its peak, from /proc; zeros where it
// cannot be found.
func apiServerRSSMiB() (now, peak float64) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	parent := strconv.Itoa(os.Getpid())
	for _, dir := range dirs {
		raw, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		fields := map[string]string{}
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.TrimSpace(v)
			}
		}
		if fields["Name"] != "kube-apiserver" || fields["PPid"] != parent {
			continue
		}
		kib := func(k string) float64 {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(fields[k], " kB"), 64)
			return v / 1024
		}
		return kib("VmRSS"), kib("VmHWM")
	}
	return 0, 0
}
