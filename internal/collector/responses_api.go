package collector

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// handleListResponses answers GET /v1/responses?since=&until=&cursor=&limit=
// on the private surface: the touchpoint's stored responses submitted in
// [since, until) (until defaults to now), oldest first, one bounded page
// at a time (limit 1..1000, default 500) with the cursor of the next
// page. Contact attributes are removed, as from Cases. cxloop backtest
// replays them against a changed AlertRule.
func (s *Server) handleListResponses(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	q, errs := parseResponseQuery(r, st.tp.Name, s.opts.Now())
	if errs != nil {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid responses query", Status: http.StatusBadRequest,
			Detail: "since and until are RFC 3339 times such as 2026-11-01T00:00:00Z; limit is 1.." + strconv.Itoa(collectorclient.MaxResponsePage) +
				"; cursor is the nextCursor of the previous page", Errors: errs})
		return
	}
	rows, err := s.opts.Store.ListResponses(r.Context(), q)
	if errors.Is(err, store.ErrInvalid) {
		writeProblem(w, Problem{Type: problemInvalidQuery, Title: "Invalid responses query", Status: http.StatusBadRequest, Detail: err.Error()})
		return
	}
	if err != nil {
		s.opts.Log.Error(err, "list responses", "touchpoint", st.tp.Name)
		writeStoreUnavailable(w, "the store could not list the responses; retry later")
		return
	}
	extra := validate.ExtraContactKeys(st.tp)
	page := collectorclient.ResponsePage{Touchpoint: st.tp.Name, Responses: make([]collectorclient.StoredResponse, 0, len(rows))}
	for _, row := range rows {
		page.Responses = append(page.Responses, collectorclient.StoredResponse{
			ID: row.ID,
			Customer: collectorclient.StoredCustomer{ID: row.Customer.ID, Tier: row.Customer.Tier, Segment: row.Customer.Segment,
				Attributes: withoutContactDetails(row.Customer.Attributes, extra)},
			Answers: row.Answers, Comment: row.Comment, Sentiment: row.Sentiment, Themes: row.Themes, Metadata: row.Metadata,
			SubmittedAt: row.SubmittedAt, ReceivedAt: row.ReceivedAt,
		})
	}
	if len(rows) == q.Limit {
		last := rows[len(rows)-1]
		page.NextCursor = encodeResponseCursor(store.ResponseCursor{SubmittedAt: last.SubmittedAt, Seq: last.Seq})
	}
	writeJSON(w, http.StatusOK, page)
}

func parseResponseQuery(r *http.Request, touchpoint string, now time.Time) (store.ResponseQuery, FieldErrors) {
	v := r.URL.Query()
	q := store.ResponseQuery{Touchpoint: touchpoint, To: now, Limit: collectorclient.DefaultResponsePage}
	var errs FieldErrors
	parseTime := func(name string, into *time.Time) {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				errs = append(errs, FieldError{Field: name, Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", s)})
			}
			*into = t
		}
	}
	if v.Get("since") == "" {
		errs = append(errs, FieldError{Field: "since", Message: "required: the start of the window, an RFC 3339 time such as 2026-11-01T00:00:00Z"})
	}
	parseTime("since", &q.From)
	parseTime("until", &q.To)
	if len(errs) == 0 && !q.From.Before(q.To) {
		errs = append(errs, FieldError{Field: "until", Message: "must be after since"})
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > collectorclient.MaxResponsePage {
			errs = append(errs, FieldError{Field: "limit", Message: fmt.Sprintf("%q is not a page size within 1..%d", s, collectorclient.MaxResponsePage)})
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeResponseCursor(s)
		if err != nil {
			errs = append(errs, FieldError{Field: "cursor", Message: "not a cursor this collector gave; pass the nextCursor of the previous page unchanged"})
		}
		q.After = c
	}
	return q, errs
}

// A cursor is the position of the last response of a page, opaque to
// clients: base64url of "<submittedAt unix nanoseconds>.<seq>".
func encodeResponseCursor(c store.ResponseCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.SubmittedAt.UnixNano(), 10) + "." + strconv.FormatInt(c.Seq, 10)))
}

func decodeResponseCursor(s string) (*store.ResponseCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	ns, seq, ok := strings.Cut(string(raw), ".")
	if !ok {
		return nil, errors.New("no separator")
	}
	t, err1 := strconv.ParseInt(ns, 10, 64)
	n, err2 := strconv.ParseInt(seq, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &store.ResponseCursor{SubmittedAt: time.Unix(0, t).UTC(), Seq: n}, nil
}
