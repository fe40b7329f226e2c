package collectorclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Page sizes of GET /v1/responses.
const (
	DefaultResponsePage = 500
	MaxResponsePage     = 1000
)

// ResponseQuery is the query of GET /v1/responses.
type ResponseQuery struct {
	// Since and Until bound submittedAt: Since <= t < Until (a zero Until
	// is the collector's now).
	Since, Until time.Time
	// Cursor is the previous page's NextCursor ("" for the first page).
	Cursor string
	// Limit is the page size (0: DefaultResponsePage; at most
	// MaxResponsePage).
	Limit int
}

// ResponsePage is the answer of GET /v1/responses: stored responses in
// submission order, contact attributes removed.
type ResponsePage struct {
	Touchpoint string           `json:"touchpoint"`
	Responses  []StoredResponse `json:"responses"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"nextCursor,omitempty"`
}

// StoredResponse is one stored response as the private API lists it. The
// customer's contact attributes (email, phone, name, the touchpoint's
// retention.contactAttributes) are never included.
type StoredResponse struct {
	ID          string            `json:"id"`
	Customer    StoredCustomer    `json:"customer"`
	Answers     json.RawMessage   `json:"answers"`
	Comment     string            `json:"comment,omitempty"`
	Sentiment   *float64          `json:"sentiment,omitempty"`
	Themes      []string          `json:"themes,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	SubmittedAt time.Time         `json:"submittedAt"`
	ReceivedAt  time.Time         `json:"receivedAt"`
}

// StoredCustomer is who answered, without contact details.
type StoredCustomer struct {
	ID         string            `json:"id"`
	Tier       string            `json:"tier,omitempty"`
	Segment    string            `json:"segment,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Responses returns one page of the collector's stored responses.
func (c *Client) Responses(ctx context.Context, t Target, q ResponseQuery) (*ResponsePage, error) {
	v := url.Values{}
	v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out ResponsePage
	if err := c.call(ctx, t, http.MethodGet, "/v1/responses?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EachResponse pages through every response of [since, until) and calls
// fn with each, in submission order, until fn returns an error.
func (c *Client) EachResponse(ctx context.Context, t Target, since, until time.Time, fn func(StoredResponse) error) error {
	q := ResponseQuery{Since: since, Until: until, Limit: MaxResponsePage}
	for {
		page, err := c.Responses(ctx, t, q)
		if err != nil {
			return err
		}
		for _, r := range page.Responses {
			if err := fn(r); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Cursor = page.NextCursor
	}
}
