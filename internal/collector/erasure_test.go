package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/store"
)

// erasureFixture is a collector holding two responses, a scheduled
// invitation and an archived Case of customer C-gone, and one response of
// customer C-stays; every copy of C-gone's contact details and free text
// is to go.
func erasureFixture(t *testing.T, e testEngine) *testServer {
	t.Helper()
	return erasureFixtureFor(t, e, feedbackTouchpoint("support"))
}

// erasureFixtureFor is erasureFixture on the touchpoint tp.
func erasureFixtureFor(t *testing.T, e testEngine, tp *cxv1alpha1.SurveyTouchpoint) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := startServer(t, e, tp, Options{})
	if skipped := ts.SetAlertRules([]cxv1alpha1.AlertRule{detractorRule("support")}); len(skipped) > 0 {
		t.Fatalf("rule skipped: %v", skipped)
	}
	post := func(id, customer string, recommend int, email, phone, comment, improve string) {
		t.Helper()
		body := validResponse(id)
		body["customer"] = map[string]any{"id": customer, "tier": "Gold",
			"attributes": map[string]any{"E-Mail": email, "phoneNumber": phone, "plan": "pro"}}
		body["comment"] = comment
		answers, _ := body["answers"].(map[string]any)
		answers["recommend"], answers["improve"] = recommend, improve
		ts.post(t, "/v1/responses", body).receipt(t)
	}
	post("gone-1", "C-gone", 2, "ann.secret@example.com", "+49 30 1234567", "Ann Secret here, call me back", "my address is Secretstrasse 1")
	post("gone-2", "C-gone", 9, "ann.secret@example.com", "+49 30 1234567", "Ann Secret again", "Secretstrasse 1 still")
	post("stays-1", "C-stays", 3, "bob@example.com", "+1 555 0100", "Bob was unhappy", "faster answers")
	if _, _, err := ts.Store.RecordEvent(ctx, store.Event{Namespace: "acme", Touchpoint: "support", ID: "ev-1", Name: "ticket-closed",
		CustomerID: "C-gone", OccurredAt: testNow, ReceivedAt: testNow, Outcome: "Scheduled", BodyHash: "h"},
		&store.ScheduledMessage{Namespace: "acme", Touchpoint: "support", Key: "inv-1", Kind: store.KindInvitation, EventID: "ev-1",
			CustomerID: "C-gone", Channel: "email", DueAt: testNow.Add(time.Hour),
			Contact: json.RawMessage(`{"customer":{"id":"C-gone"},"email":"ann.secret@example.com","locale":"de"}`)}); err != nil {
		t.Fatal(err)
	}
	doc := `{"metadata":{"name":"detractor-gone-1"},"spec":{"customer":{"id":"C-gone","attributes":{"email":"ann.secret@example.com"}},` +
		`"response":{"comment":"Ann Secret here, call me back","answers":{"improve":"my address is Secretstrasse 1","recommend":"2"}}}}`
	if err := ts.Store.ArchiveCase(ctx, "acme", "detractor-gone-1", testNow, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := ts.Store.ArchiveCase(ctx, "acme", "detractor-stays-1", testNow, []byte(`{"spec":{"customer":{"id":"C-stays"}}}`)); err != nil {
		t.Fatal(err)
	}
	return ts
}

// detractorRule opens a Case from the template "detractor" for each
// response of the touchpoint that recommends 6 or less.
func detractorRule(touchpoint string) cxv1alpha1.AlertRule {
	return cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Name: "detractors", Namespace: "acme"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{touchpoint}},
			Condition:   "answers.recommend <= 6",
			Actions:     cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "detractor"}},
		},
	}
}

// secrets are C-gone's personal data in the fixture.
var erasureSecrets = []string{"ann.secret@example.com", "+49 30 1234567", "Ann Secret", "Secretstrasse"}

