package collector

import (
	"github.com/cxloop/cxloop/internal/collectorclient"

	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// GET /v1/metrics answers with aggregates that count exactly the responses
// of the window, per group, and that the client decodes.
func TestMetricsAPIAggregatesTheWindowPerGroup(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("metrics"), Options{})
		posts := []struct {
			store     string
			recommend int
			ago       time.Duration
		}{
			{"berlin", 10, time.Hour}, {"berlin", 9, 2 * time.Hour}, {"berlin", 3, 3 * time.Hour},
			{"paris", 7, time.Hour}, {"paris", 0, 30 * time.Hour},
			{"paris", 10, 9 * 24 * time.Hour}, // outside a 7-day window
		}
		for i, p := range posts {
			r := validResponse(fmt.Sprintf("r-%d", i))
			answers(r)["recommend"] = p.recommend
			r["metadata"] = map[string]string{"store": p.store}
			r["submittedAt"] = testNow.Add(-p.ago).Format(time.RFC3339)
			ts.post(t, "/v1/responses", r).receipt(t)
		}
		c := collectorclient.New(nil)
		res, err := c.Metrics(context.Background(), ts.target(), MetricsQuery{From: testNow.Add(-7 * 24 * time.Hour), To: testNow.Add(time.Minute), GroupBy: "metadata.store"})
		if err != nil {
			t.Fatal(err)
		}
		berlin, paris := res.Groups["berlin"].Question("recommend"), res.Groups["paris"].Question("recommend")
		if berlin.Promoters != 2 || berlin.Detractors != 1 || berlin.Passives != 0 {
			t.Errorf("berlin NPS counts = %+v, want 2 promoters, 1 detractor", berlin)
		}
		if paris.Promoters != 0 || paris.Passives != 1 || paris.Detractors != 1 {
			t.Errorf("paris NPS counts = %+v, want 1 passive, 1 detractor (the 9-day-old promoter is outside the window)", paris)
		}
		if got := res.Groups["berlin"].Question("resolved"); got.Yes != 3 {
			t.Errorf("berlin resolved = %+v, want 3 yes", got)
		}

		// window=24h ends now (the server's clock): 4 responses.
		if a := ts.get(t, "/v1/metrics?window=24h"); a.Status != http.StatusOK || !strings.Contains(string(a.Body), `"responses":4`) {
			t.Errorf("window=24h: %d %s, want 200 counting 4 responses", a.Status, a.Body)
		}
	})
}

// A bad query is answered 400 naming the parameter and the fix.
func TestMetricsAPIRejectsBadQueries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("metrics-bad"), Options{})
		for query, want := range map[string]string{
			"window=7x":                           `"field":"window"`,
			"window=-1h":                          "must be positive",
			"from=yesterday":                      `"field":"from"`,
			"groupBy=store":                       "use metadata.\\u003ckey\\u003e",
			"window=1h&from=2026-11-01T00:00:00Z": "give window or from, not both",
			"from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z": "must be before to",
		} {
			a := ts.get(t, "/v1/metrics?"+query)
			if a.Status != http.StatusBadRequest || !strings.Contains(string(a.Body), want) {
				t.Errorf("%s: %d %s, want 400 containing %s", query, a.Status, a.Body, want)
			}
		}
		_, err := collectorclient.New(nil).Metrics(context.Background(), ts.target(), MetricsQuery{GroupBy: "nope"})
		if !collectorclient.IsClientError(err) || !strings.Contains(err.Error(), "groupBy") {
			t.Errorf("client error = %v, want a client error naming groupBy", err)
		}
	})
}
