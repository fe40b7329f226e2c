package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/survey"
)

// The customer side of the distribution: the business system posts events
// (POST /v1/events on the collector's private surface), the collector
// sends invitations, reminders and acknowledgements as real email and SMS
// into the sinks, and the simulated customers read them there and act as
// people do: follow the link and answer the hosted survey page over HTTP
// (GET the form, POST it as a browser would), unsubscribe with the email's
// one-click link, or not answer at all (and get the reminder).

// What a simulated customer does with an invitation.
type intent int

const (
	// answerInvitation answers soon after the invitation.
	answerInvitation intent = iota
	// answerReminder ignores the invitation and answers the reminder.
	answerReminder
	// unsubscribe follows the email's one-click unsubscribe link.
	unsubscribe
	// neverAnswer ignores both.
	neverAnswer
)

// invitee is one simulated customer of a business event.
type invitee struct {
	touchpoint string
	event      collector.EventRequest
	channel    cxv1alpha1.DistributionChannel
	intent     intent
	// failed: the installation did not work for them (they answer "no").
	failed bool
	mood   float64
	// link is the survey link of the first message that had one.
	link string
}

// address is where the customer is reached: the email address or phone.
func (iv *invitee) address() string {
	if iv.channel == cxv1alpha1.DistributionSMS {
		return iv.event.Customer.Phone
	}
	return strings.ToLower(iv.event.Customer.Email)
}

// customerAction is something a customer does at a simulated time.
type customerAction struct {
	at time.Time
	iv *invitee
	// do is "event" (the business system posts the customer's event),
	// "answer" or "unsubscribe".
	do  string
	url string
}

// OutreachCounts is what the simulated customers saw and did.
type OutreachCounts struct {
	// Events posted to the collectors.
	Events int
	// Emails and SMS received by customers: invitations, reminders,
	// acknowledgements and follow-ups.
	Emails, SMS int
	// Invitations, Reminders, Acknowledgements and FollowUps (after a
	// Case closed: "did we solve it?") received.
	Invitations, Reminders, Acknowledgements, FollowUps int
	// Answered through the survey page (the thank-you page was shown).
	Answered int
	// Unsubscribed with the email's one-click link.
	Unsubscribed int
	// Copies are emails received again with a Message-ID seen before (a
	// collector that crashed between sending and recording sends again
	// with the same Message-ID); a mail client shows them once.
	Copies int
	// Failed counts the customers' requests that did not work, with the
	// first few errors.
	Failed int
	Errors []string
}

// customers simulates the customers invited on business events.
type customers struct {
	clock     *Clock
	hc        *http.Client
	endpoints map[string]CollectorEndpoints
	// touchpoints that distribute, by name.
	touchpoints map[string]*cxv1alpha1.SurveyTouchpoint

	mu      sync.Mutex
	gen     *Generator
	byAddr  map[string]*invitee
	seen    map[string]bool // Message-IDs received
	pending []customerAction
	counts  OutreachCounts
}

