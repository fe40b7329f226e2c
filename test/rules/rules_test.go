package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// "No, I could not install it" opens exactly one Case per response, named
// deterministically, carrying the customer (without contact details), the
// response snapshot and references; a "yes" opens none; a retried response
// opens nothing more.
func TestFailedInstallationOpensOneCasePerResponse(t *testing.T) {
	p := newProgram(t, nil, rule("installation-failed", "answers.completed == false"))
	p.post("r-1", "C-100", false, `,"metadata":{"store":"berlin"}`)
	p.post("r-2", "C-200", true, "")
	p.post("r-3", "C-300", false, "")
	p.post("r-1", "C-100", false, `,"metadata":{"store":"berlin"}`) // a retry of r-1
	p.drain()

	cases := p.cases()
	want := []string{
		collector.CaseName("installation-support", "installation-failed", "upgrade-install", "r-1"),
		collector.CaseName("installation-support", "installation-failed", "upgrade-install", "r-3"),
	}
	slices.Sort(want)
	if got := caseNames(cases); !reflect.DeepEqual(got, want) {
		t.Fatalf("cases = %v, want %v", got, want)
	}
	var c cxv1alpha1.Case
	for _, x := range cases {
		if x.Spec.Source.ResponseID == "r-1" {
			c = x
		}
	}
	if c.Spec.Template != "installation-support" || c.Spec.Customer.ID != "C-100" || c.Spec.Customer.Tier != "Gold" {
		t.Errorf("case spec = %+v, want template, customer C-100 Gold", c.Spec)
	}
	if _, ok := c.Spec.Customer.Attributes["email"]; ok || c.Spec.Customer.Attributes["region"] != "emea" {
		t.Errorf("customer attributes = %v: contact details must stay out of the Case, the rest kept", c.Spec.Customer.Attributes)
	}
	src := c.Spec.Source
	if src.Rule != "installation-failed" || src.RuleKind != cxv1alpha1.AlertEscalation || src.Touchpoint != "upgrade-install" {
		t.Errorf("source = %+v", src)
	}
	if src.Response == nil || string(src.Response.Answers["completed"].Raw) != "false" || src.Response.Metadata["store"] != "berlin" ||
		!strings.Contains(src.Response.Comment, "80 percent") || src.Response.Sentiment == nil || *src.Response.Sentiment >= 0 {
		t.Errorf("response snapshot = %+v, want the answers, metadata, comment and its (negative) sentiment", src.Response)
	}
	if c.Labels[cxv1alpha1.LabelRule] != "installation-failed" || c.Labels[cxv1alpha1.LabelTemplate] != "installation-support" {
		t.Errorf("labels = %v", c.Labels)
	}
	if c.Spec.Title != "installation-failed" {
		t.Errorf("title = %q, want the rule name when the rule has no title or description", c.Spec.Title)
	}
}

// A Case created before the dispatcher could mark its action done (a crash
// between the two) is found by name on the retry: still one Case.
func TestCrashAfterCaseCreatedLeavesOneCase(t *testing.T) {
	p := newProgram(t, nil, rule("installation-failed", "answers.completed == false"))
	p.post("r-1", "C-100", false, "")

	// A first dispatcher claims the action and creates the Case, then dies
	// before recording it as done: its lease runs out.
	ctx := context.Background()
	claimed, err := p.st.ClaimActions(ctx, p.clock.Now(), 10, time.Minute)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %v, %v; want one action", claimed, err)
	}
	var payload collector.OpenCasePayload
	if err := json.Unmarshal(claimed[0].Payload, &payload); err != nil {
		t.Fatal(err)
	}
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: collector.CaseName(payload.Template, payload.Rule, payload.Touchpoint, payload.ResponseID)},
		Spec: cxv1alpha1.CaseSpec{Template: payload.Template, Customer: &payload.Customer,
			Source: &cxv1alpha1.CaseSource{Rule: payload.Rule, Touchpoint: payload.Touchpoint, ResponseID: payload.ResponseID}},
	}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	p.clock.Advance(2 * time.Minute)
	p.drain()
	if got := caseNames(p.cases()); len(got) != 1 || got[0] != c.Name {
		t.Fatalf("cases = %v, want only %s", got, c.Name)
	}
}

