package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"

	"k8s.io/utils/ptr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/store"
)

// invitingTouchpoint is feedbackTouchpoint with invitations on and the given
// contact policy.
func invitingTouchpoint(name string, policy *cxv1alpha1.ContactPolicy, requireToken bool) *cxv1alpha1.SurveyTouchpoint {
	tp := feedbackTouchpoint(name)
	tp.Spec.ContactPolicy = policy
	tp.Spec.Invitations = &cxv1alpha1.InvitationSpec{
		RequireToken:        requireToken,
		TokenTTL:            &cxv1alpha1.Duration{Duration: time.Hour},
		SigningKeySecretRef: cxv1alpha1.SecretKeyReference{Name: "signing", Key: "key"},
	}
	return tp
}

func days(n int) *cxv1alpha1.Duration {
	return &cxv1alpha1.Duration{Duration: time.Duration(n) * 24 * time.Hour}
}

// wantInvited checks that customer is invited now and returns the token.
func wantInvited(t *testing.T, ts *testServer, customer string) string {
	t.Helper()
	status, ans := ts.invitation(t, customer)
	if status != http.StatusCreated || !ans.Invite || ans.Token == "" || ans.ExpiresAt == nil {
		t.Fatalf("%s not invited: %d %+v", customer, status, ans)
	}
	if want := ts.Clock.Now().Add(time.Hour); !ans.ExpiresAt.Equal(want) {
		t.Errorf("token expires at %v, want %v (tokenTTL 1h)", ans.ExpiresAt, want)
	}
	return ans.Token
}

// wantNotInvited checks that customer is not invited, for reason.
func wantNotInvited(t *testing.T, ts *testServer, customer, reason string) InvitationAnswer {
	t.Helper()
	status, ans := ts.invitation(t, customer)
	if status != http.StatusOK || ans.Invite || ans.Token != "" || ans.Reason != reason || ans.Detail == "" {
		t.Fatalf("%s: %d %+v, want not invited because %s, with a detail", customer, status, ans, reason)
	}
	return ans
}

// With samplingRate 0.5 a customer is invited when the random draw is
// below 0.5.
func TestInvitationSampling(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		draws := map[string]float64{"lucky": 0.2, "edge": 0.5, "unlucky": 0.9}
		ts := startServer(t, e, invitingTouchpoint("sampled", &cxv1alpha1.ContactPolicy{SamplingRate: ptr.To(0.5)}, false),
			Options{Random: func(customer string, _ time.Time) float64 { return draws[customer] }})
		wantInvited(t, ts, "lucky")
		for _, c := range []string{"edge", "unlucky"} {
			if ans := wantNotInvited(t, ts, c, ReasonNotSampled); !strings.Contains(ans.Detail, "50%") {
				t.Errorf("detail %q does not give the sampling rate", ans.Detail)
			}
		}
	})
}

// The default sampler gives one customer the same answer all day, so a
// retried invitation request cannot reroll the dice.
func TestDefaultSamplingIsStableWithinADay(t *testing.T) {
	invited := 0
	for i := range 200 {
		c := fmt.Sprintf("customer-%d", i)
		first := daySample(c, testNow)
		if again := daySample(c, testNow.Add(11*time.Hour)); again != first {
			t.Fatalf("%s: %v then %v on the same day", c, first, again)
		}
		if first < 0 || first >= 1 {
			t.Fatalf("%s: draw %v outside [0, 1)", c, first)
		}
		if first < 0.5 {
			invited++
		}
	}
	if invited < 60 || invited > 140 {
		t.Errorf("%d of 200 customers drew under 0.5; the draws are not spread evenly", invited)
	}
}

