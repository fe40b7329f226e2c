package demo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// TestDemoShortMode runs `cxloop demo --responses 300 --exit` in process
// against the real control plane binaries (make test provides them) and
// checks the summary a person would read: every response stored, KPIs per
// touchpoint, Cases opened by the rules that went overdue and escalated on
// the accelerated clock, notifications filed in the inbox by channel, and
// the rendered report.
func TestDemoShortMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	dataDir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sum, err := Run(ctx, Options{
		Responses: 300, Exit: true, DataDir: dataDir, Out: &out,
		// Four simulated hours per second: three simulated days pass in
		// 18 seconds, past every closure goal (24h to 72h) and the
		// escalation steps after them, and long enough for the simulated
		// team to close Cases (contact, resolve and close take 3.5 h to
		// 85 h; with 40 hours a loaded machine sometimes closed none).
		Speed: 4 * 3600, Simulate: 72 * time.Hour,
	})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	text := out.String()

	// The 300 replayed and those customers answered through the page.
	if want := fmt.Sprintf("Responses:      %d stored (300 replayed through the API,", 300+sum.Outreach.Answered); !strings.Contains(text, want) {
		t.Errorf("summary lacks %q", want)
	}
	for _, want := range []string{"upgrade-install", "relationship-nps", "CES ", "NPS ", "completed yes "} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks the KPI %q", want)
		}
	}
	// The per-response rules matched and opened Cases.
	if n := intAfter(t, text, `installation-failed\s+Escalation\s+(\d+) matches`); n == 0 {
		t.Error("rule installation-failed matched no response")
	}
	if n := intAfter(t, text, `nps-detractor\s+Escalation\s+\d+ matches\s+(\d+) Cases opened`); n == 0 {
		t.Error("rule nps-detractor opened no Case")
	}
	cases := intAfter(t, text, `Cases:\s+(\d+)`)
	// The hand-made sample Case plus the Cases the rules opened.
	if cases < 2 {
		t.Errorf("summary counts %d Cases, want the sample Case and Cases opened by rules", cases)
	}
	if n := intAfter(t, text, `escalated (\d+)`); n == 0 {
		t.Errorf("no escalated Case after 72 simulated hours")
	}
	// The sample's Gold Case has a 24h closure goal.
	if n := intAfter(t, text, `overdue (\d+),`); n == 0 {
		t.Errorf("no overdue Case after 72 simulated hours")
	}
	// The simulated team picked up some Cases.
	if open := sum.Cases.ByState[string(cxv1alpha1.CaseOpen)]; open >= sum.Cases.Total {
		t.Errorf("all %d Cases still Open after 72 simulated hours: %v", sum.Cases.Total, sum.Cases.ByState)
	}
	// ... through the inbox, and the summary says how many.
	if n := intAfter(t, text, `worked through the inbox: (\d+)`); n == 0 || n != sum.WorkedInInbox {
		t.Errorf("summary counts %d Cases worked through the inbox (summary field %d), want some", n, sum.WorkedInInbox)
	}
	// Detractors at an account whose recovery Case is open were merged
	// into it by their collector (as its ServiceAccount, under the
	// admission policies), and the summary says how many.
	if n := intAfter(t, text, `responses merged into open Cases by dedup: (\d+)`); n == 0 || n != sum.Cases.MergedResponses {
		t.Errorf("summary counts %d responses merged by dedup (summary field %d), want some", n, sum.Cases.MergedResponses)
	}
	if closed := sum.Cases.ByState[string(cxv1alpha1.CaseClosed)]; closed == 0 {
		t.Errorf("no Case closed through the inbox by a case manager: %v", sum.Cases.ByState)
	}
	if m := regexp.MustCompile(`maria.lopez\s+\(case manager\): (http://127\.0\.0\.1:\d+)/cases`).FindStringSubmatch(text); m == nil {
		t.Error("the demo prints no inbox sign-in link for the case manager")
	}
	if sum.Cases.BySeverity[string(cxv1alpha1.SeverityUrgent)] == 0 {
		t.Errorf("no Urgent Case (Gold tier policy): %v", sum.Cases.BySeverity)
	}

	// Notifications are files in the inbox, per channel, and the summary
	// counts them.
	for _, ch := range []string{"support-slack", "cross-functional-email", "account-management-teams"} {
		files, _ := filepath.Glob(filepath.Join(dataDir, "inbox", ch, "*"))
		if len(files) == 0 {
			t.Errorf("inbox/%s is empty", ch)
			continue
		}
		if n := intAfter(t, text, `\n  `+ch+`\s+(\d+)`); n != len(files) {
			t.Errorf("summary counts %d messages for %s, the inbox holds %d", n, ch, len(files))
		}
	}
	mails, _ := filepath.Glob(filepath.Join(dataDir, "inbox", "cross-functional-email", "*.eml"))
	if len(mails) > 0 {
		raw, err := os.ReadFile(mails[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte("To: ")) || !bytes.Contains(raw, []byte("acme.example")) {
			t.Errorf("%s is not the email sent to the channel's recipients:\n%s", mails[0], raw)
		}
	}

	// The customer side: business events in, invitations out as real
	// email and SMS into the sinks, customers answering the survey page
	// over HTTP, a reminder for those who did not, acknowledgements of
	// the Cases their answers opened, and some unsubscribing.
	m := regexp.MustCompile(`Invitations:\s+(\d+) sent, (\d+) reminded, (\d+) answered through the survey page, (\d+) acknowledgements`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("summary has no Invitations: line")
	}
	o, cu := sum.Outreach, sum.Customers
	for i, n := range []int64{o.Sent - o.Reminded, o.Reminded, o.Answered, o.Acknowledged} {
		if got, _ := strconv.ParseInt(m[i+1], 10, 64); got != n || n == 0 {
			t.Errorf("Invitations: line field %d is %s (status %d), want it equal to the collectors' status and not 0: %+v", i+1, m[i+1], n, o)
		}
	}
	if cu.Events != 60 || cu.Failed != 0 {
		t.Errorf("customers posted %d events (want 60) with %d failed requests: %v", cu.Events, cu.Failed, cu.Errors)
	}
	// What the collectors say they sent is what the customers received,
	// and every answer a customer gave through the page is counted.
	if int64(cu.Invitations) != o.Sent-o.Reminded || int64(cu.Reminders) != o.Reminded || int64(cu.Acknowledgements) != o.Acknowledged ||
		int64(cu.FollowUps) != o.FollowUpsSent || int64(cu.Answered) != o.Answered {
		t.Errorf("customers received %d invitations, %d reminders, %d acknowledgements, %d follow-ups and answered %d; the collectors count %+v",
			cu.Invitations, cu.Reminders, cu.Acknowledgements, cu.FollowUps, cu.Answered, o)
	}
	if cu.Unsubscribed == 0 || cu.SMS == 0 || cu.Emails == 0 {
		t.Errorf("customers: %+v, want some unsubscribing and messages by email and by SMS", cu)
	}
	customerMail, _ := filepath.Glob(filepath.Join(dataDir, "inbox", "customer-email", "*.eml"))
	customerSMS, _ := filepath.Glob(filepath.Join(dataDir, "inbox", "customer-sms", "*.json"))
	if len(customerMail) != cu.Emails || len(customerSMS) != cu.SMS {
		t.Errorf("the sinks filed %d emails and %d SMS to customers; the customers read %d and %d", len(customerMail), len(customerSMS), cu.Emails, cu.SMS)
	}
	if len(customerMail) > 0 {
		raw, err := os.ReadFile(customerMail[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte("@"+CustomerDomain)) || !bytes.Contains(raw, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click")) {
			t.Errorf("%s is not an invitation to a customer with one-click unsubscribe:\n%s", customerMail[0], raw)
		}
	}

	// The sample ReportSubscription ran (run-now) and its HTML is a file
	// with the charts inline.
	m = regexp.MustCompile(`Report:\s+(\S+\.html)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("summary names no report file")
	}
	html, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatalf("report file: %v", err)
	}
	for _, want := range []string{"Weekly upgrade installation experience", "data:image/png;base64,"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report %s lacks %q", m[1], want)
		}
	}
	if bytes.Contains(html, []byte(`src="cid:`)) {
		t.Errorf("report %s still refers to email attachments (cid:)", m[1])
	}
	if _, err := os.Stat(filepath.Join(dataDir, "kubeconfig")); err != nil {
		t.Errorf("no kubeconfig written: %v", err)
	}
}

func intAfter(t *testing.T, text, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("summary has nothing matching %q", pattern)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A taken port fails the demo before anything starts, naming the flag.
func TestDemoPortTaken(t *testing.T) {
	assets := fakeAssets(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	port := 0
	if a, ok := taken.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}

	for _, tc := range []struct {
		flag string
		opts Options
	}{
		{"--collector-base-port", Options{CollectorBasePort: port}},
		{"--api-port", Options{APIPort: port}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			o := tc.opts
			o.Assets, o.DataDir, o.Out = assets, t.TempDir(), &bytes.Buffer{}
			_, err := Run(context.Background(), o)
			want := "port " + strconv.Itoa(port) + " is taken (" + tc.flag + ")"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q", err, want)
			}
		})
	}
}

