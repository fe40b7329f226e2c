package collector

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
)

// RuleMatches is what a collector saw of one rule since its last report.
type RuleMatches struct {
	Count int64
	Last  time.Time
}

// matchCounter counts, per rule, the stored responses that matched it, for
// the rule's status.matches and status.lastMatchTime.
type matchCounter struct {
	mu     sync.Mutex
	counts map[string]RuleMatches
}

// record counts the rules a newly stored response matched, read from its
// actions' dedup keys ("<response>/<rule>/<action>": rule names hold no
// "/").
func (m *matchCounter) record(nr *store.NewResponse, at time.Time) {
	if len(nr.Actions) == 0 {
		return
	}
	seen := map[string]bool{}
	prefix := nr.ID + "/"
	for _, a := range nr.Actions {
		rest, ok := strings.CutPrefix(a.DedupKey, prefix)
		if !ok {
			continue
		}
		rule, _, _ := strings.Cut(rest, "/")
		seen[rule] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]RuleMatches{}
	}
	for rule := range seen {
		c := m.counts[rule]
		c.Count++
		if at.After(c.Last) {
			c.Last = at
		}
		m.counts[rule] = c
	}
}

// take returns the counts and starts afresh.
func (m *matchCounter) take() map[string]RuleMatches {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.counts
	m.counts = nil
	return out
}

// giveBack adds counts that could not be reported to the next report.
func (m *matchCounter) giveBack(rule string, c RuleMatches) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]RuleMatches{}
	}
	cur := m.counts[rule]
	cur.Count += c.Count
	if c.Last.After(cur.Last) {
		cur.Last = c.Last
	}
	m.counts[rule] = cur
}

// reportMatches adds the counted matches to each rule's status.matches and
// lastMatchTime every interval, until ctx is done. Several collectors add
// their own counts: the patch carries the resourceVersion it read, so a
// concurrent update makes it fail and the counts wait for the next round.
// Counts since the last report are lost if the collector is killed: the
// figure is a monitoring count, the Cases are the record.
func reportMatches(ctx context.Context, c client.Client, namespace string, m *matchCounter, every time.Duration, log logr.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// One last report on shutdown, bounded.
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			flushMatches(final, c, namespace, m, log)
			cancel()
			return
		case <-t.C:
			flushMatches(ctx, c, namespace, m, log)
		}
	}
}

func flushMatches(ctx context.Context, c client.Client, namespace string, m *matchCounter, log logr.Logger) {
	for rule, counts := range m.take() {
		if err := addMatches(ctx, c, namespace, rule, counts); err != nil {
			if apierrors.IsNotFound(err) {
				continue // the rule is gone
			}
			log.V(1).Info("rule matches not reported yet", "rule", rule, "error", err.Error())
			m.giveBack(rule, counts)
		}
	}
}

func addMatches(ctx context.Context, c client.Client, namespace, name string, counts RuleMatches) error {
	r := &cxv1alpha1.AlertRule{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, r); err != nil {
		return err
	}
	before := r.DeepCopy()
	r.Status.Matches += counts.Count
	if r.Status.LastMatchTime == nil || counts.Last.After(r.Status.LastMatchTime.Time) {
		r.Status.LastMatchTime = &metav1.Time{Time: counts.Last}
	}
	if err := c.Status().Patch(ctx, r, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch status of rule %s: %w", name, err)
	}
	return nil
}
