// Package casebench measures the Case lifecycle controller at scale against
// a real API server: 10,000 open Cases with staggered deadlines, the whole
// manager running with the real clock. It holds only a benchmark; run it
// with `make bench` or
//
//	KUBEBUILDER_ASSETS=$(hack/setup-envtest.sh) go test -run '^$' -bench . -benchtime 1x ./test/casebench/
package casebench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"go.uber.org/zap/zapcore"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.DPanicLevel)))
	testenv.Main(m, &env, "./test/casebench/")
}

const (
	numCases = 10000
	// Each Case is due lead after its creation plus its share of spread.
	lead   = 10 * time.Second
	spread = 30 * time.Second
	// createRate paces the creation of Cases (per second), as collectors
	// open them, while the manager runs.
	createRate = 400
	creators   = 16
)

// countingDeliverer accepts every message.
type countingDeliverer struct{ n atomic.Int64 }

func (d *countingDeliverer) Deliver(context.Context, string, string, notify.Message) error {
	d.n.Add(1)
	return nil
}

// BenchmarkCaseOverdue10k creates 10,000 open Cases due 10 to 40 seconds
// after their creation, runs the manager with the real clock, and reports
// how late each Case became Overdue after its dueAt (from the condition's
// lastTransitionTime, whole seconds, and from the time a watch saw it) and
// the memory of the process (the manager, plus the creators and the
// watch). Targets: p99 lateness < 2s, RSS < 300 MiB.
func BenchmarkCaseOverdue10k(b *testing.B) {
	for b.Loop() {
		runOverdueScenario(b)
	}
}

func runOverdueScenario(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := env.Namespace(b)

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 2000, 4000
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		b.Fatal(err)
	}
	deliveries := &countingDeliverer{}
	if err := controllers.SetupWithManager(mgr, controllers.Options{Deliverer: deliveries, NotificationBaseURL: "https://cx.example.com"}); err != nil {
		b.Fatal(err)
	}
	obs := newObserver()
	inf, err := mgr.GetCache().GetInformer(ctx, &cxv1alpha1.Case{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := inf.AddEventHandler(obs.handler()); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Logf("manager: %v", err)
		}
	}()
	mem := startMemSampler(ctx)

	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Create(ctx, benchTemplate(ns)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := createCases(ctx, c, ns); err != nil {
		b.Fatal(err)
	}
	created := time.Since(start)
	deadline := time.Now().Add(lead + spread + time.Minute)
	for obs.count() < numCases && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}

	observed, transition := obs.lateness()
	peak, now := mem.stop()
	if len(observed) < numCases {
		b.Errorf("only %d of %d Cases became Overdue within a minute of their deadlines", len(observed), numCases)
	}
	p := func(xs []time.Duration, q float64) float64 {
		if len(xs) == 0 {
			return -1
		}
		return xs[min(len(xs)-1, int(q*float64(len(xs))))].Seconds()
	}
	b.ReportMetric(p(observed, 0.50), "p50-late-s")
	b.ReportMetric(p(observed, 0.99), "p99-late-s")
	b.ReportMetric(p(observed, 1), "max-late-s")
	b.ReportMetric(p(transition, 0.50), "p50-cond-late-s")
	b.ReportMetric(p(transition, 0.99), "p99-cond-late-s")
	b.ReportMetric(peak.rssMiB, "peak-rss-MiB")
	b.ReportMetric(now.rssMiB, "rss-MiB")
	b.ReportMetric(peak.heapInuseMiB, "peak-heap-inuse-MiB")
	b.ReportMetric(peak.sysMiB, "peak-sys-MiB")
	b.Logf("%d Cases created in %v (%.0f/s); %d Overdue; lateness after dueAt observed p50 %.3fs p99 %.3fs max %.3fs; "+
		"condition lastTransitionTime (whole seconds) p50 %.0fs p99 %.0fs; RSS %.0f MiB (peak %.0f), heap in use peak %.0f MiB, Sys peak %.0f MiB; %d notifications",
		numCases, created.Round(time.Millisecond), float64(numCases)/created.Seconds(), len(observed),
		p(observed, 0.5), p(observed, 0.99), p(observed, 1), p(transition, 0.5), p(transition, 0.99),
		now.rssMiB, peak.rssMiB, peak.heapInuseMiB, peak.sysMiB, deliveries.n.Load())
	if p99 := p(observed, 0.99); p99 >= 2 {
		b.Errorf("p99 lateness %.3fs, target < 2s", p99)
	}
	if peak.rssMiB >= 300 {
		b.Errorf("peak RSS %.0f MiB, target < 300 MiB", peak.rssMiB)
	}
}

