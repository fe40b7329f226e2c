package programtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxloop/cxloop/internal/testenv"
)

// The sample program's tests (config/samples/tests) pass: make test runs
// `cxloop test` on them.
func TestSampleProgramTests(t *testing.T) {
	var out, errOut bytes.Buffer
	dir := filepath.Join(testenv.SamplesDir, "tests")
	if err := Command(context.Background(), []string{dir}, &out, &errOut); err != nil {
		t.Fatalf("cxloop test %s: %v\n%s", dir, err, out.String())
	}
	if strings.Contains(out.String(), "FAIL") || !strings.Contains(errOut.String(), " passed, 0 failed") || strings.Contains(errOut.String(), "0 passed") {
		t.Fatalf("output:\n%s%s", out.String(), errOut.String())
	}
}

// A failing test prints every difference: a wrong field, a missing and an
// unexpected notification; a test against an invalid program fails with
// validate's finding.
func TestFailuresPrintTheDifference(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	samples, _ := filepath.Rel(dir, testenv.SamplesDir)
	path := write("wrong.yaml", `program: [`+samples+`]
start: 2026-03-02T09:00:00Z
tests:
- name: wrong expectations
  steps:
  - response: {touchpoint: upgrade-install, id: r-1, customer: {id: C-1, tier: Bronze}, answers: {completed: false, ease: 9}}
  expect:
    cases:
    - {response: r-1, severity: Urgent, dueAt: 2026-03-03T09:00:00Z}
    - {response: r-9}
    notifications:
    - {channel: support-slack, event: RuleMatched}
    - {channel: support-email, event: RuleMatched}
`)
	var out, errOut bytes.Buffer
	err := Command(context.Background(), []string{path}, &out, &errOut)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	for _, want := range []string{
		"FAIL " + path + ": wrong expectations",
		"Case of response r-1: severity: want Urgent, got Normal",
		"Case of response r-1: dueAt: want 2026-03-03T09:00:00Z, got 2026-03-05T09:00:00Z",
		"want a Case opened by response r-9, got none",
		"want notification support-email RuleMatched, not sent",
		"unexpected notification support-slack Opened (response r-1)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Firings, report numbers and the dispatcher's counts print what
	// happened instead.
	path = write("wrong-counts.yaml", `program: [`+samples+`]
start: 2026-03-02T09:00:00Z
tests:
- name: wrong counts
  steps:
  - response: {touchpoint: relationship-nps, id: low, customer: {id: ACME-DE}, answers: {recommend: 3}, metadata: {store: berlin}}
    repeat: 30
  - response: {touchpoint: upgrade-install, id: r-1, customer: {id: C-1}, answers: {completed: true, ease: 2}}
  - advance: 15m
  expect:
    caseCount: 29
    throttled: 1
    firings:
    - {rule: nps-drop, group: paris, event: Firing}
    reports:
    - {subscription: weekly-installation, responses: 5, kpis: {CES: 9}, cases: {opened: 2}}
`)
	out.Reset()
	if err := Command(context.Background(), []string{path}, &out, &errOut); !errors.Is(err, ErrFailed) {
		t.Fatalf("wrong counts: err = %v", err)
	}
	for _, want := range []string{
		"Cases opened by responses: want 29, got 30",
		"throttled matches: want 1, got 0",
		"aggregate transition 1: want Firing nps-drop group paris, got Firing nps-drop group berlin at 2026-03-02T09:15:00Z",
		"report weekly-installation: responses: want 5, got 1",
		"report weekly-installation: CES: want 9.0, got 2.0 (of 1 answers)",
		"report weekly-installation: cases opened: want 2, got 0",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	bad := write("invalid-rule.yaml", `apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata: {name: broken}
spec:
  touchpoints: {names: [upgrade-install]}
  condition: answers.nope == 1
  actions: {notify: [{channel: support-slack}]}
`)
	path = write("invalid.yaml", `program: [`+samples+`, invalid-rule.yaml]
start: 2026-03-02T09:00:00Z
tests: [{name: never runs, steps: []}]
`)
	out.Reset()
	_ = bad
	if err := Command(context.Background(), []string{path}, &out, &errOut); !errors.Is(err, ErrFailed) {
		t.Fatalf("invalid program: err = %v", err)
	}
	if !strings.Contains(out.String(), "the program is invalid") || !strings.Contains(out.String(), "AlertRule/broken: spec.condition") {
		t.Errorf("output:\n%s", out.String())
	}
}
