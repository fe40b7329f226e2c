package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// store is a reseller store; quality is its customers' mean mood (0..1).
type store struct {
	name, region string
	quality      float64
	agents       []string
}

// Regions of the stores.
const (
	emea         = "emea"
	northAmerica = "na"
	apac         = "apac"
)

// Tones of comments.
const (
	positive = "positive"
	neutral  = "neutral"
	negative = "negative"
)

// stores of the simulated program. Two are in trouble, so their NPS is
// low enough for the nps-drop rule.
var stores = []store{
	{"berlin-mitte", emea, 0.87, []string{"anna.schmidt", "jonas.weber"}},
	{"munich-ost", emea, 0.86, []string{"lena.fischer"}},
	{"paris-9e", emea, 0.62, []string{"marc.dubois", "chloe.martin"}},
	{"london-soho", emea, 0.89, []string{"emma.jones", "oliver.smith"}},
	{"new-york-soho", northAmerica, 0.87, []string{"sofia.garcia", "james.miller"}},
	{"chicago-loop", northAmerica, 0.63, []string{"noah.brown"}},
	{"toronto-king", northAmerica, 0.88, []string{"ava.wilson"}},
	{"singapore-raffles", apac, 0.86, []string{"li.wei", "arjun.rao"}},
}

// Customer is a simulated customer: a person at one of Acme's accounts
// (companies), invited and answering under their own id. The people of an
// account share its tier, segment and company.
type Customer struct {
	ID, Tier, Segment, Company string
	// Account is the account the person belongs to (the response's
	// customer.attributes.account): the nps-detractor rule opens one
	// account-recovery Case per account, and detractors of an account
	// with an open Case are merged into it.
	Account string
	// health moves the mood of everyone at the account: an account in
	// trouble has several unhappy people.
	health float64
}

// contactsPerAccount is how many people of an account the customers hold
// on average: enough for two detractors of one account to answer in a
// short run.
const contactsPerAccount = 8

var companies = []string{"Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Acme Retail", "Soylent", "Cyberdyne", "Vandelay Industries", "Wonka", "Tyrell", "Massive Dynamic", "Pied Piper", "Gringotts"}

// phrases are plain-English comments by theme and tone; %s is an agent.
var phrases = map[string]map[string][]string{
	"documentation": {
		positive: {"The release notes and installation guide were clear; done in twenty minutes.", "Great documentation, the upgrade guide answered every question."},
		negative: {"The instructions skip the database migration step; the docs are out of date.", "The installation guide contradicts the readme, we lost an afternoon."},
	},
	"download": {
		positive: {"The download was fast and the checksum matched first time."},
		negative: {"The download kept failing and the mirror was extremely slow.", "Downloading took hours and the first file was corrupt."},
	},
	"license": {
		positive: {"License activation was instant, no calls needed."},
		negative: {"License activation failed with an entitlement error twice.", "The new license key was rejected until support reset our entitlement."},
	},
	"compatibility": {
		negative: {"Not compatible with our operating system version; nobody told us it is unsupported.", "A dependency version conflict made the upgrade incompatible with our setup."},
	},
	"installer": {
		positive: {"The setup wizard just worked, great job.", "Smooth installer, no surprises."},
		negative: {"The installer crashed at 60% and the rollback left the service down.", "Setup wizard hangs on the last step with error code 0x80070005."},
	},
	"support": {
		positive: {"Support answered my ticket within the hour, very helpful technician.", "%s in support sorted our problem in one call. Brilliant!"},
		negative: {"Support response time is terrible; my ticket sat for four days.", "The helpdesk keeps closing my ticket without fixing anything."},
	},
	"price": {
		positive: {"Fair renewal price for what we get.", "Good value; the pricing is simple and the invoice is always right."},
		negative: {"The renewal price went up far too much; too expensive now.", "Pricing is confusing and the last invoice was wrong."},
	},
	"reliability": {
		positive: {"Rock solid and stable since we moved over.", "Not a single outage this year, very reliable."},
		negative: {"Constant crashes and an outage last week cost us a day.", "Too much downtime this quarter, it is not reliable."},
	},
	"account-manager": {
		positive: {"Our account manager %s really knows our business. Excellent relationship.", "%s at the store went out of their way to help us, thank you!", "%s checks in every quarter and always has an answer."},
		negative: {"I have not heard from my account manager in a year.", "My sales rep only calls when the renewal is due."},
	},
	"": {
		positive: {"Great experience overall, thank you!", "Happy with Acme, keep it up.", "Everything just works and the people are friendly.", "Would recommend to any team our size."},
		neutral:  {"It works. Took a while, but fine.", "OK overall, nothing special."},
		negative: {"Disappointing experience, we expected better.", "Frustrating and slow, not happy."},
	},
}