// everything is all the store holds of the touchpoint, as text.
func everything(t *testing.T, ts *testServer) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, id := range []string{"gone-1", "gone-2", "stays-1"} {
		if r, err := ts.Store.GetResponse(ctx, "support", id); err == nil {
			raw, _ := json.Marshal(r)
			b.Write(raw)
		}
	}
	actions, err := ts.Store.ClaimActions(ctx, testNow.Add(time.Hour), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actions {
		b.Write(a.Payload)
	}
	msgs, err := ts.Store.ClaimMessages(ctx, testNow.Add(2*time.Hour), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		b.Write(m.Contact)
	}
	for _, name := range []string{"detractor-gone-1", "detractor-stays-1"} {
		if c, err := ts.Store.GetArchivedCase(ctx, "acme", name); err == nil {
			b.Write(c.Doc)
		}
	}
	return b.String()
}

// POST /v1/erasures with mode Redact removes the customer's contact
// details and free text from the responses, the outbox payloads (the
// Case to open), the scheduled invitation (which is skipped) and the
// archived Case, keeps the scores, leaves other customers alone, and
// records the erasure without the customer's id.
func TestErasureRedacts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		ts := erasureFixture(t, e)
		a := ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": "C-gone"}, "mode": "Redact"})
		var rec Erasure
		if a.Status != http.StatusOK || json.Unmarshal(a.Body, &rec) != nil {
			t.Fatalf("erasure: %d %s", a.Status, a.Body)
		}
		if rec.ID == "" || rec.Mode != "Redact" || rec.Responses != 2 || rec.Actions != 1 || rec.Messages != 1 || rec.ArchivedCases != 1 {
			t.Errorf("erasure record %+v, want 2 responses, 1 action, 1 message, 1 archived Case", rec)
		}
		if strings.Contains(string(a.Body), "C-gone") {
			t.Errorf("the erasure answer names the customer: %s", a.Body)
		}
		r, err := ts.Store.GetResponse(ctx, "support", "gone-1")
		if err != nil {
			t.Fatal(err)
		}
		var answers map[string]any
		if err := json.Unmarshal(r.Answers, &answers); err != nil {
			t.Fatal(err)
		}
		if _, kept := answers["improve"]; r.Comment != "" || r.Customer.Attributes["plan"] != "pro" || len(r.Customer.Attributes) != 1 || answers["recommend"] != 2.0 || kept {
			t.Errorf("redacted response %+v %s: want no comment, no contact attributes, no text answer, the scores kept", r, r.Answers)
		}
		all := everything(t, ts)
		for _, s := range erasureSecrets {
			if n := strings.Count(all, s); n > 0 {
				t.Errorf("%q is still stored %d times: %s", s, n, all)
			}
		}
		if !strings.Contains(all, "bob@example.com") || !strings.Contains(all, "Bob was unhappy") {
			t.Errorf("another customer's data was changed: %s", all)
		}
		counts, err := ts.Store.OutreachCounts(ctx, "acme", "support")
		if err != nil || counts.Skipped != 1 || counts.Scheduled != 0 {
			t.Errorf("outreach %+v, %v: want the erased customer's invitation skipped", counts, err)
		}
		logged := ts.get(t, "/v1/erasures/"+rec.ID)
		if logged.Status != http.StatusOK || strings.Contains(string(logged.Body), "C-gone") || !strings.Contains(string(logged.Body), `"responses":2`) {
			t.Errorf("erasure log: %d %s, want the record without the customer", logged.Status, logged.Body)
		}
	})
}