// Customer first names and time zones, to make the messages readable.
var (
	firstNames = []string{"Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Edsger", "Radia", "Tim", "Hedy", "Vint", "Katherine", "Niklaus"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Dijkstra", "Perlman", "Lamarr", "Cerf", "Johnson", "Wirth"}
	timeZones  = []string{"Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago", "Asia/Singapore", "Asia/Tokyo"}
)

// newCustomers makes n customers for the touchpoints that have a
// distribution, each with an event of it: the first event of a touchpoint
// gets three customers in four. An event happened at the demo's start
// minus its delay, give or take eight hours, so its invitation is due in
// the first simulated hours; events already past are posted at once (the
// business system forwarding the last days' downloads), the others when
// they happen on the simulated clock. Returns nil when no touchpoint
// distributes.
func newCustomers(seed uint64, n int, tps []cxv1alpha1.SurveyTouchpoint, endpoints map[string]CollectorEndpoints, clock *Clock) *customers {
	c := &customers{clock: clock, endpoints: endpoints, touchpoints: map[string]*cxv1alpha1.SurveyTouchpoint{}, byAddr: map[string]*invitee{}, seen: map[string]bool{},
		hc: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var distributing []cxv1alpha1.SurveyTouchpoint
	for i := range tps {
		if d := tps[i].Spec.Distribution; d != nil && len(d.Events) > 0 {
			distributing = append(distributing, tps[i])
			c.touchpoints[tps[i].Name] = &tps[i]
		}
	}
	if len(distributing) == 0 || n <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, seed^0xc0ffee))
	c.gen = NewGenerator(seed^0x5eed, distributing, 0)
	start := clock.Now()
	for i := range n {
		tp := &distributing[i%len(distributing)]
		d := tp.Spec.Distribution
		ev := d.Events[0]
		if len(d.Events) > 1 && rng.Float64() >= 0.75 {
			ev = d.Events[1+rng.IntN(len(d.Events)-1)]
		}
		iv := &invitee{touchpoint: tp.Name, channel: ev.Channel, failed: rng.Float64() < 0.25}
		if iv.channel == "" {
			iv.channel = cxv1alpha1.DistributionEmail
		}
		iv.mood = 0.55 + 0.4*rng.Float64()
		if iv.failed {
			iv.mood = 0.3 * rng.Float64()
		}
		switch r := rng.Float64(); {
		case r < 0.55:
			iv.intent = answerInvitation
		case r < 0.75:
			iv.intent = answerReminder
		case r < 0.87 && iv.channel == cxv1alpha1.DistributionEmail:
			iv.intent = unsubscribe
		default:
			iv.intent = neverAnswer
		}
		first, last := pick(rng, firstNames), pick(rng, lastNames)
		locale := "en"
		if rng.Float64() < 0.3 {
			locale = "de"
		}
		cust := collector.EventCustomer{
			ID: fmt.Sprintf("CUST-E%05d", 10000+i), Tier: pick(rng, []string{"Gold", "Silver", "Bronze", "Bronze"}),
			Segment: pick(rng, []string{"enterprise", "mid-market", "smb"}), FirstName: first, Name: first + " " + last,
			Locale: locale, TimeZone: pick(rng, timeZones),
		}
		if iv.channel == cxv1alpha1.DistributionSMS {
			cust.Phone = fmt.Sprintf("+4915%09d", 100000000+i)
		} else {
			cust.Email = strings.ToLower(fmt.Sprintf("%s.%s.%d@%s", first, last, i, CustomerDomain))
		}
		delay := time.Duration(0)
		if ev.Delay != nil {
			delay = ev.Delay.Duration
		}
		occurred := start.Add(-delay + time.Duration((rng.Float64()*16-8)*float64(time.Hour))).UTC().Truncate(time.Second)
		iv.event = collector.EventRequest{ID: fmt.Sprintf("%s-%05d", ev.Name, i), Name: ev.Name, OccurredAt: &occurred, Customer: cust,
			Metadata: map[string]string{"source": "cxloop-demo"}}
		c.byAddr[iv.address()] = iv
		c.pending = append(c.pending, customerAction{at: occurred, iv: iv, do: "event"})
	}
	return c
}

// run posts the events and carries out the customers' actions as their
// simulated time comes, until ctx ends.
func (c *customers) run(ctx context.Context) {
	every(ctx, 50*time.Millisecond, func() {
		for _, a := range c.due(c.clock.Now()) {
			if err := c.act(ctx, a); err != nil && ctx.Err() == nil {
				c.fail(err)
			}
		}
	})
}

// due takes the actions due at now.
func (c *customers) due(now time.Time) []customerAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out, later []customerAction
	for _, a := range c.pending {
		if a.at.After(now) {
			later = append(later, a)
		} else {
			out = append(out, a)
		}
	}
	c.pending = later
	return out
}

// idle reports whether no action is due at now (the summary waits for it).
func (c *customers) idle(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.pending {
		if !a.at.After(now) {
			return false
		}
	}
	return true
}

func (c *customers) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts.Failed++
	if len(c.counts.Errors) < 5 {
		c.counts.Errors = append(c.counts.Errors, err.Error())
	}
}

// Counts returns what the customers saw and did so far.
func (c *customers) Counts() OutreachCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	out.Errors = slices.Clone(c.counts.Errors)
	return out
}

func (c *customers) act(ctx context.Context, a customerAction) error {
	switch a.do {
	case "event":
		return c.postEvent(ctx, a.iv)
	case "answer":
		return c.answer(ctx, a.iv, a.url)
	case "unsubscribe":
		return c.unsubscribe(ctx, a.url)
	}
	return nil
}

