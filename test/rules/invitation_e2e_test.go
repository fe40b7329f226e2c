package rules_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crrecorder "sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// mailbox is a real SMTP server on loopback that keeps every message.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail
	port int
}

type mail struct {
	to   []string
	data string
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := lis.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", lis.Addr())
	}
	mb := &mailbox{port: addr.Port}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

func (mb *mailbox) take() []mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	out := mb.msgs
	mb.msgs = nil
	return out
}

type mailSession struct {
	mb *mailbox
	to []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.msgs = append(s.mb.msgs, mail{to: s.to, data: string(b)})
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

var surveyLinkPattern = regexp.MustCompile(`/s/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// TestEventToEmailToBrowserToCase follows one customer through the whole
// chain with the real parts: a business event at the collector's private
// API, nothing before the 72h delay, a collector restart on the same store
// in between, exactly one invitation at a real SMTP server on loopback,
// its link opened in headless Chromium at phone width and answered as a
// person does (a click on "No"), the Case opened in the API server by the
// dispatcher, its acknowledgement at her address, the used link, and no
// reminder after the answer; then the loop closed with her (followUp): a
// case manager closes the Case, exactly one follow-up reaches her address
// at closedAt + 24h, she answers "Yes" in Chromium, the Case records
// customerRecovered from it (annotation, Event, the report's recovered
// count) and a second answer changes nothing. The rest of
// the chain is covered piece by piece: the reminder sent once without an
// answer (collector TestEventsInviteOnceAfterTheDelayAndRemindOnce),
// unsubscribe stopping both (TestAnsweredOrUnsubscribedCustomersGetNoReminder),
// quiet hours for SMS at a real HTTP SMS gateway
// (TestSMSAtARealGatewayWaitsForTheEndOfQuietHours, and for the follow-up
// TestSMSFollowUpAtARealGatewayWaitsForTheEndOfQuietHours),
// expired and used links (TestSurveyPageAnswersAnInvitationOnce), 375 px
// layout and axe-core (TestSurveyPageInABrowserOnAPhone).
func TestEventToEmailToBrowserToCase(t *testing.T) {
	ctx := context.Background()
	mb := startMailbox(t)
	notCompleted := rule("not-completed", "answers.completed == false")
	p := newProgram(t, nil, notCompleted)
	notCompleted.Namespace = p.ns

	ch := &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "customer-mail"},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type: cxv1alpha1.ChannelTypeEmail, AllowPrivateDestinations: true,
			Email: &cxv1alpha1.EmailChannel{
				SMTP: cxv1alpha1.SMTPServer{Host: "127.0.0.1", Port: int32(mb.port), Security: cxv1alpha1.SMTPNone},
				From: "Acme <survey@acme.example>",
			},
		},
	}
	if err := env.Client.Create(ctx, ch); err != nil {
		t.Fatalf("create channel: %v", err)
	}
	// The template acknowledges a new Case to the customer.
	tmpl := &cxv1alpha1.CaseTemplate{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: "installation-support"}, tmpl); err != nil {
		t.Fatal(err)
	}
	tmpl.Spec.CustomerMessages = &cxv1alpha1.CustomerMessages{Acknowledgement: []cxv1alpha1.CustomerMessageText{{
		Locale: "en", Subject: "We are on it, {firstName}",
		Body: "Hello {firstName},\n\n{ownerFirstName} from our support team has your case and will contact you by {expectContactBy}.",
	}}, FollowUp: &cxv1alpha1.FollowUp{After: &cxv1alpha1.Duration{Duration: 24 * time.Hour}, Messages: []cxv1alpha1.FollowUpText{{
		Locale: "en", Question: "Is the upgrade working now?", Subject: "{firstName}, did we solve it?",
		Body: "Hello {firstName},\n\nwe closed your case. {question}\nYes: {yesLink}\nNo: {noLink}",
	}}}}
	if err := env.Client.Update(ctx, tmpl); err != nil {
		t.Fatalf("update template: %v", err)
	}
	tp := p.tp.DeepCopy()
	tp.Spec.Invitations = &cxv1alpha1.InvitationSpec{RequireToken: true, TokenTTL: &cxv1alpha1.Duration{Duration: 168 * time.Hour}}
	tp.Spec.Survey = &cxv1alpha1.SurveyPageSpec{Title: "Your installation", ThankYou: "Thanks, we read every answer."}
	tp.Spec.Distribution = &cxv1alpha1.DistributionSpec{
		Events:   []cxv1alpha1.InvitingEvent{{Name: "upgrade-downloaded", Delay: &cxv1alpha1.Duration{Duration: 72 * time.Hour}, Channel: cxv1alpha1.DistributionEmail}},
		Email:    &cxv1alpha1.ChannelRef{Channel: "customer-mail"},
		Messages: []cxv1alpha1.InvitationMessage{{Locale: "en", Subject: "{firstName}, how did the upgrade go?", Body: "Hello {firstName},\n\nplease tell us: {link}"}},
		Reminder: &cxv1alpha1.ReminderSpec{After: cxv1alpha1.Duration{Duration: 48 * time.Hour}},
	}

	// The collector's public surface listens before it starts, so the
	// links it sends point at it.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + lis.Addr().String()
	var current struct {
		sync.Mutex
		srv *collector.Server
	}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Lock()
		srv := current.srv
		current.Unlock()
		srv.Handler().ServeHTTP(w, r)
	}))
	_ = hs.Listener.Close()
	hs.Listener = lis
	hs.Start()
	t.Cleanup(hs.Close)

	sender := notify.New(env.Client, notify.Options{Now: p.clock.Now, MaxAttempts: 1, Log: logr.Discard()})
	token := []byte("e2e-api-token")
	stopWatch := func() {}
	start := func(st store.Store) *collector.Server {
		t.Helper()
		srv, err := collector.NewServer(tp, collector.Options{Namespace: p.ns, Store: st, Now: p.clock.Now,
			SigningKey: []byte("0123456789abcdef0123456789abcdef-e2e"), APIToken: token, PublicURL: base, CustomerSender: sender,
			Cases: env.Client, Log: testr.New(t),
			OnActions: func() {
				if d := p.dispatcher.Load(); d != nil {
					d.Wake()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		srv.SetAlertRules([]cxv1alpha1.AlertRule{*notCompleted})
		// As the collector does: it watches the Cases of its touchpoint,
		// and a restarted one watches anew.
		stopWatch()
		stopWatch = watchCases(t, srv, p.ns, tp.Name)
		current.Lock()
		current.srv = srv
		current.Unlock()
		return srv
	}
	srv := start(p.st)
	sendDue := func() {
		t.Helper()
		if _, err := srv.SendDue(ctx); err != nil {
			t.Fatalf("send due: %v", err)
		}
	}

	postEvent(t, base, token,
		`{"id":"dl-1","name":"upgrade-downloaded","customer":{"id":"C-42","tier":"Gold","firstName":"Ada","email":"ada@customer.example"}}`)

	p.clock.Advance(71 * time.Hour)
	sendDue()
	if got := mb.take(); len(got) != 0 {
		t.Fatalf("%d emails before the 72h delay", len(got))
	}

	// Restart: the collector stops and a new one opens the same file.
	_ = p.st.Close()
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: p.dbPath, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p.st = st
	p.disp = collector.NewDispatcher(collector.DispatcherOptions{Store: st, Client: env.Client, Templates: env.Client, Notifier: p.sent, Now: p.clock.Now,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: logr.Discard()})
	p.dispatcher.Store(p.disp)
	srv = start(st)

	p.clock.Advance(90 * time.Minute)
	sendDue()
	sendDue() // a second pass sends nothing more
	got := mb.take()
	if len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "ada@customer.example" {
		t.Fatalf("after 72h: %d emails (%v), want exactly one to ada@customer.example", len(got), got)
	}
	body := strings.ReplaceAll(got[0].data, "=\r\n", "")
	if !strings.Contains(body, "Ada, how did the upgrade go?") || !strings.Contains(body, "List-Unsubscribe-Post: List-Unsubscribe=One-Click") {
		t.Errorf("the invitation lacks its subject or one-click unsubscribe:\n%s", body)
	}
	link := surveyLinkPattern.FindString(body)
	if link == "" {
		t.Fatalf("no survey link in the email:\n%s", body)
	}

	// A person opens the link on a phone, picks 3 for ease, clicks "No"
	// and sends.
	bctx := testutil.Browser(t)
	step := func(name string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, a); err != nil {
			html, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
			t.Fatalf("%s: %v\n%s", name, err, html)
		}
	}
	step("open the link", chromedp.Steps(
		chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile),
		chromedp.Navigate(base+link),
		chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
	))
	step("click ease 3", chromedp.Click(chromedp.CSS(`label[for="f-ease-2"]`)))
	step("click No", chromedp.Click(chromedp.CSS(`label[for="f-completed-1"]`)))
	step("send", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	var text string
	for deadline := time.Now().Add(30 * time.Second); ; {
		text, _ = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
		if strings.Contains(text, "Thanks, we read every answer.") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after sending the form: %q", text)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The "No" opened a Case for the customer; the Case controller takes
	// it on (openedAt, the deadlines).
	p.drain()
	cs := p.cases()
	if len(cs) != 1 || cs[0].Spec.Customer == nil || cs[0].Spec.Customer.ID != "C-42" {
		t.Fatalf("cases %v, want one for C-42", caseNames(cs))
	}
	caseCtl := caseController(p.clock.Now)
	reconcileCase(t, caseCtl, &cs[0])

	// The Case is acknowledged to the customer at her address, with the
	// first name of the case manager it went to and the closure deadline.
	opened := p.clock.Now()
	sendDue()
	got = mb.take()
	if len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "ada@customer.example" {
		t.Fatalf("after the Case opened: %d emails (%v), want the acknowledgement to ada@customer.example", len(got), got)
	}
	ack := strings.ReplaceAll(got[0].data, "=\r\n", "")
	by := opened.Add(72 * time.Hour).UTC().Format("Mon 2 Jan 15:04 MST")
	if !strings.Contains(ack, "Subject: We are on it, Ada") || !strings.Contains(ack, "Maria from our support team has your case and will contact you by "+by) {
		t.Errorf("acknowledgement (want Maria and %s):\n%s", by, ack)
	}
	if strings.Contains(string(mustJSON(t, cs[0])), "ada@customer.example") {
		t.Errorf("the customer's address entered the Case")
	}
	sendDue()
	if got := mb.take(); len(got) != 0 {
		t.Errorf("%d more emails, want the acknowledgement once", len(got))
	}

	// The link is used: opened again, it says thank you and shows no form.
	step("open the link again", chromedp.Navigate(base+link))
	text, _ = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
	if n, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("form button[type=submit]").length`)); n != 0 || !strings.Contains(text, "Thanks") {
		t.Errorf("a used link shows %q with %d submit buttons", text, n)
	}

	// Answered: the reminder due 48h later is not sent.
	p.clock.Advance(49 * time.Hour)
	sendDue()
	if got := mb.take(); len(got) != 0 {
		t.Errorf("%d emails after the answer, want none (no reminder)", len(got))
	}
	c, err := st.OutreachCounts(ctx, p.ns, tp.Name)
	if err != nil || c.Sent != 1 || c.Acknowledged != 1 || c.Reminded != 0 || c.Answered != 1 || c.Skipped != 1 || c.FollowUpsWaiting != 1 {
		t.Errorf("outreach counts %+v %v, want 1 sent, 1 acknowledged, 1 answered, the reminder skipped, the follow-up waiting", c, err)
	}

	followUp(t, followUpRun{p: p, st: st, mb: mb, base: base, bctx: bctx, caseCtl: caseCtl, sendDue: sendDue, step: step, caseName: cs[0].Name})
}

