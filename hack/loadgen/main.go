// Command loadgen posts one JSON body template to an HTTP endpoint from
// many keep-alive connections and prints throughput and latency, so that
// the cxloop collector and its peers (hack/peers.sh) are measured by the
// same tool with the same body size. It targets loopback and is bounded
// by -n.
//
//	loadgen -url http://127.0.0.1:8080/v1/responses -body body.json -n 20000 -c 64
//
// {{ID}} in the body is replaced by a number unique to each request (an
// idempotency key, an alert label). With -sink ADDR it instead serves 200
// to every request on ADDR (a webhook receiver for a peer).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "endpoint to POST to")
	bodyPath := flag.String("body", "", "file with the JSON body template ({{ID}} is replaced per request)")
	n := flag.Int("n", 10000, "requests to send")
	c := flag.Int("c", 64, "concurrent connections")
	header := flag.String("header", "", "an extra request header, Name: value")
	sink := flag.String("sink", "", "serve 200 to every request on this address instead of sending")
	label := flag.String("label", "", "name of the run in the output")
	flag.Parse()
	if *sink != "" {
		srv := &http.Server{Addr: *sink, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
		})}
		err := srv.ListenAndServe()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *url == "" || *bodyPath == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -url and -body are required (or -sink)")
		os.Exit(2)
	}
	tmpl, err := os.ReadFile(*bodyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	parts := bytes.Split(tmpl, []byte("{{ID}}"))
	var hName, hValue string
	if *header != "" {
		name, value, ok := bytes.Cut([]byte(*header), []byte(":"))
		if !ok {
			fmt.Fprintln(os.Stderr, "loadgen: -header must be Name: value")
			os.Exit(2)
		}
		hName, hValue = string(name), string(bytes.TrimSpace(value))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}, Timeout: 30 * time.Second}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var next atomic.Int64
	var failed atomic.Int64
	lat := make([][]time.Duration, *c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *c {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				id := []byte(run + "-" + strconv.FormatInt(i, 10))
				body := bytes.Join(parts, id)
				req, _ := http.NewRequest(http.MethodPost, *url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if hName != "" {
					req.Header.Set(hName, hValue)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode >= 300 {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Millisecond)
	}
	out := map[string]any{
		"label": *label, "requests": *n, "ok": len(all), "failed": failed.Load(), "bodyBytes": len(bytes.Join(parts, []byte(run+"-1"))),
		"seconds": elapsed.Seconds(), "perSecond": float64(len(all)) / elapsed.Seconds(), "p50ms": q(0.5), "p99ms": q(0.99),
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
