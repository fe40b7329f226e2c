package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
)

// A valid response is acknowledged with a receipt once it is in the store,
// with its answers converted and its customer, comment and metadata kept.
func TestResponseIsStoredAndAcknowledged(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("stored-"+e.name), Options{})
		body := validResponse("r-1")
		body["submittedAt"] = testNow.Add(-time.Hour).Format(time.RFC3339)

		a := ts.post(t, "/v1/responses", body)
		rcpt := a.receipt(t)
		if rcpt.ID != "r-1" || rcpt.Status != "accepted" || rcpt.Seq <= 0 || !rcpt.ReceivedAt.Equal(testNow) {
			t.Errorf("receipt = %+v, want id r-1, accepted, a positive seq, received at %v", rcpt, testNow)
		}
		if a.Header.Get("Idempotent-Replayed") != "" {
			t.Error("a first submission is marked Idempotent-Replayed")
		}

		got, err := ts.Store.GetResponse(context.Background(), "stored-"+e.name, "r-1")
		if err != nil {
			t.Fatalf("the acknowledged response is not in the store: %v", err)
		}
		var answers map[string]any
		if err := json.Unmarshal(got.Answers, &answers); err != nil {
			t.Fatal(err)
		}
		wantAnswers := map[string]any{"recommend": 9.0, "ease": 4.0, "resolved": true, "contact": "web", "improve": "nothing"}
		if !reflect.DeepEqual(answers, wantAnswers) {
			t.Errorf("stored answers %v, want %v", answers, wantAnswers)
		}
		if got.Seq != rcpt.Seq || got.Customer.ID != "C-r-1" || got.Customer.Tier != "Gold" ||
			got.Customer.Attributes["email"] != "r-1@example.com" || got.Comment != "all good" ||
			got.Metadata["store"] != "berlin" || !got.SubmittedAt.Equal(testNow.Add(-time.Hour)) {
			t.Errorf("stored response = %+v", got)
		}

		var status Status
		if a := ts.get(t, "/v1/status"); a.Status != http.StatusOK || json.Unmarshal(a.Body, &status) != nil {
			t.Fatalf("GET /v1/status: %d %s", a.Status, a.Body)
		}
		if status.Touchpoint != "stored-"+e.name || status.Generation != 1 || status.Total != 1 || status.Last24h != 1 ||
			status.LastResponseTime == nil || !status.LastResponseTime.Equal(testNow) {
			t.Errorf("status = %+v, want one response received at %v", status, testNow)
		}
	})
}