// postEvent posts the customer's event to the private surface of the
// touchpoint's collector with its credential, as the business system does.
func (c *customers) postEvent(ctx context.Context, iv *invitee) error {
	ep := c.endpoints[iv.touchpoint].Private
	var res collector.EventResult
	status, err := postJSON(ctx, c.hc, ep.Endpoint+"/v1/events", ep.Token, iv.event, &res)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted && status != http.StatusOK {
		return fmt.Errorf("event %s: HTTP %d %s", iv.event.ID, status, res.Detail)
	}
	if res.Outcome != collector.OutcomeScheduled {
		return fmt.Errorf("event %s: %s (%s), not scheduled", iv.event.ID, res.Outcome, res.Detail)
	}
	c.mu.Lock()
	c.counts.Events++
	c.mu.Unlock()
	return nil
}

// The survey link in a message, and the parts of the survey page a
// browser reads.
var (
	surveyLinkRe = regexp.MustCompile(`https?://[^\s"'<>]+/s/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)
	// followUpLinkRe is the page of a follow-up after a Case closed.
	followUpLinkRe = regexp.MustCompile(`https?://[^\s"'<>]+/f/[A-Za-z0-9_-]+`)
	formActionRe   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenRe       = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// receiveEmail is the SMTP sink's delivery: a message for the customers
// among its recipients.
func (c *customers) receiveEmail(rcpts []string, raw []byte) {
	var ivs []*invitee
	c.mu.Lock()
	for _, r := range rcpts {
		if iv := c.byAddr[strings.ToLower(r)]; iv != nil {
			ivs = append(ivs, iv)
		}
	}
	c.mu.Unlock()
	if len(ivs) == 0 {
		return
	}
	text, unsub, id, err := readEmail(raw)
	if err != nil {
		c.fail(fmt.Errorf("read an email to a customer: %w", err))
		return
	}
	for _, iv := range ivs {
		c.receive(iv, text, unsub, id)
	}
}

// receiveSMS is the SMS sink's delivery.
func (c *customers) receiveSMS(to, body string) {
	c.mu.Lock()
	iv := c.byAddr[to]
	c.mu.Unlock()
	if iv != nil {
		c.receive(iv, body, "", "")
	}
}

// receive decides what the customer does with a message: an invitation
// (the first message with a survey link), a reminder (the same link
// again), the follow-up of their closed Case (a follow-up link) or an
// acknowledgement of their Case (no link). A copy of an email already
// received (its Message-ID) is counted and ignored.
func (c *customers) receive(iv *invitee, text, unsub, messageID string) {
	link := surveyLinkRe.FindString(text)
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if iv.channel == cxv1alpha1.DistributionSMS {
		c.counts.SMS++
	} else {
		c.counts.Emails++
	}
	if messageID != "" {
		key := iv.address() + " " + messageID
		if c.seen[key] {
			c.counts.Copies++
			return
		}
		c.seen[key] = true
	}
	after := func(lo, hi float64) time.Time {
		return now.Add(time.Duration((lo + c.gen.rng.Float64()*(hi-lo)) * float64(time.Hour)))
	}
	switch {
	case link == "" && followUpLinkRe.MatchString(text):
		c.counts.FollowUps++
	case link == "":
		c.counts.Acknowledgements++
	case iv.link == "":
		c.counts.Invitations++
		iv.link = link
		switch {
		case iv.intent == answerInvitation:
			c.pending = append(c.pending, customerAction{at: after(0.5, 8), iv: iv, do: "answer", url: link})
		case iv.intent == unsubscribe && unsub != "":
			c.pending = append(c.pending, customerAction{at: after(0.1, 2), iv: iv, do: "unsubscribe", url: unsub})
		}
	default:
		c.counts.Reminders++
		if iv.intent == answerReminder {
			c.pending = append(c.pending, customerAction{at: after(0.5, 6), iv: iv, do: "answer", url: link})
		}
	}
}

// answer opens the survey link and submits the form as a browser does:
// the page's hidden fields, an answer to each question (the customer's
// mood decides; "no" to a YesNo question when the installation failed)
// and a comment, posted to the form's action with the headers a browser
// sends, then the thank-you page it is sent on to.
func (c *customers) answer(ctx context.Context, iv *invitee, link string) error {
	status, body, err := c.get(ctx, link)
	if err != nil {
		return err
	}
	m := formActionRe.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		return fmt.Errorf("survey page of %s: HTTP %d without a form", iv.event.Customer.ID, status)
	}
	u, err := url.Parse(link)
	if err != nil {
		return err
	}
	origin := u.Scheme + "://" + u.Host
	form := url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	c.fillForm(iv, form)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, origin+html.UnescapeString(m[1]), strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("submit the survey page: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("survey page of %s: the form was answered %d, not sent on to the thank-you page", iv.event.Customer.ID, resp.StatusCode)
	}
	next, err := u.Parse(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	status, body, err = c.get(ctx, next.String())
	if err != nil {
		return err
	}
	if status != http.StatusOK || formActionRe.MatchString(body) {
		return fmt.Errorf("survey page of %s after sending: HTTP %d, want the thank-you page", iv.event.Customer.ID, status)
	}
	c.mu.Lock()
	c.counts.Answered++
	c.mu.Unlock()
	return nil
}

// fillForm answers the touchpoint's questions in form.
func (c *customers) fillForm(iv *invitee, form url.Values) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tp := c.touchpoints[iv.touchpoint]
	var themes []string
	if ta := tp.Spec.TextAnalytics; ta != nil {
		for _, th := range ta.Themes {
			themes = append(themes, th.Name)
		}
	}
	for _, q := range tp.Spec.Questions {
		v, ok := c.gen.answer(q, iv.mood, iv.failed, themes, "the technician")
		if !ok {
			continue
		}
		switch v := v.(type) {
		case bool:
			form.Set(survey.FieldName(q.ID), map[bool]string{true: formYes, false: formNo}[v])
		case int:
			form.Set(survey.FieldName(q.ID), strconv.Itoa(v))
		case string:
			form.Set(survey.FieldName(q.ID), v)
		}
	}
	if tp.Spec.Comment != nil && tp.Spec.Comment.Enabled && (iv.failed || c.gen.rng.Float64() < 0.5) {
		form.Set(survey.CommentField, c.gen.comment(iv.mood, themes, "the technician"))
	}
}

// unsubscribe posts the one-click unsubscribe of RFC 8058, as a mail
// client does with the List-Unsubscribe and List-Unsubscribe-Post headers.
func (c *customers) unsubscribe(ctx context.Context, link string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unsubscribe: HTTP %d", resp.StatusCode)
	}
	c.mu.Lock()
	c.counts.Unsubscribed++
	c.mu.Unlock()
	return nil
}

