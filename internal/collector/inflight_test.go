package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The bound on bytes in flight: while a batch of unknown length holds its
// reservation (its route's 16 MB limit, twice), a batch that does not fit
// beside it is answered 503 problem+json with Retry-After and stores
// nothing, a small response still fits, and once the first batch is done
// the refused one goes through.
func TestInflightBytesBound(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("bounded"), Options{MaxInflightBytes: 40 << 20})
	client := &http.Client{}
	pr, pw := io.Pipe()
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.PrivateURL+"/v1/responses:batch", pr)
		req.Header.Set("Authorization", "Bearer "+ts.Token)
		resp, err := client.Do(req)
		if err != nil {
			first <- 0
			return
		}
		_ = resp.Body.Close()
		first <- resp.StatusCode
	}()
	if _, err := io.WriteString(pw, `{"responses":[`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ts.reserved() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the streaming batch never reserved its bytes")
		}
	}
	if got := ts.reserved(); got != inflightCost*maxBatchBytes {
		t.Errorf("a batch of unknown length reserved %d bytes, want %d", got, inflightCost*maxBatchBytes)
	}

	// 10 MB declared: 20 MB do not fit beside the 32 MB held.
	big := batchOf(t, 10<<20)
	a := ts.post(t, "/v1/responses:batch", big)
	p := a.problem(t, http.StatusServiceUnavailable)
	if a.Header.Get("Retry-After") == "" || !strings.Contains(p.Detail, "retry") {
		t.Errorf("503 %+v with Retry-After %q, want a Retry-After and a detail saying to retry", p, a.Header.Get("Retry-After"))
	}
	if n := total(t, ts.Store, "bounded"); n != 0 {
		t.Errorf("%d responses stored from the refused batch", n)
	}
	ts.post(t, "/v1/responses", validResponse("small")).receipt(t)

	body, _ := bytesOf(validResponse("streamed"))
	if _, err := pw.Write(append(body, []byte(`]}`)...)); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if status := <-first; status != http.StatusOK {
		t.Fatalf("the streamed batch answered %d, want 200", status)
	}
	if got := ts.reserved(); got != 0 {
		t.Errorf("%d bytes still reserved after every request ended", got)
	}
	if a := ts.post(t, "/v1/responses:batch", big); a.Status != http.StatusOK {
		t.Errorf("the batch refused before answered %d once there was room: %s", a.Status, a.Body)
	}
}

func (ts *testServer) reserved() int64 {
	ts.inflight.mu.Lock()
	defer ts.inflight.mu.Unlock()
	return ts.inflight.used
}

func bytesOf(v any) ([]byte, error) { return json.Marshal(v) }

// batchOf is a valid batch padded with whitespace to size bytes.
func batchOf(t *testing.T, size int) []byte {
	t.Helper()
	body, err := bytesOf(map[string]any{"responses": []any{validResponse("big-1")}})
	if err != nil {
		t.Fatal(err)
	}
	return append(body, bytes.Repeat([]byte(" "), size-len(body))...)
}

// The default bound comes from the container's memory limit: cgroup v2
// memory.max, else cgroup v1 memory.limit_in_bytes, a quarter of it; no
// limit ("max", or v1's near-2^63 "unlimited") gives the fallback.
func TestInflightBoundFromMemoryLimit(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, errors.New("no such file")
		}
	}
	for _, c := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2", map[string]string{cgroupV2MemoryMax: "536870912\n"}, 128 << 20},
		{"v2 unlimited", map[string]string{cgroupV2MemoryMax: "max\n"}, DefaultInflightBytes},
		{"v1", map[string]string{cgroupV1MemoryLimit: "1073741824\n"}, 256 << 20},
		{"v1 unlimited", map[string]string{cgroupV1MemoryLimit: "9223372036854771712\n"}, DefaultInflightBytes},
		{"small pod", map[string]string{cgroupV2MemoryMax: "134217728"}, minInflightBytes},
		{"no cgroup", nil, DefaultInflightBytes},
	} {
		limit := memoryLimitFrom(files(c.files), cgroupV2MemoryMax, cgroupV1MemoryLimit)
		if got := InflightBytesFor(limit); got != c.want {
			t.Errorf("%s: bound %d (memory limit %d), want %d", c.name, got, limit, c.want)
		}
	}
}