// An invalid response is answered 400 with a problem document naming every
// offending field with what to send instead, and nothing is stored.
func TestInvalidResponseListsEveryField(t *testing.T) {
	type fieldMsg map[string]string // field -> fragment of its message
	cases := []struct {
		name   string
		change func(r map[string]any)
		want   fieldMsg
	}{
		{"unknown question", func(r map[string]any) { answers(r)["colour"] = "red" },
			fieldMsg{"answers.colour": `unknown question; touchpoint "invalid" asks recommend, ease, resolved, contact, improve`}},
		{"value off the scale", func(r map[string]any) { answers(r)["recommend"] = 11 },
			fieldMsg{"answers.recommend": "11 is off the scale; answer from 0 to 10"}},
		{"wrong type", func(r map[string]any) { answers(r)["ease"] = "five" },
			fieldMsg{"answers.ease": "must be a whole number from 1 to 5"}},
		{"not a choice", func(r map[string]any) { answers(r)["contact"] = "fax" },
			fieldMsg{"answers.contact": `"fax" is not a choice; choose from: web, phone, store`}},
		{"required answer missing", func(r map[string]any) { delete(answers(r), "resolved") },
			fieldMsg{"answers.resolved": `is required: "Was your issue resolved?"`}},
		{"comment over the limit", func(r map[string]any) { r["comment"] = strings.Repeat("é", 101) },
			fieldMsg{"comment": "is 101 characters long; the limit is 100"}},
		{"unknown top-level field", func(r map[string]any) { r["rating"] = 5 },
			fieldMsg{"rating": "unknown field; allowed: id, token, customer, answers, comment, metadata, submittedAt"}},
		{"everything at once", func(r map[string]any) {
			a := answers(r)
			a["colour"], a["recommend"], a["ease"] = "red", 11, "five"
			delete(a, "resolved")
			r["comment"] = strings.Repeat("x", 101)
			delete(r, "id")
			r["customer"] = map[string]any{"tier": "Gold"}
		}, fieldMsg{
			"id":                "is required: a unique key per response",
			"customer.id":       "is required",
			"answers.colour":    "unknown question",
			"answers.recommend": "answer from 0 to 10",
			"answers.ease":      "must be a whole number from 1 to 5",
			"answers.resolved":  "is required",
			"comment":           "the limit is 100",
		}},
		{"unknown top-level field and other mistakes", func(r map[string]any) {
			r["rating"] = 5
			customer, _ := r["customer"].(map[string]any)
			customer["nickname"] = "Ann"
			answers(r)["recommend"] = 11
			delete(answers(r), "resolved")
		}, fieldMsg{
			"rating":            "unknown field",
			"customer.nickname": "unknown field; allowed: id, token",
			"answers.recommend": "answer from 0 to 10",
			"answers.resolved":  "is required",
		}},
	}
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("invalid"), Options{})
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body := validResponse(fmt.Sprintf("bad-%d", i))
				tc.change(body)
				p := ts.post(t, "/v1/responses", body).problem(t, http.StatusBadRequest)
				if p.Type != problemInvalidResponse || !strings.Contains(p.Detail, "nothing was stored") {
					t.Errorf("problem %+v: want type %s and a detail saying nothing was stored", p, problemInvalidResponse)
				}
				got := fieldMsg{}
				for _, fe := range p.Errors {
					got[fe.Field] = fe.Message
				}
				if len(got) != len(tc.want) {
					t.Errorf("errors name fields %v, want exactly %v", keys(got), keys(tc.want))
				}
				for field, frag := range tc.want {
					if !strings.Contains(got[field], frag) {
						t.Errorf("error on %q is %q, want it to say %q", field, got[field], frag)
					}
				}
			})
		}
		if n := total(t, ts.Store, "invalid"); n != 0 {
			t.Errorf("%d rejected responses were stored", n)
		}
	})
}

// answerOf returns one stored answer, decoded from JSON.
func answerOf(t testing.TB, r store.Response, question string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Answers, &m); err != nil {
		t.Fatalf("stored answers %s: %v", r.Answers, err)
	}
	return m[question]
}

// answers returns the answers object of a request body built by validResponse.
func answers(r map[string]any) map[string]any {
	a, _ := r["answers"].(map[string]any)
	return a
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A body over the limit is refused with 413 before it is parsed, naming the
// limit and the field it went over in, and pointing to the batch endpoint.
// The limit leaves room for the comment at its maxLength in any UTF-8: a
// comment one character too long, of 4-byte characters, is a 400 naming
// comment.
func TestResponseBodyTooLarge(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("too-large"), Options{})
		body := validResponse("big")
		body["comment"] = strings.Repeat("x", 200000)
		p := ts.post(t, "/v1/responses", body).problem(t, http.StatusRequestEntityTooLarge)
		limit := ts.state.Load().validator.BodyLimit()
		if p.Type != problemTooLarge || p.Limit != limit || !strings.Contains(p.Detail, fmt.Sprintf("%d bytes", limit)) ||
			!strings.Contains(p.Detail, "POST /v1/responses:batch") || len(p.Errors) != 1 || p.Errors[0].Field != "comment" {
			t.Errorf("problem %+v: want the limit %d, the field comment and the batch endpoint", p, limit)
		}
		maxLength := int(ts.state.Load().validator.comment.MaxLength)
		for _, n := range []int{maxLength, maxLength + 1} {
			body := validResponse(fmt.Sprintf("emoji-%d", n))
			body["comment"] = strings.Repeat("\U0001F600", n)
			a := ts.post(t, "/v1/responses", body)
			if n == maxLength {
				a.receipt(t)
				continue
			}
			if p := a.problem(t, http.StatusBadRequest); len(p.Errors) != 1 || p.Errors[0].Field != "comment" {
				t.Errorf("%d emoji: %+v, want 400 naming comment", n, p)
			}
		}
		if n := total(t, ts.Store, "too-large"); n != 1 {
			t.Errorf("%d responses stored, want the one at maxLength", n)
		}
	})
}

