package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

// predictingTouchpoint is feedbackTouchpoint predicting detractors of
// recommend from ticket transfers.
func predictingTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	tp := feedbackTouchpoint("support")
	tp.Spec.Prediction = &cxv1alpha1.PredictionSpec{
		Question: "recommend", Target: cxv1alpha1.PredictionDetractor, Events: []string{"ticket-closed"},
		Join: &cxv1alpha1.PredictionJoin{InteractionKey: "ticket", Window: cxv1alpha1.Duration{Duration: 72 * time.Hour}},
		Features: []cxv1alpha1.PredictionFeature{
			{Name: "transfers", Source: "metadata.transfers", Type: cxv1alpha1.FeatureNumber, Aggregate: cxv1alpha1.FeatureLast},
		},
		RetrainEvery:         &cxv1alpha1.Duration{Duration: 7 * 24 * time.Hour},
		MinTrainingResponses: 100,
	}
	return tp
}

// On answers that do not depend on the features the model is refused with
// the reason: the status says PredictionReady=False and why, nothing is
// scored and no Case can come of it. Events keep their features but not
// the customer's contact details. A changed feature list retrains at once,
// an unchanged spec only after retrainEvery.
func TestPredictionRefusedOnRandomDataAndRetrainedOnChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		ts := startServer(t, e, predictingTouchpoint(), Options{})
		rng := rand.New(rand.NewPCG(1, 2))
		base := testNow.Add(-20 * 24 * time.Hour)
		var events, responses []map[string]any
		for i := range 400 {
			at := base.Add(time.Duration(i) * time.Minute)
			id := fmt.Sprintf("t%d", i)
			events = append(events, map[string]any{"id": "ev-" + id, "name": "ticket-closed", "occurredAt": at,
				"customer": map[string]any{"id": "c-" + id, "tier": "Gold", "email": "c" + id + "@example.com",
					"attributes": map[string]any{"email": "c" + id + "@example.com", "plan": "pro"}},
				"metadata": map[string]any{"ticket": id, "transfers": fmt.Sprint(rng.IntN(5))}})
			r := validResponse("r-" + id)
			r["customer"] = map[string]any{"id": "c-" + id}
			r["answers"] = map[string]any{"recommend": rng.IntN(11), "resolved": true}
			r["metadata"] = map[string]any{"ticket": id}
			r["submittedAt"] = at.Add(time.Hour)
			responses = append(responses, r)
			if i < 20 { // unanswered
				responses = responses[:len(responses)-1]
			}
		}
		if a := ts.post(t, "/v1/events:batch", map[string]any{"events": events}); a.Status != http.StatusOK {
			t.Fatalf("events: %d %s", a.Status, a.Body)
		}
		if a := ts.post(t, "/v1/responses:batch", map[string]any{"responses": responses}); a.Status != http.StatusOK {
			t.Fatalf("responses: %d %s", a.Status, a.Body)
		}
		stored, err := ts.Store.EventsBetween(ctx, "acme", "support", base, testNow)
		if err != nil || len(stored) != 400 {
			t.Fatalf("%d events stored (%v)", len(stored), err)
		}
		if d := string(stored[0].Detail); strings.Contains(d, "@example.com") || !strings.Contains(d, `"plan":"pro"`) || !strings.Contains(d, `"transfers"`) {
			t.Errorf("stored features %s: want the plan and the metadata, no contact details", d)
		}

		pass, err := ts.PredictOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !pass.Trained || pass.Why != "never trained" || pass.Result.Model != nil || pass.Scored != 0 || pass.Answered != 380 ||
			!strings.Contains(pass.Result.Refused, "is below the minimum 0.70") {
			t.Fatalf("pass %+v (refused %q): want a refused model, nothing scored", pass, pass.Result.Refused)
		}
		var status Status
		if a := ts.get(t, "/v1/status"); a.Status != http.StatusOK || json.Unmarshal(a.Body, &status) != nil {
			t.Fatalf("status: %d %s", a.Status, a.Body)
		}
		c := status.PredictionCondition
		if c == nil || c.Type != cxv1alpha1.ConditionPredictionReady || c.Status != metav1.ConditionFalse || c.Reason != cxv1alpha1.ReasonModelRefused ||
			!strings.Contains(c.Message, "nothing is predicted: accuracy AUC") || status.Prediction == nil || status.Prediction.Predicted != 0 ||
			status.Prediction.TrainingResponses == 0 || status.Prediction.AUC == nil {
			t.Fatalf("status prediction %+v, condition %+v", status.Prediction, c)
		}
		var sum metrics.PredictionSummary
		if a := ts.get(t, "/v1/predictions?window=30d"); a.Status != http.StatusOK || json.Unmarshal(a.Body, &sum) != nil {
			t.Fatalf("predictions: %d %s", a.Status, a.Body)
		}
		if sum.Model != nil || sum.Predicted != 0 || sum.Measured != 380 || sum.MeasuredCustomers != 380 || !strings.Contains(sum.Refused, "below the minimum") {
			t.Fatalf("summary %+v", sum)
		}

		// Unchanged: no retraining before retrainEvery.
		ts.Clock.Advance(24 * time.Hour)
		if pass, err = ts.PredictOnce(ctx); err != nil || pass.Trained {
			t.Fatalf("pass a day later %+v, %v: want no training", pass, err)
		}
		// A changed feature list retrains at once; the status of the old
		// training is not shown for the new spec.
		tp := predictingTouchpoint()
		tp.Generation = 2
		tp.Spec.Prediction.Features = append(tp.Spec.Prediction.Features,
			cxv1alpha1.PredictionFeature{Name: "plan", Source: "customer.attributes.plan", Type: cxv1alpha1.FeatureCategory, Aggregate: cxv1alpha1.FeatureLast})
		if err := ts.SetTouchpoint(tp); err != nil {
			t.Fatal(err)
		}
		if a := ts.get(t, "/v1/status"); json.Unmarshal(a.Body, &status) != nil || status.PredictionCondition.Reason != cxv1alpha1.ReasonNotTrained {
			t.Fatalf("status after the change: %s", a.Body)
		}
		if pass, err = ts.PredictOnce(ctx); err != nil || !pass.Trained || pass.Why != "the prediction spec changed since the last training" {
			t.Fatalf("pass after the change %+v, %v: want a retraining", pass, err)
		}
		ts.Clock.Advance(7 * 24 * time.Hour)
		if pass, err = ts.PredictOnce(ctx); err != nil || !pass.Trained || pass.Why != "the retrain interval passed" {
			t.Fatalf("pass after retrainEvery %+v, %v: want a retraining", pass, err)
		}
		if n, err := ts.Store.CountPredictions(ctx, "acme", "support"); err != nil || n != 0 {
			t.Fatalf("%d predictions stored (%v), want none from refused models", n, err)
		}
	})
}

