package collector

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// GET /v1/responses pages through the responses of a window over the
// private surface, oldest first, each once; contact attributes (built-in
// and the touchpoint's own) are not in the answer; without the credential
// it is a 401, and it is not on the public surface.
func TestListResponsesAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("listing")
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{ContactAttributes: []string{"loyalty-no"}}
		ts := startServer(t, e, tp, Options{})
		for i := range 5 {
			r := validResponse(fmt.Sprintf("r-%d", i))
			r["customer"] = map[string]any{"id": fmt.Sprintf("C-%d", i), "tier": "Gold",
				"attributes": map[string]any{"E-Mail": "x@example.com", "Loyalty_No": "123", "plan": "pro"}}
			r["submittedAt"] = testNow.Add(time.Duration(i-5) * time.Hour).Format(time.RFC3339)
			ts.post(t, "/v1/responses", r).receipt(t)
		}
		c := collectorclient.New(nil)
		ctx := context.Background()
		var got []string
		q := collectorclient.ResponseQuery{Since: testNow.Add(-4*time.Hour - time.Minute), Limit: 2}
		pages := 0
		for {
			page, err := c.Responses(ctx, ts.target(), q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, r := range page.Responses {
				got = append(got, r.ID)
				if len(r.Customer.Attributes) != 1 || r.Customer.Attributes["plan"] != "pro" || r.Customer.Tier != "Gold" {
					t.Errorf("response %s: customer %+v, want only the plan attribute", r.ID, r.Customer)
				}
				if string(r.Answers) == "" || r.Comment == "" || r.SubmittedAt.IsZero() {
					t.Errorf("response %s lacks answers, comment or submittedAt: %+v", r.ID, r)
				}
			}
			if page.NextCursor == "" {
				break
			}
			q.Cursor = page.NextCursor
		}
		if fmt.Sprint(got) != "[r-1 r-2 r-3 r-4]" || pages != 3 {
			t.Errorf("listed %v in %d pages, want r-1..r-4 in 3", got, pages)
		}
		var all []string
		if err := c.EachResponse(ctx, ts.target(), testNow.Add(-24*time.Hour), testNow.Add(-3*time.Hour), func(r collectorclient.StoredResponse) error {
			all = append(all, r.ID)
			return nil
		}); err != nil || fmt.Sprint(all) != "[r-0 r-1]" {
			t.Errorf("EachResponse until 3h ago = %v, %v; want r-0 r-1", all, err)
		}

		ts.Token = ""
		ts.get(t, "/v1/responses?since="+testNow.Add(-24*time.Hour).Format(time.RFC3339)).problem(t, http.StatusUnauthorized)
		pub, err := http.Get(ts.URL + "/v1/responses?since=" + testNow.Add(-24*time.Hour).Format(time.RFC3339))
		if err != nil {
			t.Fatal(err)
		}
		_ = pub.Body.Close()
		if pub.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /v1/responses on the public surface: %d, want 405", pub.StatusCode)
		}
	})
}

// A bad query is a 400 naming each wrong field.
func TestListResponsesAPIRejectsBadQueries(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("badlist"), Options{})
	since := "since=" + testNow.Add(-time.Hour).Format(time.RFC3339)
	for query, field := range map[string]string{
		"":                "since",
		"since=yesterday": "since",
		since + "&until=" + testNow.Add(-2*time.Hour).Format(time.RFC3339): "until",
		since + "&limit=0":       "limit",
		since + "&limit=1001":    "limit",
		since + "&cursor=bm9wZQ": "cursor",
	} {
		p := ts.get(t, "/v1/responses?"+query).problem(t, http.StatusBadRequest)
		if len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("?%s: %+v, want one error naming %s", query, p, field)
		}
	}
}
