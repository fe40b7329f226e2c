package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cxloop/cxloop/internal/testutil"
)

// phoneWidth is the CSS width of a small phone (iPhone SE, mini).
const phoneWidth = 375

// axeViolations runs axe-core (from the npm registry, hack/axe) in the
// page and returns its violations, one line each.
func axeViolations(ctx context.Context, t *testing.T, axe string) []string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axe)); err != nil {
		t.Fatalf("load axe-core: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run axe-core: %v", err)
	}
	var vs []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatalf("decode axe result %s: %v", raw, err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, " | ")))
	}
	return out
}

// checkPhoneLayout screenshots the page at phone width into dir and fails
// when anything overflows sideways.
func checkPhoneLayout(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if widths[0] > widths[1] || widths[2] != phoneWidth {
		t.Errorf("%s: scroll width %d > client width %d (window %d): the page scrolls sideways on a phone", name, widths[0], widths[1], widths[2])
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if img.Bounds().Dx() != phoneWidth {
		t.Errorf("%s: screenshot is %d px wide, want %d", name, img.Bounds().Dx(), phoneWidth)
	}
	dir := os.Getenv("CXLOOP_TEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A customer opens the invitation link on a phone, answers as a person
// does (clicks, keys), gets the API's message next to a forgotten answer,
// fixes it and is thanked; axe-core finds no accessibility violation on
// any of the pages.
func TestSurveyPageInABrowserOnAPhone(t *testing.T) {
	axe := testutil.AxeScript(t)
	ctx := testutil.Browser(t)
	ts := startServer(t, testEngines[0], pageTouchpoint(true, nil), Options{})
	tok := invite(t, ts, "C-7")

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(phoneWidth, 800, chromedp.EmulateMobile),
		chromedp.Navigate(ts.URL+"/s/"+tok+"?a.recommend=2"),
		chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
	); err != nil {
		t.Fatalf("open the link: %v", err)
	}
	// The stylesheet loaded under the page's CSP (a styled button).
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("button")).backgroundColor`))
	if err != nil || bg != "rgb(11, 87, 208)" {
		t.Errorf("button background %q (%v): the stylesheet did not apply", bg, err)
	}
	checkPhoneLayout(ctx, t, "survey-form")
	if v := axeViolations(ctx, t, axe); len(v) > 0 {
		t.Errorf("axe-core violations on the form:\n%s", strings.Join(v, "\n"))
	}

	// Leave out the required yes/no question and send.
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, a); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	step("click ease 2", chromedp.Click(chromedp.CSS(`label[for="f-ease-1"]`)))
	step("type comment", chromedp.SendKeys(chromedp.CSS(`#f-comment`), "The installer hung at 80%."))
	step("send", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	step("error shown", chromedp.WaitVisible(chromedp.CSS(`#e-resolved`)))
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("first submit: %v", err)
	}
	msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#e-resolved`)))
	if msg != `is required: "Was your issue resolved?"` {
		t.Errorf("message next to the field: %q", msg)
	}
	kept, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[document.querySelector("#f-comment").value, document.querySelector("input[name='a.recommend']:checked").value, document.querySelector("input[name='a.ease']:checked").value]`))
	if strings.Join(kept, "|") != "The installer hung at 80%.|2|2" {
		t.Errorf("answers kept after the error: %q", kept)
	}
	checkPhoneLayout(ctx, t, "survey-form-error")
	if v := axeViolations(ctx, t, axe); len(v) > 0 {
		t.Errorf("axe-core violations on the form with errors:\n%s", strings.Join(v, "\n"))
	}

	// The summary's link takes the keyboard to the question; a space
	// there picks "Yes", then a click on "No" changes it, as a person does.
	step("follow the summary link", chromedp.Click(chromedp.CSS(`.summary a`)))
	focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`))
	if focused != "#f-resolved-0" {
		t.Errorf("the summary link goes to %q, want the first answer of the question", focused)
	}
	step("space on Yes", chromedp.Steps(chromedp.Focus(chromedp.CSS(`#f-resolved-0`)), chromedp.KeyEvent(" ")))
	yes, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#f-resolved-0").checked`))
	if !yes {
		t.Errorf("space on the focused Yes did not choose it")
	}
	step("click No", chromedp.Click(chromedp.CSS(`label[for="f-resolved-1"]`)))
	step("send again", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	// Wait for the thank-you page itself: while the submit navigates, the
	// old page can still be read (a slow machine showed the form's text
	// after the form had briefly left the DOM).
	var body string
	for deadline := time.Now().Add(20 * time.Second); ; {
		body, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		if strings.Contains(body, "Thanks, we read every answer.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after sending: %q", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkPhoneLayout(ctx, t, "survey-thanks")
	if v := axeViolations(ctx, t, axe); len(v) > 0 {
		t.Errorf("axe-core violations on the thank-you page:\n%s", strings.Join(v, "\n"))
	}

	// The check itself can fail: a radio without a label is a violation.
	step("open a bad page", chromedp.Navigate(`data:text/html,<!DOCTYPE html><html lang="en"><title>x</title><main><input type="radio" name="x"></main></html>`))
	if v := axeViolations(ctx, t, axe); len(v) == 0 {
		t.Errorf("axe-core found nothing wrong with an unlabelled radio button: the check is not running")
	}

	r, err := ts.Store.GetResponse(t.Context(), "install", "s-"+tokenID(t, tok))
	if err != nil {
		t.Fatalf("response not stored: %v", err)
	}
	var answers map[string]any
	_ = json.Unmarshal(r.Answers, &answers)
	if answers["resolved"] != false || answers["recommend"] != 2.0 || answers["ease"] != 2.0 || r.Comment != "The installer hung at 80%." {
		t.Errorf("stored answers %v comment %q", answers, r.Comment)
	}
}
