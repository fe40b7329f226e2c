package casebench

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// requestLog records the manager's requests to the API server: how many
// of each kind, and when each Case's status writes started and ended, so
// a Case's lateness splits into the wait before its write, the write and
// the watch that reports it.
type requestLog struct {
	mu     sync.Mutex
	counts map[string]int
	writes map[string][]span // Case name -> status writes
}

type span struct{ start, end time.Time }

func newRequestLog() *requestLog {
	return &requestLog{counts: map[string]int{}, writes: map[string][]span{}}
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		end := time.Now()
		kind, name := classify(req)
		l.mu.Lock()
		defer l.mu.Unlock()
		what := req.Method + " " + kind
		if err != nil {
			what += " (error)"
		} else if resp.StatusCode >= 300 {
			what += fmt.Sprintf(" (%d)", resp.StatusCode)
		}
		l.counts[what]++
		if kind == "cases/status" && req.Method != http.MethodGet {
			l.writes[name] = append(l.writes[name], span{start, end})
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// classify names the resource of a request (cases, cases/status, events,
// ...) and the object's name.
func classify(req *http.Request) (kind, name string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			kind = rest[0]
			if len(rest) > 1 {
				name = rest[1]
			}
			if len(rest) > 2 {
				kind += "/" + rest[2]
			}
			return kind, name
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1], ""
	}
	return "?", ""
}

// snapshot returns the counts so far.
func (l *requestLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// diff formats the requests made between two snapshots, per Case.
func diff(before, after map[string]int, perCase int) string {
	var keys []string
	for k := range after {
		if after[k] != before[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d (%.2f/Case); ", k, after[k]-before[k], float64(after[k]-before[k])/float64(perCase))
	}
	return b.String()
}

// split returns, for each Case seen Overdue, the time from its exact
// deadline (openedAt + closureGoal) to the start of the status write that
// stored Overdue, the write's duration, and the time from the write's
// end to the watch seeing it; and how far the recorded dueAt is before the
// exact deadline.
func (l *requestLog) split(seen map[string]sample) (wait, write, watch, rounding []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, s := range seen {
		exact, seenAt := s.exact, s.seenAt
		rounding = append(rounding, s.rounding)
		// The write that stored Overdue is the last one that ended
		// before the watch saw it.
		var w *span
		for i := range l.writes[name] {
			if sp := l.writes[name][i]; !sp.end.After(seenAt) {
				w = &l.writes[name][i]
			}
		}
		if w == nil {
			continue
		}
		wait = append(wait, w.start.Sub(exact))
		write = append(write, w.end.Sub(w.start))
		watch = append(watch, seenAt.Sub(w.end))
	}
	for _, xs := range [][]time.Duration{wait, write, watch, rounding} {
		slices.Sort(xs)
	}
	return wait, write, watch, rounding
}