// Text a store could not keep as sent (a NUL character, invalid UTF-8) and
// a submittedAt that is zero or older than the retention are 400 naming the
// field, on both engines alike; a batch with data after it is 400.
func TestPermanentProblemsAreClientErrors(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("bad-text"), Options{})
		for name, c := range map[string]struct {
			body  string
			field string
		}{
			"nul in customer.id": {`{"id":"n1","customer":{"id":"C\u0000"},"answers":{"recommend":9,"resolved":true}}`, "customer.id"},
			"nul in comment":     {`{"id":"n2","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true},"comment":"a\u0000b"}`, "comment"},
			"nul in metadata":    {`{"id":"n3","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true},"metadata":{"store":"\u0000"}}`, "metadata.store"},
			"invalid utf-8":      {"{\"id\":\"n4\",\"customer\":{\"id\":\"C\"},\"answers\":{\"recommend\":9},\"comment\":\"caf\xe9\"}", "comment"},
			"zero submittedAt":   {`{"id":"n5","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true},"submittedAt":"0001-01-01T00:00:00Z"}`, "submittedAt"},
			"epoch submittedAt":  {`{"id":"n6","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true},"submittedAt":"1970-01-01T00:00:00Z"}`, "submittedAt"},
			"beyond retention":   {`{"id":"n7","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true},"submittedAt":"2024-01-01T00:00:00Z"}`, "submittedAt"},
		} {
			p := ts.post(t, "/v1/responses", c.body).problem(t, http.StatusBadRequest)
			if len(p.Errors) != 1 || p.Errors[0].Field != c.field {
				t.Errorf("%s: %+v, want 400 naming %s", name, p, c.field)
			}
			batch := `{"responses":[` + c.body + `]}`
			var res BatchResult
			if err := json.Unmarshal(ts.post(t, "/v1/responses:batch", batch).Body, &res); err != nil || len(res.Results) != 1 ||
				res.Results[0].Status != http.StatusBadRequest || len(res.Results[0].Errors) != 1 || res.Results[0].Errors[0].Field != "responses[0]."+c.field {
				t.Errorf("%s in a batch: %+v (%v), want 400 naming responses[0].%s", name, res, err, c.field)
			}
		}
		p := ts.post(t, "/v1/responses:batch", `{"responses":[{"id":"t1","customer":{"id":"C"},"answers":{"recommend":9,"resolved":true}}]} trailing`).problem(t, http.StatusBadRequest)
		if !strings.Contains(p.Errors.Error(), "after the batch") {
			t.Errorf("trailing data: %+v, want 400 saying so", p)
		}
		if n := total(t, ts.Store, "bad-text"); n != 0 {
			t.Errorf("%d responses stored, want none", n)
		}
	})
}

// Submitting the same id twice stores it once; the second answer is the
// first receipt, marked Idempotent-Replayed. The same id with another body
// is a 409 naming id, and the second body is not stored; in a batch, per
// item.
func TestSameIDIsStoredOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("idempotent"), Options{})
		first := ts.post(t, "/v1/responses", validResponse("r-1")).receipt(t)
		ts.Clock.Advance(time.Minute)
		// The same response, encoded again with other whitespace.
		raw, err := json.MarshalIndent(validResponse("r-1"), "", "   ")
		if err != nil {
			t.Fatal(err)
		}
		a := ts.post(t, "/v1/responses", raw)
		second := a.receipt(t)
		if a.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry answered without Idempotent-Replayed: true (headers %v)", a.Header)
		}
		if second.Seq != first.Seq || !second.ReceivedAt.Equal(first.ReceivedAt) {
			t.Errorf("retry receipt %+v, want the first one %+v", second, first)
		}

		other := validResponse("r-1")
		other["comment"] = "another response reusing the id"
		p := ts.post(t, "/v1/responses", other).problem(t, http.StatusConflict)
		if len(p.Errors) != 1 || p.Errors[0].Field != "id" {
			t.Errorf("conflict problem %+v, want one error naming id", p)
		}

		batch := ts.post(t, "/v1/responses:batch", map[string]any{"responses": []any{validResponse("r-1"), other, validResponse("r-2")}})
		var res BatchResult
		if err := json.Unmarshal(batch.Body, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Results) != 3 || !res.Results[0].Replayed || res.Results[1].Status != http.StatusConflict || res.Results[2].Status != http.StatusAccepted ||
			len(res.Results[1].Errors) != 1 || res.Results[1].Errors[0].Field != "responses[1].id" {
			t.Errorf("batch results %+v, want replayed, 409 naming responses[1].id, accepted", res.Results)
		}
		if n := total(t, ts.Store, "idempotent"); n != 2 {
			t.Errorf("%d responses stored, want 2 (r-1 once, r-2)", n)
		}
		got, err := ts.Store.GetResponse(context.Background(), "idempotent", "r-1")
		if err != nil || got.Comment != "all good" {
			t.Errorf("stored response %+v (%v), want the first submission", got, err)
		}
	})
}