// Job is one simulated survey answer, generated before it is sent.
type Job struct {
	Seq        int
	Touchpoint string
	Customer   Customer
	Store      store
	Agent      string
	Answers    map[string]any
	Comment    string
}

// Generator makes a seeded, realistic stream of survey answers for the
// touchpoints: customers by tier (Gold/Silver/Bronze) and segment, reseller
// stores and agents, answers driven by a mood per response (a store's
// quality, the customer's tier and chance), some failed installations
// (answers to YesNo questions of false, with low scores), NPS detractors
// and promoters, and plain-English comments whose tone follows the mood and
// whose topics are the touchpoint's text-analytics themes.
type Generator struct {
	rng         *rand.Rand
	touchpoints []cxv1alpha1.SurveyTouchpoint
	customers   []Customer
	next        int
}

// NewGenerator returns a generator for the touchpoints, seeded by seed;
// the same seed makes the same stream.
func NewGenerator(seed uint64, touchpoints []cxv1alpha1.SurveyTouchpoint, customers int) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), touchpoints: touchpoints}
	accounts := make([]Customer, max(1, customers/contactsPerAccount))
	for i := range accounts {
		a := Customer{Account: fmt.Sprintf("ACCT-%05d", 10000+i), Company: companies[g.rng.IntN(len(companies))], health: 0.12 * g.rng.NormFloat64()}
		switch r := g.rng.Float64(); {
		case r < 0.15:
			a.Tier, a.Segment = "Gold", "enterprise"
		case r < 0.5:
			a.Tier, a.Segment = "Silver", pick(g.rng, []string{"enterprise", "mid-market"})
		default:
			a.Tier, a.Segment = "Bronze", pick(g.rng, []string{"smb", "smb", "mid-market"})
		}
		accounts[i] = a
	}
	for i := range customers {
		c := pick(g.rng, accounts)
		c.ID = fmt.Sprintf("CUST-%06d", 100000+i)
		g.customers = append(g.customers, c)
	}
	return g
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// Next returns the next answer: a touchpoint (the first one gets 60% of
// the answers when there are two or more), a customer and the answers.
func (g *Generator) Next() Job {
	g.next++
	tp := &g.touchpoints[0]
	if len(g.touchpoints) > 1 && g.rng.Float64() >= 0.6 {
		tp = &g.touchpoints[1+g.rng.IntN(len(g.touchpoints)-1)]
	}
	j := Job{Seq: g.next, Touchpoint: tp.Name, Customer: pick(g.rng, g.customers), Store: pick(g.rng, stores), Answers: map[string]any{}}
	j.Agent = pick(g.rng, j.Store.agents)

	mood := j.Store.quality + j.Customer.health + 0.15*g.rng.NormFloat64()
	if j.Customer.Tier == "Gold" {
		mood += 0.05
	}
	failed := false
	for _, q := range tp.Spec.Questions {
		if q.Type == cxv1alpha1.QuestionYesNo && g.rng.Float64() < 0.08 {
			failed = true
		}
	}
	if failed {
		mood = 0.3 * g.rng.Float64()
	}
	mood = math.Max(0, math.Min(1, mood))

	var themes []string
	if ta := tp.Spec.TextAnalytics; ta != nil {
		for _, th := range ta.Themes {
			themes = append(themes, th.Name)
		}
	}
	for _, q := range tp.Spec.Questions {
		if v, ok := g.answer(q, mood, failed, themes, j.Agent); ok {
			j.Answers[q.ID] = v
		}
	}
	if tp.Spec.Comment != nil && tp.Spec.Comment.Enabled && (failed || g.rng.Float64() < 0.65) {
		j.Comment = g.comment(mood, themes, j.Agent)
	}
	return j
}

// answer draws the answer to q, or none for an optional question the
// customer skipped.
func (g *Generator) answer(q cxv1alpha1.Question, mood float64, failed bool, themes []string, agent string) (any, bool) {
	if !q.Required && g.rng.Float64() < 0.15 {
		return nil, false
	}
	switch q.Type {
	case cxv1alpha1.QuestionYesNo:
		return !failed, true
	case cxv1alpha1.QuestionChoice:
		if len(q.Choices) == 0 {
			return nil, false
		}
		return pick(g.rng, q.Choices).Value, true
	case cxv1alpha1.QuestionText:
		if g.rng.Float64() < 0.5 {
			return nil, false
		}
		return g.comment(mood, themes, agent), true
	}
	lo, hi := 1, 7
	switch {
	case q.Scale != nil:
		lo, hi = int(q.Scale.Min), int(q.Scale.Max)
	case q.Type == cxv1alpha1.QuestionNPS:
		lo, hi = 0, 10
	case q.Type == cxv1alpha1.QuestionCSAT:
		lo, hi = 1, 5
	}
	v := float64(lo) + (mood+0.08*g.rng.NormFloat64())*float64(hi-lo)
	return max(lo, min(hi, int(math.Round(v)))), true
}

