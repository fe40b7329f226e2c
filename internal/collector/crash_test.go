package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"

	"github.com/cxloop/cxloop/internal/testutil"

	"github.com/jackc/pgx/v5"

	"github.com/cxloop/cxloop/internal/store"
)

// crashAcks is how many responses must be acknowledged before the
// collector is killed; the 16 writers keep posting while it dies.
const crashAcks = 400

// A collector killed with SIGKILL under load loses no acknowledged
// response: after a restart on the same data every acknowledged id is
// stored exactly once, and posting it again is answered as a replay with
// the original receipt. The real binary runs as a subprocess, with the
// configuration file the controller would render.
func TestKilledCollectorKeepsEveryAcknowledgedResponse(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cxloop")
	build := exec.Command("go", "build", "-o", bin, "github.com/cxloop/cxloop")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the cxloop binary: %v\n%s", err, out)
	}

	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "responses.db")
		cfg := crashConfig(t, "crash-sqlite", "sqlite", path)
		crashAndRecover(t, bin, cfg, nil, func() store.Store {
			st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverSQLite, Path: path})
			if err != nil {
				t.Fatalf("open the collector's SQLite file: %v", err)
			}
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := testPostgresDSN(t)
		schema := testutil.PostgresSchema(t, dsn, "cxloop_collector_test_")
		createSchema(t, dsn, schema)
		cfg := crashConfig(t, "crash-postgres", "postgres", "")
		env := []string{EnvStoreDSN + "=" + withSearchPath(t, dsn, schema)}
		crashAndRecover(t, bin, cfg, env, func() store.Store {
			st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverPostgres, DSN: dsn, Schema: schema})
			if err != nil {
				t.Fatalf("open the collector's PostgreSQL schema: %v", err)
			}
			return st
		})
	})
}

// crashConfig writes a collector configuration file serving
// feedbackTouchpoint(name) on a free loopback port and returns its path.
func crashConfig(t testing.TB, name, storeKind, sqlitePath string) *crashSetup {
	t.Helper()
	spec := feedbackTouchpoint(name).Spec
	// All the load comes from one loopback client: lift the per-client
	// rate limit the public surface has by default.
	spec.Collector = &cxv1alpha1.CollectorSpec{RateLimit: &cxv1alpha1.RateLimit{RequestsPerSecond: 1000000, Burst: 1000000}}
	cfg := FileConfig{
		Namespace: "acme", Touchpoint: name, Store: storeKind, SQLitePath: sqlitePath,
		ListenAddress: freeLoopbackAddr(t), PrivateListenAddress: freeLoopbackAddr(t), Spec: spec, Generation: 1,
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "collector.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFileConfig(path); err != nil {
		t.Fatalf("the test's configuration file is invalid: %v", err)
	}
	return &crashSetup{path: path, touchpoint: name, url: "http://" + cfg.ListenAddress}
}

type crashSetup struct {
	path, touchpoint, url string
}

