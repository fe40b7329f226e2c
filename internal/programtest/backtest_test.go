package programtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testenv"
)

// cxloop backtest reads a real collector's stored responses over its
// private API (on loopback, with the token) and reports what a changed
// rule would have done, writing nothing: the collector's store has no
// new outbox action and the same responses afterwards.
func TestBacktestAgainstACollector(t *testing.T) {
	ctx := context.Background()
	prog, err := loadProgram(ctx, []string{testenv.SamplesDir}, "acme-cx")
	if err != nil {
		t.Fatal(err)
	}
	tp := prog.Touchpoints[0].DeepCopy()
	for i := range prog.Touchpoints {
		if prog.Touchpoints[i].Name == "upgrade-install" {
			tp = prog.Touchpoints[i].DeepCopy()
		}
	}
	// The history is imported without invitation tokens.
	tp.Spec.Invitations.RequireToken = false
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, store.Config{Namespace: "acme-cx", Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "c.db"), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const token = "backtest-token-0123456789abcdef"
	srv, err := collector.NewServer(tp, collector.Options{Namespace: "acme-cx", Store: st, APIToken: []byte(token),
		SigningKey: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now }, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	private := httptest.NewServer(srv.PrivateHandler())
	defer private.Close()

	// A month of history, imported through the private batch API: 12
	// customers could not install (two of them answered twice within a
	// day), 20 installed fine.
	var items []json.RawMessage
	add := func(id, customer, tier string, completed bool, ease int, at time.Time) {
		raw, _ := json.Marshal(map[string]any{"id": id, "customer": map[string]any{"id": customer, "tier": tier, "attributes": map[string]string{"email": customer + "@example.com"}},
			"answers": map[string]any{"completed": completed, "ease": ease}, "submittedAt": at.Format(time.RFC3339)})
		items = append(items, raw)
	}
	start := now.Add(-20 * 24 * time.Hour)
	tiers := []string{"Gold", "Silver", "Bronze"}
	for i := range 12 {
		add(fmt.Sprintf("fail-%d", i), fmt.Sprintf("C-%d", i), tiers[i%3], false, 3, start.Add(time.Duration(i)*24*time.Hour))
	}
	for i := range 2 {
		add(fmt.Sprintf("again-%d", i), fmt.Sprintf("C-%d", i), tiers[i%3], false, 2, start.Add(time.Duration(i)*24*time.Hour+2*time.Hour))
	}
	for i := range 20 {
		add(fmt.Sprintf("ok-%d", i), fmt.Sprintf("H-%d", i), "Bronze", true, 9, start.Add(time.Duration(i)*12*time.Hour+time.Hour))
	}
	body, _ := json.Marshal(collector.BatchRequest{Responses: items})
	req, _ := http.NewRequest(http.MethodPost, private.URL+"/v1/responses:batch", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var batch collector.BatchResult
	err = json.NewDecoder(resp.Body).Decode(&batch)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || batch.Accepted != len(items) {
		t.Fatalf("batch import: %d %+v (%v)", resp.StatusCode, batch, err)
	}
	depthBefore, _, _ := st.OutboxStats(ctx)

	// The changed rule: installation-hard now opens Cases too (ease <= 5).
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.yaml")
	if err := os.WriteFile(changed, []byte(`apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata: {name: installation-failed}
spec:
  kind: Escalation
  touchpoints: {names: [upgrade-install]}
  condition: answers.completed == false
  actions:
    openCase: {template: installation-support, title: Could not complete the upgrade installation}
    notify: [{channel: support-slack}]
  dedup: {key: customer.id, window: 72h}
  throttle: {maxCasesPerHour: 100}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-f", testenv.SamplesDir, "-f", changed, "--namespace", "acme-cx", "--collector", private.URL, "--token-file", tokenFile,
		"--since", now.Add(-30 * 24 * time.Hour).Format(time.RFC3339), "--until", now.Format(time.RFC3339), "--rule", "installation-failed", "-o", "json"}
	if err := Backtest(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("backtest: %v\n%s", err, errOut.String())
	}
	var res BacktestResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Touchpoint != "upgrade-install" || res.Responses != 34 || res.Matches["installation-failed"] != 14 || len(res.Matches) != 1 {
		t.Errorf("replayed %d responses of %s, matches %v; want 34, 14 of installation-failed", res.Responses, res.Touchpoint, res.Matches)
	}
	if res.Cases != 12 || res.Merged != 2 || res.Throttled != 0 {
		t.Errorf("cases %d, merged %d, throttled %d; want 12, 2, 0", res.Cases, res.Merged, res.Throttled)
	}
	if res.CasesBySeverity["Urgent"] != 4 || res.CasesBySeverity["High"] != 4 || res.CasesBySeverity["Normal"] != 4 {
		t.Errorf("cases by severity %v, want 4 Urgent (Gold), 4 High (Silver), 4 Normal (Bronze)", res.CasesBySeverity)
	}
	if res.CasesByAssignee["priya.nair"] == 0 || res.Notifications["support-slack RuleMatched"] != 14 || res.NotificationsPerHour.Peak == 0 {
		t.Errorf("assignees %v, notifications %v per hour %+v", res.CasesByAssignee, res.Notifications, res.NotificationsPerHour)
	}
	if depthAfter, _, _ := st.OutboxStats(ctx); depthAfter != depthBefore {
		t.Errorf("the collector's outbox went from %d to %d actions: backtest wrote to it", depthBefore, depthAfter)
	}

	// The text output names what a reviewer looks for; a wrong token is
	// the collector's 401, said plainly.
	out.Reset()
	if err := Backtest(ctx, args[:len(args)-2], &out, &errOut); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"Replayed 34 responses of touchpoint upgrade-install", "Cases opened 12", "merged into an open Case (dedup) 2",
		"Cases by severity High 4 Normal 4 Urgent 4", "support-slack RuleMatched 14"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, out.String())
		}
	}
	if err := os.WriteFile(tokenFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backtest(ctx, args, &out, &errOut); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v, want the collector's 401", err)
	}
}