// With dedup on customer.id, later matches of the same customer within the
// window join the open Case; another customer, or the same one after the
// window, gets a Case of its own.
func TestDedupMergesMatchesIntoTheOpenCase(t *testing.T) {
	r := rule("installation-failed", "answers.completed == false")
	r.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 72 * time.Hour}}
	p := newProgram(t, nil, r)
	p.post("r-1", "C-100", false, "")
	p.drain()
	p.post("r-2", "C-100", false, "")
	p.post("r-3", "C-100", false, "")
	p.post("r-4", "C-200", false, "")
	p.drain()

	cases := p.cases()
	if len(cases) != 2 {
		t.Fatalf("cases = %v, want one for C-100 and one for C-200", caseNames(cases))
	}
	byCustomer := map[string]cxv1alpha1.Case{}
	for _, c := range cases {
		byCustomer[c.Spec.Customer.ID] = c
	}
	c100 := byCustomer["C-100"]
	if c100.Spec.Source.ResponseID != "r-1" || !reflect.DeepEqual(c100.Spec.RelatedResponses, []string{"upgrade-install/r-2", "upgrade-install/r-3"}) {
		t.Errorf("C-100 case source = %+v, want opened by r-1 with r-2 and r-3 related", c100.Spec.Source)
	}

	// Merged responses stay listed: the API server refuses to drop them.
	shrunk := c100.DeepCopy()
	shrunk.Spec.RelatedResponses = shrunk.Spec.RelatedResponses[:1]
	if err := env.Client.Update(context.Background(), shrunk); err == nil || !strings.Contains(err.Error(), "relatedResponses may only grow") {
		t.Errorf("dropping a related response: %v, want the may-only-grow error", err)
	}

	// After the window, the same customer's next failure is a new Case.
	p.clock.Advance(73 * time.Hour)
	p.post("r-5", "C-100", false, "")
	p.drain()
	if n := len(p.cases()); n != 3 {
		t.Errorf("after the window: %d cases (%v), want 3", n, caseNames(p.cases()))
	}

	// A Resolved Case no longer absorbs matches.
	for _, c := range p.cases() {
		if c.Spec.Source.ResponseID != "r-5" {
			continue
		}
		before := c.DeepCopy()
		c.Spec.State = cxv1alpha1.CaseResolved
		if err := env.Client.Patch(context.Background(), &c, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
	}
	p.post("r-6", "C-100", false, "")
	p.drain()
	if n := len(p.cases()); n != 4 {
		t.Errorf("after resolving: %d cases (%v), want 4", n, caseNames(p.cases()))
	}
}

// Matches of one key claimed in one batch, whose ledger lookup was read
// for the whole batch before any of them opened a Case, still open one
// Case: the second finds the name taken and merges; the Case opened is
// recorded, so the next batch merges without a collision. Run's workers
// handle them concurrently, which the ledger read for the batch must not
// turn into two Cases either.
func TestDedupMergesMatchesClaimedInOneBatch(t *testing.T) {
	r := rule("installation-failed", "answers.completed == false")
	r.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 72 * time.Hour}}
	p := newProgram(t, nil, r)
	p.post("r-1", "C-100", false, "")
	p.post("r-2", "C-100", false, "")
	p.post("r-3", "C-200", false, "")
	p.drain()
	p.post("r-4", "C-100", false, "")
	p.drain()
	for i := range 6 {
		p.post(fmt.Sprintf("r-run-%d", i), "C-300", false, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.disp.Run(ctx) }()
	waitFor(t, "the outbox to drain", func() bool {
		depth, _, err := p.st.OutboxStats(context.Background())
		// Merges that lost the optimistic lock to each other are retried
		// on the injected clock.
		p.clock.Advance(2 * time.Second)
		p.disp.Wake()
		return err == nil && depth == 0
	})
	cancel()
	<-done

	byCustomer := map[string][]cxv1alpha1.Case{}
	for _, c := range p.cases() {
		byCustomer[c.Spec.Customer.ID] = append(byCustomer[c.Spec.Customer.ID], c)
	}
	if len(byCustomer["C-100"]) != 1 || len(byCustomer["C-200"]) != 1 || len(byCustomer["C-300"]) != 1 {
		t.Fatalf("cases = %v, want one per customer", caseNames(p.cases()))
	}
	if c := byCustomer["C-100"][0]; c.Spec.Source.ResponseID != "r-1" ||
		!reflect.DeepEqual(c.Spec.RelatedResponses, []string{"upgrade-install/r-2", "upgrade-install/r-4"}) {
		t.Errorf("C-100 case opened by %s with %v related; want r-1 with r-2 and r-4", c.Spec.Source.ResponseID, c.Spec.RelatedResponses)
	}
	if c := byCustomer["C-300"][0]; len(c.Spec.RelatedResponses) != 5 {
		t.Errorf("C-300 case opened by %s with %v related; want the other 5 responses", c.Spec.Source.ResponseID, c.Spec.RelatedResponses)
	}
}