// After an invitation the customer is quarantined until the quarantine has
// passed.
func TestInvitationQuarantine(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, invitingTouchpoint("quarantine", &cxv1alpha1.ContactPolicy{Quarantine: days(30)}, false), Options{})
		invitedAt := ts.Clock.Now()
		wantInvited(t, ts, "C1")
		wantInvited(t, ts, "C2")
		ts.Clock.Advance(29 * 24 * time.Hour)
		ans := wantNotInvited(t, ts, "C1", ReasonQuarantined)
		if want := invitedAt.Add(30 * 24 * time.Hour); ans.NextEligibleAt == nil || !ans.NextEligibleAt.Equal(want) {
			t.Errorf("nextEligibleAt %v, want %v", ans.NextEligibleAt, want)
		}
		ts.Clock.Advance(24*time.Hour + time.Second)
		wantInvited(t, ts, "C1")
	})
}

// At most maxInvitations.count invitations go to one customer per window.
func TestInvitationCapPerWindow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		policy := &cxv1alpha1.ContactPolicy{MaxInvitations: &cxv1alpha1.InvitationCap{Count: 2, Window: *days(7)}}
		ts := startServer(t, e, invitingTouchpoint("capped", policy, false), Options{})
		wantInvited(t, ts, "C1")
		ts.Clock.Advance(24 * time.Hour)
		wantInvited(t, ts, "C1")
		ts.Clock.Advance(24 * time.Hour)
		if ans := wantNotInvited(t, ts, "C1", ReasonCapReached); !strings.Contains(ans.Detail, "invited 2 times") {
			t.Errorf("detail %q does not say how often the customer was invited", ans.Detail)
		}
		wantInvited(t, ts, "C2")
		// Five days after the first invitation it leaves the window.
		ts.Clock.Advance(5*24*time.Hour + time.Second)
		wantInvited(t, ts, "C1")
		wantNotInvited(t, ts, "C1", ReasonCapReached)
	})
}

// Touchpoints sharing a PostgreSQL store with scope Program count each
// other's invitations; with scope Touchpoint on the same store they do not.
func TestInvitationProgramScopeOnSharedPostgres(t *testing.T) {
	clock := testutil.NewClock(testNow)
	st := openTestPostgres(t, store.Config{Now: clock.Now})
	serve := func(name string, scope cxv1alpha1.ContactScope) *testServer {
		policy := &cxv1alpha1.ContactPolicy{Quarantine: days(30), Scope: scope}
		return serveStore(t, st, clock, nil, invitingTouchpoint(name, policy, false), Options{})
	}
	onboarding := serve("onboarding", cxv1alpha1.ContactScopeProgram)
	support := serve("support", cxv1alpha1.ContactScopeProgram)
	delivery := serve("delivery", cxv1alpha1.ContactScopeTouchpoint)

	wantInvited(t, onboarding, "C1")
	wantNotInvited(t, support, "C1", ReasonQuarantined)
	wantInvited(t, delivery, "C1")
	// Once the quarantine has passed, support invites, and that invitation
	// quarantines the customer for onboarding in turn.
	clock.Advance(30*24*time.Hour + time.Second)
	wantInvited(t, support, "C1")
	wantNotInvited(t, onboarding, "C1", ReasonQuarantined)
}

// With the embedded store each touchpoint has its own SQLite file, so
// contact rules count only that touchpoint's invitations.
func TestInvitationTouchpointScopeOnSQLite(t *testing.T) {
	policy := &cxv1alpha1.ContactPolicy{Quarantine: days(30)}
	onboarding := startServer(t, testEngines[0], invitingTouchpoint("onboarding", policy, false), Options{})
	support := startServer(t, testEngines[0], invitingTouchpoint("support", policy, false), Options{})
	wantInvited(t, onboarding, "C1")
	wantInvited(t, support, "C1")
	wantNotInvited(t, onboarding, "C1", ReasonQuarantined)
	wantNotInvited(t, support, "C1", ReasonQuarantined)
}