// A batch stores its good items and reports each bad one at its index; the
// items next to a bad one are kept.
func TestBatchKeepsGoodItemsAndReportsBadOnes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("batch"), Options{})
		items := []map[string]any{validResponse("b-0"), validResponse("b-1"), validResponse("b-2"), validResponse("b-3"), validResponse("b-4")}
		answers(items[2])["recommend"] = 12
		items[4]["score"] = 3
		a := ts.post(t, "/v1/responses:batch", map[string]any{"responses": items})
		if a.Status != http.StatusOK {
			t.Fatalf("batch status %d: %s", a.Status, a.Body)
		}
		var res BatchResult
		if err := json.Unmarshal(a.Body, &res); err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 3 || res.Rejected != 2 || len(res.Results) != 5 {
			t.Fatalf("batch result %+v, want 3 accepted, 2 rejected, 5 results", res)
		}
		for _, i := range []int{0, 1, 3} {
			r := res.Results[i]
			if r.Index != i || r.Status != http.StatusAccepted || r.ID != fmt.Sprintf("b-%d", i) || r.Seq <= 0 || r.ReceivedAt == nil {
				t.Errorf("result %d = %+v, want accepted with a seq", i, r)
			}
			if _, err := ts.Store.GetResponse(context.Background(), "batch", fmt.Sprintf("b-%d", i)); err != nil {
				t.Errorf("good item b-%d not stored: %v", i, err)
			}
		}
		wantErr := map[int]FieldError{
			2: {Field: "responses[2].answers.recommend", Message: "12 is off the scale; answer from 0 to 10"},
			4: {Field: "responses[4].score", Message: "unknown field"},
		}
		for i, want := range wantErr {
			r := res.Results[i]
			if r.Index != i || r.Status != http.StatusBadRequest || len(r.Errors) != 1 ||
				r.Errors[0].Field != want.Field || !strings.Contains(r.Errors[0].Message, want.Message) {
				t.Errorf("result %d = %+v, want 400 with %q: %q", i, r, want.Field, want.Message)
			}
			if _, err := ts.Store.GetResponse(context.Background(), "batch", fmt.Sprintf("b-%d", i)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("bad item b-%d: GetResponse err = %v, want not found", i, err)
			}
		}
		if n := total(t, ts.Store, "batch"); n != 3 {
			t.Errorf("%d responses stored, want 3", n)
		}

		// The same batch again: the stored items are replayed with their
		// seq, nothing is stored twice.
		again := ts.post(t, "/v1/responses:batch", map[string]any{"responses": items})
		var res2 BatchResult
		if err := json.Unmarshal(again.Body, &res2); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 1, 3} {
			if r := res2.Results[i]; !r.Replayed || r.Seq != res.Results[i].Seq {
				t.Errorf("replayed result %d = %+v, want replayed with seq %d", i, r, res.Results[i].Seq)
			}
		}
		if n := total(t, ts.Store, "batch"); n != 3 {
			t.Errorf("%d responses stored after the replay, want 3", n)
		}
	})
}

// A batch of more than 1000 items is refused as a whole.
func TestBatchOverTheLimitIsRejected(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("batch-limit"), Options{})
		items := make([]any, MaxBatchItems+1)
		for i := range items {
			items[i] = validResponse(fmt.Sprintf("r-%d", i))
		}
		p := ts.post(t, "/v1/responses:batch", map[string]any{"responses": items}).problem(t, http.StatusBadRequest)
		if len(p.Errors) != 1 || p.Errors[0].Field != "responses" || !strings.Contains(p.Errors[0].Message, "holds 1001 items; send 1 to 1000") {
			t.Errorf("problem %+v, want the responses field with the limit", p)
		}
		if n := total(t, ts.Store, "batch-limit"); n != 0 {
			t.Errorf("%d responses stored from a refused batch", n)
		}
	})
}

