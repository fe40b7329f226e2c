package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Paging through a window returns every response submitted in it once,
// in submission order (ties in the order stored), and nothing of another
// touchpoint or namespace or outside the window.
func TestListResponsesPagesThroughAWindow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, reopen := e.open(t, Config{})
		// Three responses share one submission time, so a page may end
		// inside a tie.
		at := []time.Duration{0, time.Hour, time.Hour, time.Hour, 2 * time.Hour, 3 * time.Hour, 26 * time.Hour}
		for i, d := range at {
			saveOne(t, s, newResponse("tp", fmt.Sprintf("r-%d", i), t0.Add(d)))
		}
		saveOne(t, s, newResponse("other", "x", t0.Add(time.Hour)))
		other, err := reopen(Config{Namespace: "elsewhere"})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		saveOne(t, other, newResponse("tp", "y", t0.Add(time.Hour)))

		var got []string
		q := ResponseQuery{Touchpoint: "tp", From: t0.Add(time.Hour), To: t0.Add(24 * time.Hour), Limit: 2}
		for range 10 {
			page, err := s.ListResponses(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				got = append(got, r.ID)
			}
			if len(page) < q.Limit {
				break
			}
			last := page[len(page)-1]
			q.After = &ResponseCursor{SubmittedAt: last.SubmittedAt, Seq: last.Seq}
		}
		if want := "[r-1 r-2 r-3 r-4 r-5]"; fmt.Sprint(got) != want {
			t.Fatalf("pages = %v, want %s", got, want)
		}

		page, err := s.ListResponses(ctx, ResponseQuery{Touchpoint: "tp", From: t0.Add(26 * time.Hour), Limit: 10})
		if err != nil || len(page) != 1 {
			t.Fatalf("open-ended window: %d responses, %v", len(page), err)
		}
		r := page[0]
		if r.ID != "r-6" || r.Customer.ID != "cust-r-6" || r.Customer.Attributes["plan"] != "pro" || string(r.Answers) == "" ||
			r.Comment != "could not finish" || r.Sentiment == nil || *r.Sentiment != -0.5 || r.Metadata["store"] != "berlin" ||
			len(r.Themes) != 1 || !r.SubmittedAt.Equal(t0.Add(26*time.Hour)) {
			t.Errorf("listed response = %+v", r)
		}
	})
}

// A page size out of bounds or no touchpoint is an argument error.
func TestListResponsesRefusesBadQueries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, _ := e.open(t, Config{})
		for _, q := range []ResponseQuery{
			{Touchpoint: "tp", Limit: 0},
			{Touchpoint: "tp", Limit: MaxListResponses + 1},
			{Limit: 10},
		} {
			if _, err := s.ListResponses(context.Background(), q); !errors.Is(err, ErrInvalid) {
				t.Errorf("ListResponses(%+v) = %v, want ErrInvalid", q, err)
			}
		}
	})
}