// With mode Delete nothing about the customer is left: responses, their
// outbox actions, the scheduled message, the event, the invitations and
// the archived Case are gone; the other customer's are kept.
func TestErasureDeletes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		ts := erasureFixture(t, e)
		wantInvitedFor := func(customer string) {
			if err := ts.Store.RecordInvitation(ctx, store.Invitation{TokenID: "tok-" + customer, Touchpoint: "support", CustomerID: customer,
				IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		wantInvitedFor("C-gone")
		wantInvitedFor("C-stays")
		a := ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": "C-gone"}, "mode": "Delete"})
		var rec Erasure
		if a.Status != http.StatusOK || json.Unmarshal(a.Body, &rec) != nil {
			t.Fatalf("erasure: %d %s", a.Status, a.Body)
		}
		if rec.Responses != 2 || rec.Actions != 1 || rec.Messages != 1 || rec.Events != 1 || rec.Invitations != 1 || rec.ArchivedCases != 1 {
			t.Errorf("erasure record %+v, want 2 responses, 1 action, 1 message, 1 event, 1 invitation, 1 archived Case", rec)
		}
		for _, id := range []string{"gone-1", "gone-2"} {
			if _, err := ts.Store.GetResponse(ctx, "support", id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("response %s after Delete: %v, want not found", id, err)
			}
		}
		if _, err := ts.Store.GetArchivedCase(ctx, "acme", "detractor-gone-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("archived Case after Delete: %v, want not found", err)
		}
		if n, _, err := ts.Store.InvitationsSince(ctx, "", "C-gone", time.Time{}); err != nil || n != 0 {
			t.Errorf("%d invitations of the erased customer left (%v)", n, err)
		}
		all := everything(t, ts)
		if strings.Contains(all, "C-gone") {
			t.Errorf("the store still names the erased customer: %s", all)
		}
		if !strings.Contains(all, "C-stays") || total(t, ts.Store, "support") != 1 {
			t.Errorf("the other customer's data went too: %s", all)
		}
	})
}

// An erasure names the customer and a mode, or is a 400 naming the field;
// without the credential it is a 401.
func TestErasureRequestChecked(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("support"), Options{})
	p := ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": ""}, "mode": "Forget"}).problem(t, http.StatusBadRequest)
	if len(p.Errors) != 2 || p.Errors[0].Field != "customer.id" || p.Errors[1].Field != "mode" || !strings.Contains(p.Errors[1].Message, "Redact") {
		t.Errorf("problem %+v, want customer.id and mode named", p)
	}
	ts.Token = ""
	ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": "C1"}, "mode": "Delete"}).problem(t, http.StatusUnauthorized)
}