// At most maxCasesPerHour Cases; the matches past it open none, and the
// rule's channel hears once that the rule is throttled.
func TestThrottleCapsCasesAndSaysSoOnce(t *testing.T) {
	r := rule("installation-failed", "answers.completed == false")
	r.Spec.Throttle = &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 2}
	r.Spec.Actions.Notify = []cxv1alpha1.NotifyAction{{Channel: "support-slack"}}
	p := newProgram(t, nil, r)
	for i, c := range []string{"C-1", "C-2", "C-3", "C-4", "C-5"} {
		p.post("r-"+string(rune('1'+i)), c, false, "")
		p.drain()
	}
	if n := len(p.cases()); n != 2 {
		t.Errorf("cases = %v, want 2 (the throttle)", caseNames(p.cases()))
	}
	got := p.sent.events()
	throttled := 0
	for _, e := range got {
		if e == "support-slack:RuleThrottled" {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("notifications = %v, want exactly one RuleThrottled", got)
	}

	// The next hour opens Cases again.
	p.clock.Advance(61 * time.Minute)
	p.post("r-9", "C-9", false, "")
	p.drain()
	if n := len(p.cases()); n != 3 {
		t.Errorf("next hour: %d cases, want 3", n)
	}
}

// A Recognition rule praises the agent the response names, on its
// channels, and opens no Case.
func TestRecognitionPraisesTheAgentWithoutACase(t *testing.T) {
	r := rule("wow", "answers.ease >= 3 && sentiment < 0.0")
	r.Spec.Kind = cxv1alpha1.AlertRecognition
	r.Spec.Actions = cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{{Channel: "frontline"}}}
	p := newProgram(t, nil, r)
	p.post("r-1", "C-1", true, `,"metadata":{"agent":"Priya N."}`)
	p.drain()
	if n := len(p.cases()); n != 0 {
		t.Errorf("a Recognition rule opened %d cases", n)
	}
	p.sent.mu.Lock()
	defer p.sent.mu.Unlock()
	if len(p.sent.msgs) != 1 || p.sent.msgs[0].channel != "frontline" || p.sent.msgs[0].msg.Event != "Recognition" ||
		!strings.Contains(p.sent.msgs[0].msg.Title, "Priya N.") {
		t.Errorf("sent = %+v, want one Recognition naming Priya N. on frontline", p.sent.msgs)
	}
}

// A Recognition rule also reaches the praised employee through the
// touchpoint's staff directory: one message of their own, addressed to
// them, once however often the response is retried; an employee the
// directory does not know is praised on the channels only.
func TestRecognitionReachesThePraisedEmployee(t *testing.T) {
	r := rule("wow", "answers.ease >= 3")
	r.Spec.Kind = cxv1alpha1.AlertRecognition
	r.Spec.Actions = cxv1alpha1.AlertActions{Notify: []cxv1alpha1.NotifyAction{{Channel: "frontline"}}}
	p := newProgram(t, nil, r)
	tp := p.tp.DeepCopy()
	tp.Spec.StaffDirectory = &cxv1alpha1.StaffDirectory{Channel: "staff-mail", People: []cxv1alpha1.StaffMember{{ID: "T-17", Email: "tomas@acme.example"}}}
	if err := p.srv.SetTouchpoint(tp); err != nil {
		t.Fatal(err)
	}
	p.post("r-1", "C-1", true, `,"metadata":{"technician":"T-17"}`)
	p.post("r-1", "C-1", true, `,"metadata":{"technician":"T-17"}`) // a retry
	p.post("r-2", "C-2", true, `,"metadata":{"technician":"T-99"}`)
	p.drain()
	p.sent.mu.Lock()
	defer p.sent.mu.Unlock()
	var personal, broadcast int
	for _, m := range p.sent.msgs {
		switch m.channel {
		case "staff-mail":
			personal++
			if len(m.msg.To) != 1 || m.msg.To[0] != "tomas@acme.example" || !strings.Contains(m.msg.Title, "T-17") {
				t.Errorf("praise to the employee = %+v, want addressed to tomas@acme.example naming T-17", m.msg)
			}
		case "frontline":
			broadcast++
			if len(m.msg.To) != 0 {
				t.Errorf("the channel's praise is addressed to %v, want the channel's own recipients", m.msg.To)
			}
		}
	}
	if personal != 1 || broadcast != 2 {
		t.Errorf("%d messages to the employee and %d to the channel, want 1 (T-17 only, once) and 2", personal, broadcast)
	}
}

