package rules_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// The collector as it runs in its pod (collector.Run with API access)
// follows its touchpoint and the namespace's rules without a restart, opens
// Cases through its dispatcher and delivers rule notifications through the
// real notifier to a real webhook receiver.
func TestRunningCollectorFollowsTouchpointAndRules(t *testing.T) {
	ctx := context.Background()
	p := newProgram(t, nil) // the namespace, touchpoint and template
	received := make(chan string, 10)
	hook := newWebhookReceiver(t, received)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "hook"}, StringData: map[string]string{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	channel := &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "support-hook"},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type:                     cxv1alpha1.ChannelTypeWebhook,
			Webhook:                  &cxv1alpha1.WebhookChannel{URL: hook, SigningSecretRef: cxv1alpha1.SecretKeyReference{Name: "hook", Key: "secret"}},
			AllowPrivateDestinations: true,
		},
	}
	r := rule("installation-failed", "answers.completed == false")
	r.Namespace = p.ns
	r.Spec.Actions.Notify = []cxv1alpha1.NotifyAction{{Channel: "support-hook"}}
	for _, obj := range []client.Object{secret, channel, r} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	cfg := &collector.FileConfig{
		Namespace: p.ns, Touchpoint: p.tp.Name, Store: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "run.db"),
		Spec: p.tp.Spec, Generation: p.tp.Generation,
	}
	reg := prometheus.NewRegistry()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(runCtx, cfg, collector.RunOptions{Kube: env.Config, Listener: lis, Log: logr.Discard(), MatchReportEvery: 200 * time.Millisecond,
			Registerer: reg, Gatherer: reg})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("collector.Run: %v", err)
		}
	})

	post := func(id, answers string) int {
		body := fmt.Sprintf(`{"id":%q,"customer":{"id":"C-1","tier":"Gold"},"answers":%s}`, id, answers)
		resp, err := http.Post(url+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// The rule reaches the collector through its watch.
	waitFor(t, "the response to open a Case", func() bool {
		post(fmt.Sprintf("probe-%d", time.Now().UnixNano()), `{"completed":false}`)
		return len(p.cases()) > 0
	})
	// The Case has its template's defaults from its creation: no Case
	// controller runs here, the collector applied them.
	if c := p.cases()[0]; c.Spec.Severity != cxv1alpha1.SeverityNormal || c.Spec.ClosureGoal == nil || c.Spec.ClosureGoal.Duration != 72*time.Hour ||
		c.Spec.Assignee != "maria.lopez" || c.Spec.Category != "installation" {
		t.Errorf("case %s: severity %q closure goal %v assignee %q category %q; want the template's Normal, 72h, maria.lopez, installation",
			c.Name, c.Spec.Severity, c.Spec.ClosureGoal, c.Spec.Assignee, c.Spec.Category)
	}
	select {
	case body := <-received:
		if !strings.Contains(body, `"RuleMatched"`) {
			t.Errorf("webhook body = %s, want a RuleMatched event", body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s")
	}

	// The dispatcher's work and the outbox are in the collector's metrics.
	waitFor(t, "outbox metrics", func() bool {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		opened, depth := false, false
		for _, f := range families {
			switch f.GetName() {
			case "cxloop_collector_outbox_actions_total":
				for _, m := range f.GetMetric() {
					labels := map[string]string{}
					for _, l := range m.GetLabel() {
						labels[l.GetName()] = l.GetValue()
					}
					opened = opened || (labels["kind"] == "open_case" && labels["result"] == "done" && m.GetCounter().GetValue() >= 1)
				}
			case "cxloop_collector_outbox_depth":
				depth = true
			}
		}
		return opened && depth
	})

	// The rule's status counts its matches.
	waitFor(t, "status.matches", func() bool {
		got := &cxv1alpha1.AlertRule{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(r), got); err != nil {
			t.Fatal(err)
		}
		return got.Status.Matches >= 1 && got.Status.LastMatchTime != nil
	})

	// A new question is accepted once the touchpoint is edited, without a
	// restart.
	if code := post("with-os", `{"completed":true,"os":"linux"}`); code != http.StatusBadRequest {
		t.Fatalf("unknown question: %d, want 400", code)
	}
	tp := &cxv1alpha1.SurveyTouchpoint{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p.tp), tp); err != nil {
		t.Fatal(err)
	}
	tp.Spec.Questions = append(tp.Spec.Questions, cxv1alpha1.Question{
		ID: "os", Text: "Which system?", Type: cxv1alpha1.QuestionChoice, Choices: []cxv1alpha1.Choice{{Value: "linux"}, {Value: "windows"}},
	})
	if err := env.Client.Update(ctx, tp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new question to be accepted", func() bool {
		return post("with-os", `{"completed":true,"os":"linux"}`) == http.StatusAccepted
	})

	// Suspending the rule stops it.
	before := len(p.cases())
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
		t.Fatal(err)
	}
	r.Spec.Suspend = true
	if err := env.Client.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let the watch deliver the change
	if code := post("after-suspend", `{"completed":false}`); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	time.Sleep(2 * time.Second)
	if n := len(p.cases()); n != before {
		t.Errorf("a suspended rule opened a case: %d cases, had %d", n, before)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newWebhookReceiver is a real HTTP receiver on loopback that hands each
// body it gets to received.
func newWebhookReceiver(t *testing.T, received chan<- string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("webhook-signature") == "" {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		select {
		case received <- string(body):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/cx"
}
