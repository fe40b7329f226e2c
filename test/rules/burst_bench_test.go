package rules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// BenchmarkCollectorBurst posts a burst of matching responses (default
// 2,000; CXLOOP_BENCH_BURST) to the shipped binary, `cxloop collector`
// with its default flags, started as the controller starts it (the
// configuration file it renders, the API server's kubeconfig, a SQLite
// store), and measures from the first post until every Case exists.
// Beside it, in the same run, the raw ceiling: a controller-runtime client
// without a client-side rate limit creating as many copies of the first
// Case the collector made from as many workers as its dispatcher has
// (CXLOOP_BENCH_WORKERS, default collector.DefaultDispatchWorkers),
// measured before and after the burst (their mean is the ceiling).
//
// Target (issue 17): the collector within 1.3x the ceiling's time.
//
//	make bench BENCH=CollectorBurst BENCH_PKGS=./test/rules/ BENCHTIME=1x
//
// It builds the binary from this tree, or runs CXLOOP_BENCH_BINARY (a
// cxloop binary built before, to compare two builds).
func BenchmarkCollectorBurst(b *testing.B) {
	n := 2000
	if v := os.Getenv("CXLOOP_BENCH_BURST"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("CXLOOP_BENCH_BURST: %v", err)
		}
	}
	bin := os.Getenv("CXLOOP_BENCH_BINARY")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "cxloop")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/cxloop/cxloop").CombinedOutput(); err != nil {
			b.Fatalf("go build the cxloop binary: %v\n%s", err, out)
		}
	}
	for b.Loop() {
		runCollectorBurst(b, bin, n)
	}
}

func runCollectorBurst(b *testing.B, bin string, n int) {
	ctx := context.Background()
	ns := env.Namespace(b)
	tp := &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upgrade-install"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo, Required: true},
			},
			Comment: &cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 2000},
			// The burst comes from one loopback client: lift the public
			// surface's per-client limit (a touchpoint setting, not a flag).
			Collector: &cxv1alpha1.CollectorSpec{RateLimit: &cxv1alpha1.RateLimit{RequestsPerSecond: 1000000, Burst: 1000000}},
		},
	}
	tmpl := &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installation-support"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Kind: "User", Name: "maria.lopez"}}},
			Closure:  cxv1alpha1.ClosureRequirements{RootCauses: []string{"installer-bug"}},
			DefaultPolicy: &cxv1alpha1.CasePolicy{
				Severity: cxv1alpha1.SeverityNormal, ClosureGoal: cxv1alpha1.Duration{Duration: 72 * time.Hour},
			},
		},
	}
	r := rule("burst", "answers.completed == false")
	r.Namespace = ns
	for _, obj := range []client.Object{tp, tmpl, r} {
		if err := env.Client.Create(ctx, obj); err != nil {
			b.Fatalf("create %T: %v", obj, err)
		}
	}
	url, stop := startCollectorBinary(b, bin, ns, tp)
	defer stop()

	httpc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	defer httpc.CloseIdleConnections()
	post := func(id string) {
		body := fmt.Sprintf(`{"id":%q,"customer":{"id":"C-%s","tier":"Gold","attributes":{"region":"emea"}},`+
			`"answers":{"completed":false,"ease":3},"comment":"The installer stopped at 80 percent and I gave up."}`, id, id)
		resp, err := httpc.Post(url+"/v1/responses", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			b.Errorf("post %s: %v", id, err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Errorf("post %s: status %d", id, resp.StatusCode)
		}
	}
	// One response first, until its Case exists: the collector has read
	// the rule and its dispatcher is running.
	post("warm-up")
	waitForCases(b, ns, "burst", 1, 2*time.Minute)

	// The ceiling creates copies of the Case the collector made of it
	// (its template's defaults applied), renamed, so that both sides
	// create the same objects; without the touchpoint's label, which the
	// collector watches: the watch is a cost of the collector's, not of
	// the ceiling's.
	kube := unlimitedClient(b)
	warm := &cxv1alpha1.Case{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: collector.CaseName(tmpl.Name, r.Name, tp.Name, "warm-up")}, warm); err != nil {
		b.Fatalf("read the warm-up Case: %v", err)
	}
	warm.Labels = maps.Clone(warm.Labels)
	warm.Labels[cxv1alpha1.LabelRule] = "raw"
	delete(warm.Labels, cxv1alpha1.LabelTouchpoint)
	ceiling := func(prefix string) time.Duration {
		return createRawCases(b, kube, n, copiesOf(warm, prefix))
	}
	rawBefore := ceiling("raw-before")

	start := time.Now()
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				post(fmt.Sprintf("burst-%06d", i))
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	posted := time.Since(start)
	waitForCases(b, ns, "burst", n+1, 10*time.Minute)
	burst := time.Since(start)

	rawAfter := ceiling("raw-after")
	raw := (rawBefore + rawAfter) / 2
	b.ReportMetric(raw.Seconds(), "raw-s")
	b.ReportMetric(burst.Seconds(), "collector-s")
	b.ReportMetric(burst.Seconds()/raw.Seconds(), "collector/raw")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d matching responses posted in %v; every Case existed after %v; the raw ceiling took %v (%v before, %v after): %.2fx; target: at most 1.3x",
		n, posted.Round(time.Millisecond), burst.Round(time.Millisecond), raw.Round(time.Millisecond),
		rawBefore.Round(time.Millisecond), rawAfter.Round(time.Millisecond), burst.Seconds()/raw.Seconds())
}

