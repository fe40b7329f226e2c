package survey

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Answers turns a submitted form (or a prefilling query) into the answers
// of a response, by question id, as the API takes them. A question left
// blank is left out (so a required one is reported as such); a value of the
// wrong form is passed on as a string, so the collector's validation names
// the problem in the API's words.
func Answers(s *Survey, form url.Values) (answers map[string]json.RawMessage, comment string) {
	answers = make(map[string]json.RawMessage, len(s.Questions))
	for _, q := range s.Questions {
		vals := nonEmpty(form[FieldName(q.ID)])
		if len(vals) == 0 {
			continue
		}
		var v any
		switch {
		case q.Scaled():
			if n, err := strconv.Atoi(vals[0]); err == nil {
				v = n
			} else {
				v = vals[0]
			}
		case q.Type == cxv1alpha1.QuestionYesNo:
			switch vals[0] {
			case "yes":
				v = true
			case "no":
				v = false
			default:
				v = vals[0]
			}
		case q.Type == cxv1alpha1.QuestionChoice && q.Multiple:
			v = vals
		default:
			v = vals[0]
		}
		raw, err := json.Marshal(v)
		if err != nil {
			continue
		}
		answers[q.ID] = raw
	}
	return answers, strings.TrimSpace(form.Get(CommentField))
}

// Prefill keeps, of a query, only the values of the page's questions: the
// email's scale links open the page with their answer chosen.
func Prefill(s *Survey, query url.Values) url.Values {
	out := url.Values{}
	for _, q := range s.Questions {
		if v := nonEmpty(query[FieldName(q.ID)]); len(v) > 0 {
			out[FieldName(q.ID)] = v
		}
	}
	return out
}

// ErrorsByField maps the collector's field errors ("answers.<id>",
// "comment") to the page's questions; the rest are general.
func ErrorsByField(s *Survey, fields map[string]string) (byQuestion map[string]string, general []string) {
	byQuestion = map[string]string{}
	known := map[string]bool{CommentField: true}
	for _, q := range s.Questions {
		known[q.ID] = true
	}
	for field, msg := range fields {
		id := strings.TrimPrefix(field, "answers.")
		if known[id] {
			byQuestion[id] = msg
			continue
		}
		general = append(general, msg)
	}
	return byQuestion, general
}

// ScaleLink is one answer of a scale question as a link (for an email).
type ScaleLink struct {
	Value int
	URL   string
}

// FirstScaleLinks returns, when the first question is on a scale, one link
// per answer that opens the page at base with that answer chosen; nil
// otherwise.
func FirstScaleLinks(s *Survey, base string) (Question, []ScaleLink) {
	if len(s.Questions) == 0 || !s.Questions[0].Scaled() {
		return Question{}, nil
	}
	q := s.Questions[0]
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	var out []ScaleLink
	for _, p := range q.Points() {
		out = append(out, ScaleLink{Value: p, URL: base + sep + url.Values{FieldName(q.ID): {strconv.Itoa(p)}}.Encode()})
	}
	return q, out
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
