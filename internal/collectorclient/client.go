package collectorclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/store"
)

// Target is a collector's private API and the credential to call it with.
type Target struct {
	// Endpoint is the base URL of the private surface, such as
	// http://checkout-collector.shop.svc:8081.
	Endpoint string
	// Token is the bearer credential.
	Token string
}

// Client talks to collectors' private APIs.
type Client struct {
	http *http.Client
}

// New returns a client; nil means an http.Client with a 30 s timeout.
func New(hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{http: hc}
}

// MetricsQuery is the query of GET /v1/metrics.
type MetricsQuery struct {
	// From and To bound submittedAt: From <= t < To.
	From, To time.Time
	// GroupBy is "", "customer.tier", "customer.segment",
	// "customer.attributes.<key>" or "metadata.<key>".
	GroupBy string
}

// Metrics returns the collector's mergeable aggregates for q.
func (c *Client) Metrics(ctx context.Context, t Target, q MetricsQuery) (*store.AggregateResult, error) {
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
	if err := c.call(ctx, t, http.MethodGet, "/v1/metrics?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Predictions returns the collector's predicted scores of [from, to)
// beside the measured answers, coverage and the model's quality.
func (c *Client) Predictions(ctx context.Context, t Target, from, to time.Time) (*metrics.PredictionSummary, error) {
	v := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	var out metrics.PredictionSummary
	if err := c.call(ctx, t, http.MethodGet, "/v1/predictions?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the collector's response counts and outbox state.
func (c *Client) Status(ctx context.Context, t Target) (*Status, error) {
	var out Status
	if err := c.call(ctx, t, http.MethodGet, "/v1/status", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ArchiveCase stores a closed Case's JSON in the collector's store.
func (c *Client) ArchiveCase(ctx context.Context, t Target, name string, closedAt time.Time, doc []byte) error {
	return c.call(ctx, t, http.MethodPut, "/v1/archive/cases/"+url.PathEscape(name), ArchiveRequest{ClosedAt: closedAt, Case: doc}, nil)
}

// ArchivedCase reads a Case from the collector's archive.
func (c *Client) ArchivedCase(ctx context.Context, t Target, name string) (*ArchivedCase, error) {
	var out ArchivedCase
	if err := c.call(ctx, t, http.MethodGet, "/v1/archive/cases/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Invite asks whether the customer may be surveyed now and, if so, for an
// invitation token.
func (c *Client) Invite(ctx context.Context, t Target, customerID string) (*InvitationAnswer, error) {
	var req InvitationRequest
	req.Customer.ID = customerID
	var out InvitationAnswer
	if err := c.call(ctx, t, http.MethodPost, "/v1/invitations", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// call sends body (when not nil) as JSON with t's credential and decodes
// a 2xx answer into out (when not nil).
func (c *Client) call(ctx context.Context, t Target, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode collector request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(t.Endpoint, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("collector request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("collector %s: %w", req.URL.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("collector %s: read answer: %w", req.URL.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		var p Problem
		if json.Unmarshal(raw, &p) == nil && p.Title != "" {
			return &APIError{Status: resp.StatusCode, Problem: p}
		}
		return &APIError{Status: resp.StatusCode, Problem: Problem{Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(raw))}}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
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
