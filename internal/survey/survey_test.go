package survey

import (
	"net/url"
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestNegotiate(t *testing.T) {
	avail := []string{"en", "de", "fr-CA"}
	for _, c := range []struct{ inv, accept, want string }{
		{"", "", "en"},
		{"de", "fr", "de"},  // the invitation's locale wins
		{"de-AT", "", "de"}, // close match
		{"", "fr-CA,fr;q=0.9", "fr-CA"},
		{"", "ja,de;q=0.5", "de"},
		{"ja", "zz", "en"},
		{"not a tag!", "de", "de"},
	} {
		if got := Negotiate(avail, c.inv, c.accept); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.inv, c.accept, got, c.want)
		}
	}
}

func TestAnswersFromAForm(t *testing.T) {
	tp := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "nps", Text: "Recommend?", Type: cxv1alpha1.QuestionNPS},
		{ID: "ok", Text: "Done?", Type: cxv1alpha1.QuestionYesNo},
		{ID: "why", Text: "Why?", Type: cxv1alpha1.QuestionChoice, AllowMultiple: true, Choices: []cxv1alpha1.Choice{{Value: "a"}, {Value: "b"}}},
		{ID: "txt", Text: "More?", Type: cxv1alpha1.QuestionText},
		{ID: "blank", Text: "Skipped", Type: cxv1alpha1.QuestionCSAT},
	}}}
	s := New(tp, "en")
	answers, comment := Answers(s, url.Values{
		"a.nps": {"7"}, "a.ok": {"no"}, "a.why": {"a", "b"}, "a.txt": {" hi "}, "a.blank": {" "}, "comment": {"  c "}, "a.unknown": {"1"},
	})
	got := map[string]string{}
	for k, v := range answers {
		got[k] = string(v)
	}
	want := map[string]string{"nps": "7", "ok": "false", "why": `["a","b"]`, "txt": `"hi"`}
	if len(got) != len(want) || comment != "c" {
		t.Fatalf("answers %v comment %q", got, comment)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	// A value of the wrong form goes on as a string: the collector names it.
	answers, _ = Answers(s, url.Values{"a.nps": {"ten"}, "a.ok": {"maybe"}})
	if string(answers["nps"]) != `"ten"` || string(answers["ok"]) != `"maybe"` {
		t.Errorf("wrong-form values: %s %s", answers["nps"], answers["ok"])
	}
}

func TestFirstScaleLinksPrefillThePage(t *testing.T) {
	tp := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "ease", Text: "Easy?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10, MinLabel: "Hard", MaxLabel: "Easy"}},
	}}}
	s := New(tp, "en")
	q, links := FirstScaleLinks(s, "https://x.example/s/TOKEN")
	if q.ID != "ease" || len(links) != 10 || links[0].URL != "https://x.example/s/TOKEN?a.ease=1" || links[9].Value != 10 {
		t.Fatalf("links %+v", links)
	}
	var b strings.Builder
	if err := RenderForm(&b, Form{Survey: s, Action: "/s/T", Values: Prefill(s, url.Values{"a.ease": {"4"}, "other": {"x"}})}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `value="4" checked`) || strings.Count(b.String(), "checked") != 1 {
		t.Errorf("prefilled page:\n%s", b.String())
	}
}