// Comments are scored and tagged with themes before they are stored.
func TestTextAnalyticsAreStored(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("text"), Options{})
		cases := []struct {
			id, comment string
			positive    bool
			themes      []string
		}{
			{"neg", "Terrible service, the invoice was wrong and I am very angry.", false, []string{"billing"}},
			{"pos", "Great job, fast and friendly help. I love it!", true, []string{"speed"}},
		}
		for _, tc := range cases {
			body := validResponse(tc.id)
			body["comment"] = tc.comment
			delete(answers(body), "improve")
			ts.post(t, "/v1/responses", body).receipt(t)
			got, err := ts.Store.GetResponse(context.Background(), "text", tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Sentiment == nil || (*got.Sentiment > 0) != tc.positive || *got.Sentiment == 0 {
				t.Errorf("%q: sentiment %v, want positive=%v", tc.comment, got.Sentiment, tc.positive)
			}
			if !reflect.DeepEqual(got.Themes, tc.themes) {
				t.Errorf("%q: themes %v, want %v", tc.comment, got.Themes, tc.themes)
			}
		}
	})
}

// A new version of the touchpoint applies to the next request without a
// restart: a question added to the spec is accepted.
func TestSetTouchpointAcceptsNewQuestion(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("changing")
		ts := startServer(t, e, tp, Options{})
		body := validResponse("r-1")
		answers(body)["effort"] = 2
		p := ts.post(t, "/v1/responses", body).problem(t, http.StatusBadRequest)
		if len(p.Errors) != 1 || p.Errors[0].Field != "answers.effort" {
			t.Fatalf("before the change: errors %v, want answers.effort unknown", p.Errors)
		}

		tp = tp.DeepCopy()
		tp.Generation = 2
		tp.Spec.Questions = append(tp.Spec.Questions, cxv1alpha1.Question{
			ID: "effort", Text: "How much effort did it take?", Type: cxv1alpha1.QuestionCES})
		if err := ts.SetTouchpoint(tp); err != nil {
			t.Fatal(err)
		}
		ts.post(t, "/v1/responses", body).receipt(t)
		got, err := ts.Store.GetResponse(context.Background(), "changing", "r-1")
		if err != nil || answerOf(t, got, "effort") != 2.0 {
			t.Errorf("stored answers %s (%v), want effort 2", got.Answers, err)
		}
		var status Status
		if err := json.Unmarshal(ts.get(t, "/v1/status").Body, &status); err != nil || status.Generation != 2 {
			t.Errorf("status generation %d (%v), want 2", status.Generation, err)
		}
	})
}

// When the store is gone, /readyz fails (so the pod leaves the Service)
// and a response is answered 503 without an acknowledgement.
func TestReadyzFailsWhenStoreIsClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("ready"), Options{})
		if a := ts.get(t, "/readyz"); a.Status != http.StatusOK || string(a.Body) != "ok\n" {
			t.Fatalf("/readyz with an open store: %d %s", a.Status, a.Body)
		}
		if err := ts.Store.Close(); err != nil {
			t.Fatal(err)
		}
		ts.get(t, "/readyz").problem(t, http.StatusServiceUnavailable)
		if a := ts.get(t, "/healthz"); a.Status != http.StatusOK {
			t.Errorf("/healthz %d: liveness must not depend on the store", a.Status)
		}
		p := ts.post(t, "/v1/responses", validResponse("r-1")).problem(t, http.StatusServiceUnavailable)
		if !strings.Contains(p.Detail, "retry with the same id") {
			t.Errorf("problem %+v: want advice to retry with the same id", p)
		}
	})
}

// /metrics counts responses by result, and exposes the ingest latency and
// the store's commit batch sizes.
func TestMetricsExposeResultsLatencyAndBatches(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("metrics"), Options{})
		ts.post(t, "/v1/responses", validResponse("r-1")).receipt(t)
		ts.post(t, "/v1/responses", validResponse("r-2")).receipt(t)
		ts.post(t, "/v1/responses", validResponse("r-1")).receipt(t) // duplicate
		bad := validResponse("r-3")
		answers(bad)["recommend"] = -1
		ts.post(t, "/v1/responses", bad).problem(t, http.StatusBadRequest)

		a := ts.get(t, "/metrics")
		if a.Status != http.StatusOK {
			t.Fatalf("/metrics %d", a.Status)
		}
		text := string(a.Body)
		want := map[string]float64{
			`cxloop_collector_responses_total{result="accepted"}`:  2,
			`cxloop_collector_responses_total{result="duplicate"}`: 1,
			`cxloop_collector_responses_total{result="invalid"}`:   1,
			`cxloop_collector_ingest_duration_seconds_count`:       3,
		}
		for series, v := range want {
			if got, ok := metricValue(text, series); !ok || got != v {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, v)
			}
		}
		if _, ok := metricValue(text, `cxloop_collector_ingest_duration_seconds_bucket{le="0.005"}`); !ok {
			t.Error("the ingest latency histogram has no buckets")
		}
		// Each single response is its own commit here (requests are
		// sequential): three commits (the duplicate is looked up in one)
		// of one response each.
		if n, ok := metricValue(text, "cxloop_collector_store_commit_batch_size_count"); !ok || n != 3 {
			t.Errorf("commit batch size count = %v (present %v), want 3", n, ok)
		}
		if n, ok := metricValue(text, `cxloop_collector_store_commit_batch_size_bucket{le="1"}`); !ok || n != 3 {
			t.Errorf("commits of one response = %v (present %v), want 3", n, ok)
		}
	})
}

