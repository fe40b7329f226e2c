package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cxloop/cxloop/internal/store"
)

// When Run's context is cancelled (SIGTERM in a pod) while requests are in
// flight, the collector stops taking connections, finishes those requests
// with 202, stores them, and returns without error.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	const inFlight = 8
	path := filepath.Join(t.TempDir(), "responses.db")
	cfg := &FileConfig{Namespace: "acme", Touchpoint: "draining", Store: "sqlite", SQLitePath: path,
		Spec: feedbackTouchpoint("draining").Spec, Generation: 1}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &readNotifyingListener{Listener: inner, read: make(chan struct{}, inFlight)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	private, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- Run(ctx, cfg, RunOptions{Listener: lis, PrivateListener: private, Log: logr.Discard()})
	}()

	// Send each request's headers and half of its body, and wait until the
	// server has read from every connection: the requests are in flight.
	conns := make([]net.Conn, inFlight)
	rest := make([][]byte, inFlight)
	for i := range conns {
		body, err := json.Marshal(validResponse(fmt.Sprintf("r-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		head := fmt.Sprintf("POST /v1/responses HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
		half := len(body) / 2
		if _, err := io.WriteString(c, head+string(body[:half])); err != nil {
			t.Fatal(err)
		}
		conns[i], rest[i] = c, body[half:]
	}
	for range inFlight {
		select {
		case <-lis.read:
		case err := <-done:
			t.Fatalf("Run returned before serving: %v", err)
		}
	}

	cancel()
	// Shutdown closes the listener first: new connections are refused.
	for deadline := time.Now().Add(time.Minute); ; {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			break
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the collector still accepts connections a minute after its context was cancelled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned with %d requests in flight: %v", inFlight, err)
	default:
	}

	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write(rest[i]); err != nil {
				t.Errorf("request %d: finish the body: %v", i, err)
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("request %d: read the answer: %v", i, err)
				return
			}
			defer func() { _ = resp.Body.Close() }()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("request %d in flight at shutdown: %d %s, want 202", i, resp.StatusCode, raw)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within a minute of the last request")
	}

	st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverSQLite, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for i := range inFlight {
		if _, err := st.GetResponse(context.Background(), "draining", fmt.Sprintf("r-%d", i)); err != nil {
			t.Errorf("response r-%d acknowledged during shutdown is not stored: %v", i, err)
		}
	}
}

// readNotifyingListener signals on read once the server has read the first
// bytes of each accepted connection.
type readNotifyingListener struct {
	net.Listener
	read chan struct{}
}

func (l *readNotifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &readNotifyingConn{Conn: c, read: l.read}, nil
}

type readNotifyingConn struct {
	net.Conn
	once sync.Once
	read chan struct{}
}

func (c *readNotifyingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.once.Do(func() { c.read <- struct{}{} })
	}
	return n, err
}