// followUpRun is what the follow-up part of TestEventToEmailToBrowserToCase
// works with.
type followUpRun struct {
	p        *program
	st       store.Store
	mb       *mailbox
	base     string
	bctx     context.Context
	caseCtl  *controllers.CaseReconciler
	sendDue  func()
	step     func(string, chromedp.Action[chromedp.Void])
	caseName string
}

var followUpLinkPattern = regexp.MustCompile(`/f/[A-Za-z0-9_-]+\?a\.solved=(yes|no)`)

// followUp goes on from the acknowledged Case: a case manager resolves
// and closes it; nothing reaches the customer before closedAt + 24h,
// then exactly one follow-up at her address; she opens its "No" link in
// one tab and its "Yes" link in another, sends "Yes", then "No" from the
// first tab; the Case's customerRecovered is true (the first answer),
// annotated as the follow-up's, with one CustomerAnsweredFollowUp Event,
// and the report counts the Case as recovered.
func followUp(t *testing.T, r followUpRun) {
	t.Helper()
	ctx, p := context.Background(), r.p
	c := &cxv1alpha1.Case{}
	key := client.ObjectKey{Namespace: p.ns, Name: r.caseName}
	for _, state := range []cxv1alpha1.CaseState{cxv1alpha1.CaseResolved, cxv1alpha1.CaseClosed} {
		p.clock.Advance(time.Hour)
		if err := env.Client.Get(ctx, key, c); err != nil {
			t.Fatal(err)
		}
		c.Spec.State = state
		c.Spec.Resolution = &cxv1alpha1.Resolution{RootCause: "installer-bug", Summary: "Sent the fixed installer; the upgrade runs."}
		if err := env.Client.Update(ctx, c); err != nil {
			t.Fatalf("case manager moves the Case to %s: %v", state, err)
		}
		reconcileCase(t, r.caseCtl, c)
	}
	if c.Status.ClosedAt == nil {
		t.Fatalf("the Case controller did not record closedAt: %+v", c.Status)
	}
	closedAt := c.Status.ClosedAt.Time
	// The collector's watch sees the closing and schedules the follow-up.
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := r.st.OutreachCounts(ctx, p.ns, "upgrade-install")
		if err == nil && n.FollowUpsWaiting == 0 && n.Scheduled == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follow-up was not scheduled after the Case closed: %+v %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	p.clock.Set(closedAt.Add(24*time.Hour - time.Minute))
	r.sendDue()
	if got := r.mb.take(); len(got) != 0 {
		t.Fatalf("%d emails before closedAt + 24h, want none", len(got))
	}
	p.clock.Set(closedAt.Add(24 * time.Hour))
	r.sendDue()
	r.sendDue()
	got := r.mb.take()
	if len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "ada@customer.example" {
		n, _ := r.st.OutreachCounts(ctx, p.ns, "upgrade-install")
		t.Fatalf("at closedAt + 24h: %d emails (%v), want exactly one follow-up to ada@customer.example; %+v", len(got), got, n)
	}
	mail := strings.ReplaceAll(strings.ReplaceAll(got[0].data, "=\r\n", ""), "=3D", "=")
	links := followUpLinkPattern.FindAllString(mail, -1)
	if !strings.Contains(mail, "Subject: Ada, did we solve it?") || !strings.Contains(mail, "Is the upgrade working now?") || len(links) < 2 {
		t.Fatalf("the follow-up lacks its subject, question or yes and no links:\n%s", mail)
	}
	var yes, no string
	for _, l := range links {
		if strings.HasSuffix(l, "=yes") {
			yes = l
		} else {
			no = l
		}
	}

	// She opens the "No" link in one tab, thinks again, opens the "Yes"
	// link in another and sends it.
	noTab, cancel := chromedp.NewContext(r.bctx)
	defer cancel()
	if err := chromedp.Do(noTab, chromedp.EmulateViewport(375, 800, chromedp.EmulateMobile), chromedp.Navigate(r.base+no),
		chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`))); err != nil {
		t.Fatalf("open the No link: %v", err)
	}
	r.step("open the Yes link", chromedp.Steps(
		chromedp.Navigate(r.base+yes),
		chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
	))
	checked, _ := chromedp.Run(r.bctx, chromedp.Evaluate[bool](`document.getElementById("f-solved-0").checked && !document.getElementById("f-solved-1").checked`))
	text, _ := chromedp.Run(r.bctx, chromedp.Text(chromedp.CSS(`main`)))
	if !checked || !strings.Contains(text, "Is the upgrade working now?") {
		t.Fatalf("the Yes link's page (want the question with Yes chosen): %q", text)
	}
	r.step("send yes", chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	waitForText(r.bctx, t, "Thank you")

	// The answer is in the Case, as the follow-up's, with an Event.
	if err := env.Client.Get(ctx, key, c); err != nil {
		t.Fatal(err)
	}
	if res := c.Spec.Resolution; res == nil || res.CustomerRecovered == nil || !*res.CustomerRecovered || res.RootCause != "installer-bug" ||
		c.Annotations[collector.AnnotationCustomerRecoveredBy] != "follow-up" {
		t.Fatalf("Case after the answer: resolution %+v, annotations %v; want customerRecovered true by the follow-up", c.Spec.Resolution, c.Annotations)
	}
	if n := followUpEvents(t, p.ns, r.caseName); n != 1 {
		t.Errorf("%d %s Events on the Case, want 1", n, collector.EventReasonCustomerAnsweredFollowUp)
	}
	version := c.ResourceVersion

	// The report counts the Case as recovered.
	cs := p.cases()
	if st, _ := report.CaseStatistics(cs, nil, report.Window{From: closedAt.Add(-time.Hour), To: p.clock.Now()}); st.Closed != 1 || st.Recovered != 1 || st.RecoveryKnown != 1 {
		t.Errorf("report's Cases: %d closed, %d of %d recovered; want the closed Case recovered", st.Closed, st.Recovered, st.RecoveryKnown)
	}

	// The "No" from the first tab changes nothing: the page thanks her
	// again, and the Case, its annotation and Events stay.
	if err := chromedp.Do(noTab, chromedp.Click(chromedp.CSS(`label[for="f-solved-1"]`)), chromedp.Click(chromedp.CSS(`button[type=submit]`))); err != nil {
		t.Fatalf("send no from the first tab: %v", err)
	}
	waitForText(noTab, t, "Thank you")
	r.sendDue()
	if err := env.Client.Get(ctx, key, c); err != nil {
		t.Fatal(err)
	}
	if c.ResourceVersion != version || !*c.Spec.Resolution.CustomerRecovered {
		t.Errorf("the second answer changed the Case: resolution %+v (resourceVersion %s, was %s)", c.Spec.Resolution, c.ResourceVersion, version)
	}
	if n := followUpEvents(t, p.ns, r.caseName); n != 1 {
		t.Errorf("%d %s Events after the second answer, want 1", n, collector.EventReasonCustomerAnsweredFollowUp)
	}
	if got := r.mb.take(); len(got) != 0 {
		t.Errorf("%d more emails after the follow-up, want none", len(got))
	}
	n, err := r.st.OutreachCounts(ctx, p.ns, "upgrade-install")
	if err != nil || n.FollowUpsSent != 1 || n.FollowUpsAnswered != 1 || n.FollowUpsWaiting != 0 || n.Scheduled != 0 {
		t.Errorf("outreach counts %+v %v, want 1 follow-up sent and answered, nothing waiting or scheduled", n, err)
	}
}

// waitForText waits until the page's main element shows want.
func waitForText(bctx context.Context, t *testing.T, want string) {
	t.Helper()
	var text string
	for deadline := time.Now().Add(30 * time.Second); ; {
		text, _ = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
		if strings.Contains(text, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("page shows %q, want %q", text, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// followUpEvents counts the CustomerAnsweredFollowUp Events on a Case.
func followUpEvents(t *testing.T, ns, name string) int {
	t.Helper()
	var evs eventsv1.EventList
	if err := env.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Regarding.Kind == "Case" && e.Regarding.Name == name && e.Reason == collector.EventReasonCustomerAnsweredFollowUp {
			n++
		}
	}
	return n
}

// watchCases watches the touchpoint's Cases for srv as the collector's
// Run does (an informer, label-selected), until the returned stop.
func watchCases(t *testing.T, srv *collector.Server, ns, touchpoint string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}},
		ByObject: map[client.Object]cache.ByObject{
			&cxv1alpha1.Case{}: {Label: labels.SelectorFromSet(labels.Set{cxv1alpha1.LabelTouchpoint: touchpoint})},
		}})
	if err != nil {
		t.Fatal(err)
	}
	inf, err := c.GetInformer(ctx, &cxv1alpha1.Case{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.FollowCases(ctx, inf, env.Client); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("case cache not synced")
	}
	return cancel
}

// caseController is the manager's Case controller on the test's clock,
// driven one reconciliation at a time.
func caseController(now func() time.Time) *controllers.CaseReconciler {
	cs := kubernetes.NewForConfigOrDie(env.Config)
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	_ = b.StartRecordingToSinkWithContext(context.Background())
	rec, _ := b.NewRecorder(env.Scheme, "cxloop-case").(crrecorder.EventRecorder)
	return &controllers.CaseReconciler{Client: env.Client, APIReader: env.Client, Recorder: rec, Now: now}
}

// reconcileCase runs one reconciliation of c and reads it back.
func reconcileCase(t *testing.T, r *controllers.CaseReconciler, c *cxv1alpha1.Case) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)}); err != nil {
		t.Fatalf("reconcile case %s: %v", c.Name, err)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