// crashAndRecover runs the collector, kills it under load, restarts it and
// checks the acknowledged responses; open opens its store once it stopped.
func crashAndRecover(t *testing.T, bin string, cfg *crashSetup, env []string, open func() store.Store) {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true},
	}
	t.Cleanup(client.CloseIdleConnections)

	first := startCollector(t, bin, cfg, env)
	var (
		mu        sync.Mutex
		acked     = map[string]int64{} // id -> seq of its receipt
		attempted []string
		unexpect  []string
		enough    = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%02d-%06d", w, i)
				mu.Lock()
				attempted = append(attempted, id)
				mu.Unlock()
				status, rcpt, _, err := postResponse(client, cfg.url, id)
				if err != nil {
					return // the collector died under us
				}
				mu.Lock()
				if status == http.StatusAccepted {
					acked[id] = rcpt.Seq
					if len(acked) >= crashAcks {
						once.Do(func() { close(enough) })
					}
				} else {
					unexpect = append(unexpect, fmt.Sprintf("%s: %d", id, status))
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case err := <-first.exited:
		t.Fatalf("the collector exited under load: %v\n%s", err, first.log())
	case <-time.After(time.Minute):
		t.Fatalf("fewer than %d responses acknowledged in a minute\n%s", crashAcks, first.log())
	}
	first.kill(t)
	wg.Wait()
	if len(unexpect) > 0 {
		t.Fatalf("before the kill, responses were answered other than 202: %v", unexpect)
	}
	t.Logf("%s: %d responses acknowledged of %d attempted when the collector was killed", cfg.touchpoint, len(acked), len(attempted))

	second := startCollector(t, bin, cfg, env)
	ids := make(chan string)
	var replayErrs []string
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				status, rcpt, replayed, err := postResponse(client, cfg.url, id)
				mu.Lock()
				if err != nil || status != http.StatusAccepted || !replayed || rcpt.Seq != acked[id] {
					replayErrs = append(replayErrs, fmt.Sprintf("%s: status %d, replayed %v, seq %d (first %d), err %v",
						id, status, replayed, rcpt.Seq, acked[id], err))
				}
				mu.Unlock()
			}
		}()
	}
	for id := range acked {
		ids <- id
	}
	close(ids)
	wg.Wait()
	if len(replayErrs) > 0 {
		t.Errorf("%d acknowledged responses were not replayed with their receipt after the restart, e.g. %v", len(replayErrs), replayErrs[:min(5, len(replayErrs))])
	}
	second.stop(t)

	st := open()
	defer func() { _ = st.Close() }()
	ctx := context.Background()
	present := 0
	for _, id := range attempted {
		r, err := st.GetResponse(ctx, cfg.touchpoint, id)
		switch seq, ok := acked[id]; {
		case err == nil:
			present++
			if ok && r.Seq != seq {
				t.Errorf("%s stored with seq %d, acknowledged with %d", id, r.Seq, seq)
			}
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("read %s: %v", id, err)
		case ok:
			t.Errorf("acknowledged response %s is lost", id)
		}
	}
	if n := total(t, st, cfg.touchpoint); n != int64(present) {
		t.Errorf("the store holds %d responses for %d distinct ids: some are stored twice", n, present)
	}
}

// postResponse posts validResponse(id) and returns the status, the
// receipt of a 202, and whether it was marked Idempotent-Replayed.
func postResponse(client *http.Client, base, id string) (int, Receipt, bool, error) {
	raw, err := json.Marshal(validResponse(id))
	if err != nil {
		return 0, Receipt{}, false, err
	}
	resp, err := client.Post(base+"/v1/responses", "application/json", bytes.NewReader(raw))
	if err != nil {
		return 0, Receipt{}, false, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, Receipt{}, false, err
	}
	var rcpt Receipt
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(body, &rcpt); err != nil {
			return resp.StatusCode, rcpt, false, fmt.Errorf("decode receipt %s: %w", body, err)
		}
	}
	return resp.StatusCode, rcpt, resp.Header.Get("Idempotent-Replayed") == "true", nil
}

// collectorProcess is a `cxloop collector --standalone` subprocess.
type collectorProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

// startCollector starts the binary on cfg and waits until /readyz answers.
func startCollector(t testing.TB, bin string, cfg *crashSetup, env []string) *collectorProcess {
	t.Helper()
	p := &collectorProcess{out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "collector", "--standalone", "--config", cfg.path)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the collector: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(cfg.url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("the collector exited before it was ready: %v\n%s", err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector was not ready within a minute\n%s", p.log())
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *collectorProcess) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill the collector: %v", err)
	}
	if err := <-p.exited; err == nil {
		t.Fatal("the collector exited cleanly instead of being killed")
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *collectorProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop the collector: %v", err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("the collector did not exit cleanly on SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(time.Minute):
		t.Fatalf("the collector did not stop within a minute of SIGTERM\n%s", p.log())
	}
}

func (p *collectorProcess) log() string { return p.out.String() }

// syncBuffer collects a subprocess's output from two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// createSchema creates schema in the test PostgreSQL (testutil.PostgresSchema drops it).
func createSchema(t *testing.T, dsn, schema string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
}

// withSearchPath returns dsn with search_path set to schema, as an
// operator would point a collector at its schema.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", envTestPostgresDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
