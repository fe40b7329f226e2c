package inbox

import (
	"slices"
	"sync"
	"time"

	toolscache "k8s.io/client-go/tools/cache"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// Row is what a list shows of one Case, kept small so that a list over
// many thousand Cases is a scan of a slice, not of full objects.
type Row struct {
	Namespace, Name  string
	Title            string
	Template         string
	Touchpoint       string
	CustomerID, Tier string
	Severity         cxv1alpha1.Severity
	State            cxv1alpha1.CaseState
	Assignee         string
	OpenedAt         time.Time
	DueAt            time.Time // zero: no deadline yet
	ClosedAt         time.Time
	ClosureGoal      time.Duration
	ResourceVersion  string
}

// open is a Case someone still has to work (not Resolved, not Closed).
func (r *Row) open() bool { return !cases.IsDone(r.State) }

// overdue is an open Case past its deadline.
func (r *Row) overdue(now time.Time) bool {
	return r.open() && !r.DueAt.IsZero() && !now.Before(r.DueAt)
}

func rowOf(c *cxv1alpha1.Case) *Row {
	r := &Row{
		Namespace: c.Namespace, Name: c.Name, Title: c.Spec.Title, Template: c.Spec.Template,
		Severity: c.Spec.Severity, State: cases.State(c), Assignee: c.Spec.Assignee,
		OpenedAt: c.CreationTimestamp.Time, ResourceVersion: c.ResourceVersion,
	}
	if c.Spec.Source != nil {
		r.Touchpoint = c.Spec.Source.Touchpoint
	}
	if c.Spec.Customer != nil {
		r.CustomerID, r.Tier = c.Spec.Customer.ID, c.Spec.Customer.Tier
	}
	if c.Status.OpenedAt != nil {
		r.OpenedAt = c.Status.OpenedAt.Time
	}
	if c.Status.DueAt != nil {
		r.DueAt = c.Status.DueAt.Time
	}
	if c.Status.ClosedAt != nil {
		r.ClosedAt = c.Status.ClosedAt.Time
	}
	if c.Spec.ClosureGoal != nil {
		r.ClosureGoal = c.Spec.ClosureGoal.Duration
	}
	return r
}

// team is who works a template's Cases, as the template names them.
type team struct {
	managers, members []cxv1alpha1.Subject
}

func includes(subjects []cxv1alpha1.Subject, id Identity) bool {
	return slices.ContainsFunc(subjects, func(s cxv1alpha1.Subject) bool {
		if s.Kind == cxv1alpha1.SubjectGroup {
			return slices.Contains(id.Groups, s.Name)
		}
		return s.Name == id.User
	})
}

// Change is a Case that was added, changed or deleted.
type Change struct {
	Namespace, Name string
}

// board is the inbox's index of Cases and templates, fed by informers. It
// answers list queries and fans changes out to live pages.
type board struct {
	mu        sync.RWMutex
	cases     map[string]map[string]*Row // namespace → name → row
	templates map[string]team            // namespace/name → team

	subMu sync.Mutex
	subs  map[chan Change]struct{}
}

func newBoard() *board {
	return &board{cases: map[string]map[string]*Row{}, templates: map[string]team{}, subs: map[chan Change]struct{}{}}
}

func (b *board) putCase(c *cxv1alpha1.Case) {
	r := rowOf(c)
	b.mu.Lock()
	ns := b.cases[c.Namespace]
	if ns == nil {
		ns = map[string]*Row{}
		b.cases[c.Namespace] = ns
	}
	ns[c.Name] = r
	b.mu.Unlock()
	b.publish(Change{Namespace: c.Namespace, Name: c.Name})
}

func (b *board) deleteCase(namespace, name string) {
	b.mu.Lock()
	if ns := b.cases[namespace]; ns != nil {
		delete(ns, name)
		if len(ns) == 0 {
			delete(b.cases, namespace)
		}
	}
	b.mu.Unlock()
	b.publish(Change{Namespace: namespace, Name: name})
}

func (b *board) putTemplate(t *cxv1alpha1.CaseTemplate) {
	b.mu.Lock()
	b.templates[t.Namespace+"/"+t.Name] = team{managers: t.Spec.Team.CaseManagers, members: t.Spec.Team.Members}
	b.mu.Unlock()
}

func (b *board) deleteTemplate(namespace, name string) {
	b.mu.Lock()
	delete(b.templates, namespace+"/"+name)
	b.mu.Unlock()
}

// namespaces with at least one Case.
func (b *board) namespaces() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]string, 0, len(b.cases))
	for ns := range b.cases {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// scan calls f for every Case of the namespace, under the read lock. A
// Row is never changed once on the board (a change replaces it), so f may
// keep the pointer.
func (b *board) scan(namespace string, f func(r *Row, t team)) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, r := range b.cases[namespace] {
		f(r, b.templates[namespace+"/"+r.Template])
	}
}

// subscribe returns a channel of changes; cancel stops it.
func (b *board) subscribe() (<-chan Change, func()) {
	ch := make(chan Change, 64)
	b.subMu.Lock()
	b.subs[ch] = struct{}{}
	b.subMu.Unlock()
	return ch, func() {
		b.subMu.Lock()
		delete(b.subs, ch)
		b.subMu.Unlock()
	}
}

// publish tells every subscriber; a subscriber that is not keeping up
// misses changes (a live page refreshes whole, so a later change covers an
// earlier one).
func (b *board) publish(c Change) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// handlers feed the board from an informer of Cases or CaseTemplates.
func (b *board) caseHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { b.onCase(obj) },
		UpdateFunc: func(_, obj any) { b.onCase(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*cxv1alpha1.Case); ok {
				b.deleteCase(c.Namespace, c.Name)
			}
		},
	}
}

func (b *board) onCase(obj any) {
	if c, ok := obj.(*cxv1alpha1.Case); ok {
		b.putCase(c)
	}
}

func (b *board) templateHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if t, ok := obj.(*cxv1alpha1.CaseTemplate); ok {
				b.putTemplate(t)
			}
		},
		UpdateFunc: func(_, obj any) {
			if t, ok := obj.(*cxv1alpha1.CaseTemplate); ok {
				b.putTemplate(t)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if t, ok := obj.(*cxv1alpha1.CaseTemplate); ok {
				b.deleteTemplate(t.Namespace, t.Name)
			}
		},
	}
}
