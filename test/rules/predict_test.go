package rules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// Events in, some answered and some not: the collector trains the
// touchpoint's prediction on the answered interactions (detractor odds
// rise with transfers, as the test generates them), scores the others once
// the join window has passed, and the rule on predicted.* opens exactly the
// Cases of the Gold customers it scores above 0.8, through the outbox,
// once (a second likely detractor ticket of one customer is merged by the
// rule's dedup), each saying it came from a prediction and with what
// accuracy, as its notifications do. A
// rule that does not read predicted never acts on a prediction, and the
// predicted scores never count as responses.
func TestPredictionRuleOpensCasesForCustomersNeverAsked(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	tp := &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel:   cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{{ID: "recommend", Text: "Would you recommend us?", Type: cxv1alpha1.QuestionNPS, Required: true}},
			Prediction: &cxv1alpha1.PredictionSpec{
				Question: "recommend", Target: cxv1alpha1.PredictionDetractor, Events: []string{"ticket-closed"},
				Join: &cxv1alpha1.PredictionJoin{InteractionKey: "ticket", Window: cxv1alpha1.Duration{Duration: 48 * time.Hour}},
				Features: []cxv1alpha1.PredictionFeature{
					{Name: "transfers", Source: "metadata.transfers", Type: cxv1alpha1.FeatureNumber, Aggregate: cxv1alpha1.FeatureLast},
					{Name: "channel", Source: "metadata.channel", Type: cxv1alpha1.FeatureCategory, Aggregate: cxv1alpha1.FeatureLast},
				},
				RetrainEvery:         &cxv1alpha1.Duration{Duration: 7 * 24 * time.Hour},
				MinTrainingResponses: 100,
			},
		},
	}
	tmpl := &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "save-the-customer"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "retention",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Kind: "User", Name: "maria.lopez"}}},
			Closure:  cxv1alpha1.ClosureRequirements{RootCauses: []string{"long-wait", "transfers"}},
			DefaultPolicy: &cxv1alpha1.CasePolicy{
				Severity: cxv1alpha1.SeverityHigh, ClosureGoal: cxv1alpha1.Duration{Duration: 48 * time.Hour},
			},
		},
	}
	predicted := &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "likely-gold-detractor"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Description: "Gold customer likely a detractor",
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support"}},
			Condition:   `predicted.detractor > 0.8 && customer.tier == "Gold"`,
			Dedup:       &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}},
			Actions: cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "save-the-customer"},
				Notify: []cxv1alpha1.NotifyAction{{Channel: "cx-team"}}},
		},
	}
	// Matches one unanswered interaction, but reads no prediction: it acts
	// on responses only.
	measured := &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ticket-u-gold-low-0"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support"}},
			Condition:   `metadata.ticket == "T-u-gold-low-0"`,
			Actions:     cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "save-the-customer"}},
		},
	}
	for _, obj := range []client.Object{tp, tmpl, predicted, measured} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}

	clock := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "responses.db"), Now: clock.Now, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := collector.NewServer(tp, collector.Options{Namespace: ns, Store: st, Now: clock.Now, APIToken: []byte("secret-token")})
	if err != nil {
		t.Fatal(err)
	}
	if skipped := srv.SetAlertRules([]cxv1alpha1.AlertRule{*predicted, *measured}); len(skipped) > 0 {
		t.Fatalf("rules skipped: %v", skipped)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	notes := &recorder{}
	disp := collector.NewDispatcher(collector.DispatcherOptions{Store: st, Client: env.Client, Notifier: notes, Now: clock.Now,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: logr.Discard()})

	// 500 answered interactions: detractor odds rise 4.5x with each
	// transfer (logit -2.5 + 1.5 transfers), phone a little worse than web.
	base := clock.Now().Add(-10 * 24 * time.Hour)
	rng := rand.New(rand.NewPCG(18, 18))
	var events, responses []map[string]any
	event := func(id, customer, tier string, transfers int, channel string, at time.Time) {
		events = append(events, map[string]any{
			"id": "ev-" + id, "name": "ticket-closed", "occurredAt": at,
			"customer": map[string]any{"id": customer, "tier": tier, "email": customer + "@example.com"},
			"metadata": map[string]any{"ticket": "T-" + id, "transfers": fmt.Sprint(transfers), "channel": channel},
		})
	}
	for i := range 500 {
		id := fmt.Sprintf("a-%d", i)
		transfers, channel := rng.IntN(5), []string{"web", "phone"}[rng.IntN(2)]
		at := base.Add(time.Duration(i) * time.Minute)
		tier := []string{"Gold", "Silver"}[i%2]
		event(id, "cust-"+id, tier, transfers, channel, at)
		logit := -2.5 + 1.5*float64(transfers)
		if channel == "phone" {
			logit += 0.3
		}
		score := 9
		if rng.Float64() < 1/(1+math.Exp(-logit)) {
			score = 3
		}
		responses = append(responses, map[string]any{
			"id": "resp-" + id, "customer": map[string]any{"id": "cust-" + id, "tier": tier},
			"answers": map[string]any{"recommend": score}, "metadata": map[string]any{"ticket": "T-" + id},
			"submittedAt": at.Add(3 * time.Hour),
		})
	}
	// Unanswered interactions: Gold with 4 transfers are likely detractors
	// (true probability 0.97); Gold with none or 2 and Silver are not, or
	// are not Gold.
	var want []string
	for i := range 3 {
		event(fmt.Sprintf("u-gold-high-%d", i), fmt.Sprintf("cust-u-gold-high-%d", i), "Gold", 4, "phone", base.Add(time.Duration(600+i)*time.Minute))
		want = append(want, fmt.Sprintf("cust-u-gold-high-%d", i))
		event(fmt.Sprintf("u-gold-low-%d", i), fmt.Sprintf("cust-u-gold-low-%d", i), "Gold", 0, "web", base.Add(time.Duration(610+i)*time.Minute))
		event(fmt.Sprintf("u-gold-mid-%d", i), fmt.Sprintf("cust-u-gold-mid-%d", i), "Gold", 2, "web", base.Add(time.Duration(620+i)*time.Minute))
		event(fmt.Sprintf("u-silver-high-%d", i), fmt.Sprintf("cust-u-silver-high-%d", i), "Silver", 4, "phone", base.Add(time.Duration(630+i)*time.Minute))
	}
	// A second ticket of the first likely detractor, an hour later: dedup
	// merges it into the customer's Case.
	event("u-gold-high-0-again", "cust-u-gold-high-0", "Gold", 4, "phone", base.Add(660*time.Minute))
	// A recent interaction is still within its join window: not scored yet.
	event("u-gold-recent", "cust-u-gold-recent", "Gold", 4, "phone", clock.Now().Add(-time.Hour))

	post := func(path string, body any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, hs.URL+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer secret-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Accepted, Rejected int }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusOK || out.Rejected > 0 {
			t.Fatalf("POST %s: %d, %d rejected", path, resp.StatusCode, out.Rejected)
		}
	}
	post("/v1/events:batch", map[string]any{"events": events})
	post("/v1/responses:batch", map[string]any{"responses": responses})

	pass, err := srv.PredictOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !pass.Trained || pass.Result == nil || pass.Result.Model == nil {
		t.Fatalf("pass %+v: want an accepted model (refused: %q)", pass, refusal(pass))
	}
	if pass.Interactions != 514 || pass.Answered != 500 || pass.Scored != 13 || pass.Matches != 4 {
		t.Fatalf("pass: %d interactions, %d answered, %d scored, %d matches; want 514, 500, 13 (not the recent one), 4",
			pass.Interactions, pass.Answered, pass.Scored, pass.Matches)
	}
	drain(t, disp, st, clock)

	var list cxv1alpha1.CaseList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list.Items {
		got = append(got, c.Spec.Customer.ID)
		src := c.Spec.Source
		if src == nil || src.Rule != "likely-gold-detractor" || src.Prediction == nil {
			t.Fatalf("Case %s: source %+v; want the predicted rule with a prediction", c.Name, src)
		}
		p := src.Prediction
		if p.Target != cxv1alpha1.PredictionDetractor || p.Score <= 0.8 || p.Accuracy < 0.7 || p.TrainedAt.IsZero() ||
			p.InteractionID != c.Spec.Customer.ID+"/T-"+strings.TrimPrefix(c.Spec.Customer.ID, "cust-") {
			t.Errorf("Case %s: prediction %+v", c.Name, p)
		}
		if !strings.Contains(c.Spec.Title, "(predicted detractor probability ") || !strings.Contains(c.Spec.Title, "never asked") ||
			!strings.Contains(c.Spec.Title, fmt.Sprintf("model AUC %.2f trained %s)", p.Accuracy, p.TrainedAt.UTC().Format(time.DateOnly))) {
			t.Errorf("Case %s: title %q does not say it came from a prediction with the model's accuracy and date", c.Name, c.Spec.Title)
		}
		if wantMerged := c.Spec.Customer.ID == "cust-u-gold-high-0"; wantMerged != (len(c.Spec.RelatedResponses) == 1) {
			t.Errorf("Case %s of %s: related %v; want the second ticket of cust-u-gold-high-0 merged by dedup, nothing else", c.Name, c.Spec.Customer.ID, c.Spec.RelatedResponses)
		}
		if c.Spec.Customer.Tier != "Gold" || c.Spec.Customer.Attributes["email"] != "" {
			t.Errorf("Case %s: customer %+v", c.Name, c.Spec.Customer)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Cases for %v, want exactly %v", got, want)
	}
	// The rule's notifications (one per match, the merged one too) say the
	// score was predicted, never that the customer answered.
	matched := 0
	for _, m := range notes.msgs {
		if m.msg.Event != "RuleMatched" {
			continue
		}
		matched++
		if !strings.Contains(m.msg.Text, "was never asked: its score is predicted, not an answer") || strings.Contains(m.msg.Text, "Response ") ||
			!strings.Contains(m.msg.Title, "(predicted detractor probability ") || !strings.Contains(m.msg.Title, "model AUC ") {
			t.Errorf("notification %q: %q", m.msg.Title, m.msg.Text)
		}
	}
	if matched != 4 {
		t.Errorf("%d RuleMatched notifications, want 4 (%v)", matched, notes.events())
	}

	// A second pass scores nothing again and opens no other Case.
	if pass, err = srv.PredictOnce(ctx); err != nil || pass.Trained || pass.Scored != 0 {
		t.Fatalf("second pass %+v, %v: want no training and nothing scored", pass, err)
	}
	drain(t, disp, st, clock)
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 3 {
		t.Fatalf("%d Cases after the second pass (%v), want 3", len(list.Items), err)
	}

	// The touchpoint's status reads the model's quality; predictions are
	// not responses.
	status, err := collectorclient.New(nil).Status(ctx, collectorclient.Target{Endpoint: hs.URL, Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	if status.Total != 500 {
		t.Errorf("status counts %d responses, want the 500 measured only", status.Total)
	}
	cond := status.PredictionCondition
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != cxv1alpha1.ReasonModelAccepted ||
		status.Prediction == nil || status.Prediction.Predicted != 13 || status.Prediction.AUC == nil ||
		status.Prediction.TrainingResponses+status.Prediction.HeldOutResponses != 500 || len(status.Prediction.TopEffects) == 0 ||
		!strings.Contains(status.Prediction.TopEffects[0], "transfers") {
		t.Fatalf("status prediction %+v, condition %+v", status.Prediction, cond)
	}
	conds := []metav1.Condition{*cond}
	if apimeta.FindStatusCondition(conds, cxv1alpha1.ConditionPredictionReady) == nil {
		t.Fatal("no PredictionReady condition")
	}

	// The rule's throttle holds for predicted matches too: with at most one
	// Case an hour, two new likely detractors and the recent one, scored in
	// one pass once their window closed, open one Case, and one message
	// says the rule is throttled.
	throttled := predicted.DeepCopy()
	throttled.Spec.Throttle = &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 1}
	if skipped := srv.SetAlertRules([]cxv1alpha1.AlertRule{*throttled, *measured}); len(skipped) > 0 {
		t.Fatalf("rules skipped: %v", skipped)
	}
	events = nil
	for i := range 2 {
		event(fmt.Sprintf("u-gold-later-%d", i), fmt.Sprintf("cust-u-gold-later-%d", i), "Gold", 4, "phone", clock.Now())
	}
	post("/v1/events:batch", map[string]any{"events": events})
	clock.Advance(49 * time.Hour)
	if pass, err = srv.PredictOnce(ctx); err != nil || pass.Trained || !pass.Incremental || pass.Scored != 3 || pass.Matches != 3 {
		t.Fatalf("pass after two new likely detractors %+v, %v: want them and the recent one scored and matched, incrementally", pass, err)
	}
	drain(t, disp, st, clock)
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 4 {
		t.Fatalf("%d Cases after the throttled pass (%v), want 4: two of the three matches throttled", len(list.Items), err)
	}
	if got := notes.events(); !slices.Contains(got, "cx-team:RuleThrottled") {
		t.Errorf("notifications %v: want the rule's throttled message", got)
	}
}

func refusal(p collector.PredictionPass) string {
	if p.Result == nil {
		return "not trained"
	}
	return p.Result.Refused
}

// drain dispatches until the outbox is empty.
func drain(t *testing.T, disp *collector.Dispatcher, st store.Store, clock *testutil.Clock) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := disp.DispatchOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		depth, _, err := st.OutboxStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if depth == 0 {
			return
		}
		clock.Advance(2 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("outbox not drained within 30s")
}
