// Package rules_test checks the path from a response to a Case end to end:
// a real collector (HTTP API, SQLite store, rule evaluation, transactional
// outbox) and its dispatcher against a real kube-apiserver and etcd.
package rules_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/testutil"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "./test/rules/") }

// recorder is a notify.Deliverer that keeps what it was asked to send,
// once per idempotency key as the real notifier does.
type recorder struct {
	mu   sync.Mutex
	keys map[string]bool
	msgs []sent
}

type sent struct {
	channel string
	msg     notify.Message
}

func (r *recorder) Deliver(_ context.Context, _, channel string, msg notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]bool{}
	}
	if r.keys[channel+"\x00"+msg.Key] {
		return nil
	}
	r.keys[channel+"\x00"+msg.Key] = true
	r.msgs = append(r.msgs, sent{channel: channel, msg: msg})
	return nil
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.msgs))
	for _, m := range r.msgs {
		out = append(out, m.channel+":"+m.msg.Event)
	}
	sort.Strings(out)
	return out
}

// program is one namespace with a touchpoint, a template, a collector on a
// real SQLite store and its dispatcher.
type program struct {
	t  testing.TB
	ns string
	tp *cxv1alpha1.SurveyTouchpoint
	st store.Store
	// dbPath is the SQLite file, to reopen it as a restarted collector.
	dbPath string
	srv    *collector.Server
	url    string
	disp   *collector.Dispatcher
	// dispatcher is disp for the server's wake-up hook.
	dispatcher atomic.Pointer[collector.Dispatcher]
	clock      *testutil.Clock
	sent       *recorder
}

func newProgram(t testing.TB, kube client.Client, rules ...*cxv1alpha1.AlertRule) *program {
	t.Helper()
	ctx := context.Background()
	ns := env.Namespace(t)
	tp := &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "upgrade-install"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo, Required: true},
			},
			Comment: &cxv1alpha1.CommentSpec{Enabled: true, MaxLength: 2000},
		},
	}
	tmpl := &cxv1alpha1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installation-support"},
		Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Kind: "User", Name: "maria.lopez"}}},
			Closure:  cxv1alpha1.ClosureRequirements{RootCauses: []string{"installer-bug", "documentation-gap"}},
			DefaultPolicy: &cxv1alpha1.CasePolicy{
				Severity: cxv1alpha1.SeverityNormal, ClosureGoal: cxv1alpha1.Duration{Duration: 72 * time.Hour},
			},
		},
	}
	for _, obj := range []client.Object{tp, tmpl} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}
	p := openProgram(t, ns, tp, kube)
	p.setRules(rules...)
	return p
}

// newProgramIn is another collector, with a store of its own, of the
// program in namespace ns that newProgram made, running rules (which exist
// in the API server already).
func newProgramIn(t testing.TB, ns string, rules ...*cxv1alpha1.AlertRule) *program {
	t.Helper()
	tp := &cxv1alpha1.SurveyTouchpoint{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "upgrade-install"}, tp); err != nil {
		t.Fatal(err)
	}
	p := openProgram(t, ns, tp, nil)
	var list []cxv1alpha1.AlertRule
	for _, r := range rules {
		r = r.DeepCopy()
		r.Namespace = ns
		list = append(list, *r)
	}
	p.srv.SetAlertRules(list)
	return p
}

// openProgram starts a collector of tp on a new SQLite store, and its
// dispatcher (on kube, default the test's client).
func openProgram(t testing.TB, ns string, tp *cxv1alpha1.SurveyTouchpoint, kube client.Client) *program {
	t.Helper()
	ctx := context.Background()
	p := &program{t: t, ns: ns, tp: tp, clock: testutil.NewClock(time.Now()), sent: &recorder{}}
	var err error
	p.dbPath = filepath.Join(t.TempDir(), "responses.db")
	p.st, err = store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: p.dbPath, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.st.Close() })
	p.srv, err = collector.NewServer(tp, collector.Options{Namespace: ns, Store: p.st, Now: p.clock.Now, OnActions: func() {
		if d := p.dispatcher.Load(); d != nil {
			d.Wake()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(p.srv.Handler())
	t.Cleanup(ts.Close)
	p.url = ts.URL
	if kube == nil {
		kube = env.Client
	}
	p.disp = collector.NewDispatcher(collector.DispatcherOptions{
		Store: p.st, Client: kube, Notifier: p.sent, Now: p.clock.Now,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: logr.Discard(),
	})
	p.dispatcher.Store(p.disp)
	return p
}

// setRules creates the rules in the API server (so they are validated as
// kubectl apply would) and hands them to the collector, as its watch does.
func (p *program) setRules(rules ...*cxv1alpha1.AlertRule) map[string]string {
	p.t.Helper()
	var list []cxv1alpha1.AlertRule
	for _, r := range rules {
		r = r.DeepCopy()
		r.Namespace = p.ns
		if err := env.Client.Create(context.Background(), r); err != nil {
			p.t.Fatalf("create rule %s: %v", r.Name, err)
		}
		list = append(list, *r)
	}
	return p.srv.SetAlertRules(list)
}

func rule(name, condition string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"upgrade-install"}},
			Condition:   condition,
			Actions:     cxv1alpha1.AlertActions{OpenCase: &cxv1alpha1.OpenCaseAction{Template: "installation-support"}},
		},
	}
}

// post sends one response and fails the test unless it is accepted.
func (p *program) post(id, customer string, completed bool, extra string) {
	p.t.Helper()
	if code := p.tryPost(id, customer, completed, extra); code != http.StatusAccepted {
		p.t.Fatalf("post %s: status %d", id, code)
	}
}

func (p *program) tryPost(id, customer string, completed bool, extra string) int {
	body := fmt.Sprintf(`{"id":%q,"customer":{"id":%q,"tier":"Gold","attributes":{"email":"%s@example.com","region":"emea"}},
		"answers":{"completed":%t,"ease":3},"comment":"The installer stopped at 80 percent and I gave up."%s}`, id, customer, customer, completed, extra)
	resp, err := http.Post(p.url+"/v1/responses", "application/json", strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// drain dispatches until the outbox is empty (retries included).
func (p *program) drain() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := p.disp.DispatchOnce(context.Background()); err != nil {
			p.t.Fatal(err)
		}
		depth, _, err := p.st.OutboxStats(context.Background())
		if err != nil {
			p.t.Fatal(err)
		}
		if depth == 0 {
			return
		}
		// Retries are scheduled on the injected clock.
		p.clock.Advance(2 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatal("outbox not drained within 30s")
}

func (p *program) cases() []cxv1alpha1.Case {
	p.t.Helper()
	var list cxv1alpha1.CaseList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(p.ns)); err != nil {
		p.t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func caseNames(cs []cxv1alpha1.Case) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}