// The title of a Case from a prediction says so, with the model's
// accuracy and date, within the 200 characters a title may have.
func TestPredictedTitle(t *testing.T) {
	trained := metav1.NewTime(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	src := &cxv1alpha1.PredictionSource{Target: cxv1alpha1.PredictionDetractor, Score: 0.912, Accuracy: 0.83, TrainedAt: trained}
	if got := predictedTitle("Save the account", src); got != "Save the account (predicted detractor probability 0.91, never asked; model AUC 0.83 trained 2026-12-01)" {
		t.Errorf("title %q", got)
	}
	long := predictedTitle(strings.Repeat("x", 200), &cxv1alpha1.PredictionSource{Target: cxv1alpha1.PredictionMean, Score: 3.5, Accuracy: 0.4, TrainedAt: trained})
	if len(long) > 200 || !strings.HasSuffix(long, "... (predicted answer 3.50, never asked; model R² 0.40 trained 2026-12-01)") {
		t.Errorf("long title (%d bytes) %q", len(long), long)
	}
}

// A Case a rule opens on a predicted score, and the messages of the rule,
// say the score was predicted for a customer nobody asked, with the
// model's accuracy and date: the Case's title and source, the message the
// Case's Opened notification renders (internal/cases), the rule's own
// notification (never "Response ... matched" as if the customer had
// answered) and its digest line.
func TestPredictedCaseAndMessagesSaySo(t *testing.T) {
	ts := startServer(t, testEngines[0], predictingTouchpoint(), Options{})
	rule := cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "likely-gold-detractor"},
		Spec: cxv1alpha1.AlertRuleSpec{Description: "Gold customer likely a detractor",
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"support"}},
			Condition:   `predicted.detractor > 0.8 && customer.tier == "Gold"`,
			Actions: cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "save"},
				Notify: []cxv1alpha1.NotifyAction{{Channel: "cx-team"},
					{Channel: "cx-digest", Digest: &cxv1alpha1.NotifyDigest{Every: cxv1alpha1.Duration{Duration: time.Hour}}}}},
		},
	}
	if skipped := ts.SetAlertRules([]cxv1alpha1.AlertRule{rule}); len(skipped) > 0 {
		t.Fatalf("rule skipped: %v", skipped)
	}
	src := &cxv1alpha1.PredictionSource{InteractionID: "c-1/T-1", Target: cxv1alpha1.PredictionDetractor, Score: 0.86, Accuracy: 0.81,
		TrainedAt: metav1.NewTime(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))}
	resp := &rules.Response{ID: "predicted-abc", Touchpoint: "support", Customer: rules.Customer{ID: "c-1", Tier: "Gold"},
		SubmittedAt: testNow, Predicted: map[string]float64{rules.PredictedKey("Detractor"): 0.86}}
	acts, n, err := ts.state.Load().rules.evaluatePrediction("acme", resp, src, testNow)
	if err != nil || n != 1 || len(acts) != 3 {
		t.Fatalf("evaluatePrediction = %d actions, %d matches, %v; want the Case, the message and the digest line", len(acts), n, err)
	}
	const said = "predicted detractor probability 0.86, never asked; model AUC 0.81 trained 2026-12-01"
	for _, a := range acts {
		switch a.Kind {
		case store.ActionOpenCase:
			var p OpenCasePayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				t.Fatal(err)
			}
			c, err := newCase("save-1", nil, &p)
			if err != nil {
				t.Fatal(err)
			}
			if c.Spec.Title != "Gold customer likely a detractor ("+said+")" || c.Spec.Source.Prediction == nil || c.Spec.Source.Prediction.Accuracy != 0.81 {
				t.Errorf("Case title %q, source %+v", c.Spec.Title, c.Spec.Source)
			}
			msg := cases.Message(c, &cxv1alpha1.CaseTemplate{}, cxv1alpha1.PendingNotification{Key: "k", Event: cxv1alpha1.EventOpened,
				Headline: "opened", Note: "a new Case"}, "")
			if !strings.Contains(msg.Text, said) {
				t.Errorf("the Case's Opened message does not say it was predicted: %s", msg.Text)
			}
		case store.ActionNotify:
			var p NotifyPayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				t.Fatal(err)
			}
			m := p.Message
			if !strings.HasSuffix(m.Title, "("+said+")") || strings.Contains(m.Text, "Response ") ||
				!strings.Contains(m.Text, "Interaction c-1/T-1 of customer c-1 (touchpoint support) was never asked: its score is predicted, not an answer.") ||
				!strings.Contains(m.Text, "The "+said+" matched rule likely-gold-detractor") {
				t.Errorf("rule message %q: %q", m.Title, m.Text)
			}
		case store.ActionDigest:
			var p DigestPayload
			if err := json.Unmarshal(a.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(p.Line, ", "+said) {
				t.Errorf("digest line %q", p.Line)
			}
		default:
			t.Errorf("unexpected action %s", a.Kind)
		}
	}
}

