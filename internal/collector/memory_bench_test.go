package collector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// podMemoryLimit is the collector container's default memory limit
// (charts and the SurveyTouchpoint controller: 512Mi).
const podMemoryLimit = 512 << 20

// BenchmarkBatchMemory starts the real collector binary (SQLite store) as
// a subprocess configured as in a 512Mi container (the in-flight bound
// and GOMEMLIMIT it derives from that limit), posts ten maximum-size
// (16 MB, 1,000 items) batches at once to the private surface, retrying
// each batch answered 503 after its Retry-After until it is stored, and
// reports the process's peak RSS (VmHWM) against the 512Mi limit.
// "unbounded" is the same collector with the in-flight bound off.
//
//	make bench BENCH=BatchMemory BENCH_PKGS=./internal/collector/
func BenchmarkBatchMemory(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "cxloop")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cxloop/cxloop").CombinedOutput(); err != nil {
		b.Fatalf("go build the cxloop binary: %v\n%s", err, out)
	}
	batches := make([][]byte, 10)
	for i := range batches {
		batches[i] = maxBatch(b, i)
	}
	b.Logf("batch bodies: %d bytes each (limit %d)", len(batches[0]), maxBatchBytes)
	for _, c := range []struct {
		name     string
		inflight int64
	}{
		{"bounded", InflightBytesFor(podMemoryLimit)},
		{"unbounded", -1},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				runBatchMemory(b, bin, batches, c.inflight)
			}
		})
	}
}

func runBatchMemory(b *testing.B, bin string, batches [][]byte, inflight int64) {
	b.Helper()
	tp := memoryTouchpoint()
	cfg := crashConfig(b, "memory", "sqlite", filepath.Join(b.TempDir(), "responses.db"))
	fc, err := ReadFileConfig(cfg.path)
	if err != nil {
		b.Fatal(err)
	}
	fc.Spec.Questions, fc.Spec.Comment = tp.Spec.Questions, tp.Spec.Comment
	raw, _ := json.Marshal(fc)
	if err := os.WriteFile(cfg.path, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	p := &collectorProcess{out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "collector", "--standalone", "--config", cfg.path, "--max-inflight-bytes", strconv.FormatInt(inflight, 10))
	p.cmd.Env = append(os.Environ(), EnvAPIToken+"="+testAPIToken, fmt.Sprintf("GOMEMLIMIT=%d", podMemoryLimit/10*9))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	defer p.kill(b)
	waitReady(b, p, cfg.url)
	before := procStatusKB(b, p.cmd.Process.Pid, "VmRSS")

	private := "http://" + fc.PrivateListenAddress
	client := &http.Client{Timeout: 5 * time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy, accepted := 0, 0
	start := time.Now()
	b.ResetTimer()
	for _, body := range batches {
		wg.Go(func() {
			for {
				req, _ := http.NewRequest(http.MethodPost, private+"/v1/responses:batch", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testAPIToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Errorf("post batch: %v", err)
					return
				}
				var res BatchResult
				_ = json.NewDecoder(resp.Body).Decode(&res)
				_ = resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusServiceUnavailable:
					busy++
				case http.StatusOK:
					accepted += res.Accepted
				default:
					b.Errorf("batch answered %d", resp.StatusCode)
				}
				mu.Unlock()
				if resp.StatusCode != http.StatusServiceUnavailable {
					return
				}
				wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
				time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	peak := procStatusKB(b, p.cmd.Process.Pid, "VmHWM")
	if accepted != 10*MaxBatchItems {
		b.Errorf("%d responses accepted, want %d", accepted, 10*MaxBatchItems)
	}
	b.ReportMetric(float64(before)/1024, "start-RSS-MiB")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(podMemoryLimit>>20), "limit-MiB")
	b.ReportMetric(float64(max(inflight, 0)>>20), "inflight-bound-MiB")
	b.ReportMetric(float64(busy), "503s")
	b.ReportMetric(time.Since(start).Seconds(), "s/10-batches")
}

// waitReady waits until the subprocess answers /readyz.
func waitReady(b *testing.B, p *collectorProcess, url string) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.exited:
			b.Fatalf("the collector exited: %v\n%s", err, p.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.Fatalf("the collector was not ready within a minute\n%s", p.log())
}

// procStatusKB reads a kB field of /proc/<pid>/status (VmRSS, VmHWM).
func procStatusKB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// memoryTouchpoint takes long comments and text answers, so a batch of
// 1,000 real responses fills 16 MB.
func memoryTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	tp := feedbackTouchpoint("memory")
	tp.Spec.Comment = &cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 5000}
	for i := range tp.Spec.Questions {
		if tp.Spec.Questions[i].Type == cxv1alpha1.QuestionText {
			tp.Spec.Questions[i].MaxLength = ptr.To[int32](5000)
		}
	}
	return tp
}

// maxBatch is a batch of 1,000 valid responses of about 16 MB in all: a
// 4,000-character comment, a 4,000-character text answer and metadata.
func maxBatch(b *testing.B, n int) []byte {
	b.Helper()
	words := strings.Repeat("the invoice was slow to arrive and support was quick to help ", 70)
	perItem := (maxBatchBytes - 64) / MaxBatchItems
	var buf bytes.Buffer
	buf.WriteString(`{"responses":[`)
	for i := range MaxBatchItems {
		item := validResponse(fmt.Sprintf("m%02d-%04d", n, i))
		item["comment"] = words[:4000]
		answers, _ := item["answers"].(map[string]any)
		answers["improve"] = words[:4000]
		meta := map[string]any{}
		for k := range 8 {
			meta[fmt.Sprintf("k%d", k)] = strings.Repeat("x", 1000)
		}
		item["metadata"] = meta
		raw, err := json.Marshal(item)
		if err != nil {
			b.Fatal(err)
		}
		// Pad the last metadata value so every item has the same size.
		if pad := perItem - len(raw) - 1; pad > 0 && pad < 1000 {
			meta["pad"] = strings.Repeat("y", max(pad-len(`,"pad":""`), 0))
			raw, _ = json.Marshal(item)
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(raw)
	}
	buf.WriteString(`]}`)
	if buf.Len() > maxBatchBytes {
		b.Fatalf("batch of %d bytes is over the limit", buf.Len())
	}
	return buf.Bytes()
}
