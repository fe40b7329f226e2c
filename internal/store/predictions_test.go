package store

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// A touchpoint's events come back with their features in time order; the
// answers to a question with their interaction id; a predicted score is
// stored once with its outbox actions, never counted as a response, and
// summarized by window.
func TestPredictionsStore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Namespace: "ns"})
		detail := json.RawMessage(`{"customer":{"tier":"Gold"},"metadata":{"ticket":"T1","transfers":"2"}}`)
		for i, ev := range []Event{
			{ID: "e2", Name: "ticket-closed", CustomerID: "c1", OccurredAt: t0.Add(2 * time.Hour), Detail: detail},
			{ID: "e1", Name: "ticket-opened", CustomerID: "c1", OccurredAt: t0.Add(time.Hour)},
			{ID: "e3", Name: "ticket-closed", CustomerID: "c2", OccurredAt: t0.Add(30 * time.Hour)},
		} {
			ev.Namespace, ev.Touchpoint, ev.ReceivedAt, ev.Outcome, ev.BodyHash = "ns", "tp", t0, "UnknownEvent", "h"+ev.ID
			if _, _, err := s.RecordEvent(ctx, ev, nil); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		evs, err := s.EventsBetween(ctx, "ns", "tp", t0, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ID != "e1" || evs[1].ID != "e2" || string(evs[1].Detail) != string(detail) || evs[0].Detail != nil ||
			!evs[1].OccurredAt.Equal(t0.Add(2*time.Hour)) || evs[1].CustomerID != "c1" {
			t.Fatalf("EventsBetween = %+v", evs)
		}

		r1 := newResponse("tp", "r1", t0.Add(3*time.Hour))
		r1.Customer.ID, r1.Metadata = "c1", map[string]string{"ticket": "T1"}
		r2 := newResponse("tp", "r2", t0.Add(4*time.Hour))
		r2.Answers = json.RawMessage(`{"completed":true}`) // no nps answer
		r3 := newResponse("tp", "r3", t0.Add(5*time.Hour))
		r3.Answers = json.RawMessage(`{"nps":3}`)
		for _, r := range []NewResponse{r1, r2, r3} {
			saveOne(t, s, r)
		}
		as, err := s.Answers(ctx, "tp", "nps", "ticket", t0, t0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []Answer{
			{ResponseID: "r1", CustomerID: "c1", SubmittedAt: t0.Add(3 * time.Hour), Interaction: "T1", Score: 9},
			{ResponseID: "r3", CustomerID: "cust-r3", SubmittedAt: t0.Add(5 * time.Hour), Score: 3},
		}
		if !reflect.DeepEqual(as, want) {
			t.Fatalf("Answers = %+v, want %+v", as, want)
		}
		if _, err := s.Answers(ctx, "tp", "nps'; --", "", t0, t0.Add(time.Hour)); err == nil {
			t.Fatal("a question id that is not a key was accepted")
		}

		p := NewPrediction{Namespace: "ns", Touchpoint: "tp", Interaction: "c2/e3", CustomerID: "c2", CustomerTier: "Gold", Target: "Detractor",
			Score: 0.9, OccurredAt: t0.Add(30 * time.Hour), ScoredAt: t0.Add(100 * time.Hour), ModelTrainedAt: t0, Accuracy: 0.8,
			ResponseID: "predicted-1", Actions: []NewAction{{Kind: ActionOpenCase, DedupKey: "predicted-1/rule/case", Payload: json.RawMessage(`{"a":1}`)}}}
		q := p
		q.Interaction, q.CustomerID, q.Score, q.OccurredAt, q.Actions, q.ResponseID = "c3/e9", "c3", 0.2, t0.Add(31*time.Hour), nil, ""
		isNew, err := s.SavePredictions(ctx, []NewPrediction{p, q})
		if err != nil || !reflect.DeepEqual(isNew, []bool{true, true}) {
			t.Fatalf("SavePredictions = %v, %v", isNew, err)
		}
		p.Score = 0.1
		if isNew, err = s.SavePredictions(ctx, []NewPrediction{p}); err != nil || isNew[0] {
			t.Fatalf("SavePredictions again = %v, %v; want not new", isNew, err)
		}
		depth, _, err := s.OutboxStats(ctx)
		if err != nil || depth != 1 {
			t.Fatalf("outbox depth %d (%v), want the one action of the first save", depth, err)
		}
		acts, err := s.ClaimActions(ctx, t0.Add(200*time.Hour), 10, time.Minute)
		if err != nil || len(acts) != 1 || acts[0].ResponseID != "predicted-1" || acts[0].Kind != ActionOpenCase {
			t.Fatalf("ClaimActions = %+v, %v", acts, err)
		}
		total, _, _, err := s.Counts(ctx, "tp", t0)
		if err != nil || total != 3 {
			t.Fatalf("Counts = %d, %v; want the 3 responses only", total, err)
		}
		scored, err := s.ScoredSince(ctx, "ns", "tp", t0.Add(30*time.Hour+time.Minute))
		if err != nil || !reflect.DeepEqual(scored, map[string]bool{"c3/e9": true}) {
			t.Fatalf("ScoredSince = %v, %v", scored, err)
		}
		st, err := s.PredictionStats(ctx, "ns", "tp", t0, t0.Add(48*time.Hour))
		if err != nil || st.Interactions != 2 || st.Customers != 2 || !reflect.DeepEqual(st.CustomerIDs, []string{"c2", "c3"}) ||
			st.MeanScore < 0.5499 || st.MeanScore > 0.5501 {
			t.Fatalf("PredictionStats = %+v, %v; want 2 interactions, customers c2 c3, mean 0.55 (the first score kept)", st, err)
		}

		if _, err := s.LoadModel(ctx, "ns", "tp"); err == nil {
			t.Fatal("LoadModel before SaveModel: want ErrNotFound")
		}
		for _, doc := range []string{`{"v":1}`, `{"v":2}`} {
			if err := s.SaveModel(ctx, "ns", "tp", t0, []byte(doc)); err != nil {
				t.Fatal(err)
			}
		}
		if doc, err := s.LoadModel(ctx, "ns", "tp"); err != nil || string(doc) != `{"v":2}` {
			t.Fatalf("LoadModel = %s, %v", doc, err)
		}
	})
}
