package rules_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// BenchmarkResponseToCase posts matching responses at a steady 100/s to a
// real collector (HTTP, SQLite, outbox, dispatcher) and measures how long
// each takes to become a Case a watcher of the real API server sees: p50
// and p99 over b.N responses. Run it with enough responses for a p99:
//
//	make bench BENCH=ResponseToCase BENCH_PKGS=./test/rules/ BENCHTIME=1000x
func BenchmarkResponseToCase(b *testing.B) {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	p := newProgram(b, nil, rule("installation-failed", "answers.completed == false"))
	p.clock.FollowWallClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.disp.Run(ctx)

	w, err := wc.Watch(ctx, &cxv1alpha1.CaseList{}, client.InNamespace(p.ns))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			if c, ok := ev.Object.(*cxv1alpha1.Case); ok && ev.Type == watch.Added {
				mu.Lock()
				seen[c.Name] = time.Now()
				mu.Unlock()
			}
		}
	}()

	posted := make(map[string]time.Time, b.N)
	tick := time.NewTicker(10 * time.Millisecond) // 100 responses/s
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		id := fmt.Sprintf("r-%06d", i)
		posted[collector.CaseName("installation-support", "installation-failed", "upgrade-install", id)] = time.Now()
		p.post(id, fmt.Sprintf("C-%06d", i), false, "")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d cases seen after 60s", n, b.N)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	lat := make([]float64, 0, b.N)
	mu.Lock()
	for name, at := range posted {
		lat = append(lat, float64(seen[name].Sub(at))/float64(time.Millisecond))
	}
	mu.Unlock()
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[min(len(lat)-1, len(lat)*99/100)], "p99-ms")
	b.ReportMetric(0, "ns/op")
}