// predictionFixture adds to erasureFixture what a prediction keeps of
// C-gone and of C-stays: a business event each with its features (the
// metadata holds an address, never stored, and a note naming C-gone), and
// a predicted score each whose open_case action copies the customer and
// the metadata.
func predictionFixture(t *testing.T, ts *testServer) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []string{"C-gone", "C-stays"} {
		note := map[string]string{"C-gone": "Ann Secret called twice", "C-stays": "Bob called"}[c]
		ev := map[string]any{"id": "ticket-" + c, "name": "ticket-closed", "occurredAt": testNow.Add(-time.Hour),
			"customer": map[string]any{"id": c, "tier": "Gold", "attributes": map[string]any{"plan": "pro"}},
			"metadata": map[string]any{"ticket": "T-" + c, "transfers": "3", "note": note, "email": strings.ToLower(c) + ".secret@example.com"}}
		if a := ts.post(t, "/v1/events", ev); a.Status != http.StatusOK && a.Status != http.StatusAccepted {
			t.Fatalf("event: %d %s", a.Status, a.Body)
		}
		payload, _ := json.Marshal(OpenCasePayload{Namespace: "acme", Rule: "likely-detractor", Template: "detractor", Touchpoint: "support",
			ResponseID: "predicted-" + c, Customer: cxv1alpha1.Customer{ID: c, Tier: "Gold"},
			Response: ResponseSnapshotJSON{Metadata: map[string]string{"note": note}, SubmittedAt: testNow.Add(-time.Hour)}})
		if _, err := ts.Store.SavePredictions(ctx, []store.NewPrediction{{Namespace: "acme", Touchpoint: "support",
			Interaction: c + "/T-" + c, CustomerID: c, CustomerTier: "Gold", Target: "Detractor", Score: 0.9, OccurredAt: testNow.Add(-time.Hour),
			ScoredAt: testNow, ModelTrainedAt: testNow.Add(-24 * time.Hour), Accuracy: 0.8, ResponseID: "predicted-" + c,
			Actions: []store.NewAction{{Kind: store.ActionOpenCase, DedupKey: "predicted-" + c + "/likely-detractor/case", Payload: payload}}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// eventFeatures is what the events of the touchpoint keep, as text.
func eventFeatures(t *testing.T, ts *testServer) string {
	t.Helper()
	evs, err := ts.Store.EventsBetween(context.Background(), "acme", "support", testNow.Add(-48*time.Hour), testNow.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.CustomerID + ":" + string(e.Detail) + "\n")
	}
	return b.String()
}

// An erasure covers what a prediction keeps. Redact keeps of the events'
// features only what the prediction reads (an address and a note in the
// metadata go), removes contact details and free text from the open_case
// payload of a predicted score, and keeps the score (as it keeps measured
// scores); Delete deletes the customer's events, predicted scores and
// their outbox actions. The other customer's are kept either way.
func TestErasureCoversPredictions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ctx := context.Background()
		for _, mode := range []string{"Redact", "Delete"} {
			t.Run(mode, func(t *testing.T) {
				tp := predictingTouchpoint()
				tp.Spec.Prediction.Features = append(tp.Spec.Prediction.Features, cxv1alpha1.PredictionFeature{Name: "plan",
					Source: "customer.attributes.plan", Type: cxv1alpha1.FeatureCategory, Aggregate: cxv1alpha1.FeatureLast})
				ts := erasureFixtureFor(t, e, tp)
				predictionFixture(t, ts)
				if f := eventFeatures(t, ts); !strings.Contains(f, "Ann Secret called") || strings.Contains(f, "secret@example.com") {
					t.Fatalf("the events' features %s: want the note, and no address (metadata email is a contact detail)", f)
				}
				a := ts.post(t, "/v1/erasures", map[string]any{"customer": map[string]any{"id": "C-gone"}, "mode": mode})
				var rec Erasure
				if a.Status != http.StatusOK || json.Unmarshal(a.Body, &rec) != nil {
					t.Fatalf("erasure: %d %s", a.Status, a.Body)
				}
				features := eventFeatures(t, ts)
				n, err := ts.Store.CountPredictions(ctx, "acme", "support")
				if err != nil {
					t.Fatal(err)
				}
				all := everything(t, ts) + features
				if !strings.Contains(all, "Bob called") || !strings.Contains(features, `"ticket":"T-C-stays"`) {
					t.Errorf("the other customer's event or prediction changed: %s", all)
				}
				switch mode {
				case "Redact":
					// 2 responses' and 1 prediction's actions; 1 event with features.
					if rec.Actions != 2 || rec.Events != 1 || rec.Predictions != 0 || n != 2 {
						t.Errorf("record %+v, %d predictions left: want 2 actions and 1 event redacted, both scores kept", rec, n)
					}
					for _, s := range append(erasureSecrets, "c-gone.secret@example.com", "called twice") {
						if strings.Contains(all, s) {
							t.Errorf("%q is still stored: %s", s, all)
						}
					}
					if gone := strings.Split(features, "\n")[0]; !strings.HasPrefix(gone, "C-gone:") || !strings.Contains(gone, `"transfers":"3"`) ||
						!strings.Contains(gone, `"plan":"pro"`) || !strings.Contains(gone, `"ticket":"T-C-gone"`) || !strings.Contains(gone, `"tier":"Gold"`) {
						t.Errorf("Redact removed features that are not personal: %s", features)
					}
				case "Delete":
					if rec.Actions != 2 || rec.Events != 2 || rec.Predictions != 1 || n != 1 {
						t.Errorf("record %+v, %d predictions left: want 2 actions, 2 events, 1 prediction deleted, one left", rec, n)
					}
					if strings.Contains(all, "C-gone") || strings.Contains(all, "predicted-C-gone") {
						t.Errorf("the store still names the erased customer: %s", all)
					}
					if scored, err := ts.Store.ScoredOf(ctx, "acme", "support", []string{"C-gone", "C-stays"}); err != nil ||
						len(scored) != 1 || !scored["C-stays/T-C-stays"] {
						t.Errorf("scored after Delete: %v, %v; want C-stays only", scored, err)
					}
				}
				logged := ts.get(t, "/v1/erasures/"+rec.ID)
				if logged.Status != http.StatusOK || !strings.Contains(string(logged.Body), fmt.Sprintf(`"predictions":%d`, rec.Predictions)) {
					t.Errorf("erasure log: %d %s, want the predictions counted", logged.Status, logged.Body)
				}
			})
		}
	})
}