// An invitation is asked for a customer id a response could carry: a
// missing, too long or NUL-bearing id is a 400 naming customer.id, and no
// token is issued; the longest allowed id is invited.
func TestInvitationCustomerIDChecked(t *testing.T) {
	ts := startServer(t, testEngines[0], invitingTouchpoint("ids", nil, true), Options{})
	for name, body := range map[string]string{
		"missing":  `{"customer":{}}`,
		"too long": `{"customer":{"id":"` + strings.Repeat("x", rules.MaxCustomerIDLength+1) + `"}}`,
		"NUL":      `{"customer":{"id":"C\u00001"}}`,
	} {
		p := ts.post(t, "/v1/invitations", body).problem(t, http.StatusBadRequest)
		if len(p.Errors) != 1 || p.Errors[0].Field != "customer.id" {
			t.Errorf("%s: problem %+v, want one error naming customer.id", name, p)
		}
	}
	wantInvited(t, ts, strings.Repeat("x", rules.MaxCustomerIDLength))
}

// A touchpoint without invitations answers 404 saying how to turn them on.
func TestInvitationsOff(t *testing.T) {
	ts := startServer(t, testEngines[0], feedbackTouchpoint("no-invitations"), Options{})
	p := ts.post(t, "/v1/invitations", `{"customer":{"id":"C1"}}`).problem(t, http.StatusNotFound)
	if !strings.Contains(p.Detail, "spec.invitations") {
		t.Errorf("problem %+v does not say how to turn invitations on", p)
	}
}

// With requireToken a response needs an unused, unexpired token issued to
// its customer.
func TestRequireToken(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		ts := startServer(t, e, invitingTouchpoint("token", nil, true), Options{})
		respond := func(id, customer, token string) httpAnswer {
			body := validResponse(id)
			body["customer"] = map[string]any{"id": customer}
			if token != "" {
				body["token"] = token
			}
			return ts.post(t, "/v1/responses", body)
		}
		wantUnauthorized := func(a httpAnswer, say string) {
			t.Helper()
			if p := a.problem(t, http.StatusUnauthorized); p.Type != problemUnauthorized || !strings.Contains(p.Detail, say) {
				t.Errorf("problem %+v, want a detail saying %q", p, say)
			}
		}

		wantUnauthorized(respond("no-token", "C1", ""), "requires an invitation token")

		token := wantInvited(t, ts, "C1")
		first := respond("with-token", "C1", token).receipt(t)
		// A retry of the same response with its token is a replay, not a
		// second use.
		a := respond("with-token", "C1", token)
		if a.receipt(t).Seq != first.Seq || a.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry with the same token: %s %v, want a replay of seq %d", a.Body, a.Header, first.Seq)
		}
		wantUnauthorized(respond("second-use", "C1", token), "already used")

		other := wantInvited(t, ts, "C2")
		wantUnauthorized(respond("wrong-customer", "C3", other), "another touchpoint or customer")

		expiring := wantInvited(t, ts, "C4")
		ts.Clock.Advance(time.Hour)
		wantUnauthorized(respond("expired", "C4", expiring), "expired")

		if n := total(t, ts.Store, "token"); n != 1 {
			t.Errorf("%d responses stored, want only the one with a valid token", n)
		}
		if v, _ := metricValue(string(ts.get(t, "/metrics").Body), `cxloop_collector_responses_total{result="unauthorized"}`); v != 4 {
			t.Errorf("unauthorized responses = %v, want 4", v)
		}
	})
}

// A token issued by one touchpoint is refused by another one, even with
// the same signing key and a shared store.
func TestTokenOfAnotherTouchpointIsRefused(t *testing.T) {
	clock := testutil.NewClock(testNow)
	st := openTestSQLite(t, store.Config{Now: clock.Now})
	a := serveStore(t, st, clock, nil, invitingTouchpoint("first", nil, true), Options{})
	b := serveStore(t, st, clock, nil, invitingTouchpoint("second", nil, true), Options{})
	token := wantInvited(t, a, "C1")
	body := validResponse("r-1")
	body["customer"], body["token"] = map[string]any{"id": "C1"}, token
	if p := b.post(t, "/v1/responses", body).problem(t, http.StatusUnauthorized); !strings.Contains(p.Detail, "another touchpoint") {
		t.Errorf("problem %+v", p)
	}
	a.post(t, "/v1/responses", body).receipt(t)
	if _, err := st.GetResponse(context.Background(), "second", "r-1"); err == nil {
		t.Error("the refused response was stored for the second touchpoint")
	}
}