// A client over its rate is answered 429 with Retry-After; after that many
// seconds it is served again.
func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("limited"), Options{RateLimit: 1, RateBurst: 2})
		ts.post(t, "/v1/responses", validResponse("r-1")).receipt(t)
		ts.post(t, "/v1/responses", validResponse("r-2")).receipt(t)
		a := ts.post(t, "/v1/responses", validResponse("r-3"))
		p := a.problem(t, http.StatusTooManyRequests)
		if p.Type != problemRateLimited || !strings.Contains(p.Detail, "retry after") {
			t.Errorf("problem %+v, want the rate-limited type and advice", p)
		}
		after, err := strconv.Atoi(a.Header.Get("Retry-After"))
		if err != nil || after < 1 || after > 2 {
			t.Fatalf("Retry-After %q, want 1 or 2 seconds at 1 request/s", a.Header.Get("Retry-After"))
		}
		if _, err := ts.Store.GetResponse(context.Background(), "limited", "r-3"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rate-limited response was stored (err %v)", err)
		}
		ts.Clock.Advance(time.Duration(after) * time.Second)
		ts.post(t, "/v1/responses", validResponse("r-3")).receipt(t)
		if v, _ := metricValue(string(ts.get(t, "/metrics").Body), `cxloop_collector_responses_total{result="rate_limited"}`); v != 1 {
			t.Errorf("rate_limited responses = %v, want 1", v)
		}
	})
}

// Retention deletes responses older than retention.responses and erases
// the contact details of those older than retention.contactDetails, keeping
// the rest of the response.
func TestRetentionDeletesOldResponsesAndErasesContactDetails(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("retention")
		// The responses arrive while the touchpoint keeps them 500 days,
		// then the retention is shortened to 365.
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{
			Responses:      &cxv1alpha1.Duration{Duration: 500 * 24 * time.Hour},
			ContactDetails: &cxv1alpha1.Duration{Duration: 90 * 24 * time.Hour},
		}
		ts := startServer(t, e, tp, Options{})
		day := 24 * time.Hour
		for id, age := range map[string]time.Duration{"old": 400 * day, "middle": 100 * day, "recent": day} {
			body := validResponse(id)
			body["customer"] = map[string]any{"id": "C-" + id, "tier": "Gold", "attributes": map[string]any{
				"email": "ann@example.com", "phone": "+49 30 1234", "name": "Ann", "plan": "pro"}}
			body["submittedAt"] = testNow.Add(-age).Format(time.RFC3339)
			ts.post(t, "/v1/responses", body).receipt(t)
		}
		tp = tp.DeepCopy()
		tp.Spec.Retention.Responses.Duration = 365 * 24 * time.Hour
		if err := ts.SetTouchpoint(tp); err != nil {
			t.Fatal(err)
		}
		// Retention runs on the server's clock (testNow).
		ts.applyRetention(context.Background(), ts.Store, logr.Discard())

		ctx := context.Background()
		if _, err := ts.Store.GetResponse(ctx, "retention", "old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a response older than a year is still there (err %v)", err)
		}
		mid, err := ts.Store.GetResponse(ctx, "retention", "middle")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"plan": "pro"}; !reflect.DeepEqual(mid.Customer.Attributes, want) {
			t.Errorf("100-day-old attributes %v, want contact details erased: %v", mid.Customer.Attributes, want)
		}
		if mid.Customer.ID != "C-middle" || mid.Customer.Tier != "Gold" || mid.Comment != "all good" || answerOf(t, mid, "recommend") != 9.0 {
			t.Errorf("retention changed more than the contact details: %+v", mid)
		}
		recent, err := ts.Store.GetResponse(ctx, "retention", "recent")
		if err != nil || len(recent.Customer.Attributes) != 4 {
			t.Errorf("a recent response lost attributes: %v (%v)", recent.Customer.Attributes, err)
		}

		// Time passes: the middle response now crosses a year.
		ts.Clock.Advance(270 * day)
		ts.applyRetention(ctx, ts.Store, logr.Discard())
		if _, err := ts.Store.GetResponse(ctx, "retention", "middle"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after 270 more days the 100-day-old response is still there (err %v)", err)
		}
		recent, err = ts.Store.GetResponse(ctx, "retention", "recent")
		if err != nil || !reflect.DeepEqual(recent.Customer.Attributes, map[string]string{"plan": "pro"}) {
			t.Errorf("after 270 more days the recent response's attributes are %v (%v), want only plan", recent.Customer.Attributes, err)
		}
	})
}

