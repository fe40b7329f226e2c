package collector

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func installTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	return &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "upgrade-install", Namespace: "acme"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo, Required: true},
				{ID: "recommend", Text: "How likely are you to recommend us?", Type: cxv1alpha1.QuestionNPS},
				{ID: "os", Text: "Which system?", Type: cxv1alpha1.QuestionChoice, Choices: []cxv1alpha1.Choice{{Value: "linux"}, {Value: "windows"}}},
				{ID: "tools", Text: "Which tools?", Type: cxv1alpha1.QuestionChoice, AllowMultiple: true, Choices: []cxv1alpha1.Choice{{Value: "cli"}, {Value: "ui"}}},
				{ID: "missing", Text: "What was missing?", Type: cxv1alpha1.QuestionText, MaxLength: ptr.To[int32](10)},
			},
			Comment: &cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 20},
		},
	}
}

func TestValidateAcceptsAWellFormedResponse(t *testing.T) {
	body := `{"id":"r-1","customer":{"id":"C1","tier":"Gold","attributes":{"email":"a@b.c"}},
		"answers":{"ease":3,"completed":false,"recommend":9,"os":"linux","tools":["cli","ui"],"missing":"docs"},
		"comment":"could not finish","metadata":{"store":"berlin"},"submittedAt":"2026-11-22T11:00:00Z"}`
	req, errs := DecodeRequest([]byte(body))
	if errs != nil {
		t.Fatal(errs)
	}
	r, errs := NewValidator(installTouchpoint()).Validate(req, testNow)
	if errs != nil {
		t.Fatal(errs)
	}
	if r.Answers["ease"] != int64(3) || r.Answers["completed"] != false || r.Answers["recommend"] != int64(9) || r.Answers["os"] != "linux" {
		t.Errorf("answers converted wrongly: %#v", r.Answers)
	}
	if got, _ := r.Answers["tools"].([]string); strings.Join(got, ",") != "cli,ui" {
		t.Errorf("tools = %v", got)
	}
	if r.Touchpoint != "upgrade-install" || r.Customer.Tier != "Gold" || r.Metadata["store"] != "berlin" || !r.SubmittedAt.Equal(testNow.Add(-time.Hour)) {
		t.Errorf("response = %+v", r)
	}
}

// Every offending field is reported, each with a message that says what to
// send instead.
func TestValidateReportsEveryField(t *testing.T) {
	cases := []struct {
		name string
		body string
		want map[string]string // field -> message fragment
	}{
		{"unknown top-level field", `{"id":"r","customer":{"id":"c"},"answers":{"completed":true},"score":3}`,
			map[string]string{"score": "unknown field"}},
		{"malformed JSON", `{"id":"r",`, map[string]string{"": "malformed JSON"}},
		{"wrong type for a top-level field", `{"id":5,"customer":{"id":"c"},"answers":{}}`, map[string]string{"id": "must be a string"}},
		{"two objects", `{"id":"r","customer":{"id":"c"},"answers":{"completed":true}} {}`, map[string]string{"": "exactly one JSON object"}},
		{"missing id, customer and required answer", `{"answers":{}}`,
			map[string]string{"id": "is required", "customer.id": "is required", "answers.completed": "is required"}},
		{"unknown question", `{"id":"r","customer":{"id":"c"},"answers":{"completed":true,"speed":3}}`,
			map[string]string{"answers.speed": "unknown question; touchpoint \"upgrade-install\" asks ease, completed"}},
		{"off the scale and wrong types", `{"id":"r","customer":{"id":"c"},"answers":{"ease":11,"completed":"no","recommend":7.5,"os":"mac","tools":"cli","missing":"far too long text"}}`,
			map[string]string{
				"answers.ease":      "11 is off the scale; answer from 1 to 10",
				"answers.completed": "must be true or false",
				"answers.recommend": "must be a whole number from 0 to 10",
				"answers.os":        `"mac" is not a choice; choose from: linux, windows`,
				"answers.tools":     "must be an array of choices",
				"answers.missing":   "the limit is 10",
			}},
		{"comment too long and future time", `{"id":"r","customer":{"id":"c"},"answers":{"completed":true},"comment":"this comment is longer than twenty","submittedAt":"2027-01-01T00:00:00Z"}`,
			map[string]string{"comment": "the limit is 20", "submittedAt": "lies in the future"}},
		{"bad id", `{"id":"has space","customer":{"id":"c"},"answers":{"completed":true}}`, map[string]string{"id": "must be 1-128 characters"}},
	}
	v := NewValidator(installTouchpoint())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, errs := DecodeRequest([]byte(tc.body))
			if errs == nil {
				_, errs = v.Validate(req, testNow)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for field, frag := range tc.want {
				found := false
				for _, e := range errs {
					if e.Field == field && strings.Contains(e.Message, frag) {
						found = true
					}
				}
				if !found {
					t.Errorf("no error on %q containing %q in %v", field, frag, errs)
				}
			}
		})
	}
}

// FuzzDecodeValidate feeds arbitrary bodies to the decoder and validator:
// they must never panic, and an accepted response must respect the
// touchpoint's questions.
func FuzzDecodeValidate(f *testing.F) {
	for _, seed := range []string{
		`{"id":"r-1","customer":{"id":"C1"},"answers":{"completed":false,"ease":3}}`,
		`{"id":"r-2","customer":{"id":"C1","attributes":{"email":"x@y"}},"answers":{"completed":true,"tools":["cli"]},"comment":"ok"}`,
		`{"id":"","answers":{"ease":1e309}}`,
		`{"id":"r","customer":{"id":"c"},"answers":{"ease":-0,"os":null,"completed":true}}`,
		`[]`, `null`, `{"answers":{"missing":"\ud800"}}`,
	} {
		f.Add([]byte(seed))
	}
	v := NewValidator(installTouchpoint())
	f.Fuzz(func(t *testing.T, body []byte) {
		req, errs := DecodeRequest(body)
		if errs != nil {
			return
		}
		r, errs := v.Validate(req, testNow)
		if errs != nil {
			for _, e := range errs {
				if e.Message == "" {
					t.Fatalf("error without a message: %+v", e)
				}
			}
			return
		}
		if r.Answers["completed"] == nil {
			t.Fatalf("accepted a response without the required answer: %s", body)
		}
		if ease, ok := r.Answers["ease"].(int64); ok && (ease < 1 || ease > 10) {
			t.Fatalf("accepted ease=%v off the 1-10 scale", ease)
		}
	})
}
