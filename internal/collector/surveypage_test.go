package collector

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// pageTouchpoint is feedbackTouchpoint with invitation tokens, a German
// translation and the given public link.
func pageTouchpoint(requireToken bool, public *cxv1alpha1.PublicLinkSpec) *cxv1alpha1.SurveyTouchpoint {
	tp := feedbackTouchpoint("install")
	tp.Spec.Invitations = &cxv1alpha1.InvitationSpec{RequireToken: requireToken, TokenTTL: &cxv1alpha1.Duration{Duration: 72 * time.Hour}}
	tp.Spec.Survey = &cxv1alpha1.SurveyPageSpec{
		Title: "Your installation", ThankYou: "Thanks, we read every answer.",
		Translations: []cxv1alpha1.SurveyTranslation{{
			Locale: "de", Title: "Ihre Installation", ThankYou: "Danke, wir lesen jede Antwort.",
			Questions: []cxv1alpha1.QuestionTranslation{{ID: "resolved", Text: "Wurde Ihr Problem gelöst?"}},
		}},
		PublicLink: public,
	}
	return tp
}

// browser is an HTTP client that keeps to one site like a browser: it
// follows redirects and sends the headers a browser sends on a form post.
type browser struct {
	t    *testing.T
	base string
	lang string
}

type page struct {
	status int
	header http.Header
	body   string
	url    string
}

func (b browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw), url: resp.Request.URL.String()}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`)

// hidden returns the hidden fields of a page's form.
func (p page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	return v
}

func invite(t *testing.T, ts *testServer, customer string) string {
	t.Helper()
	status, ans := ts.invitation(t, customer)
	if status != http.StatusCreated {
		t.Fatalf("invitation: %d %+v", status, ans)
	}
	return ans.Token
}

func TestSurveyPageAnswersAnInvitationOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, pageTouchpoint(true, nil), Options{})
		b := browser{t: t, base: ts.URL}
		tok := invite(t, ts, "C-1")

		p := b.do("GET", "/s/"+tok+"?a.recommend=9", nil)
		if p.status != http.StatusOK {
			t.Fatalf("GET page: %d %s", p.status, p.body)
		}
		for h, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-store",
			"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		} {
			if !strings.Contains(p.header.Get(h), want) {
				t.Errorf("header %s = %q, want %q", h, p.header.Get(h), want)
			}
		}
		for _, want := range []string{
			`<h1>Your installation</h1>`,
			`How likely are you to recommend us? <span class="req" aria-hidden="true">*</span>`,
			`value="9" checked`, // prefilled from the email's link
			`(Not at all likely)`, `(Extremely likely)`,
			`<input type="radio" id="f-resolved-1" name="a.resolved" value="no"`,
			`<label class="opt" for="f-contact-0"><input type="radio" id="f-contact-0" name="a.contact" value="web"`,
			`maxlength="200"`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		form := p.hidden()

		// A required answer missing, another off its scale: the API's
		// messages, next to the fields, the answers kept.
		bad := url.Values{"a.recommend": {"9"}, "a.ease": {"7"}, "comment": {"kept"}}
		for k, v := range form {
			bad[k] = v
		}
		p = b.do("POST", "/s/"+tok, bad)
		if p.status != http.StatusUnprocessableEntity {
			t.Fatalf("POST invalid: %d %s", p.status, p.body)
		}
		for _, want := range []string{
			`<p class="error" id="e-resolved">is required: &#34;Was your issue resolved?&#34;</p>`,
			`<p class="error" id="e-ease">7 is off the scale; answer from 1 to 5</p>`,
			`<a href="#f-resolved-0">`, `aria-describedby="h-ease e-ease"`, `value="9" checked`, `>kept</textarea>`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("invalid form page lacks %q:\n%s", want, p.body)
			}
		}
		if n := total(t, ts.Store, "install"); n != 0 {
			t.Fatalf("%d responses stored from an invalid form", n)
		}

		good := url.Values{"a.recommend": {"3"}, "a.resolved": {"no"}, "a.contact": {"phone"}, "comment": {"it crashed"}}
		for k, v := range form {
			good[k] = v
		}
		p = b.do("POST", "/s/"+tok, good)
		if p.status != http.StatusOK || !strings.Contains(p.body, "Thanks, we read every answer.") {
			t.Fatalf("after submitting: %d at %s\n%s", p.status, p.url, p.body)
		}
		r, err := ts.Store.GetResponse(t.Context(), "install", "s-"+tokenID(t, tok))
		if err != nil {
			t.Fatalf("the page's response is not stored: %v", err)
		}
		var answers map[string]any
		_ = json.Unmarshal(r.Answers, &answers)
		if r.Customer.ID != "C-1" || answers["resolved"] != false || answers["recommend"] != 3.0 || answers["contact"] != "phone" ||
			r.Comment != "it crashed" || r.Metadata["channel"] != "survey-page" || r.Metadata["locale"] != "en" {
			t.Errorf("stored %+v answers %v", r, answers)
		}

		// Used: the link says thank you again, a second post stores nothing.
		if p = b.do("GET", "/s/"+tok, nil); p.status != http.StatusOK || !strings.Contains(p.body, "Thank you!") || strings.Contains(p.body, "<form") {
			t.Errorf("used link: %d %s", p.status, p.body)
		}
		if p = b.do("POST", "/s/"+tok, good); p.status != http.StatusOK || !strings.Contains(p.body, "Thanks, we read every answer.") {
			t.Errorf("second post: %d %s", p.status, p.body)
		}
		if n := total(t, ts.Store, "install"); n != 1 {
			t.Errorf("%d responses after two posts, want 1", n)
		}

		// Expired: says so, for GET and POST.
		tok2 := invite(t, ts, "C-2")
		ts.Clock.Advance(73 * time.Hour)
		if p = b.do("GET", "/s/"+tok2, nil); p.status != http.StatusGone || !strings.Contains(p.body, "This link has expired") {
			t.Errorf("expired link: %d %s", p.status, p.body)
		}
		if p = b.do("GET", "/s/"+tok, nil); p.status != http.StatusOK || !strings.Contains(p.body, "Thanks, we read every answer.") {
			t.Errorf("answered link after its expiry: %d %s", p.status, p.body)
		}
	})
}