// The retention run prunes the case ledger: a dedup Case whose window
// ended is forgotten, one within its window stays.
func TestRetentionPrunesTheCaseLedger(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("ledger"), Options{})
		ctx := context.Background()
		ns := ts.opts.Namespace
		for i, opened := range []time.Time{testNow.Add(-48 * time.Hour), testNow.Add(-time.Hour)} {
			c := store.DedupCase{Seq: i, Name: fmt.Sprintf("support-k-%d", i), OpenedAt: opened, ExpiresAt: opened.Add(24 * time.Hour)}
			if err := ts.Store.RecordDedupCase(ctx, ns, "support", "k", c); err != nil {
				t.Fatal(err)
			}
		}
		ts.applyRetention(ctx, ts.Store, logr.Discard())
		cs, next, err := ts.Store.DedupCases(ctx, ns, "support", "k", testNow.Add(-72*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].Name != "support-k-1" || next != 2 {
			t.Errorf("after retention the key holds %+v, next %d; want only support-k-1, next 2", cs, next)
		}
	})
}

// The retention run deletes outbox actions done more than a day ago and
// keeps those done since and those not done: the erasure of the customer
// then finds only the kept ones.
func TestRetentionDeletesDoneActions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, feedbackTouchpoint("support"), Options{})
		if skipped := ts.SetAlertRules([]cxv1alpha1.AlertRule{detractorRule("support")}); len(skipped) > 0 {
			t.Fatalf("rule skipped: %v", skipped)
		}
		ctx := context.Background()
		for _, id := range []string{"done-long-ago", "done-lately", "not-done"} {
			body := validResponse(id)
			body["customer"] = map[string]any{"id": "C-1", "tier": "Gold"}
			answers, _ := body["answers"].(map[string]any)
			answers["recommend"] = 2
			ts.post(t, "/v1/responses", body).receipt(t)
		}
		actions, err := ts.Store.ClaimActions(ctx, ts.Clock.Now(), 10, time.Hour)
		if err != nil || len(actions) != 3 {
			t.Fatalf("claimed %d actions (%v), want 3", len(actions), err)
		}
		byResponse := map[string]int64{}
		for _, a := range actions {
			byResponse[a.ResponseID] = a.ID
		}
		if err := ts.Store.CompleteAction(ctx, byResponse["done-long-ago"]); err != nil {
			t.Fatal(err)
		}
		ts.Clock.Advance(25 * time.Hour)
		if err := ts.Store.CompleteAction(ctx, byResponse["done-lately"]); err != nil {
			t.Fatal(err)
		}
		ts.applyRetention(ctx, ts.Store, logr.Discard())

		if depth, _, err := ts.Store.OutboxStats(ctx); err != nil || depth != 1 {
			t.Errorf("outbox depth %d (%v) after retention, want the action not done", depth, err)
		}
		a := ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": "C-1"}, "mode": "Delete"})
		var rec Erasure
		if a.Status != http.StatusOK || json.Unmarshal(a.Body, &rec) != nil {
			t.Fatalf("erasure: %d %s", a.Status, a.Body)
		}
		if rec.Responses != 3 || rec.Actions != 2 {
			t.Errorf("the erasure found %d responses and %d actions, want 3 and 2 (the action done 25 h ago is gone)", rec.Responses, rec.Actions)
		}
	})
}