func (c *customers) get(ctx context.Context, link string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("open the survey link: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// readEmail returns an email's plain text (decoded), its one-click
// unsubscribe URL ("" without one) and its Message-ID.
func readEmail(raw []byte) (text, unsubscribe, messageID string, err error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", "", err
	}
	messageID = msg.Header.Get("Message-ID")
	if msg.Header.Get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click" {
		unsubscribe = strings.Trim(strings.TrimSpace(msg.Header.Get("List-Unsubscribe")), "<>")
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		b, err := io.ReadAll(msg.Body)
		return string(b), unsubscribe, messageID, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return "", unsubscribe, messageID, fmt.Errorf("no text/plain part: %w", err)
		}
		if !strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain") {
			continue
		}
		var r io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(r)
		return string(b), unsubscribe, messageID, err
	}
}

// outreachOf sums the invitation counts of the collectors' status.
func outreachOf(sts []*collectorclient.Status) collectorclient.InvitationCounts {
	var sum collectorclient.InvitationCounts
	for _, st := range sts {
		if inv := st.Invitations; inv != nil {
			sum.Scheduled += inv.Scheduled
			sum.Sent += inv.Sent
			sum.Reminded += inv.Reminded
			sum.Failed += inv.Failed
			sum.Skipped += inv.Skipped
			sum.Answered += inv.Answered
			sum.Acknowledged += inv.Acknowledged
			sum.FollowUpsWaiting += inv.FollowUpsWaiting
			sum.FollowUpsSent += inv.FollowUpsSent
			sum.FollowUpsAnswered += inv.FollowUpsAnswered
			sum.FollowUpsExpired += inv.FollowUpsExpired
		}
	}
	return sum
}

// postJSON sends body as JSON (with a bearer credential unless token is
// "") and decodes the answer into out.
func postJSON(ctx context.Context, hc *http.Client, target, token string, body, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("collector %s: %w", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("collector %s: %w", target, err)
	}
	_ = json.Unmarshal(raw, out)
	return resp.StatusCode, nil
}
