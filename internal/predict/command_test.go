package predict

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeExport writes the synthetic cases as the files `cxloop predict`
// reads: the events as POST /v1/events bodies (with a contact email the
// command must ignore), the responses as POST /v1/responses bodies.
func writeExport(t *testing.T, cases []synthCase) (events, responses string) {
	t.Helper()
	dir := t.TempDir()
	events, responses = filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "responses.jsonl")
	var ev, rs bytes.Buffer
	for _, c := range cases {
		for _, e := range c.events {
			body := map[string]any{"id": e.ID, "name": e.Name, "occurredAt": e.OccurredAt, "metadata": e.Metadata,
				"customer": map[string]any{"id": e.Customer.ID, "tier": e.Customer.Tier, "email": e.Customer.ID + "@example.com"}}
			b, _ := json.Marshal(body)
			ev.Write(append(b, '\n'))
		}
		if r := c.response; r != nil {
			b, _ := json.Marshal(map[string]any{"id": r.ID, "customer": map[string]any{"id": r.CustomerID},
				"answers": map[string]any{"recommend": int(r.Score), "reason": "support"}, "submittedAt": r.SubmittedAt})
			rs.Write(append(b, '\n'))
		}
	}
	if err := os.WriteFile(events, ev.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(responses, rs.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return events, responses
}

const commandTouchpoint = `apiVersion: cx.cxloop.io/v1alpha1
kind: SurveyTouchpoint
metadata:
  name: support-nps
spec:
  channel: Email
  questions:
  - id: recommend
    text: How likely are you to recommend us?
    type: NPS
  - id: reason
    text: Why?
    type: Text
  prediction:
    question: recommend
    target: Detractor
    events: [contact]
    join:
      interactionKey: ticketId
      window: 72h
    features:
    - {name: transfers, source: metadata.transfers, aggregate: Sum}
    - {name: waitMinutes, source: metadata.waitMinutes}
    - {name: contacts, aggregate: Count}
    - {name: tier, source: customer.tier, type: Category}
`

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	tp := filepath.Join(t.TempDir(), "tp.yaml")
	if err := os.WriteFile(tp, []byte(commandTouchpoint), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := Command(context.Background(), append([]string{"-f", tp, "-now", "2026-12-01T00:00:00Z"}, args...), &out, &errOut)
	return out.String() + errOut.String(), err
}

// A person exports events and responses, trains offline, reads the
// evaluation, and gets the scores of the customers nobody asked.
func TestCommandTrainsAndScoresTheUnanswered(t *testing.T) {
	cases := synthesize(4000, 21, 0.6, false)
	events, responses := writeExport(t, cases)
	scores := filepath.Join(t.TempDir(), "scores.jsonl")
	out, err := runCommand(t, "-events", events, "-responses", responses, "-scores", scores)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
	unanswered := 0
	truth := map[string]float64{}
	for _, c := range cases {
		if c.response == nil {
			unanswered++
			truth[c.events[0].Customer.ID] = c.truth
		}
	}
	for _, want := range []string{
		"SurveyTouchpoint support-nps: Detractor of question recommend",
		"in 4000 interactions;", "unanswered", "AUC: held-out 0.", "cross-validated 0.", "Calibration: Brier score",
		"Largest effects:", "each +1 transfers raises detractor odds", "Accepted:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(scores)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	n, worst := 0, 0.0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l scoreLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		want, ok := truth[l.Customer]
		if !ok {
			t.Fatalf("a score for %s, who answered", l.Customer)
		}
		worst = math.Max(worst, math.Abs(l.Score-want))
		n++
	}
	if n != unanswered || worst > 0.15 {
		t.Errorf("%d scores for %d unanswered interactions, worst |score − truth| %.3f (want ≤ 0.15)", n, unanswered, worst)
	}
}

func TestCommandRefusesRandomData(t *testing.T) {
	events, responses := writeExport(t, synthesize(3000, 22, 0.8, true))
	scores := filepath.Join(t.TempDir(), "scores.jsonl")
	out, err := runCommand(t, "-events", events, "-responses", responses, "-scores", scores)
	if err == nil || !strings.Contains(err.Error(), "model refused: accuracy AUC") || !strings.Contains(out, "Refused:") {
		t.Errorf("err %v\n%s", err, out)
	}
	if _, err := os.Stat(scores); !os.IsNotExist(err) {
		t.Errorf("scores were written for a refused model: %v", err)
	}
}

func TestCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(bad, []byte(`{"id":"e1","name":"contact","customer":{"id":"c1"},"occurredAt":"2026-11-01T00:00:00Z"}`+"\n"+`{"id":"e2","name":"contact","customer":{}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "responses.jsonl")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCommand(t, "-events", bad, "-responses", empty); err == nil || !strings.Contains(err.Error(), "events.jsonl:2: customer.id: required") {
		t.Errorf("err %v: want the file, line and field", err)
	}
	if _, err := runCommand(t, "-events", bad); err == nil || !strings.Contains(err.Error(), "-responses are required") {
		t.Errorf("err %v", err)
	}
}