// concurrentInvitations asks n invitations for one customer at once,
// spread over the servers, and counts the tokens issued and the other
// answers.
func concurrentInvitations(t *testing.T, n int, customer string, servers ...*testServer) (issued int, refused map[string]int) {
	t.Helper()
	type answer struct {
		status int
		reason string
		err    error
	}
	answers := make(chan answer, n)
	start := make(chan struct{})
	for i := range n {
		ts := servers[i%len(servers)]
		go func() {
			<-start
			body := strings.NewReader(fmt.Sprintf(`{"customer":{"id":%q}}`, customer))
			req, err := http.NewRequest(http.MethodPost, ts.PrivateURL+"/v1/invitations", body)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			req.Header.Set("Authorization", "Bearer "+ts.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer func() { _ = resp.Body.Close() }()
			var ans InvitationAnswer
			err = json.NewDecoder(resp.Body).Decode(&ans)
			answers <- answer{status: resp.StatusCode, reason: ans.Reason, err: err}
		}()
	}
	close(start)
	refused = map[string]int{}
	for range n {
		a := <-answers
		switch {
		case a.err != nil:
			t.Errorf("invitation request: %v", a.err)
		case a.status == http.StatusCreated:
			issued++
		case a.status == http.StatusOK:
			refused[a.reason]++
		default:
			t.Errorf("invitation answered %d (%s), want 201 or 200", a.status, a.reason)
		}
	}
	return issued, refused
}

// Fifty concurrent invitation requests for one customer issue exactly as
// many tokens as the contact policy allows: one under a quarantine, the
// cap under a cap per window; on SQLite, and on PostgreSQL with two
// collectors (replicas, each with its own store) on one database.
func TestInvitationContactFrequencyIsAtomic(t *testing.T) {
	policies := map[string]struct {
		policy *cxv1alpha1.ContactPolicy
		want   int
		reason string
	}{
		"quarantine": {&cxv1alpha1.ContactPolicy{Quarantine: days(30)}, 1, ReasonQuarantined},
		"cap":        {&cxv1alpha1.ContactPolicy{MaxInvitations: &cxv1alpha1.InvitationCap{Count: 3, Window: *days(7)}}, 3, ReasonCapReached},
	}
	replicas := func(t *testing.T, e testEngine, tp *cxv1alpha1.SurveyTouchpoint) []*testServer {
		if e.name == store.DriverSQLite {
			return []*testServer{startServer(t, e, tp, Options{})}
		}
		dsn := testPostgresDSN(t)
		schema := testutil.PostgresSchema(t, dsn, "cxloop_contact_")
		clock := testutil.NewClock(testNow)
		var out []*testServer
		for range 2 {
			st, err := store.Open(context.Background(), store.Config{Namespace: "acme", Driver: store.DriverPostgres, DSN: dsn, Schema: schema, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			out = append(out, serveStore(t, st, clock, nil, tp, Options{}))
		}
		return out
	}
	forEachEngine(t, func(t *testing.T, e testEngine) {
		for name, p := range policies {
			t.Run(name, func(t *testing.T) {
				servers := replicas(t, e, invitingTouchpoint("frequency", p.policy, false))
				issued, refused := concurrentInvitations(t, 50, "C1", servers...)
				if issued != p.want || refused[p.reason] != 50-p.want {
					t.Errorf("50 concurrent requests: %d tokens issued, refused %v; want %d issued and %d %s", issued, refused, p.want, 50-p.want, p.reason)
				}
				if n, _, err := servers[0].Store.InvitationsSince(context.Background(), "", "C1", time.Time{}); err != nil || n != p.want {
					t.Errorf("the store recorded %d invitations (%v), want %d", n, err, p.want)
				}
			})
		}
	})
}