// fakeAssets is a directory with executable files named like the control
// plane binaries, for tests that fail before starting them.
func fakeAssets(t *testing.T) string {
	dir := t.TempDir()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, bin), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A data directory of an earlier run is refused rather than mixed in.
func TestDemoDataDirNotEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "inbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Assets: fakeAssets(t), DataDir: dir, Out: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "--data-dir "+dir+" is not empty") {
		t.Fatalf("error %v, want one saying --data-dir is not empty", err)
	}
}

// Without control plane binaries the demo says how to get them.
func TestDemoMissingBinaries(t *testing.T) {
	_, err := Run(context.Background(), Options{Assets: t.TempDir(), DataDir: t.TempDir(), Out: &bytes.Buffer{}})
	if err == nil || !strings.Contains(err.Error(), "hack/setup-envtest.sh") || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Fatalf("error %v, want one naming kube-apiserver and hack/setup-envtest.sh", err)
	}
}

// Option values the demo cannot run with are refused before anything
// starts, naming the flag; a negative --workers would leave the replay
// waiting forever for a worker.
func TestDemoRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Workers: -1}, "--workers must be at least 1"},
		{Options{Responses: -5}, "--responses must be positive"},
		{Options{Speed: 0.5}, "--speed must be at least 1"},
	} {
		o := tc.opts
		o.Assets, o.DataDir, o.Out = t.TempDir(), t.TempDir(), &bytes.Buffer{}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Run(ctx, o)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
}
