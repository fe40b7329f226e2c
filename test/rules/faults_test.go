package rules_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/store"
)

// cutProxy forwards TCP to the API server until it is cut: then it refuses
// new connections and drops open ones, as an API server that is down does.
type cutProxy struct {
	lis    net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = lis.Close(); p.dropAll() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			_ = c.Close()
			continue
		}
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
	_ = c.Close()
}

func (p *cutProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// cut takes the API server away (true) or brings it back (false).
func (p *cutProxy) cut(down bool) {
	p.down.Store(down)
	if down {
		p.dropAll()
	}
}

// The API server is unreachable for 30 s in the middle of a stream of
// responses: the collector keeps accepting them, and once the API server
// is back every expected Case exists, once.
func TestAPIServerOutageLosesNoCase(t *testing.T) {
	apiURL, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, apiURL.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.lis.Addr().String()
	cfg.Timeout = 5 * time.Second
	cfg.QPS, cfg.Burst = 200, 400
	var kube client.Client
	kube, err = client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	p := newProgram(t, kube, rule("installation-failed", "answers.completed == false"))
	p.clock.FollowWallClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.disp.Run(ctx)

	const total = 200
	var failures []string
	var back time.Time
	for i := range total {
		switch i {
		case 40:
			proxy.cut(true)
			t.Log("API server cut off")
		case 40 + 150: // 150 responses 200 ms apart: 30 s
			// Nothing reached the API server meanwhile: at most the 20
			// Cases of the failures before the cut exist.
			if n := len(p.cases()); n > 20 {
				t.Fatalf("%d cases exist before the API server is back, want at most 20", n)
			}
			proxy.cut(false)
			t.Log("API server back")
			back = time.Now()
		}
		if i%2 == 0 {
			p.post(fmt.Sprintf("r-%03d", i), fmt.Sprintf("C-%03d", i), false, "")
			failures = append(failures, fmt.Sprintf("r-%03d", i))
		} else {
			p.post(fmt.Sprintf("r-%03d", i), fmt.Sprintf("C-%03d", i), true, "")
		}
		if i >= 40 && i < 190 {
			time.Sleep(200 * time.Millisecond)
		}
	}

	want := map[string]bool{}
	for _, id := range failures {
		want[collector.CaseName("installation-support", "installation-failed", "upgrade-install", id)] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		cases := p.cases()
		got := map[string]bool{}
		for _, c := range cases {
			got[c.Name] = true
		}
		missing := 0
		for n := range want {
			if !got[n] {
				missing++
			}
		}
		if missing == 0 {
			if len(cases) != len(want) {
				t.Fatalf("%d cases, want exactly %d", len(cases), len(want))
			}
			t.Logf("all %d cases exist %s after the API server came back", len(want), time.Since(back).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d cases missing 90s after the API server came back", missing, len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The dispatcher marks handled actions done in batches (up to 50ms
	// after the Case exists): the outbox drains soon after.
	drained := time.Now().Add(30 * time.Second)
	for {
		depth, _, err := p.st.OutboxStats(context.Background())
		if err == nil && depth == 0 {
			break
		}
		if time.Now().After(drained) {
			t.Fatalf("outbox depth = %d, %v 30s after every Case existed; want 0", depth, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The collector dies after storing responses and before dispatching them:
// after a restart on the same store the outbox still holds their actions
// and the Cases are opened, once.
func TestRestartDispatchesWhatWasStored(t *testing.T) {
	p := newProgram(t, nil, rule("installation-failed", "answers.completed == false"))
	p.post("r-1", "C-1", false, "")
	p.post("r-2", "C-2", false, "")
	// "Kill": close the store without dispatching, then open it again
	// with a fresh dispatcher, as a restarted collector does.
	dbPath := p.dbPath
	if err := p.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Config{Driver: store.DriverSQLite, Path: dbPath, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p.st = st
	p.disp = collector.NewDispatcher(collector.DispatcherOptions{Store: st, Client: env.Client, Notifier: p.sent, Now: p.clock.Now, Log: logr.Discard()})
	p.drain()
	p.drain()
	if n := len(p.cases()); n != 2 {
		t.Fatalf("cases after restart = %v, want 2", caseNames(p.cases()))
	}
	if _, err := st.GetResponse(context.Background(), "upgrade-install", "r-1"); errors.Is(err, store.ErrNotFound) {
		t.Error("response r-1 lost")
	}
}