// benchTemplate routes every Case and escalates at the deadline.
func benchTemplate(ns string) *cxv1alpha1.CaseTemplate {
	return &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}, Members: []cxv1alpha1.Subject{{Name: "priya"}}},
			Routes:   []cxv1alpha1.Route{{Name: "emea", When: "customer.attributes['region'] == 'emea'", Assignee: "priya"}},
			Escalation: []cxv1alpha1.EscalationStep{{
				Name: "tell-managers", After: metav1.Duration{}, Notify: &cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"ops"}},
			}},
			Closure: cxv1alpha1.ClosureRequirements{RootCauses: []string{"user-error"}},
		},
	}
}

// createCases creates the Cases at createRate from several workers; Case i
// is due lead + i/numCases*spread after its creation.
func createCases(ctx context.Context, c client.Client, ns string) error {
	tokens := make(chan int)
	go func() {
		defer close(tokens)
		tick := time.NewTicker(time.Second / createRate)
		defer tick.Stop()
		for i := range numCases {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				tokens <- i
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, creators)
	for range creators {
		wg.Go(func() {
			for i := range tokens {
				region := "emea"
				if i%2 == 0 {
					region = "amer"
				}
				goal := lead + time.Duration(int64(spread)*int64(i)/numCases)
				cs := &cxv1alpha1.Case{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("case-%05d", i)},
					Spec: cxv1alpha1.CaseSpec{
						Template:    "bench",
						Customer:    &cxv1alpha1.Customer{ID: fmt.Sprintf("C-%05d", i), Tier: "Gold", Attributes: map[string]string{"region": region}},
						ClosureGoal: &metav1.Duration{Duration: goal},
					},
				}
				if err := c.Create(ctx, cs); err != nil {
					errs <- fmt.Errorf("create case %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// observer records when a watch first sees each Case Overdue.
type observer struct {
	mu   sync.Mutex
	seen map[string]sample
}

type sample struct {
	observed   time.Duration // time seen minus dueAt
	transition time.Duration // lastTransitionTime minus dueAt
}

func newObserver() *observer { return &observer{seen: map[string]sample{}} }

func (o *observer) handler() toolscache.ResourceEventHandler {
	see := func(obj any) {
		c, ok := obj.(*cxv1alpha1.Case)
		if !ok || c.Status.DueAt == nil {
			return
		}
		cond := apimeta.FindStatusCondition(c.Status.Conditions, cxv1alpha1.ConditionOverdue)
		if cond == nil || cond.Status != metav1.ConditionTrue {
			return
		}
		now := time.Now()
		o.mu.Lock()
		defer o.mu.Unlock()
		if _, ok := o.seen[c.Name]; !ok {
			o.seen[c.Name] = sample{observed: now.Sub(c.Status.DueAt.Time), transition: cond.LastTransitionTime.Sub(c.Status.DueAt.Time)}
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { see(obj) },
		UpdateFunc: func(_, obj any) { see(obj) },
	}
}

func (o *observer) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// lateness returns the sorted latenesses.
func (o *observer) lateness() (observed, transition []time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.seen {
		observed = append(observed, s.observed)
		transition = append(transition, s.transition)
	}
	slices.Sort(observed)
	slices.Sort(transition)
	return observed, transition
}

// memSample is the process's memory at one time.
type memSample struct {
	rssMiB, heapInuseMiB, sysMiB float64
}

type memSampler struct {
	mu      sync.Mutex
	peak    memSample
	stopped chan struct{}
	cancel  context.CancelFunc
}

// startMemSampler samples memory every 250ms and keeps the peaks.
func startMemSampler(ctx context.Context) *memSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &memSampler{stopped: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s.record(readMem())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memSampler) record(m memSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak.rssMiB = max(s.peak.rssMiB, m.rssMiB)
	s.peak.heapInuseMiB = max(s.peak.heapInuseMiB, m.heapInuseMiB)
	s.peak.sysMiB = max(s.peak.sysMiB, m.sysMiB)
}

// stop returns the peaks and the memory now.
func (s *memSampler) stop() (peak, now memSample) {
	s.cancel()
	<-s.stopped
	now = readMem()
	s.record(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, now
}

func readMem() memSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{rssMiB: rssMiB(), heapInuseMiB: float64(ms.HeapInuse) / (1 << 20), sysMiB: float64(ms.Sys) / (1 << 20)}
}

// rssMiB reads VmRSS from /proc/self/status (Linux); -1 elsewhere.
func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}
