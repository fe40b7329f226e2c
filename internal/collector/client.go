package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxloop/cxloop/internal/store"
)

// MetricsQuery is the query of GET /v1/metrics.
type MetricsQuery struct {
	// From and To bound submittedAt: From <= t < To.
	From, To time.Time
	// GroupBy is "", "customer.tier", "customer.segment",
	// "customer.attributes.<key>" or "metadata.<key>".
	GroupBy string
}

// Client talks to collectors' HTTP APIs (the manager's side).
type Client struct {
	http *http.Client
}

// NewClient returns a client; nil means an http.Client with a 30 s timeout.
func NewClient(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{http: hc}
}

// Metrics returns the collector's mergeable aggregates for q.
func (c *Client) Metrics(ctx context.Context, endpoint string, q MetricsQuery) (*store.AggregateResult, error) {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	if q.GroupBy != "" {
		v.Set("groupBy", q.GroupBy)
	}
	var out store.AggregateResult
	if err := c.get(ctx, endpoint, "/v1/metrics?"+v.Encode(), "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the collector's response counts and outbox state.
func (c *Client) Status(ctx context.Context, endpoint string) (*Status, error) {
	var out Status
	if err := c.get(ctx, endpoint, "/v1/status", "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// get reads path from the collector at endpoint into out; a non-empty
// token is sent as the bearer token.
func (c *Client) get(ctx context.Context, endpoint, path, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("collector request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.do(req, out)
}

func (c *Client) do(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("collector %s: %w", req.URL.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("collector %s: read answer: %w", req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		var p Problem
		if json.Unmarshal(body, &p) == nil && p.Title != "" {
			return &APIError{Status: resp.StatusCode, Problem: p}
		}
		return &APIError{Status: resp.StatusCode, Problem: Problem{Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(body))}}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("collector %s: decode answer: %w", req.URL.Redacted(), err)
	}
	return nil
}

// APIError is a collector's non-2xx answer.
type APIError struct {
	Status  int
	Problem Problem
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("collector answered %d %s", e.Status, e.Problem.Title)
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	for _, f := range e.Problem.Errors {
		msg += fmt.Sprintf("; %s: %s", f.Field, f.Message)
	}
	return msg
}

// IsClientError reports whether err is a collector's 4xx answer other than
// 429: the request is wrong and retrying it as is cannot help.
func IsClientError(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests
}
