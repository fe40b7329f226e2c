package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// writtenCases remembers each Case as the controller last wrote it, until
// the cache shows that write. A reconciliation that runs before the cache
// has caught up (the watch event of the controller's own spec patch
// arrives before the one of its status patch) then works from what was
// written, instead of repeating transitions from an older status only to
// have the optimistic lock refuse them. The manager's watch forgets an
// entry as soon as the cache holds the written version, so entries live
// for the cache's lag, not for the Case's life.
//
// Only the controller writes a Case's status, so a cached Case of the same
// generation as the written one whose status differs is older than the
// write; one of a newer generation is newer.
type writtenCases struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*cxv1alpha1.Case
}

// remember records c as written (as the API server returned it).
func (w *writtenCases) remember(c *cxv1alpha1.Case) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]*cxv1alpha1.Case{}
	}
	w.m[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = c.DeepCopy()
}

// forget drops the entry of a Case.
func (w *writtenCases) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}

// latest returns the newer of the cached Case and the written one.
func (w *writtenCases) latest(cached *cxv1alpha1.Case) *cxv1alpha1.Case {
	key := types.NamespacedName{Namespace: cached.Namespace, Name: cached.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	written, ok := w.m[key]
	if !ok {
		return cached
	}
	if w.caughtUp(cached, written) {
		delete(w.m, key)
		return cached
	}
	return written.DeepCopy()
}

// caughtUp reports whether the cached Case is at least as new as the
// written one.
func (w *writtenCases) caughtUp(cached, written *cxv1alpha1.Case) bool {
	if cached.UID != written.UID || cached.ResourceVersion == written.ResourceVersion {
		return true
	}
	if cached.Generation != written.Generation {
		return cached.Generation > written.Generation
	}
	return equality.Semantic.DeepEqual(cached.Status, written.Status)
}

// watch forgets entries as the cache catches up.
func (w *writtenCases) watch() toolscache.ResourceEventHandler {
	seen := func(obj any) {
		c, ok := obj.(*cxv1alpha1.Case)
		if !ok {
			return
		}
		key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
		w.mu.Lock()
		defer w.mu.Unlock()
		if written, ok := w.m[key]; ok && w.caughtUp(c, written) {
			delete(w.m, key)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { seen(obj) },
		UpdateFunc: func(_, obj any) { seen(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*cxv1alpha1.Case); ok {
				w.forget(types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
			}
		},
	}
}