// Retention deletes the events and the predicted scores older than the
// touchpoint's response retention, as it deletes the responses, and keeps
// the newer ones.
func TestRetentionDeletesEventsAndPredictions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		tp := predictingTouchpoint()
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{Responses: &cxv1alpha1.Duration{Duration: 30 * 24 * time.Hour}}
		ts := startServer(t, e, tp, Options{})
		var ps []store.NewPrediction
		for id, age := range map[string]time.Duration{"old": 40 * 24 * time.Hour, "recent": 24 * time.Hour} {
			at := testNow.Add(-age)
			ev := map[string]any{"id": "ev-" + id, "name": "ticket-closed", "occurredAt": at, "customer": map[string]any{"id": "c-" + id},
				"metadata": map[string]any{"ticket": id, "transfers": "1"}}
			if a := ts.post(t, "/v1/events", ev); a.Status != http.StatusOK && a.Status != http.StatusAccepted {
				t.Fatalf("event: %d %s", a.Status, a.Body)
			}
			ps = append(ps, store.NewPrediction{Namespace: "acme", Touchpoint: "support", Interaction: "c-" + id + "/" + id, CustomerID: "c-" + id,
				Target: "Detractor", Score: 0.5, OccurredAt: at, ScoredAt: testNow, ModelTrainedAt: testNow, Accuracy: 0.8})
		}
		if _, err := ts.Store.SavePredictions(ctx, ps); err != nil {
			t.Fatal(err)
		}
		ts.applyRetention(ctx, ts.Store, logr.Discard())
		evs, err := ts.Store.EventsBetween(ctx, "acme", "support", testNow.Add(-365*24*time.Hour), testNow)
		if err != nil {
			t.Fatal(err)
		}
		scored, err := ts.Store.ScoredOf(ctx, "acme", "support", []string{"c-old", "c-recent"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].ID != "ev-recent" || len(scored) != 1 || !scored["c-recent/recent"] {
			t.Fatalf("after retention: events %+v, scored %v; want only the recent ones", evs, scored)
		}
	})
}

