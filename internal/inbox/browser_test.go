package inbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/testenv"
)

// browser starts headless Chromium; each tab() is an isolated browser
// context (its own cookies and storage), like another person's browser.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv("CXLOOP_TEST_CHROMIUM")
	if bin == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
			if p, err := exec.LookPath(name); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium on PATH in CI: .ci/run installs Debian's chromium")
		}
		t.Skip("SKIP: chromium is not installed (apt-get install chromium, or set CXLOOP_TEST_CHROMIUM)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1000, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func tab(b context.Context, t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type css = chromedp.CSS

func run(ctx context.Context, t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : document.documentElement.outerHTML`))
		t.Fatalf("%s: %v\npage: %.3000s", what, err, html)
	}
}

func eval[T any](ctx context.Context, t *testing.T, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", expr, err)
	}
	return v
}

func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(eval[string](ctx, t, fmt.Sprintf(`(function(){var e=document.querySelector(%q);return e?e.textContent:"";})()`, sel)))
}

func count(ctx context.Context, t *testing.T, sel string) int {
	t.Helper()
	return eval[int](ctx, t, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// waitForText waits until the element's text contains want. It survives
// the navigations a form submission causes (it polls from Go, so a page
// replaced mid-poll is simply asked again).
func waitForText(sel, want string) chromedp.Action[chromedp.Void] {
	expr := fmt.Sprintf(`(function(){var e=document.querySelector(%q);return !!e && e.textContent.indexOf(%q) >= 0;})()`, sel, want)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		deadline := time.Now().Add(15 * time.Second)
		for {
			ok, err := chromedp.Evaluate[bool](expr)(ctx, tg)
			if err == nil && ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not contain %q after 15 s (last error: %w)", sel, want, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// waitForPolicies waits until the admission policies refuse what they must:
// they take effect a moment after they are created.
func waitForPolicies(ctx context.Context, t *testing.T, p *program, resolved string) {
	t.Helper()
	member := impersonate(t, member, frontline)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := p.getCase(ctx, t, resolved)
		c.Spec.State = cxv1alpha1.CaseClosed
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "user-error", Summary: "probe", CustomerRecovered: new(true)}
		err := member.Update(ctx, c, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "may close a Case") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admission policies do not refuse a member's close after 30 s (last answer: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func impersonate(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := *env.Config
	cfg.Impersonate.UserName, cfg.Impersonate.Groups = user, groups
	c, err := client.New(&cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFrontlineWorksCasesInTheBrowser is issue 16's walk-through: a member
// and a case manager work Cases in two browsers through a test proxy,
// against the real API server with the shipped RBAC and admission
// policies.
func TestFrontlineWorksCasesInTheBrowser(t *testing.T) {
	ctx := context.Background()
	b := browser(t)
	p := newProgram(ctx, t)
	now := time.Now()
	p.openCase(ctx, t, "late", "C-100", member, cxv1alpha1.CaseOpen, now.Add(-49*time.Hour))
	p.openCase(ctx, t, "soon", "C-200", member, cxv1alpha1.CaseOpen, now.Add(3*time.Hour+30*time.Minute))
	p.openCase(ctx, t, "done", "C-300", member, cxv1alpha1.CaseResolved, now.Add(20*time.Hour))
	p.openCase(ctx, t, "other", "C-400", "lukas.meyer", cxv1alpha1.CaseOpen, now.Add(5*time.Hour))
	waitForPolicies(ctx, t, p, "done")

	priya := tab(b, t)
	priyaURL := p.signIn(t, member, frontline)
	maria := tab(b, t)
	mariaURL := p.signIn(t, manager, frontline)

	t.Run("member sees her open Cases, overdue first and highlighted", func(t *testing.T) {
		run(priya, t, "open my Cases", chromedp.Navigate(priyaURL+"/cases"), chromedp.WaitVisible(css("#cases")))
		names := eval[[]string](priya, t, `Array.from(document.querySelectorAll("#cases li")).map(e => e.dataset.case.split("/")[1])`)
		if strings.Join(names, ",") != "late,soon" {
			t.Errorf("my open Cases = %v, want late (overdue) then soon; done is Resolved, other is lukas's", names)
		}
		if got := text(priya, t, `#cases li.overdue .due`); got != "overdue 2 d" {
			t.Errorf("overdue Case says %q, want \"overdue 2 d\"", got)
		}
		if n := count(priya, t, "#cases li.overdue"); n != 1 {
			t.Errorf("%d Cases highlighted overdue, want 1", n)
		}
		if got := text(priya, t, `#cases li:not(.overdue) .due`); got != "due in 3 h" {
			t.Errorf("the other Case says %q, want \"due in 3 h\"", got)
		}
		if got := text(priya, t, ".counts"); !strings.Contains(got, "Mine: 2 open, 1 overdue") {
			t.Errorf("counts = %q, want Mine: 2 open, 1 overdue", got)
		}
		run(priya, t, "search by customer", chromedp.Navigate(priyaURL+"/cases?view=team&customer=c-4"), chromedp.WaitVisible(css("#cases")))
		if got := text(priya, t, "#cases"); !strings.Contains(got, "C-400") || strings.Contains(got, "C-100") {
			t.Errorf("team Cases of customer c-4 = %q, want only C-400", got)
		}
	})

	// The manager keeps the overdue Case open: it must change live.
	run(maria, t, "manager opens the Case", chromedp.Navigate(mariaURL+"/namespaces/"+p.ns+"/cases/late"), chromedp.WaitVisible(css("#timeline")))
	if n := count(maria, t, "#form-close"); n != 0 {
		t.Errorf("the manager sees a close form on an Open Case: only Resolved Cases close")
	}

	t.Run("member reads the response and adds an action", func(t *testing.T) {
		run(priya, t, "open the Case", chromedp.Navigate(priyaURL+"/namespaces/"+p.ns+"/cases/late"), chromedp.WaitVisible(css("#form-actions")))
		if got := text(priya, t, ".answers"); !strings.Contains(got, "Were you able to complete the installation?") || !strings.Contains(got, "no") {
			t.Errorf("answers = %q, want the question text and \"no\"", got)
		}
		if got := text(priya, t, ".facts"); !strings.Contains(got, "C-100") || !strings.Contains(got, "Gold") || strings.Contains(got, "emea") {
			t.Errorf("customer facts = %q, want id and tier but not attributes (customerDetail IDAndTier)", got)
		}
		if n := count(priya, t, "#form-close, #form-severity, #form-assignee"); n != 0 {
			t.Errorf("a member sees %d manager forms (close, severity, reassign), want none", n)
		}
		run(priya, t, "add a call",
			chromedp.Click(css(`input[name=kind][value=call]`)),
			chromedp.SendKeys(css("#action-text"), "reached them, retrying with the offline installer"),
			chromedp.Click(css("#form-actions button")),
			waitForText("#timeline", "Called the customer: reached them"))
		c := p.getCase(ctx, t, "late")
		a := c.Spec.Actions[len(c.Spec.Actions)-1]
		if a.By != member || a.Type != cxv1alpha1.ActionCustomerContacted || time.Since(a.At.Time) > time.Minute {
			t.Errorf("logged action = %+v, want by %s, CustomerContacted, at the server's time", a, member)
		}
	})

	t.Run("member moves the Case to InProgress, the manager sees it live", func(t *testing.T) {
		run(priya, t, "move", chromedp.Click(css(`#form-state button[value=InProgress]`)), waitForText("#state", "In progress"))
		if c := p.getCase(ctx, t, "late"); c.Spec.State != cxv1alpha1.CaseInProgress {
			t.Errorf("state = %s, want InProgress", c.Spec.State)
		}
		run(maria, t, "live update", waitForText("#state", "In progress"), waitForText("#timeline", "Called the customer"))
	})

	t.Run("member has no close button and a forged close is refused by the API server", func(t *testing.T) {
		run(priya, t, "open the resolved Case", chromedp.Navigate(priyaURL+"/namespaces/"+p.ns+"/cases/done"), chromedp.WaitVisible(css("#form-state")))
		if n := count(priya, t, "#form-close"); n != 0 {
			t.Fatalf("a member sees the close form")
		}
		if got := text(priya, t, "#form-state"); !strings.Contains(got, "Reopened") {
			t.Errorf("state buttons = %q, want Reopened", got)
		}
		// Forge the form a manager would get, with her own token.
		run(priya, t, "forge a close", chromedp.Evaluate[chromedp.Void](`(function(){
			var f = document.createElement("form"); f.method = "post"; f.action = location.pathname + "/close";
			[["csrf", document.querySelector("input[name=csrf]").value], ["rootCause", "user-error"], ["summary", "closing it myself"], ["recovered", "yes"]].forEach(function(kv){
				var i = document.createElement("input"); i.type = "hidden"; i.name = kv[0]; i.value = kv[1]; f.appendChild(i); });
			document.body.appendChild(f); f.submit(); })()`),
			waitForText("#err-close", "may close a Case; priya.nair is neither"))
		if c := p.getCase(ctx, t, "done"); c.Spec.State != cxv1alpha1.CaseResolved {
			t.Errorf("state = %s after a refused close, want Resolved", c.Spec.State)
		}
	})

	t.Run("manager resolves and closes with a root cause", func(t *testing.T) {
		run(maria, t, "resolve", chromedp.Click(css(`#form-state button[value=Resolved]`)), waitForText("#state", "Resolved"),
			chromedp.WaitVisible(css("#form-close")))
		run(maria, t, "close",
			chromedp.SetValue(css("#root-cause"), "installer-defect"),
			chromedp.SendKeys(css("#summary"), "Installer fixed in 2.4.1; customer upgraded"),
			chromedp.Click(css(`input[name=recovered][value=yes]`)),
			chromedp.Click(css("#form-close button")),
			waitForText("#state", "Closed"), waitForText("#resolution", "installer-defect"))
		c := p.getCase(ctx, t, "late")
		if c.Spec.State != cxv1alpha1.CaseClosed || c.Spec.Resolution == nil || c.Spec.Resolution.RootCause != "installer-defect" ||
			c.Spec.Resolution.CustomerRecovered == nil || !*c.Spec.Resolution.CustomerRecovered {
			t.Errorf("closed Case = %s %+v, want Closed with root cause installer-defect, recovered", c.Spec.State, c.Spec.Resolution)
		}
		run(priya, t, "member sees the close live", chromedp.Navigate(priyaURL+"/namespaces/"+p.ns+"/cases/late"), waitForText("#state", "Closed"))
	})

	t.Run("the manager's overview", func(t *testing.T) {
		// The manager (not running here) records when the Case closed.
		c := p.getCase(ctx, t, "late")
		closed := metav1.NewTime(time.Now().Truncate(time.Second))
		c.Status.ClosedAt, c.Status.ObservedState = &closed, cxv1alpha1.CaseClosed
		if err := env.Client.Status().Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		run(maria, t, "overview", chromedp.Navigate(mariaURL+"/overview"), chromedp.WaitVisible(css("h1")), waitForText("main", "1 closed"))
		got := text(maria, t, "main")
		// late was closed two days past its deadline; soon, done and other
		// are open or resolved; soon and other are open, none overdue now.
		for _, want := range []string{"The Cases of the templates you manage.", "1 closed, 0 within their goal", "installation-support"} {
			if !strings.Contains(got, want) {
				t.Errorf("overview lacks %q:\n%s", want, got)
			}
		}
		if n := count(maria, t, "#tmpl-h ~ .scroll tbody tr"); n != 1 {
			t.Errorf("overview by template has %d rows, want 1", n)
		}
		if got := text(maria, t, "#asg-h ~ .scroll tbody"); !strings.Contains(got, member) || !strings.Contains(got, "lukas.meyer") {
			t.Errorf("overview by assignee = %q, want priya.nair and lukas.meyer", got)
		}
	})

	t.Run("an outsider sees nothing", func(t *testing.T) {
		olaf := tab(b, t)
		u := p.signIn(t, outsider)
		run(olaf, t, "list", chromedp.Navigate(u+"/cases?view=all"), chromedp.WaitVisible(css("h1")))
		if n := count(olaf, t, "#cases li"); n != 0 {
			t.Errorf("an outsider without RBAC lists %d Cases", n)
		}
		run(olaf, t, "case page", chromedp.Navigate(u+"/namespaces/"+p.ns+"/cases/soon"), chromedp.WaitVisible(css("h1")))
		if got := text(olaf, t, "main"); !strings.Contains(got, "forbidden") {
			t.Errorf("outsider's Case page = %q, want the API server's forbidden", got)
		}
	})

	t.Run("375 px wide without horizontal scrolling", func(t *testing.T) {
		for _, path := range []string{"/cases?view=team", "/namespaces/" + p.ns + "/cases/soon", "/overview"} {
			run(priya, t, "phone "+path,
				chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
				chromedp.Navigate(priyaURL+path), chromedp.WaitVisible(css("h1")))
			scroll := eval[int](priya, t, `document.documentElement.scrollWidth`)
			width := eval[int](priya, t, `document.documentElement.clientWidth`)
			if width != 375 || scroll > width {
				t.Errorf("%s at %d px: content is %d px wide", path, width, scroll)
			}
		}
		run(priya, t, "desktop again", chromedp.ResetViewport())
	})

	t.Run("axe-core finds no violations", func(t *testing.T) {
		axe := filepath.Join(testenv.RepoRoot(), "hack", "axe", "node_modules", "axe-core", "axe.min.js")
		src, err := os.ReadFile(axe)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("axe-core is not installed (.ci/run runs npm ci --prefix hack/axe): %v", err)
			}
			t.Skipf("SKIP: axe-core is not installed: run npm ci --prefix hack/axe (%v)", err)
		}
		for _, page := range []struct {
			ctx context.Context
			url string
		}{
			{priya, priyaURL + "/cases?view=team"},
			{priya, priyaURL + "/namespaces/" + p.ns + "/cases/soon"},
			{maria, mariaURL + "/namespaces/" + p.ns + "/cases/done"},
			{maria, mariaURL + "/overview"},
		} {
			run(page.ctx, t, "axe "+page.url,
				chromedp.Navigate(page.url), chromedp.WaitVisible(css("h1")),
				chromedp.Evaluate[chromedp.Void](string(src)))
			violations := eval[[]map[string]any](page.ctx, t,
				`axe.run(document).then(r => r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`,
				chromedp.EvalAwaitPromise)
			for _, v := range violations {
				t.Errorf("%s: axe %v: %v at %v", page.url, v["id"], v["help"], v["nodes"])
			}
		}
	})
}