// comment writes a comment whose tone follows mood, about one of the
// touchpoint's themes (or in general).
func (g *Generator) comment(mood float64, themes []string, agent string) string {
	tone := neutral
	switch {
	case mood >= 0.7:
		tone = positive
	case mood < 0.45:
		tone = negative
	}
	var options []string
	for _, th := range themes {
		options = append(options, phrases[th][tone]...)
	}
	if len(options) == 0 || g.rng.Float64() < 0.2 {
		options = append(options, phrases[""][tone]...)
	}
	s := pick(g.rng, options)
	if strings.Contains(s, "%s") {
		first, _, _ := strings.Cut(agent, ".")
		s = fmt.Sprintf(s, strings.ToUpper(first[:1])+first[1:])
	}
	return s
}

// Stats counts what the replay did.
type Stats struct {
	Invitations atomic.Int64
	Responses   atomic.Int64
	Rejected    atomic.Int64
	// reserved counts responses accepted or being posted, so that the
	// replay posts exactly the number asked for.
	reserved atomic.Int64
	mu       sync.Mutex
	// NotInvited counts refused invitations by reason.
	NotInvited map[string]int64
	// Errors keeps the first few rejections, for the summary.
	Errors []string
}

func (s *Stats) notInvited(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.NotInvited == nil {
		s.NotInvited = map[string]int64{}
	}
	s.NotInvited[reason]++
}

func (s *Stats) reject(err error) {
	s.Rejected.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Errors) < 5 {
		s.Errors = append(s.Errors, err.Error())
	}
}

// NotInvitedCounts returns the refused invitations by reason.
func (s *Stats) NotInvitedCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for k, v := range s.NotInvited {
		out[k] = v
	}
	return out
}

// Replay sends answers through the collectors' HTTP API until n responses
// were accepted: for each, it asks the collector's private surface for an
// invitation, as the business system would (which applies sampling and
// contact-frequency rules and signs a token) and, when invited, posts the
// response with the token to the public surface, as the customer would.
// workers send concurrently.
func Replay(ctx context.Context, g *Generator, endpoints map[string]CollectorEndpoints, n, workers int, stats *Stats) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	api := collectorclient.New(hc)
	jobs := make(chan Job)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if err := send(ctx, api, hc, endpoints[j.Touchpoint], j, int64(n), stats); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	// Give up when customers run out: most invitations refused.
	limit := 20 * n
	var err error
	for i := 0; stats.reserved.Load() < int64(n) && i < limit; i++ {
		select {
		case jobs <- g.Next():
			continue
		case err = <-errc:
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// send asks for an invitation and posts the response, unless n responses
// are accepted or on their way. Rejected responses are counted; only
// transport failures (a collector down) are errors.
func send(ctx context.Context, api *collectorclient.Client, hc *http.Client, ep CollectorEndpoints, j Job, n int64, stats *Stats) error {
	inv, err := api.Invite(ctx, ep.Private, j.Customer.ID)
	if err != nil {
		var ae *collectorclient.APIError
		if !errors.As(err, &ae) {
			return err
		}
		stats.Invitations.Add(1)
		stats.reject(fmt.Errorf("invitation for %s at %s: HTTP %d", j.Customer.ID, j.Touchpoint, ae.Status))
		return nil
	}
	stats.Invitations.Add(1)
	if !inv.Invite {
		stats.notInvited(inv.Reason)
		return nil
	}
	if stats.reserved.Add(1) > n {
		stats.reserved.Add(-1)
		return nil
	}
	answers := map[string]json.RawMessage{}
	for k, v := range j.Answers {
		answers[k], _ = json.Marshal(v)
	}
	resp := collector.ResponseRequest{
		ID:    fmt.Sprintf("%s-%06d", j.Touchpoint, j.Seq),
		Token: inv.Token,
		Customer: collector.CustomerRequest{ID: j.Customer.ID, Tier: j.Customer.Tier, Segment: j.Customer.Segment,
			Attributes: map[string]string{"account": j.Customer.Account, "company": j.Customer.Company, "region": j.Store.region}},
		Answers:  answers,
		Comment:  j.Comment,
		Metadata: map[string]string{"store": j.Store.name, "agent": j.Agent, "region": j.Store.region},
	}
	var problem collector.Problem
	status, err := postJSON(ctx, hc, ep.Public+"/v1/responses", "", resp, &problem)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		stats.reserved.Add(-1)
		stats.reject(fmt.Errorf("response %s: HTTP %d %s %s", resp.ID, status, problem.Title, problem.Detail))
		return nil
	}
	stats.Responses.Add(1)
	return nil
}