// startCollectorBinary runs `cxloop collector` on the configuration file
// the controller renders for tp (a SQLite store in a temporary directory)
// with the API server's kubeconfig and no other flag, and waits until it
// is ready. stop sends SIGTERM and waits for it to exit.
func startCollectorBinary(b *testing.B, bin, ns string, tp *cxv1alpha1.SurveyTouchpoint) (string, func()) {
	b.Helper()
	dir := b.TempDir()
	cfg := collector.FileConfig{
		Namespace: ns, Touchpoint: tp.Name, Store: "sqlite", SQLitePath: filepath.Join(dir, "data", "responses.db"),
		ListenAddress: loopbackAddr(b), PrivateListenAddress: loopbackAddr(b), Spec: tp.Spec, Generation: 1,
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cfgPath, kubeconfig := filepath.Join(dir, "collector.json"), filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, env.Environment.KubeConfig, 0o600); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "collector", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the collector: %v", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	url := "http://" + cfg.ListenAddress
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop
			}
		}
		select {
		case <-exited:
			b.Fatalf("the collector exited before it was ready: %v\n%s", waitErr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("the collector was not ready within a minute\n%s", out.String())
		}
	}
}

// waitForCases waits until rule has n Cases: one list (metadata only),
// then a watch from it counting the Cases added. Polling the list instead
// (2,000 and more objects, twenty times a second) costs the API server
// more than the creates it waits for, a load the raw ceiling beside it
// does not carry.
func waitForCases(b *testing.B, ns, rule string, n int, within time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	sel := client.MatchingLabels{cxv1alpha1.LabelRule: rule}
	seen := map[string]bool{}
	for {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(cxv1alpha1.GroupVersion.WithKind("CaseList"))
		if err := wc.List(ctx, list, client.InNamespace(ns), sel); err != nil {
			b.Fatalf("%d of %d Cases of rule %s: %v", len(seen), n, rule, err)
		}
		for _, it := range list.Items {
			seen[it.Name] = true
		}
		if len(seen) >= n {
			return
		}
		w, err := wc.Watch(ctx, list, client.InNamespace(ns), sel,
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			b.Fatalf("watch the Cases of rule %s: %v", rule, err)
		}
		for ev := range w.ResultChan() {
			if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ok && ev.Type == watch.Added {
				seen[m.Name] = true
			}
			if len(seen) >= n {
				w.Stop()
				return
			}
		}
		// The watch ended (expired, or the deadline): list again.
		w.Stop()
		if ctx.Err() != nil {
			b.Fatalf("%d of %d Cases of rule %s after %v", len(seen), n, rule, within)
		}
	}
}

// loopbackAddr is a free loopback address to listen on.
func loopbackAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
