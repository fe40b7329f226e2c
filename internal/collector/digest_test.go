package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/scheme"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// webhookReceiver records the webhook deliveries it gets on loopback.
type webhookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []webhookDelivery
}

type webhookDelivery struct {
	ID   string
	Body struct {
		Type string `json:"type"`
		Data struct {
			Title string `json:"title"`
			Text  string `json:"text"`
		} `json:"data"`
	}
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		dl := webhookDelivery{ID: req.Header.Get("webhook-id")}
		_ = json.Unmarshal(raw, &dl.Body)
		r.mu.Lock()
		r.got = append(r.got, dl)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *webhookReceiver) deliveries() []webhookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhookDelivery(nil), r.got...)
}

// A notify action with a digest: detractor responses posted over HTTP in
// one hour reach the channel as one webhook delivery listing them all,
// once, after the hour ends; a retried response is counted once; the next
// hour makes a second message.
func TestDigestSendsOneMessagePerInterval(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		clock := testutil.NewClock(testNow.Add(5 * time.Minute))
		st := e.open(t, store.Config{Namespace: "acme", Now: clock.Now})
		ts := serveStore(t, st, clock, nil, feedbackTouchpoint("support-visit"), Options{})
		rule := cxv1alpha1.AlertRule{
			ObjectMeta: metav1.ObjectMeta{Name: "detractors", Namespace: "acme"},
			Spec: cxv1alpha1.AlertRuleSpec{
				Description: "Detractors",
				Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support-visit"}},
				Condition:   "answers.recommend <= 6",
				Actions: cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{
					{Channel: "team", Digest: &cxv1alpha1.NotifyDigest{Every: cxv1alpha1.Duration{Duration: time.Hour}}},
				}},
			},
		}
		if skipped := ts.SetAlertRules([]cxv1alpha1.AlertRule{rule}); len(skipped) > 0 {
			t.Fatalf("rule skipped: %v", skipped)
		}

		rcv := newWebhookReceiver(t)
		kube := fake.NewClientBuilder().WithScheme(scheme.New()).
			WithStatusSubresource(&cxv1alpha1.NotificationChannel{}).
			WithObjects(
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "team-signing"},
					Data: map[string][]byte{"key": []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}},
				&cxv1alpha1.NotificationChannel{
					ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "team"},
					Spec: cxv1alpha1.NotificationChannelSpec{Type: cxv1alpha1.ChannelTypeWebhook, AllowPrivateDestinations: true,
						Webhook: &cxv1alpha1.WebhookChannel{URL: rcv.URL + "/hooks/cx",
							SigningSecretRef: cxv1alpha1.SecretKeyReference{Name: "team-signing", Key: "key"}}},
				}).Build()
		d := NewDispatcher(DispatcherOptions{Store: st, Client: kube, Now: clock.Now, Log: logr.Discard(),
			Notifier: notify.New(kube, notify.Options{Now: clock.Now, MaxAttempts: 1})})

		post := func(id string, recommend int) {
			t.Helper()
			body := validResponse(id)
			answers, _ := body["answers"].(map[string]any)
			answers["recommend"] = recommend
			ts.post(t, "/v1/responses", body).receipt(t)
		}
		drain := func() {
			t.Helper()
			for {
				n, err := d.DispatchOnce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					return
				}
			}
		}
		flush := func() int {
			t.Helper()
			n, err := d.FlushDigestsOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		const matches = 7
		for i := range matches {
			post(fmt.Sprintf("d%d", i), i%7)
			clock.Advance(time.Minute)
		}
		post("p1", 10) // does not match
		post("d3", 3)  // a retried response
		drain()
		if n := flush(); n != 0 || len(rcv.deliveries()) != 0 {
			t.Fatalf("before the hour ends: %d digests claimed, %d deliveries; want none", n, len(rcv.deliveries()))
		}
		clock.Set(testNow.Add(time.Hour))
		if n := flush(); n != 1 {
			t.Fatalf("%d digests sent after the hour, want 1", n)
		}
		flush() // nothing more to send
		got := rcv.deliveries()
		if len(got) != 1 {
			t.Fatalf("receiver got %d deliveries, want one digest: %+v", len(got), got)
		}
		wantID := "digest/acme/detractors/team/" + strconv.FormatInt(testNow.Unix(), 10)
		text := got[0].Body.Data.Text
		if got[0].ID != wantID || !strings.Contains(text, "matched 7 matches") || got[0].Body.Data.Title != "Detractors: 7 matches" {
			t.Fatalf("digest delivery = %+v; want id %s listing 7 matches", got[0], wantID)
		}
		for i := range matches {
			if line := fmt.Sprintf("support-visit/d%d customer C-d%d (Gold)", i, i); strings.Count(text, line) != 1 {
				t.Errorf("digest lists %q %d times, want once:\n%s", line, strings.Count(text, line), text)
			}
		}
		if strings.Contains(text, "p1") || strings.Contains(text, "@example.com") {
			t.Errorf("digest names a response that did not match, or a contact detail:\n%s", text)
		}

		// The next hour has a message of its own.
		post("d7", 2)
		post("d8", 1)
		drain()
		clock.Set(testNow.Add(2 * time.Hour))
		if n := flush(); n != 1 {
			t.Fatalf("%d digests sent after the second hour, want 1", n)
		}
		got = rcv.deliveries()
		if len(got) != 2 || got[1].ID == got[0].ID || got[1].Body.Data.Title != "Detractors: 2 matches" {
			t.Fatalf("deliveries after the second hour = %+v; want a second digest of 2 matches", got)
		}
	})
}