// A suspended rule and a rule that does not compile are left out, and the
// valid rule beside them keeps opening Cases.
func TestInvalidOrSuspendedRulesDoNotStopValidOnes(t *testing.T) {
	suspended := rule("suspended", "answers.completed == false")
	suspended.Spec.Suspend = true
	broken := rule("broken", "answers.completed == false")
	broken.Spec.Touchpoints.Names = []string{"upgrade-install"}
	p := newProgram(t, nil, rule("installation-failed", "answers.completed == false"), suspended)
	// A rule the API server accepts but that does not type-check against
	// this touchpoint (answers.ease is an int).
	broken.Spec.Condition = "answers.ease == 'hard'"
	skipped := p.setRules(broken)
	if !strings.Contains(skipped["broken"], "spec.condition") {
		t.Errorf("skipped = %v, want broken reported with its field", skipped)
	}
	p.srv.SetAlertRules(nil) // the watch delivers the whole namespace; rebuild it
	var list cxv1alpha1.AlertRuleList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(p.ns)); err != nil {
		t.Fatal(err)
	}
	skipped = p.srv.SetAlertRules(list.Items)
	if skipped["suspended"] != "suspended" || skipped["broken"] == "" {
		t.Errorf("skipped = %v", skipped)
	}
	if got := p.srv.ActiveRules(); !reflect.DeepEqual(got, []string{"installation-failed"}) {
		t.Errorf("active rules = %v, want only installation-failed", got)
	}
	p.post("r-1", "C-1", false, "")
	p.drain()
	if cases := p.cases(); len(cases) != 1 || cases[0].Spec.Source.Rule != "installation-failed" {
		t.Errorf("cases = %v, want one from installation-failed", caseNames(cases))
	}
}

// However many workers drain the outbox at once, a throttled rule opens at
// most maxCasesPerHour Cases: the places are taken in the store, one
// decision at a time, before the Cases are created.
func TestThrottleHoldsWithManyWorkers(t *testing.T) {
	r := rule("installation-failed", "answers.completed == false")
	r.Spec.Throttle = &cxv1alpha1.ThrottleSpec{MaxCasesPerHour: 3}
	p := newProgram(t, nil, r)
	for i := range 24 {
		p.post(fmt.Sprintf("r-%d", i), fmt.Sprintf("C-%d", i), false, "")
	}
	d := collector.NewDispatcher(collector.DispatcherOptions{
		Store: p.st, Client: env.Client, Notifier: p.sent, Now: p.clock.Now, Batch: 1, Log: logr.Discard(),
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				n, err := d.DispatchOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(p.cases()); n != 3 {
		t.Errorf("8 workers opened %d cases (%v), want 3 (the throttle)", n, caseNames(p.cases()))
	}
}

// A dedup key whose Cases were opened before the store recorded them (an
// upgraded collector, or another program's) is still honoured: an open
// Case absorbs the match, a resolved one is passed by.
func TestDedupFindsCasesTheStoreDidNotRecord(t *testing.T) {
	r := rule("installation-failed", "answers.completed == false")
	r.Spec.Dedup = &cxv1alpha1.DedupSpec{Key: "customer.id", Window: cxv1alpha1.Duration{Duration: 72 * time.Hour}}
	p := newProgram(t, nil, r)
	p.post("r-1", "C-100", false, "")
	p.drain()
	first := p.cases()
	if len(first) != 1 {
		t.Fatalf("cases = %v, want 1", caseNames(first))
	}
	// Forget the store's record: a fresh store on the same namespace.
	q := newProgramIn(t, p.ns, r)
	q.post("r-2", "C-100", false, "")
	q.drain()
	cases := q.cases()
	if len(cases) != 1 || !reflect.DeepEqual(cases[0].Spec.RelatedResponses, []string{"upgrade-install/r-2"}) {
		t.Fatalf("cases = %v, related %v; want r-2 merged into %s", caseNames(cases), cases[0].Spec.RelatedResponses, first[0].Name)
	}
	// Resolved, it is passed by: the next match opens the key's next Case.
	c := cases[0]
	before := c.DeepCopy()
	c.Spec.State = cxv1alpha1.CaseResolved
	if err := env.Client.Patch(context.Background(), &c, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	r3 := newProgramIn(t, p.ns, r)
	r3.post("r-3", "C-100", false, "")
	r3.drain()
	got := caseNames(r3.cases())
	if len(got) != 2 || !strings.HasSuffix(got[1], "-1") {
		t.Errorf("cases = %v, want %s and the key's Case number 1", got, first[0].Name)
	}
}