func tokenID(t *testing.T, tok string) string {
	t.Helper()
	c, err := NewTokenSigner(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	payload, _, _ := strings.Cut(tok, ".")
	var claims TokenClaims
	raw, _ := base64URL(payload)
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(tok, "acme", "install", claims.Customer, testNow); err != nil {
		t.Fatal(err)
	}
	return claims.ID
}

func TestSurveyPageRefusesForgedAndCrossSitePosts(t *testing.T) {
	ts := startServer(t, testEngines[0], pageTouchpoint(true, nil), Options{})
	b := browser{t: t, base: ts.URL}
	tok := invite(t, ts, "C-1")
	form := b.do("GET", "/s/"+tok, nil).hidden()
	answers := url.Values{"a.recommend": {"0"}, "a.resolved": {"no"}}

	if p := b.do("POST", "/s/"+tok, answers); p.status != http.StatusForbidden {
		t.Errorf("post without the form key: %d", p.status)
	}
	for k, v := range form {
		answers[k] = v
	}
	req, _ := http.NewRequest("POST", ts.URL+"/s/"+tok, strings.NewReader(answers.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
	altered := tok[:len(tok)-2] + "AA"
	if p := b.do("GET", "/s/"+altered, nil); p.status != http.StatusNotFound || !strings.Contains(p.body, "Link not valid") {
		t.Errorf("altered token: %d %s", p.status, p.body)
	}
	if n := total(t, ts.Store, "install"); n != 0 {
		t.Errorf("%d responses stored from refused posts", n)
	}
}

func TestSurveyPageSpeaksTheCustomersLanguage(t *testing.T) {
	ts := startServer(t, testEngines[0], pageTouchpoint(true, nil), Options{})
	tok := invite(t, ts, "C-1")
	p := browser{t: t, base: ts.URL, lang: "de-AT,de;q=0.9,en;q=0.5"}.do("GET", "/s/"+tok, nil)
	for _, want := range []string{`<html lang="de">`, `<h1>Ihre Installation</h1>`, `Wurde Ihr Problem gelöst?`, `>Nein</span>`, `Antworten senden`,
		// Untranslated texts fall back to the default locale's.
		`How likely are you to recommend us?`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("German page lacks %q", want)
		}
	}
	p = browser{t: t, base: ts.URL, lang: "ja"}.do("GET", "/s/"+tok, nil)
	if !strings.Contains(p.body, `<html lang="en">`) {
		t.Errorf("a language without texts should get the default locale")
	}
}

func TestPublicLinkWithAbuseLimitAndQRCode(t *testing.T) {
	ts := startServer(t, testEngines[0], pageTouchpoint(false, &cxv1alpha1.PublicLinkSpec{Enabled: true, SubmissionsPerHour: 3}),
		Options{PublicURL: "https://survey.example.com/install"})
	b := browser{t: t, base: ts.URL}
	for i := range 3 {
		p := b.do("GET", "/p", nil)
		if p.status != http.StatusOK {
			t.Fatalf("GET /p: %d", p.status)
		}
		form := p.hidden()
		form.Set("a.recommend", "10")
		form.Set("a.resolved", "yes")
		p = b.do("POST", "/p", form)
		switch {
		case i < 2 && (p.status != http.StatusOK || !strings.Contains(p.body, "Thanks, we read every answer.")):
			t.Errorf("submission %d: %d %s", i, p.status, p.body)
		case i == 2 && p.status != http.StatusTooManyRequests:
			t.Errorf("third submission within the hour: %d, want 429", p.status)
		}
		// The same form posted twice is one response.
		if i == 0 {
			b.do("POST", "/p", form)
		}
	}
	if n := total(t, ts.Store, "install"); n != 2 {
		t.Errorf("%d responses, want 2", n)
	}
	// A forged ticket gets a fresh form, not a response.
	if p := b.do("POST", "/p", url.Values{"ticket": {"x.1.y"}, "a.recommend": {"1"}, "a.resolved": {"no"}}); p.status != http.StatusOK || !strings.Contains(p.body, "<form") {
		t.Errorf("forged ticket: %d", p.status)
	}

	svg := b.do("GET", "/p/qr.svg", nil)
	if svg.status != 200 || svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.body, "<svg") {
		t.Errorf("qr.svg: %d %s", svg.status, svg.header.Get("Content-Type"))
	}
	pngAnswer := b.do("GET", "/p/qr.png", nil)
	img, err := png.Decode(bytes.NewReader([]byte(pngAnswer.body)))
	if err != nil || img.Bounds().Dx() < 200 {
		t.Errorf("qr.png: %v", err)
	}

	// Without a public link (the invitation touchpoint) /p is not served.
	ts2 := startServer(t, testEngines[0], pageTouchpoint(true, nil), Options{})
	if p := (browser{t: t, base: ts2.URL}).do("GET", "/p", nil); p.status != http.StatusNotFound {
		t.Errorf("/p without publicLink: %d", p.status)
	}
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
