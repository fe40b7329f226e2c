package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/validate"
)

// MaxBodyBytes is the largest request body accepted for one response.
const MaxBodyBytes = 64 << 10

// maxClockSkew is how far in the future a submittedAt may lie (client
// clocks drift); later ones are rejected.
const maxClockSkew = 5 * time.Minute

// idPattern is what an idempotency key may look like.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$`)

// ResponseRequest is the JSON body of POST /v1/responses.
type ResponseRequest struct {
	// ID is the client's idempotency key for this response.
	ID string `json:"id"`
	// Token is the signed invitation token, when the touchpoint requires one.
	Token string `json:"token,omitempty"`
	// Customer who answered.
	Customer CustomerRequest `json:"customer"`
	// Answers by question id.
	Answers map[string]json.RawMessage `json:"answers"`
	// Comment is the free-text comment.
	Comment string `json:"comment,omitempty"`
	// Metadata such as store, agent or channel.
	Metadata map[string]string `json:"metadata,omitempty"`
	// SubmittedAt is when the customer answered; now when absent.
	SubmittedAt *time.Time `json:"submittedAt,omitempty"`
}

// CustomerRequest identifies the customer in a response.
type CustomerRequest struct {
	ID         string            `json:"id"`
	Tier       string            `json:"tier,omitempty"`
	Segment    string            `json:"segment,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// DecodeRequest parses one response body strictly: unknown fields and
// trailing data are errors. When the only errors are unknown fields, it
// returns all of them together with the decoded request, so the caller can
// report the rest of the request's problems in the same answer.
func DecodeRequest(body []byte) (*ResponseRequest, FieldErrors) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req ResponseRequest
	if err := dec.Decode(&req); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return decodeWithUnknownFields(body)
		}
		return nil, FieldErrors{jsonError(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, FieldErrors{{Field: "", Message: "the body must hold exactly one JSON object"}}
	}
	return &req, nil
}

// unknownFieldMessage is the error of a field the API does not have.
const unknownFieldMessage = "unknown field; allowed: id, token, customer, answers, comment, metadata, submittedAt (and id, tier, segment, attributes in customer)"

// decodeWithUnknownFields decodes a body that has unknown fields and names
// every one of them (a strict decoder stops at the first).
func decodeWithUnknownFields(body []byte) (*ResponseRequest, FieldErrors) {
	var errs FieldErrors
	var top map[string]json.RawMessage
	var nested struct {
		Customer map[string]json.RawMessage `json:"customer"`
	}
	_ = json.Unmarshal(body, &top)
	_ = json.Unmarshal(body, &nested)
	for _, f := range []struct {
		prefix string
		fields map[string]json.RawMessage
		known  []string
	}{
		{"", top, []string{"id", "token", "customer", "answers", "comment", "metadata", "submittedAt"}},
		{"customer.", nested.Customer, []string{"id", "tier", "segment", "attributes"}},
	} {
		for name := range f.fields {
			// encoding/json matches field names case-insensitively.
			if !slices.ContainsFunc(f.known, func(k string) bool { return strings.EqualFold(k, name) }) {
				errs = append(errs, FieldError{Field: f.prefix + name, Message: unknownFieldMessage})
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	var req ResponseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, append(errs, jsonError(err))
	}
	return &req, errs
}

// jsonError turns a decoding error into a field error.
func jsonError(err error) FieldError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		return FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return FieldError{Field: "", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return FieldError{Field: name, Message: unknownFieldMessage}
	case errors.Is(err, io.EOF):
		return FieldError{Field: "", Message: "the body is empty; send one JSON object"}
	default:
		return FieldError{Field: "", Message: "malformed JSON: " + err.Error()}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "ptr":
		return "an RFC 3339 timestamp"
	default:
		return "a " + goKind
	}
}

// Validator checks requests against one touchpoint's questions.
type Validator struct {
	touchpoint string
	questions  []cxv1alpha1.Question
	byID       map[string]*cxv1alpha1.Question
	comment    cxv1alpha1.CommentSpec
	// retention of responses: an older submittedAt would be deleted at
	// the next retention run.
	retention time.Duration
}

// defaultResponseRetention applies without spec.retention.responses.
const defaultResponseRetention = 8760 * time.Hour

// maxEncodedRuneBytes is the most bytes one character of a JSON string may
// take: a character outside the BMP written as two \uXXXX escapes.
const maxEncodedRuneBytes = 12

// BodyLimit is the largest body of one response: MaxBodyBytes for
// everything but free text, plus room for the comment and every Text
// answer at their declared maxLength in any encoding, so that a too-long
// text is answered 400 naming its field, not 413.
func (v *Validator) BodyLimit() int64 {
	chars := int64(0)
	if v.comment.Enabled {
		chars += int64(v.comment.MaxLength)
	}
	for _, q := range v.questions {
		if q.Type != cxv1alpha1.QuestionText {
			continue
		}
		limit := int64(rules.MaxTextAnswerLength)
		if q.MaxLength != nil {
			limit = int64(*q.MaxLength)
		}
		chars += limit
	}
	return MaxBodyBytes + maxEncodedRuneBytes*chars
}

// NewValidator builds the validator of tp's current spec.
func NewValidator(tp *cxv1alpha1.SurveyTouchpoint) *Validator {
	v := &Validator{
		touchpoint: tp.Name,
		questions:  tp.Spec.Questions,
		byID:       make(map[string]*cxv1alpha1.Question, len(tp.Spec.Questions)),
		comment:    cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 2000},
		retention:  defaultResponseRetention,
	}
	if r := tp.Spec.Retention; r != nil && r.Responses != nil && r.Responses.Duration > 0 {
		v.retention = r.Responses.Duration
	}
	for i := range tp.Spec.Questions {
		v.byID[tp.Spec.Questions[i].ID] = &tp.Spec.Questions[i]
	}
	if c := tp.Spec.Comment; c != nil {
		v.comment = *c
		if v.comment.MaxLength == 0 {
			v.comment.MaxLength = 2000
		}
	}
	return v
}

// Validate checks req and converts it to the response rules see. It
// reports every offending field, not only the first.
func (v *Validator) Validate(req *ResponseRequest, now time.Time) (*rules.Response, FieldErrors) {
	var errs FieldErrors
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}

	if req.ID == "" {
		add("id", "is required: a unique key per response, so a retried submission is stored once")
	} else if !idPattern.MatchString(req.ID) {
		add("id", "must be 1-128 characters of letters, digits and . _ : @ / -, starting with a letter or digit")
	}
	c := req.Customer
	switch {
	case c.ID == "":
		add("customer.id", "is required")
	case len(c.ID) > rules.MaxCustomerIDLength:
		add("customer.id", "is longer than %d characters", rules.MaxCustomerIDLength)
	}
	if len(c.Tier) > rules.MaxTierLength {
		add("customer.tier", "is longer than %d characters", rules.MaxTierLength)
	}
	if len(c.Segment) > rules.MaxTierLength {
		add("customer.segment", "is longer than %d characters", rules.MaxTierLength)
	}
	checkMap(&errs, "customer.attributes", c.Attributes)
	checkMap(&errs, "metadata", req.Metadata)

	if req.Comment != "" {
		n := utf8.RuneCountInString(req.Comment)
		switch {
		case !v.comment.Enabled:
			add("comment", "this touchpoint takes no comment (spec.comment.enabled is false)")
		case n > int(v.comment.MaxLength):
			add("comment", "is %d characters long; the limit is %d", n, v.comment.MaxLength)
		case !utf8.ValidString(req.Comment):
			add("comment", "is not valid UTF-8")
		}
	}

	submitted := now
	if req.SubmittedAt != nil {
		submitted = req.SubmittedAt.UTC()
		switch {
		case submitted.After(now.Add(maxClockSkew)):
			add("submittedAt", "lies in the future (%s); send the time the customer answered", submitted.Format(time.RFC3339))
		case submitted.IsZero() || submitted.Unix() <= 0:
			add("submittedAt", "is %s, not a time a customer answered; send the real time, or leave submittedAt out for now", submitted.Format(time.RFC3339))
		case submitted.Before(now.Add(-v.retention)):
			add("submittedAt", "%s is older than this touchpoint keeps responses (spec.retention.responses, %s): it would be deleted at once", submitted.Format(time.RFC3339), v.retention)
		}
	}

	answers := make(map[string]any, len(req.Answers))
	ids := make([]string, 0, len(req.Answers))
	for id := range req.Answers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		q, ok := v.byID[id]
		field := "answers." + id
		if !ok {
			add(field, "unknown question; touchpoint %q asks %s", v.touchpoint, v.questionList())
			continue
		}
		raw := req.Answers[id]
		if isNull(raw) {
			continue
		}
		val, msg := convertAnswer(q, raw)
		if msg != "" {
			add(field, "%s", msg)
			continue
		}
		answers[id] = val
	}
	for _, q := range v.questions {
		if _, answered := answers[q.ID]; q.Required && !answered && !hasError(errs, "answers."+q.ID) {
			add("answers."+q.ID, "is required: %q", q.Text)
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		return nil, errs
	}
	return &rules.Response{
		ID:         req.ID,
		Touchpoint: v.touchpoint,
		Customer: rules.Customer{
			ID: c.ID, Tier: c.Tier, Segment: c.Segment, Attributes: c.Attributes,
		},
		Answers:     answers,
		Comment:     req.Comment,
		Metadata:    req.Metadata,
		SubmittedAt: submitted,
	}, nil
}

func (v *Validator) questionList() string {
	ids := make([]string, 0, len(v.questions))
	for _, q := range v.questions {
		ids = append(ids, q.ID)
	}
	return strings.Join(ids, ", ")
}

func hasError(errs FieldErrors, field string) bool {
	return slices.ContainsFunc(errs, func(e FieldError) bool { return e.Field == field })
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func checkMap(errs *FieldErrors, field string, m map[string]string) {
	if len(m) > rules.MaxMapEntries {
		*errs = append(*errs, FieldError{Field: field, Message: fmt.Sprintf("has %d entries; the limit is %d", len(m), rules.MaxMapEntries)})
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "" || len(k) > rules.MaxMapKeyLength:
			*errs = append(*errs, FieldError{Field: field, Message: fmt.Sprintf("key %q must be 1-%d characters", k, rules.MaxMapKeyLength)})
		case len(m[k]) > rules.MaxMapValueLength:
			*errs = append(*errs, FieldError{Field: field + "." + k, Message: fmt.Sprintf("is longer than %d characters", rules.MaxMapValueLength)})
		}
	}
}

// scaleOf returns a numeric question's scale, with the defaults of its type.
func scaleOf(q *cxv1alpha1.Question) (lo, hi int64) {
	l, h := validate.QuestionScale(*q)
	return int64(l), int64(h)
}

// convertAnswer checks one answer against its question and converts it to
// the type rules see. It returns a message when the answer is wrong.
func convertAnswer(q *cxv1alpha1.Question, raw json.RawMessage) (any, string) {
	switch q.Type {
	case cxv1alpha1.QuestionNPS, cxv1alpha1.QuestionCSAT, cxv1alpha1.QuestionCES, cxv1alpha1.QuestionRating:
		lo, hi := scaleOf(q)
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Sprintf("must be a whole number from %d to %d (%s question)", lo, hi, q.Type)
		}
		if f != math.Trunc(f) {
			return nil, fmt.Sprintf("must be a whole number from %d to %d, not %v", lo, hi, f)
		}
		if n := int64(f); n < lo || n > hi {
			return nil, fmt.Sprintf("%d is off the scale; answer from %d to %d", n, lo, hi)
		}
		return int64(f), ""
	case cxv1alpha1.QuestionYesNo:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, "must be true or false (YesNo question)"
		}
		return b, ""
	case cxv1alpha1.QuestionText:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "must be a string (Text question)"
		}
		limit := rules.MaxTextAnswerLength
		if q.MaxLength != nil {
			limit = int(*q.MaxLength)
		}
		if n := utf8.RuneCountInString(s); n > limit {
			return nil, fmt.Sprintf("is %d characters long; the limit is %d", n, limit)
		}
		return s, ""
	case cxv1alpha1.QuestionChoice:
		allowed := make([]string, 0, len(q.Choices))
		for _, c := range q.Choices {
			allowed = append(allowed, c.Value)
		}
		if q.AllowMultiple {
			var vs []string
			if err := json.Unmarshal(raw, &vs); err != nil {
				return nil, fmt.Sprintf("must be an array of choices from: %s", strings.Join(allowed, ", "))
			}
			for _, s := range vs {
				if !slices.Contains(allowed, s) {
					return nil, fmt.Sprintf("%q is not a choice; choose from: %s", s, strings.Join(allowed, ", "))
				}
			}
			return vs, ""
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Sprintf("must be one of: %s", strings.Join(allowed, ", "))
		}
		if !slices.Contains(allowed, s) {
			return nil, fmt.Sprintf("%q is not a choice; choose from: %s", s, strings.Join(allowed, ", "))
		}
		return s, ""
	}
	return nil, fmt.Sprintf("question type %s is not supported", q.Type)
}
