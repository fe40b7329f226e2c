package controllers

import (
	"context"
	"fmt"
	"sync/atomic"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/reference"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
)

// Pacing of the Case controller's Kubernetes events.
const (
	// caseEventsPerSecond and caseEventBurst bound the rate at which Case
	// events are written: a few programs' worth of transitions go out at
	// once, a burst of thousands (Cases falling due together) follows the
	// status writes instead of competing with them.
	caseEventsPerSecond = 20
	caseEventBurst      = 100
	// maxQueuedCaseEvents bounds the events waiting; past it events are
	// dropped (and counted), as client-go drops events when its own queue
	// is full.
	maxQueuedCaseEvents = 20000
)

// pacedRecorder writes events through another recorder at a bounded rate,
// in order. Kubernetes events are best effort; a Case's conditions, status
// and notifications are its record, and writing them must not wait behind
// thousands of events: with one event per Case falling due, 10,000 Cases
// due within 30 seconds doubled the API server's work and made the
// Overdue conditions up to 15 seconds late. Events still go out, later.
type pacedRecorder struct {
	next    recorder.EventRecorder
	scheme  *runtime.Scheme
	limiter *rate.Limiter
	queue   chan func()
	dropped atomic.Int64
}

var _ recorder.EventRecorder = (*pacedRecorder)(nil)

func newPacedRecorder(next recorder.EventRecorder, scheme *runtime.Scheme) *pacedRecorder {
	return &pacedRecorder{
		next:    next,
		scheme:  scheme,
		limiter: rate.NewLimiter(caseEventsPerSecond, caseEventBurst),
		queue:   make(chan func(), maxQueuedCaseEvents),
	}
}

// Eventf implements recorder.EventRecorder.
func (p *pacedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	regarding, related, note = p.reference(regarding), p.reference(related), fmt.Sprintf(note, args...)
	p.enqueue(func() { p.next.Eventf(regarding, related, eventtype, reason, action, "%s", note) })
}

// AnnotatedEventf implements recorder.EventRecorder.
func (p *pacedRecorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	regarding, related, note = p.reference(regarding), p.reference(related), fmt.Sprintf(note, args...)
	p.enqueue(func() {
		p.next.AnnotatedEventf(regarding, related, annotations, eventtype, reason, action, "%s", note)
	})
}

func (p *pacedRecorder) enqueue(f func()) {
	select {
	case p.queue <- f:
	default:
		p.dropped.Add(1)
	}
}

// Start writes the queued events until ctx ends (a manager Runnable).
func (p *pacedRecorder) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			if n := p.dropped.Load(); n > 0 {
				ctrl.LoggerFrom(ctx).Info("case events dropped: the queue was full", "dropped", n)
			}
			return nil
		case f := <-p.queue:
			if p.limiter.Wait(ctx) != nil {
				return nil // the manager is stopping
			}
			f()
		}
	}
}

// reference keeps what an event needs of its object (kind, namespace,
// name, uid, resourceVersion) as it was when the event was made, not the
// whole object: a queue of thousands stays small.
func (p *pacedRecorder) reference(o runtime.Object) runtime.Object {
	if o == nil {
		return nil
	}
	ref, err := reference.GetReference(p.scheme, o)
	if err != nil {
		return o.DeepCopyObject()
	}
	return ref
}
