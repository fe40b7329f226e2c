package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
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

// Retention deletes a touchpoint's events and predicted scores that
// occurred before the cutoff, as it deletes responses, and keeps the
// newer ones and those of other touchpoints.
func TestDeletePredictionsBefore(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Namespace: "ns"})
		for _, ev := range []Event{
			{Touchpoint: "tp", ID: "old", CustomerID: "c1", OccurredAt: t0.Add(-48 * time.Hour)},
			{Touchpoint: "tp", ID: "new", CustomerID: "c1", OccurredAt: t0},
			{Touchpoint: "other", ID: "old", CustomerID: "c1", OccurredAt: t0.Add(-48 * time.Hour)},
		} {
			ev.Namespace, ev.Name, ev.ReceivedAt, ev.Outcome, ev.BodyHash = "ns", "ticket-closed", t0, "UnknownEvent", "h"
			if _, _, err := s.RecordEvent(ctx, ev, nil); err != nil {
				t.Fatal(err)
			}
		}
		var ps []NewPrediction
		for _, p := range []struct {
			tp, id string
			at     time.Time
		}{{"tp", "c1/old", t0.Add(-48 * time.Hour)}, {"tp", "c1/new", t0}, {"other", "c1/old", t0.Add(-48 * time.Hour)}} {
			ps = append(ps, NewPrediction{Namespace: "ns", Touchpoint: p.tp, Interaction: p.id, CustomerID: "c1", Target: "Detractor",
				Score: 0.5, OccurredAt: p.at, ScoredAt: t0, ModelTrainedAt: t0, Accuracy: 0.8})
		}
		if _, err := s.SavePredictions(ctx, ps); err != nil {
			t.Fatal(err)
		}
		events, predictions, err := s.DeletePredictionsBefore(ctx, "ns", "tp", t0.Add(-24*time.Hour))
		if err != nil || events != 1 || predictions != 1 {
			t.Fatalf("DeletePredictionsBefore = %d events, %d predictions, %v; want 1 and 1", events, predictions, err)
		}
		for _, tp := range []string{"tp", "other"} {
			evs, err := s.EventsBetween(ctx, "ns", tp, t0.Add(-72*time.Hour), t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			scored, err := s.ScoredOf(ctx, "ns", tp, []string{"c1"})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"tp": "new", "other": "old"}[tp]
			if len(evs) != 1 || evs[0].ID != want || len(scored) != 1 || !scored["c1/"+want] {
				t.Errorf("%s after retention: events %+v, scored %v; want only %s", tp, evs, scored, want)
			}
		}
	})
}

// A scoring pass after a cursor looks at the customers with an event
// whose interaction's window closed since (it occurred after the cursor's
// horizon) or that arrived late (received after the cursor), within the
// history; their events and answers are read by customer.
func TestChangedCustomersAndCursor(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		s, _ := e.open(t, Config{Namespace: "ns"})
		for _, ev := range []Event{
			{ID: "seen", CustomerID: "c-seen", OccurredAt: t0.Add(-10 * time.Hour), ReceivedAt: t0.Add(-10 * time.Hour)},
			{ID: "closed", CustomerID: "c-closed", OccurredAt: t0.Add(-2 * time.Hour), ReceivedAt: t0.Add(-2 * time.Hour)},
			{ID: "late", CustomerID: "c-late", OccurredAt: t0.Add(-20 * time.Hour), ReceivedAt: t0.Add(-time.Hour)},
			{ID: "open", CustomerID: "c-open", OccurredAt: t0.Add(time.Hour), ReceivedAt: t0.Add(-time.Hour)},
			{ID: "ancient", CustomerID: "c-ancient", OccurredAt: t0.Add(-100 * time.Hour), ReceivedAt: t0.Add(-time.Hour)},
			{ID: "seen-2", CustomerID: "c-closed", OccurredAt: t0.Add(-30 * time.Hour), ReceivedAt: t0.Add(-30 * time.Hour)},
		} {
			ev.Namespace, ev.Touchpoint, ev.Name, ev.Outcome, ev.BodyHash = "ns", "tp", "ticket-closed", "UnknownEvent", "h"
			if _, _, err := s.RecordEvent(ctx, ev, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.LoadScoringCursor(ctx, "ns", "tp"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("LoadScoringCursor before a save: %v, want ErrNotFound", err)
		}
		c := ScoringCursor{Namespace: "ns", Touchpoint: "tp", ModelTrainedAt: t0.Add(-50 * time.Hour),
			ClosedThrough: t0.Add(-5 * time.Hour), ReceivedThrough: t0.Add(-5 * time.Hour)}
		if err := s.SaveScoringCursor(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadScoringCursor(ctx, "ns", "tp")
		if err != nil || !got.ClosedThrough.Equal(c.ClosedThrough) || !got.ReceivedThrough.Equal(c.ReceivedThrough) || !got.ModelTrainedAt.Equal(c.ModelTrainedAt) {
			t.Fatalf("LoadScoringCursor = %+v, %v; want %+v", got, err, c)
		}
		customers, err := s.ChangedCustomers(ctx, "ns", "tp", t0.Add(-50*time.Hour), t0, c)
		slices.Sort(customers)
		if err != nil || !slices.Equal(customers, []string{"c-closed", "c-late"}) {
			t.Fatalf("ChangedCustomers = %v, %v; want c-closed (closed since) and c-late (arrived since)", customers, err)
		}
		evs, err := s.EventsOfCustomers(ctx, "ns", "tp", customers, t0.Add(-50*time.Hour), t0.Add(time.Hour))
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		if err != nil || !slices.Equal(ids, []string{"seen-2", "late", "closed"}) {
			t.Fatalf("EventsOfCustomers = %v, %v; want all the events of both, in time order", ids, err)
		}
		r := newResponse("tp", "r-late", t0.Add(-19*time.Hour))
		r.Customer.ID, r.Answers = "c-late", json.RawMessage(`{"nps":2}`)
		saveOne(t, s, r)
		saveOne(t, s, newResponse("tp", "r-other", t0.Add(-19*time.Hour)))
		as, err := s.AnswersOfCustomers(ctx, "tp", "nps", "", customers, t0.Add(-50*time.Hour), t0)
		if err != nil || len(as) != 1 || as[0].ResponseID != "r-late" || as[0].Score != 2 {
			t.Fatalf("AnswersOfCustomers = %+v, %v; want r-late only", as, err)
		}
	})
}
