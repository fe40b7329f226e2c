package predict

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"
)

// benchSpec has 20 features: 16 numbers from event metadata (summed, last
// or max over the interaction's events) and 4 categories of the customer.
func benchSpec() Spec {
	// a benchmark measures; it does not judge the model
	s := Spec{Target: TargetDetractor, InteractionKey: "ticketId", Window: 72 * time.Hour, MinAUC: 0.5}
	aggs := []Aggregate{Last, Sum, Max}
	for i := range 16 {
		s.Features = append(s.Features, Feature{Name: fmt.Sprintf("n%d", i), Source: fmt.Sprintf("metadata.n%d", i), Kind: Number, Aggregate: aggs[i%3]})
	}
	s.Features = append(s.Features,
		Feature{Name: "tier", Source: "customer.tier", Kind: Category},
		Feature{Name: "segment", Source: "customer.segment", Kind: Category},
		Feature{Name: "plan", Source: "customer.attributes.plan", Kind: Category},
		Feature{Name: "region", Source: "customer.attributes.region", Kind: Category},
	)
	return s
}

// benchExamples makes n answered interactions of two events each whose
// detractor probability depends on every feature.
func benchExamples(n int) []Example {
	r := rand.New(rand.NewPCG(11, 12))
	cats := func(prefix string, k int) string { return fmt.Sprintf("%s%d", prefix, r.IntN(k)) }
	out := make([]Example, n)
	for i := range out {
		cust := Customer{ID: fmt.Sprintf("c%06d", i), Tier: cats("t", 3), Segment: cats("s", 5),
			Attributes: map[string]string{"plan": cats("p", 4), "region": cats("r", 8)}}
		z := -1.0
		in := Interaction{CustomerID: cust.ID, ID: fmt.Sprint(i)}
		for k := range 2 {
			md := map[string]any{"ticketId": fmt.Sprint(i)}
			for f := range 16 {
				v := r.NormFloat64()
				md[fmt.Sprintf("n%d", f)] = v
				z += 0.25 * v * float64(f%4-1)
			}
			in.Events = append(in.Events, Event{ID: fmt.Sprintf("e%d-%d", i, k), Name: "contact", Customer: cust,
				OccurredAt: t0.Add(time.Duration(i) * time.Second), Metadata: md})
		}
		if cust.Tier == "t0" {
			z += 0.8
		}
		label := 0.0
		if r.Float64() < sigmoid(z) {
			label = 1
		}
		out[i] = Example{Interaction: in, Label: label}
	}
	return out
}

// peakHeap samples the heap in use every 5 ms until stop is closed.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var mu sync.Mutex
	var peak uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { <-done; mu.Lock(); defer mu.Unlock(); return peak }
}

// BenchmarkTrain100kInteractions20Features trains and evaluates (held-out
// split, 5-fold cross-validation: six fits) on 100,000 answered
// interactions with 20 features (16 numbers, 4 categories: 32 columns).
// Reported: seconds per training, the peak heap during it beside the heap
// the examples themselves hold, and the held-out AUC as a sanity check.
func BenchmarkTrain100kInteractions20Features(b *testing.B) {
	exs := benchExamples(100_000)
	spec := benchSpec()
	runtime.GC()
	base := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(base)
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	var auc float64
	cpu0, cpuOK := testutil.CPUTime()
	for b.Loop() {
		stop := make(chan struct{})
		get := peakHeap(stop)
		res, err := Train(spec, exs, t0)
		close(stop)
		if err != nil || res.Model == nil {
			b.Fatalf("train: %v %s", err, res.Refused)
		}
		peak = max(peak, get())
		auc = res.Evaluation.AUC
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/train")
	if cpu1, ok := testutil.CPUTime(); ok && cpuOK {
		// the process's CPU time: on a loaded machine the wall time is not the cost
		b.ReportMetric((cpu1-cpu0).Seconds()/float64(b.N), "cpu-s/train")
	}
	b.ReportMetric(float64(base[0].Value.Uint64())/(1<<20), "examples-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(auc, "heldout-AUC")
}

// BenchmarkScoreEvent is the cost a prediction adds to one event: group the
// customer's events of the interaction (two here), compute the 20
// features and score.
func BenchmarkScoreEvent(b *testing.B) {
	exs := benchExamples(20_000)
	spec := benchSpec()
	res, err := Train(spec, exs, t0)
	if err != nil || res.Model == nil {
		b.Fatalf("train: %v %s", err, res.Refused)
	}
	m := res.Model
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	cpu0, cpuOK := testutil.CPUTime()
	for b.Loop() {
		evs := exs[i%len(exs)].Interaction.Events
		ins := spec.Interactions(evs)
		_ = m.Score(ins[0])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu1, ok := testutil.CPUTime(); ok && cpuOK {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
	}
}
