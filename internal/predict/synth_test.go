package predict

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// The known model the synthetic data follows: the log odds of a detractor
// are trueIntercept + Σ coefficient × value.
const (
	trueIntercept = -2.0
	trueTransfers = 0.6  // per transfer
	trueWait      = 0.04 // per minute waited
	trueContacts  = 0.3  // per contact event (repeat contacts)
	trueGold      = -0.8 // Gold vs Silver
	trueBronze    = 0.5  // Bronze vs Silver
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// synthSpec is the prediction the synthetic data is made for.
func synthSpec() Spec {
	return Spec{
		Target:         TargetDetractor,
		Events:         []string{"contact"},
		InteractionKey: "ticketId",
		Window:         72 * time.Hour,
		Features: []Feature{
			{Name: "transfers", Source: "metadata.transfers", Kind: Number, Aggregate: Sum},
			{Name: "waitMinutes", Source: "metadata.waitMinutes", Kind: Number, Aggregate: Last},
			{Name: "contacts", Kind: Number, Aggregate: Count},
			{Name: "tier", Source: "customer.tier", Kind: Category},
		},
	}
}

// synthCase is one generated interaction with its true probability.
type synthCase struct {
	events   []Event
	truth    float64
	response *Response // nil when the customer did not answer
}

// synthesize makes n customers with one ticket each. The detractor
// probability follows the known model (or is a constant when random is
// set); answerRate of them answer, 1 h after the ticket's last event.
func synthesize(n int, seed uint64, answerRate float64, random bool) []synthCase {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([]synthCase, 0, n)
	for i := range n {
		cust := fmt.Sprintf("c%05d", i)
		tier := "Silver"
		switch u := r.Float64(); {
		case u < 0.2:
			tier = "Gold"
		case u < 0.5:
			tier = "Bronze"
		}
		contacts := 1 + r.IntN(3)
		wait := r.Float64() * 60
		at := t0.Add(time.Duration(i) * time.Minute)
		transfers := 0
		var evs []Event
		for k := range contacts {
			tr := r.IntN(2)
			transfers += tr
			md := map[string]any{"ticketId": fmt.Sprintf("t%d", i), "transfers": float64(tr)}
			if k == contacts-1 {
				md["waitMinutes"] = wait
			}
			evs = append(evs, Event{
				ID: fmt.Sprintf("e%d-%d", i, k), Name: "contact",
				Customer:   Customer{ID: cust, Tier: tier},
				OccurredAt: at.Add(time.Duration(k) * time.Hour), Metadata: md,
			})
		}
		z := trueIntercept + trueTransfers*float64(transfers) + trueWait*wait + trueContacts*float64(contacts)
		switch tier {
		case "Gold":
			z += trueGold
		case "Bronze":
			z += trueBronze
		}
		p := sigmoid(z)
		if random {
			p = 0.3
		}
		c := synthCase{events: evs, truth: p}
		if r.Float64() < answerRate {
			score := 7 + r.IntN(4)
			if r.Float64() < p {
				score = r.IntN(7)
			}
			c.response = &Response{
				ID: "r" + cust, CustomerID: cust, Score: float64(score),
				SubmittedAt: evs[len(evs)-1].OccurredAt.Add(time.Hour),
			}
		}
		out = append(out, c)
	}
	return out
}

func flatten(cs []synthCase) ([]Event, []Response) {
	var evs []Event
	var rs []Response
	for _, c := range cs {
		evs = append(evs, c.events...)
		if c.response != nil {
			rs = append(rs, *c.response)
		}
	}
	return evs, rs
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }
