// Package managercrash proves that the effects an aggregate AlertRule's
// transition owes, and the notifications a Case's transition owes, survive
// a crash of the manager: the real cxloop binary
// runs as a subprocess against a real API server, a real collector on
// SQLite and a real webhook receiver on loopback, and is killed with
// SIGKILL between recording a notification as due and delivering it.
package managercrash

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	testenv.Main(m, &env, "./test/managercrash/")
}

const collectorToken = "crash-test-collector-token-0123456789"

// receiver is a webhook endpoint that holds the first Firing delivery
// whose key starts with holdPrefix until the sender goes away, and counts
// the deliveries it acknowledged (answered 2xx) per key.
type receiver struct {
	holdPrefix string
	inFlight   chan struct{}

	mu    sync.Mutex
	held  string
	acked map[string]int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Type string `json:"type"`
		Data struct {
			Key string `json:"key"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	hold := rc.held == "" && strings.HasPrefix(body.Data.Key, rc.holdPrefix) && !strings.HasSuffix(body.Data.Key, "/resolved")
	if hold {
		rc.held = body.Data.Key
	}
	rc.mu.Unlock()
	if hold {
		close(rc.inFlight)
		<-r.Context().Done()
		return // the sender died: it never saw an answer
	}
	rc.mu.Lock()
	rc.acked[body.Data.Key]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) heldKey() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.held
}

func (rc *receiver) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.acked[key]
}

// A manager killed while it delivers the Firing notification of an
// aggregate rule, after it stored the transition, delivers that
// notification and opens the rule's Case exactly once after its restart.
// Before status.pendingEffects, the restarted manager found the group
// already firing and owed nothing: the notification and the Case were
// lost.
//
// Likewise a manager killed while it delivers a Case's notification, after
// it stored the transition (status.pendingNotifications), delivers it
// exactly once after its restart. Before, the Case controller delivered
// first and recorded after, and only the notifier's in-memory
// deduplication kept a retry from sending it twice.
func TestKilledManagerDeliversOwedEffectsOnce(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cxloop")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cxloop/cxloop").CombinedOutput(); err != nil {
		t.Fatalf("go build the cxloop binary: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.Environment.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("AlertRule", func(t *testing.T) { killedDuringAggregateEffects(t, bin, kubeconfig) })
	t.Run("Case", func(t *testing.T) { killedDuringCaseNotification(t, bin, kubeconfig) })
	t.Run("CaseOverdue", func(t *testing.T) { killedDuringScheduledNotification(t, bin, kubeconfig) })
}

func killedDuringAggregateEffects(t *testing.T, bin, kubeconfig string) {
	ctx := context.Background()
	ns := env.Namespace(t)

	// The touchpoint's collector, on SQLite, with 10 detractors in the
	// last hour: NPS -100.
	tp := &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relationship"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{Channel: cxv1alpha1.ChannelEmail, Questions: []cxv1alpha1.Question{
			{ID: "nps", Text: "How likely are you to recommend us?", Type: cxv1alpha1.QuestionNPS},
		}},
	}
	st, err := store.Open(ctx, store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "responses.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, err := collector.NewServer(tp, collector.Options{Namespace: ns, Store: st, APIToken: []byte(collectorToken)})
	if err != nil {
		t.Fatal(err)
	}
	col := httptest.NewServer(srv.Handler())
	t.Cleanup(col.Close)
	for i := range 10 {
		body := fmt.Sprintf(`{"id":"r%d","customer":{"id":"C-%d"},"answers":{"nps":1},"submittedAt":%q}`, i, i, time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339))
		resp, err := http.Post(col.URL+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post response %d: %s", i, resp.Status)
		}
	}

	rc := &receiver{inFlight: make(chan struct{}), acked: map[string]int{}}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)

	rule := &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nps-collapse"},
		Spec: cxv1alpha1.AlertRuleSpec{
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{tp.Name}},
			Aggregate: &cxv1alpha1.AggregateCondition{
				Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: time.Hour}, Every: &cxv1alpha1.Duration{Duration: time.Hour},
				MinResponses: 5, Condition: "value < 0.0",
			},
			Actions: cxv1alpha1.AlertActions{
				Notify:   []cxv1alpha1.NotifyAction{{Channel: "cx-team"}},
				OpenCase: &cxv1alpha1.OpenCaseAction{Template: "cross-functional"},
			},
		},
	}
	objs := append(webhookChannel(ns, "cx-team", hook.URL),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.CollectorAPISecretName(tp)}, Data: map[string][]byte{controllers.CollectorAPITokenKey: []byte(collectorToken)}},
		&cxv1alpha1.CaseTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cross-functional"}, Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "relationship", Team: cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}},
			Closure: cxv1alpha1.ClosureRequirements{RootCauses: []string{"product-defect"}},
		}},
		tp, rule,
	)
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	// The Firing message's key is aggregate/<uid>/<group>/<since>: hold
	// the first one of this rule.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rule), rule); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.holdPrefix = "aggregate/" + string(rule.UID) + "//"
	rc.mu.Unlock()

	m1 := startManager(t, bin, kubeconfig, col.URL)
	select {
	case <-rc.inFlight:
	case <-time.After(90 * time.Second):
		t.Fatalf("the Firing notification was never sent; manager log:\n%s", m1.log())
	}
	m1.kill(t)

	// The transition and what it owes are stored.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rule), rule); err != nil {
		t.Fatal(err)
	}
	if len(rule.Status.Firing) != 1 {
		t.Fatalf("status.firing = %+v after the crash, want the group firing", rule.Status.Firing)
	}
	firingKey := rc.heldKey()
	var pending []string
	for _, e := range rule.Status.PendingEffects {
		pending = append(pending, e.Key)
	}
	if !contains(pending, firingKey+"@cx-team") {
		t.Fatalf("status.pendingEffects = %q after the crash, want the notification %s recorded as due", pending, firingKey)
	}
	if n := rc.count(firingKey); n != 0 {
		t.Fatalf("%d acknowledged deliveries before the restart, want 0", n)
	}

	m2 := startManager(t, bin, kubeconfig, col.URL)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rule), rule); err != nil {
			t.Fatal(err)
		}
		var cases cxv1alpha1.CaseList
		if err := env.Client.List(ctx, &cases, client.InNamespace(ns), client.MatchingLabels{cxv1alpha1.LabelRule: rule.Name}); err != nil {
			t.Fatal(err)
		}
		if rc.count(firingKey) == 1 && len(cases.Items) == 1 && len(rule.Status.PendingEffects) == 0 {
			if c := cases.Items[0]; c.Spec.Severity == "" || c.Spec.Assignee != "maria" {
				t.Errorf("strategic Case %s: severity %q assignee %q, want the template's defaults applied at creation", c.Name, c.Spec.Severity, c.Spec.Assignee)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d deliveries of %s, %d Cases, pending %+v; want 1, 1, none; manager log:\n%s",
				rc.count(firingKey), firingKey, len(cases.Items), rule.Status.PendingEffects, m2.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// And nothing more comes.
	time.Sleep(3 * time.Second)
	if n := rc.count(firingKey); n != 1 {
		t.Errorf("%d deliveries of %s, want exactly 1", n, firingKey)
	}
}

func killedDuringCaseNotification(t *testing.T, bin, kubeconfig string) {
	ctx := context.Background()
	ns := env.Namespace(t)
	rc := &receiver{inFlight: make(chan struct{}), acked: map[string]int{}}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	objs := append(webhookChannel(ns, "cx-team", hook.URL),
		&cxv1alpha1.CaseTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support"}, Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "support", Team: cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}},
			Closure: cxv1alpha1.ClosureRequirements{RootCauses: []string{"product-defect"}},
			Notifications: []cxv1alpha1.EventNotification{{
				Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOpened}, To: cxv1alpha1.Recipients{CaseManagers: true, Channels: []string{"cx-team"}},
			}},
		}})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installer-fails"},
		Spec:       cxv1alpha1.CaseSpec{Template: "support", Title: "Installer fails", Customer: &cxv1alpha1.Customer{ID: "C-1"}},
	}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Hold the Opened message: its key is <uid>/Opened.
	openedKey := string(c.UID) + "/Opened"
	rc.mu.Lock()
	rc.holdPrefix = openedKey
	rc.mu.Unlock()

	m1 := startManager(t, bin, kubeconfig, "http://127.0.0.1:1")
	select {
	case <-rc.inFlight:
	case <-time.After(90 * time.Second):
		t.Fatalf("the Opened notification was never sent; manager log:\n%s", m1.log())
	}
	m1.kill(t)

	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, n := range c.Status.PendingNotifications {
		pending = append(pending, n.Key+"@"+n.Channel)
	}
	if c.Status.OpenedAt == nil || !contains(pending, openedKey+"@cx-team") {
		t.Fatalf("after the crash: openedAt %v, status.pendingNotifications %q; want the opening stored and its notification recorded as due", c.Status.OpenedAt, pending)
	}
	if n := rc.count(openedKey); n != 0 {
		t.Fatalf("%d acknowledged deliveries before the restart, want 0", n)
	}

	m2 := startManager(t, bin, kubeconfig, "http://127.0.0.1:1")
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			t.Fatal(err)
		}
		if rc.count(openedKey) == 1 && len(c.Status.PendingNotifications) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d deliveries of %s, pending %+v; want 1 and none; manager log:\n%s",
				rc.count(openedKey), openedKey, c.Status.PendingNotifications, m2.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var delivered int
	for _, n := range c.Status.Notifications {
		if n.Key == openedKey && n.Channel == "cx-team" && n.Outcome == cxv1alpha1.DeliveryDelivered {
			delivered++
		}
	}
	if delivered != 1 {
		t.Errorf("status.notifications = %+v, want one Delivered record of %s", c.Status.Notifications, openedKey)
	}
	// And nothing more comes.
	time.Sleep(3 * time.Second)
	if n := rc.count(openedKey); n != 1 {
		t.Errorf("%d deliveries of %s, want exactly 1", n, openedKey)
	}
}

// A manager killed while it delivers a Case's Overdue notification at the
// deadline delivers it exactly once after its restart. That notification
// was recorded ahead, with its dueAt, in the status write that set the
// deadline; at the deadline it is delivered before the one status write
// that records Overdue and marks it done, so the crash comes before that
// write: the restarted manager finds it recorded and the deadline passed.
func killedDuringScheduledNotification(t *testing.T, bin, kubeconfig string) {
	ctx := context.Background()
	ns := env.Namespace(t)
	rc := &receiver{inFlight: make(chan struct{}), acked: map[string]int{}}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	objs := append(webhookChannel(ns, "cx-team", hook.URL),
		&cxv1alpha1.CaseTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support"}, Spec: cxv1alpha1.CaseTemplateSpec{
			Category: "support", Team: cxv1alpha1.Team{CaseManagers: []cxv1alpha1.Subject{{Name: "maria"}}},
			Closure: cxv1alpha1.ClosureRequirements{RootCauses: []string{"product-defect"}},
			Notifications: []cxv1alpha1.EventNotification{{
				Events: []cxv1alpha1.LifecycleEvent{cxv1alpha1.EventOverdue}, To: cxv1alpha1.Recipients{Channels: []string{"cx-team"}},
			}},
		}})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installer-fails"},
		Spec: cxv1alpha1.CaseSpec{Template: "support", Title: "Installer fails", Customer: &cxv1alpha1.Customer{ID: "C-1"},
			ClosureGoal: &cxv1alpha1.Duration{Duration: 15 * time.Second}},
	}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	prefix := string(c.UID) + "/Overdue/"
	rc.mu.Lock()
	rc.holdPrefix = prefix
	rc.mu.Unlock()

	m1 := startManager(t, bin, kubeconfig, "http://127.0.0.1:1")
	select {
	case <-rc.inFlight:
	case <-time.After(90 * time.Second):
		t.Fatalf("the Overdue notification was never sent; manager log:\n%s", m1.log())
	}
	m1.kill(t)
	overdueKey := rc.heldKey()

	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
		t.Fatal(err)
	}
	var scheduled []string
	for _, n := range c.Status.PendingNotifications {
		if n.DueAt != nil && c.Status.DueAt != nil && n.DueAt.Equal(c.Status.DueAt) {
			scheduled = append(scheduled, n.Key+"@"+n.Channel)
		}
	}
	if !contains(scheduled, overdueKey+"@cx-team") {
		t.Fatalf("after the crash: status.pendingNotifications %+v; want %s recorded ahead for dueAt %v", c.Status.PendingNotifications, overdueKey, c.Status.DueAt)
	}
	if n := rc.count(overdueKey); n != 0 {
		t.Fatalf("%d acknowledged deliveries before the restart, want 0", n)
	}

	m2 := startManager(t, bin, kubeconfig, "http://127.0.0.1:1")
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
			t.Fatal(err)
		}
		if rc.count(overdueKey) == 1 && len(c.Status.PendingNotifications) == 0 && apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionOverdue) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d deliveries of %s, pending %+v, conditions %+v; want 1, none and Overdue; manager log:\n%s",
				rc.count(overdueKey), overdueKey, c.Status.PendingNotifications, c.Status.Conditions, m2.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var delivered int
	for _, n := range c.Status.Notifications {
		if n.Key == overdueKey && n.Channel == "cx-team" && n.Outcome == cxv1alpha1.DeliveryDelivered {
			delivered++
		}
	}
	if delivered != 1 {
		t.Errorf("status.notifications = %+v, want one Delivered record of %s", c.Status.Notifications, overdueKey)
	}
	time.Sleep(3 * time.Second)
	if n := rc.count(overdueKey); n != 1 {
		t.Errorf("%d deliveries of %s, want exactly 1", n, overdueKey)
	}
}

// webhookChannel is a webhook NotificationChannel to url and its signing
// Secret.
func webhookChannel(ns, name, url string) []client.Object {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	return []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-webhook"}, Data: map[string][]byte{"signing-key": []byte("whsec_" + key)}},
		&cxv1alpha1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: cxv1alpha1.NotificationChannelSpec{
			Type:                     cxv1alpha1.ChannelTypeWebhook,
			AllowPrivateDestinations: true,
			Webhook:                  &cxv1alpha1.WebhookChannel{URL: url, SigningSecretRef: cxv1alpha1.SecretKeyReference{Name: name + "-webhook", Key: "signing-key"}},
		}},
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// managerProc is a `cxloop manager` subprocess.
type managerProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

func startManager(t *testing.T, bin, kubeconfig, collectorURL string) *managerProc {
	t.Helper()
	p := &managerProc{out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bin, "manager", "--collector-image=cxloop:test", "--collector-endpoint="+collectorURL,
		// The Case webhook is not what this test is about (and it needs
		// POD_NAMESPACE for its certificate Secret): the API server here
		// has no webhook configuration for it.
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--webhook-port=0")
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the manager: %v", err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			t.Logf("manager stopped: %v", <-p.exited)
		}
	})
	return p
}

func (p *managerProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill the manager: %v", err)
	}
	t.Logf("manager killed: %v", <-p.exited)
}

func (p *managerProc) log() string { return p.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
