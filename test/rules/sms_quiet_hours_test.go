package rules_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/testutil"
)

// smsGateway is a real HTTP server on loopback speaking the Twilio-style
// Messages API: it takes POST .../Accounts/{sid}/Messages.json with the
// form fields To, From and Body under basic authentication and answers
// 201, keeping every request it accepted.
type smsGateway struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []smsRequest
}

type smsRequest struct {
	form   url.Values
	header http.Header
}

func startSMSGateway(t *testing.T, account, token string) *smsGateway {
	t.Helper()
	g := &smsGateway{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != account || pass != token || r.PathValue("sid") != account {
			http.Error(w, `{"code":20003,"message":"Authenticate"}`, http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, `{"code":21602,"message":"Message body is required"}`, http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.msgs = append(g.msgs, smsRequest{form: form, header: r.Header.Clone()})
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"sid":"SM0001","status":"queued"}`)
	})
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// createChannel creates the SMS NotificationChannel customer-sms of g in
// ns, with its credentials Secret.
func (g *smsGateway) createChannel(t *testing.T, ns string) {
	t.Helper()
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sms-credentials"},
			StringData: map[string]string{"username": "AC0123", "password": "sms-token"}},
		&cxv1alpha1.NotificationChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-sms"},
			Spec: cxv1alpha1.NotificationChannelSpec{
				Type: cxv1alpha1.ChannelTypeSMS, AllowPrivateDestinations: true,
				SMS: &cxv1alpha1.SMSChannel{URL: g.URL + "/2010-04-01/Accounts/AC0123/Messages.json", From: "+14155550100",
					CredentialsSecretRef: cxv1alpha1.SecretReference{Name: "sms-credentials"}},
			},
		},
	} {
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}
}

// throughTheNightInTokyo sends what is due every hour from fromUTC (a
// time of 22 November inside the night in Tokyo, 21:00-08:00 local, which
// is 12:00-23:00 UTC) and at 07:59 local, and expects nothing at the
// gateway; then at 08:00 local and an hour later, exactly one message,
// which it returns.
func (g *smsGateway) throughTheNightInTokyo(t *testing.T, clock *testutil.Clock, fromUTC int, sendDue func()) smsRequest {
	t.Helper()
	for h := fromUTC; h <= 22; h++ {
		clock.Set(time.Date(2026, 11, 22, h, 0, 0, 0, time.UTC))
		sendDue()
	}
	clock.Set(time.Date(2026, 11, 22, 22, 59, 0, 0, time.UTC))
	sendDue()
	if got := g.take(); len(got) != 0 {
		t.Fatalf("the gateway received %d messages during the night in Tokyo: %v", len(got), got[0].form)
	}
	// 08:00 local (23:00 UTC): exactly one message, also after a second pass.
	clock.Set(time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC))
	sendDue()
	clock.Advance(time.Hour)
	sendDue()
	got := g.take()
	if len(got) != 1 {
		t.Fatalf("the gateway received %d messages after the quiet hours, want exactly 1", len(got))
	}
	return got[0]
}

// wantKey checks that m carries the idempotency key of the message with
// key (namespace/touchpoint/<message key>) on the channel customer-sms of
// ns, hashed with the channel, in both headers: the same on every retry
// and after a restart, and naming neither the customer nor the event.
func (m smsRequest) wantKey(t *testing.T, ns, key string) {
	t.Helper()
	sum := sha256.Sum256([]byte(ns + "/customer-sms\x00" + key))
	want := hex.EncodeToString(sum[:16])
	if got := m.header.Get("Idempotency-Key"); got != want || m.header.Get("I-Twilio-Idempotency-Token") != want {
		t.Errorf("idempotency key %q (Twilio header %q), want %s (of %s) in both", got, m.header.Get("I-Twilio-Idempotency-Token"), want, key)
	}
}

// smsTouchpoint is tp inviting by SMS through customer-sms an hour after
// a technician's visit, never in the customer's night (21:00-08:00).
func smsTouchpoint(tp *cxv1alpha1.SurveyTouchpoint) *cxv1alpha1.SurveyTouchpoint {
	tp = tp.DeepCopy()
	tp.Spec.Invitations = &cxv1alpha1.InvitationSpec{RequireToken: true, TokenTTL: &cxv1alpha1.Duration{Duration: 168 * time.Hour}}
	tp.Spec.Distribution = &cxv1alpha1.DistributionSpec{
		Events:     []cxv1alpha1.InvitingEvent{{Name: "technician-visit-completed", Delay: &cxv1alpha1.Duration{Duration: time.Hour}, Channel: cxv1alpha1.DistributionSMS}},
		SMS:        &cxv1alpha1.ChannelRef{Channel: "customer-sms"},
		Messages:   []cxv1alpha1.InvitationMessage{{Locale: "en", Subject: "How was the visit?", Body: "Please tell us: {link}", SMS: "How did the installation go, {firstName}? {link}"}},
		QuietHours: &cxv1alpha1.QuietHours{Start: "21:00", End: "08:00"},
	}
	return tp
}

func (g *smsGateway) take() []smsRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.msgs
	g.msgs = nil
	return out
}

// TestSMSAtARealGatewayWaitsForTheEndOfQuietHours sends an SMS invitation
// through the real notifier (the NotificationChannel and its credentials
// Secret read from the API server) to a real HTTP SMS gateway on loopback,
// on an injected clock: a technician visit ends at 21:00 in Tokyo, the
// invitation is due an hour later, inside the quiet hours (21:00-08:00 in
// the customer's time zone). The gateway receives nothing all night, and
// exactly one message at 08:00 local time, with an idempotency key.
func TestSMSAtARealGatewayWaitsForTheEndOfQuietHours(t *testing.T) {
	ctx := context.Background()
	gw := startSMSGateway(t, "AC0123", "sms-token")
	p := newProgram(t, nil)
	gw.createChannel(t, p.ns)
	tp := smsTouchpoint(p.tp)
	// 12:00 UTC is 21:00 in Tokyo.
	p.clock.Set(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	sender := notify.New(env.Client, notify.Options{Now: p.clock.Now, MaxAttempts: 1, Log: logr.Discard()})
	token := []byte("sms-api-token")
	srv, err := collector.NewServer(tp, collector.Options{Namespace: p.ns, Store: p.st, Now: p.clock.Now,
		SigningKey: []byte("0123456789abcdef0123456789abcdef-sms"), APIToken: token,
		PublicURL: "https://survey.acme.example/upgrade-install", CustomerSender: sender})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	postEvent(t, hs.URL, token,
		`{"id":"visit-7","name":"technician-visit-completed","customer":{"id":"C-jp","firstName":"Yuki","phone":"+81312345678","timeZone":"Asia/Tokyo"}}`)
	sendDue := func() {
		t.Helper()
		if _, err := srv.SendDue(ctx); err != nil {
			t.Fatalf("send due: %v", err)
		}
	}

	// Every hour of the night, from 22:00 to 07:00 local, and at 07:59;
	// then 08:00.
	m := gw.throughTheNightInTokyo(t, p.clock, 13, sendDue)
	if m.form.Get("To") != "+81312345678" || m.form.Get("From") != "+14155550100" ||
		!strings.HasPrefix(m.form.Get("Body"), "How did the installation go, Yuki? https://survey.acme.example/upgrade-install/s/") {
		t.Errorf("message form %v", m.form)
	}
	// The key is the invitation's (namespace/touchpoint/invite/<event id>).
	m.wantKey(t, p.ns, p.ns+"/upgrade-install/invite/visit-7")
	c, err := p.st.OutreachCounts(ctx, p.ns, tp.Name)
	if err != nil || c.Sent != 1 || c.Scheduled != 0 {
		t.Errorf("outreach counts %+v %v, want 1 sent and nothing scheduled", c, err)
	}
}

// postEvent posts one business event to the collector's private API, as
// the business system does, and expects it scheduled (202).
func postEvent(t *testing.T, base string, token []byte, event string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(event))
	req.Header.Set("Authorization", "Bearer "+string(token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d", resp.StatusCode)
	}
}

// TestSMSFollowUpAtARealGatewayWaitsForTheEndOfQuietHours follows a
// customer invited by SMS to the follow-up of her Case, at a real HTTP SMS
// gateway on loopback through the real notifier: she answers the survey
// page of the invitation "No" (over HTTP, as a browser posts the form),
// the Case opens, a case manager closes it at 20:00 in Tokyo, and the
// follow-up due two hours later, inside the quiet hours (21:00-08:00 in
// her time zone), reaches the gateway once at 08:00 local time, with the
// follow-up's link and its idempotency key.
func TestSMSFollowUpAtARealGatewayWaitsForTheEndOfQuietHours(t *testing.T) {
	ctx := context.Background()
	gw := startSMSGateway(t, "AC0123", "sms-token")
	notCompleted := rule("not-completed", "answers.completed == false")
	p := newProgram(t, nil, notCompleted)
	notCompleted.Namespace = p.ns
	gw.createChannel(t, p.ns)
	tmpl := &cxv1alpha1.CaseTemplate{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "installation-support"}, tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl.Spec.CustomerMessages = &cxv1alpha1.CustomerMessages{FollowUp: &cxv1alpha1.FollowUp{
		After:    &cxv1alpha1.Duration{Duration: 2 * time.Hour},
		Messages: []cxv1alpha1.FollowUpText{{Locale: "en", Question: "Is the installation working now?", SMS: "Acme: {firstName}, is it working now? {link}"}},
	}}
	if err := env.Client.Update(ctx, tmpl); err != nil {
		t.Fatalf("update template: %v", err)
	}
	tp := smsTouchpoint(p.tp)
	// The dispatcher reads the template, as the collector's does.
	p.disp = collector.NewDispatcher(collector.DispatcherOptions{Store: p.st, Client: env.Client, Templates: env.Client, Notifier: p.sent, Now: p.clock.Now,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: logr.Discard()})
	p.dispatcher.Store(p.disp)

	// 01:00 UTC is 10:00 in Tokyo.
	p.clock.Set(time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC))
	sender := notify.New(env.Client, notify.Options{Now: p.clock.Now, MaxAttempts: 1, Log: logr.Discard()})
	token := []byte("sms-api-token")
	var srv *collector.Server
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { srv.Handler().ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	srv, err := collector.NewServer(tp, collector.Options{Namespace: p.ns, Store: p.st, Now: p.clock.Now,
		SigningKey: []byte("0123456789abcdef0123456789abcdef-sms"), APIToken: token, PublicURL: hs.URL, CustomerSender: sender, Cases: env.Client,
		OnActions: func() { p.disp.Wake() }})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAlertRules([]cxv1alpha1.AlertRule{*notCompleted})
	watchCases(t, srv, p.ns, tp.Name)
	sendDue := func() {
		t.Helper()
		if _, err := srv.SendDue(ctx); err != nil {
			t.Fatalf("send due: %v", err)
		}
	}

	postEvent(t, hs.URL, token,
		`{"id":"visit-9","name":"technician-visit-completed","customer":{"id":"C-jp","firstName":"Yuki","phone":"+81312345678","timeZone":"Asia/Tokyo"}}`)
	p.clock.Advance(time.Hour)
	sendDue()
	got := gw.take()
	if len(got) != 1 {
		t.Fatalf("the gateway received %d invitations at 11:00 in Tokyo, want 1", len(got))
	}
	link := surveyLinkPattern.FindString(got[0].form.Get("Body"))
	if link == "" {
		t.Fatalf("no survey link in the SMS %q", got[0].form.Get("Body"))
	}
	if status, body := submitPage(t, hs.URL+link, url.Values{"a.completed": {"no"}, "a.ease": {"2"}}); status != http.StatusOK || !strings.Contains(body, "Thank") {
		t.Fatalf("answer the survey page: %d\n%s", status, body)
	}
	p.drain()
	cs := p.cases()
	if len(cs) != 1 {
		t.Fatalf("cases %v, want the one her answer opened", caseNames(cs))
	}
	c := &cs[0]
	caseCtl := caseController(p.clock.Now)
	reconcileCase(t, caseCtl, c)

	// A case manager closes the Case at 20:00 in Tokyo (11:00 UTC).
	p.clock.Set(time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC))
	for _, state := range []cxv1alpha1.CaseState{cxv1alpha1.CaseResolved, cxv1alpha1.CaseClosed} {
		c.Spec.State = state
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "installer-bug", Summary: "Replaced the installer."}
		if err := env.Client.Update(ctx, c); err != nil {
			t.Fatalf("case manager moves the Case to %s: %v", state, err)
		}
		reconcileCase(t, caseCtl, c)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := p.st.OutreachCounts(ctx, p.ns, tp.Name)
		if err == nil && n.FollowUpsWaiting == 0 && n.Scheduled == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follow-up was not scheduled after the Case closed: %+v %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Due at 22:00 in Tokyo: every hour of the night, and at 07:59; then
	// 08:00.
	m := gw.throughTheNightInTokyo(t, p.clock, 13, sendDue)
	if m.form.Get("To") != "+81312345678" || !strings.HasPrefix(m.form.Get("Body"), "Acme: Yuki, is it working now? "+hs.URL+"/f/") {
		t.Errorf("follow-up form %v", m.form)
	}
	m.wantKey(t, p.ns, p.ns+"/upgrade-install/followup/"+c.Name)
	n, err := p.st.OutreachCounts(ctx, p.ns, tp.Name)
	if err != nil || n.FollowUpsSent != 1 || n.Scheduled != 0 {
		t.Errorf("outreach counts %+v %v, want the follow-up sent and nothing scheduled", n, err)
	}
}

var (
	formActionPattern = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	hiddenPattern     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// submitPage answers a survey page as a browser without script does: GET
// it, then POST the form's hidden fields and answers to its action with
// the headers a browser sends, following the redirect to the thank-you
// page. It returns the last status and body.
func submitPage(t *testing.T, page string, answers url.Values) (int, string) {
	t.Helper()
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	action := formActionPattern.FindStringSubmatch(string(b))
	if resp.StatusCode != http.StatusOK || action == nil {
		return resp.StatusCode, string(b)
	}
	u, _ := url.Parse(page)
	origin := u.Scheme + "://" + u.Host
	form := url.Values{}
	for _, h := range hiddenPattern.FindAllStringSubmatch(string(b), -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	for k, v := range answers {
		form[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, origin+html.UnescapeString(action[1]), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, string(b)
}
