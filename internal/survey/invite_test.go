package survey

import (
	"strings"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// The cache renders every invitation exactly as RenderInvitation does:
// names the template escapes or that hold line breaks, empty names, links
// with a query or an unusual token, bodies with and without {link}, pages
// with and without a scale, in two languages, first from an empty cache
// and again from a full one.
func TestInvitationCacheRendersAsRenderInvitation(t *testing.T) {
	scaled := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "ease", Text: "How easy was it?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10, MinLabel: "Hard & slow", MaxLabel: "Easy"}},
	}}}
	plain := &cxv1alpha1.SurveyTouchpoint{Spec: cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{
		{ID: "done", Text: "Done?", Type: cxv1alpha1.QuestionYesNo},
	}}}
	pages := []*Survey{New(scaled, "en"), New(scaled, "de"), New(plain, "en")}
	bodies := []string{
		"Hello {firstName},\n\nplease tell us: {link}\n\nThanks, {name}",
		"{firstName}\n\nNo link here, {name} <3 & more",
		"Dear {name}, about {touchpoint}: {link}",
	}
	names := [][2]string{{"Ada", ""}, {"Zoë", "Zoë Lovelace"}, {"", ""}, {"O'Brien", ""}, {"<b>Bob</b>", ""}, {"A+B", "x"},
		{"Ann\n\nMarie", ""}, {" ", ""}, {"cxloopPHlink", ""}}
	links := [][2]string{
		{"https://survey.example.com/install/s/eyJqdGkiOiJhIn0.c2ln", "https://survey.example.com/install/u/QzE.bWFj"},
		{"https://survey.example.com/x?y=1&z=2/s/tok.en", "https://survey.example.com/u/a-b_c"},
		{"https://survey.example.com/s/tok%20en", "https://survey.example.com/u/"},
		{"https://survey.example.com/a b/s/t", "https://survey.example.com/u/x\"y"},
	}
	var cache InvitationCache
	for round := range 2 {
		for _, s := range pages {
			for _, body := range bodies {
				for _, n := range names {
					for _, l := range links {
						p := InvitationParts{Subject: "Hi {firstName}", Body: body, SMS: "{firstName}: {link}", FirstName: n[0], Name: n[1], Link: l[0], Unsubscribe: l[1]}
						want, werr := RenderInvitation(s, p)
						got, gerr := cache.Render(s, p)
						if got != want || (werr == nil) != (gerr == nil) {
							t.Fatalf("round %d, %s page, body %q, names %q, links %q:\ncache:  %+v (%v)\nrender: %+v (%v)", round, s.Locale, body, n, l, got, gerr, want, werr)
						}
					}
				}
			}
		}
	}
	if !strings.Contains(must(RenderInvitation(pages[0], InvitationParts{Body: "{link}", FirstName: "Ada", Link: "https://s.example/s/T", Unsubscribe: "https://s.example/u/U"})).HTML, "https://s.example/s/T?a.ease=10") {
		t.Error("the scale links are missing from the HTML part")
	}
}

func must(inv Invitation, err error) Invitation {
	if err != nil {
		panic(err)
	}
	return inv
}
