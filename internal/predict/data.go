package predict

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Customer is who an event or response is about.
type Customer struct {
	ID         string            `json:"id"`
	Tier       string            `json:"tier,omitempty"`
	Segment    string            `json:"segment,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Event is one business event (what the collector's POST /v1/events takes).
type Event struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Customer   Customer       `json:"customer"`
	OccurredAt time.Time      `json:"occurredAt"`
	Metadata   map[string]any `json:"metadata,omitempty"`
}

// Response is a measured answer to the target question.
type Response struct {
	ID          string
	CustomerID  string
	SubmittedAt time.Time
	// InteractionID is the value of the spec's InteractionKey in the
	// response's metadata, if any.
	InteractionID string
	// Score is the answer to the target question.
	Score float64
}

// Interaction is the events of one customer that belong together.
type Interaction struct {
	CustomerID string
	ID         string
	Events     []Event // in time order
}

// Last is the time of the interaction's latest event.
func (in Interaction) Last() time.Time { return in.Events[len(in.Events)-1].OccurredAt }

// Key identifies the interaction: customer and interaction id.
func (in Interaction) Key() string { return in.CustomerID + "/" + in.ID }

// Example is an interaction with the response that answered it.
type Example struct {
	Interaction Interaction
	Response    Response
	// Label is the target's value: 1 or 0 for a probability, the score for
	// a mean.
	Label float64
}

// InteractionID is the id of the interaction an event belongs to: the
// spec's InteractionKey in its metadata, else the event's own id.
func (s Spec) InteractionID(e Event) string {
	if s.InteractionKey != "" {
		if v, ok := e.Metadata[s.InteractionKey]; ok {
			if str := text(v); str != "" {
				return str
			}
		}
	}
	return e.ID
}

// Selects reports whether events of this name make up interactions.
func (s Spec) Selects(name string) bool {
	return len(s.Events) == 0 || slices.Contains(s.Events, name)
}

// Interactions groups the selected events by customer and interaction id.
// The result is in order of each interaction's first event.
func (s Spec) Interactions(events []Event) []Interaction {
	idx := map[string]int{}
	var out []Interaction
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	for _, e := range sorted {
		if !s.Selects(e.Name) || e.Customer.ID == "" {
			continue
		}
		in := Interaction{CustomerID: e.Customer.ID, ID: s.InteractionID(e)}
		i, ok := idx[in.Key()]
		if !ok {
			i = len(out)
			idx[in.Key()] = i
			out = append(out, in)
		}
		out[i].Events = append(out[i].Events, e)
	}
	return out
}

// Join labels the interactions that got a response. A response answers the
// interaction it names (its InteractionID), or else the latest interaction
// of the same customer whose last event is at most Window before it. Each
// interaction takes at most one response (the first) and each response
// answers at most one interaction. The interactions no response answered
// are returned apart: they are the ones to score.
func (s Spec) Join(interactions []Interaction, responses []Response) (examples []Example, unanswered []Interaction) {
	s = s.withDefaults()
	byCustomer := map[string][]int{}
	byKey := map[string]int{}
	for i, in := range interactions {
		byCustomer[in.CustomerID] = append(byCustomer[in.CustomerID], i)
		byKey[in.Key()] = i
	}
	for _, list := range byCustomer {
		slices.SortFunc(list, func(a, b int) int { return interactions[a].Last().Compare(interactions[b].Last()) })
	}
	rs := slices.Clone(responses)
	slices.SortStableFunc(rs, func(a, b Response) int {
		return cmp.Or(a.SubmittedAt.Compare(b.SubmittedAt), strings.Compare(a.ID, b.ID))
	})
	answered := make([]bool, len(interactions))
	for _, r := range rs {
		i := -1
		if r.InteractionID != "" {
			if j, ok := byKey[r.CustomerID+"/"+r.InteractionID]; ok && !answered[j] {
				i = j
			}
		} else {
			list := byCustomer[r.CustomerID]
			for k := len(list) - 1; k >= 0; k-- {
				in := interactions[list[k]]
				if in.Last().After(r.SubmittedAt) {
					continue
				}
				if r.SubmittedAt.Sub(in.Last()) <= s.Window && !answered[list[k]] {
					i = list[k]
				}
				break
			}
		}
		if i < 0 {
			continue
		}
		answered[i] = true
		examples = append(examples, Example{Interaction: interactions[i], Response: r, Label: s.Label(r.Score)})
	}
	for i, in := range interactions {
		if !answered[i] {
			unanswered = append(unanswered, in)
		}
	}
	return examples, unanswered
}

// Label turns an answer into the target's value.
func (s Spec) Label(score float64) float64 {
	s = s.withDefaults()
	switch s.Target {
	case TargetDetractor:
		return b2f(score <= 6)
	case TargetBottomTwoBox:
		return b2f(score <= float64(s.ScaleMin+1))
	}
	return score
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Value is one feature's value for one interaction: a number, a category,
// or missing.
type Value struct {
	Number   float64
	Category string
	Missing  bool
}

// Values computes the spec's features for an interaction.
func (s Spec) Values(in Interaction) []Value {
	s = s.withDefaults()
	out := make([]Value, len(s.Features))
	for i, f := range s.Features {
		out[i] = f.value(in)
	}
	return out
}

func (f Feature) value(in Interaction) Value {
	if f.Aggregate == Count {
		n := 0
		for _, e := range in.Events {
			if f.Event == "" || e.Name == f.Event {
				n++
			}
		}
		return Value{Number: float64(n)}
	}
	kind, key, _ := parseSource(f.Source)
	v := Value{Missing: true}
	if f.Aggregate == Sum {
		v = Value{}
	}
	for _, e := range in.Events {
		if f.Event != "" && e.Name != f.Event {
			continue
		}
		var raw any
		switch kind {
		case fromTier:
			raw = e.Customer.Tier
		case fromSegment:
			raw = e.Customer.Segment
		case fromAttribute:
			if a, ok := e.Customer.Attributes[key]; ok {
				raw = a
			}
		default:
			raw = e.Metadata[key]
		}
		if f.Kind == Category {
			if c := text(raw); c != "" {
				v = Value{Category: c}
			}
			continue
		}
		n, ok := number(raw)
		if !ok {
			continue
		}
		switch {
		case f.Aggregate == Sum:
			v.Number += n
		case f.Aggregate == Max && !v.Missing:
			v.Number = math.Max(v.Number, n)
		default:
			v = Value{Number: n}
		}
	}
	return v
}

func text(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case int:
		return strconv.Itoa(t)
	case json.Number:
		return t.String()
	}
	return ""
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, !math.IsNaN(t) && !math.IsInf(t, 0)
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case bool:
		return b2f(t), true
	case json.Number:
		n, err := t.Float64()
		return n, err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return n, err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
	}
	return 0, false
}