// postTickets posts one ticket-closed event per interaction id, the given
// transfers each, occurring at at, for customer c-<id>.
func postTickets(t *testing.T, ts *testServer, at time.Time, transfers int, ids ...string) {
	t.Helper()
	events := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		events = append(events, map[string]any{"id": "ev-" + id, "name": "ticket-closed", "occurredAt": at,
			"customer": map[string]any{"id": "c-" + id, "tier": "Gold"}, "metadata": map[string]any{"ticket": id, "transfers": fmt.Sprint(transfers)}})
	}
	if a := ts.post(t, "/v1/events:batch", map[string]any{"events": events}); a.Status != http.StatusOK {
		t.Fatalf("events: %d %s", a.Status, a.Body)
	}
}

// After the first pass of a model, a scoring pass reads only the
// customers with something new (an interaction whose join window closed
// since, an event that arrived late), scores each interaction once, and
// keeps its cursor in the store: a restarted collector goes on from it. A
// retrained model reads the whole history again once.
func TestPredictionScoresIncrementally(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		ts := startServer(t, e, predictingTouchpoint(), Options{})
		// 400 answered interactions whose detractor odds rise with transfers.
		rng := rand.New(rand.NewPCG(7, 8))
		base := testNow.Add(-20 * 24 * time.Hour)
		var responses []map[string]any
		for i := range 400 {
			id, transfers := fmt.Sprintf("a%d", i), rng.IntN(5)
			postTickets(t, ts, base.Add(time.Duration(i)*time.Minute), transfers, id)
			score := 9
			if rng.Float64() < 1/(1+math.Exp(2.5-1.5*float64(transfers))) {
				score = 3
			}
			r := validResponse("r-" + id)
			r["customer"], r["metadata"], r["submittedAt"] = map[string]any{"id": "c-" + id}, map[string]any{"ticket": id}, base.Add(time.Duration(i)*time.Minute+time.Hour)
			r["answers"] = map[string]any{"recommend": score, "resolved": true}
			responses = append(responses, r)
		}
		if a := ts.post(t, "/v1/responses:batch", map[string]any{"responses": responses}); a.Status != http.StatusOK {
			t.Fatalf("responses: %d %s", a.Status, a.Body)
		}
		postTickets(t, ts, base.Add(24*time.Hour), 4, "u1", "u2")
		// A pass looks again at events that arrived in the last
		// receivedSlack before the previous one; these are older.
		ts.Clock.Advance(time.Hour)

		pass, err := ts.PredictOnce(ctx)
		if err != nil || !pass.Trained || pass.Result.Model == nil || pass.Incremental || pass.Interactions != 402 || pass.Scored != 2 {
			t.Fatalf("first pass %+v, %v: want a trained model, the whole history read, u1 and u2 scored", pass, err)
		}
		ts.Clock.Advance(time.Hour)
		if pass, err = ts.PredictOnce(ctx); err != nil || !pass.Incremental || pass.Interactions != 0 || pass.Scored != 0 {
			t.Fatalf("pass with nothing new %+v, %v: want nothing read", pass, err)
		}

		// New: n1 now (its window closes in 72h), l1 arrives late (occurred
		// 10 days ago, its window long closed), and a late event of u1,
		// which was scored: it is read, not scored again.
		postTickets(t, ts, ts.Clock.Now(), 1, "n1")
		postTickets(t, ts, ts.Clock.Now().Add(-10*24*time.Hour), 2, "l1")
		if a := ts.post(t, "/v1/events", map[string]any{"id": "ev-u1-late", "name": "ticket-closed", "occurredAt": base.Add(25 * time.Hour),
			"customer": map[string]any{"id": "c-u1"}, "metadata": map[string]any{"ticket": "u1", "transfers": "4"}}); a.Status >= 300 {
			t.Fatalf("late event: %d %s", a.Status, a.Body)
		}
		ts.Clock.Advance(time.Hour)
		if pass, err = ts.PredictOnce(ctx); err != nil || !pass.Incremental || pass.Interactions != 2 || pass.Scored != 1 {
			t.Fatalf("pass after the late events %+v, %v: want l1 and u1 read, l1 scored (n1's window is open)", pass, err)
		}

		// A restarted collector on the same store goes on from the cursor.
		again := serveStore(t, ts.Store, ts.Clock, nil, predictingTouchpoint(), Options{})
		ts.Clock.Advance(72 * time.Hour)
		if pass, err = again.PredictOnce(ctx); err != nil || pass.Trained || !pass.Incremental || pass.Interactions != 1 || pass.Scored != 1 {
			t.Fatalf("pass after a restart %+v, %v: want n1 alone read and scored", pass, err)
		}
		// A retrained model reads the whole history once, and scores
		// nothing twice.
		again.Clock.Advance(7 * 24 * time.Hour)
		if pass, err = again.PredictOnce(ctx); err != nil || !pass.Trained || pass.Incremental || pass.Interactions != 404 || pass.Scored != 0 {
			t.Fatalf("pass after retrainEvery %+v, %v: want a retraining over the whole history, nothing new scored", pass, err)
		}
		if pass, err = again.PredictOnce(ctx); err != nil || !pass.Incremental || pass.Interactions != 0 {
			t.Fatalf("pass after the retraining %+v, %v: want an incremental pass", pass, err)
		}
		if n, err := ts.Store.CountPredictions(ctx, "acme", "support"); err != nil || n != 4 {
			t.Fatalf("%d predictions (%v), want u1, u2, l1, n1", n, err)
		}
	})
}
