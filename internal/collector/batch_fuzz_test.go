package collector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzBatchDecode posts arbitrary bodies to POST /v1/responses:batch: the
// answer is 200 with one result per item or a 4xx problem naming what is
// wrong, never a 5xx, and a 200 counts every item once. The seeds run in
// make test.
func FuzzBatchDecode(f *testing.F) {
	for _, seed := range []string{
		`{"responses":[{"id":"r-1","customer":{"id":"C1"},"answers":{"recommend":9,"resolved":true}}]}`,
		`{"responses":[{"id":"r-1","customer":{"id":"C1"},"answers":{"recommend":9,"resolved":true}},{"id":"r-1","customer":{"id":"C1"},"answers":{"recommend":1,"resolved":true}}]}`,
		`{"responses":[]}`, `{"responses":[1, "x", null, {}]}`, `{"responses":[{}]} trailing`, `{"responses":[{"id":"a\u0000"}]}`,
		"{\"responses\":[{\"id\":\"r\",\"comment\":\"\xff\"}]}", `{"other":1}`, `[]`, ``, `{"responses":[{"id":"r","submittedAt":"0001-01-01T00:00:00Z"}]}`,
	} {
		f.Add([]byte(seed))
	}
	ts := startServer(f, testEngines[0], feedbackTouchpoint("fuzz"), Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/responses:batch", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		ts.handleBatch(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("batch %q answered %d %s", body, rec.Code, rec.Body)
		case rec.Code == http.StatusOK:
			var res BatchResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
				t.Fatalf("200 answer is not a batch result: %v", err)
			}
			if res.Accepted+res.Rejected != len(res.Results) {
				t.Fatalf("accepted %d + rejected %d != %d results", res.Accepted, res.Rejected, len(res.Results))
			}
		default:
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Title == "" {
				t.Fatalf("%d answer is not a problem document: %s", rec.Code, rec.Body)
			}
		}
	})
}
