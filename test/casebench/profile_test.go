package casebench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// profileAPIServer writes a CPU profile of the API server taken from its
// /debug/pprof endpoint (on by default, readable by the test's admin
// client) over d, starting at start, to path. It runs in the background;
// the returned channel reports the outcome.
func profileAPIServer(ctx context.Context, cfg *rest.Config, start time.Time, d time.Duration, path string) <-chan error {
	out := make(chan error, 1)
	go func() {
		out <- func() error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(start)):
			}
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				return fmt.Errorf("client for the API server's profile: %w", err)
			}
			url := strings.TrimSuffix(cfg.Host, "/") + "/debug/pprof/profile?seconds=" + strconv.Itoa(int(d.Seconds()))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("get the API server's profile: %w", err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("get the API server's profile: %s", resp.Status)
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				_ = f.Close()
				return fmt.Errorf("write the API server's profile: %w", err)
			}
			return f.Close()
		}()
	}()
	return out
}
