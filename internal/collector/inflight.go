package collector

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Bytes in flight: every request with a body reserves memory for it before
// its body is read, against one budget shared by all requests of both
// surfaces, and gets a 503 with Retry-After when the budget is spent. This
// bounds the collector's memory however many large requests arrive at
// once (ten 16 MB batches used to take the pod past its limit).

// inflightCost is how many bytes a request reserves per byte of body: the
// body as it is decoded and the responses decoded from it, which are held
// until the store has them (a batch is checked whole before any of it is
// stored, so a malformed one stores nothing).
const inflightCost = 2

// defaultBodyReserve is what a body of unknown length (chunked) reserves
// on routes without a larger limit of their own.
const defaultBodyReserve = 1 << 20

// Defaults of the in-flight budget: a quarter of the container's memory
// limit (the rest is the runtime, the store's caches, garbage not yet
// collected and the process itself), and 256 MiB without a limit.
const (
	inflightShareOfLimit = 4
	DefaultInflightBytes = 256 << 20
	minInflightBytes     = 2 * inflightCost * maxBatchBytes
	cgroupV2MemoryMax    = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryLimit  = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	cgroupUnlimitedFrom  = 1 << 62
)

// ContainerMemoryLimit reads the memory limit of the container the process
// runs in (cgroup v2 memory.max, else cgroup v1 memory.limit_in_bytes); 0
// when there is none or it cannot be read.
func ContainerMemoryLimit() int64 {
	return memoryLimitFrom(os.ReadFile, cgroupV2MemoryMax, cgroupV1MemoryLimit)
}

func memoryLimitFrom(read func(string) ([]byte, error), paths ...string) int64 {
	for _, p := range paths {
		raw, err := read(p)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(raw))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= cgroupUnlimitedFrom {
			// cgroup v1 says "unlimited" with a number near 2^63.
			return 0
		}
		return n
	}
	return 0
}

// InflightBytesFor is the default in-flight budget for a container memory
// limit (0: none known): a quarter of it, at least what two maximum-size
// batches need, and DefaultInflightBytes without a limit.
func InflightBytesFor(memoryLimit int64) int64 {
	if memoryLimit <= 0 {
		return DefaultInflightBytes
	}
	return max(memoryLimit/inflightShareOfLimit, minInflightBytes)
}

// inflight is the shared budget of request bytes.
type inflight struct {
	mu    sync.Mutex
	limit int64
	used  int64
}

// acquire reserves n bytes, or returns false when they do not fit.
func (b *inflight) acquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *inflight) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// reservation is what a request with a body of at most limit bytes
// reserves: its declared length, or the limit when it declares none.
func reservation(r *http.Request, limit int64) int64 {
	n := limit
	if r.ContentLength >= 0 && r.ContentLength < limit {
		n = r.ContentLength
	}
	return inflightCost * n
}

// bounded reserves the request's bytes in flight for h, or answers 503
// with Retry-After when the collector holds as many as it may.
func (s *Server) bounded(limit func() int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.inflight == nil || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			h(w, r)
			return
		}
		n := reservation(r, limit())
		if !s.inflight.acquire(n) {
			s.metrics.overloaded.Inc()
			// Read the body away (a small buffer at a time, up to the
			// route's limit), so the client gets the answer rather than a
			// connection reset while it is still sending.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, limit()+1))
			w.Header().Set("Retry-After", "1")
			writeProblem(w, Problem{Type: problemUnavailable, Title: "Collector busy", Status: http.StatusServiceUnavailable,
				Detail: fmt.Sprintf("the collector holds as many request bytes as it may (%d MiB); nothing was stored, retry after the Retry-After seconds", s.inflight.limit>>20)})
			return
		}
		s.metrics.inflightBytes.Add(float64(n))
		defer func() {
			s.inflight.release(n)
			s.metrics.inflightBytes.Sub(float64(n))
		}()
		h(w, r)
	}
}
