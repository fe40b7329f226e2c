package install_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/collector"
)

// testCollectorAccess runs the manager under its own ServiceAccount (with
// the install's ClusterRole) and a real collector under the ServiceAccount
// and Role the manager gives it, and drives a dedup merge through the
// admission policies. The collector reads only the Secrets it needs, and
// changes a Case only by adding responses.
func testCollectorAccess(t *testing.T, a access) {
	ctx := context.Background()
	ns := env.Namespace(t)
	const tpName = "upgrade-install"
	collectorSA := tpName + "-collector"

	received := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case received <- string(body):
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	tp := &cxv1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tpName},
		Spec: cxv1.SurveyTouchpointSpec{
			Channel: cxv1.ChannelEmail,
			Questions: []cxv1.Question{
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1.QuestionYesNo, Required: true},
			},
		},
	}
	template := caseTemplate(ns, templateRef, []cxv1.Subject{{Name: maria}}, []cxv1.Subject{{Name: priya}})
	rule := &cxv1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installation-failed"},
		Spec: cxv1.AlertRuleSpec{
			Touchpoints: cxv1.TouchpointSelection{Names: []string{tpName}},
			Condition:   "answers.completed == false",
			Dedup:       &cxv1.DedupSpec{Key: "customer.id", Window: cxv1.Duration{Duration: 72 * time.Hour}},
			Actions: cxv1.AlertActions{
				OpenCase: &cxv1.OpenCaseAction{Template: templateRef},
				Notify:   []cxv1.NotifyAction{{Channel: "support-hook"}},
			},
		},
	}
	objs := []client.Object{
		tp, template, rule,
		secret(ns, "hook-signing", "secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		// Another touchpoint's token and a database password: the
		// collector must not read them.
		secret(ns, "payroll-db", "dsn", "postgres://payroll:hunter2@db/payroll"),
		secret(ns, "other-hook-signing", "secret", "whsec_b3RoZXItc2VjcmV0LWtleS0xMjM0NTY3OA=="),
		&cxv1.NotificationChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support-hook"},
			Spec: cxv1.NotificationChannelSpec{
				Type: cxv1.ChannelTypeWebhook,
				Webhook: &cxv1.WebhookChannel{URL: hook.URL + "/cx",
					SigningSecretRef: cxv1.SecretKeyReference{Name: "hook-signing", Key: "secret"}},
				AllowPrivateDestinations: true, // the receiver is on loopback
			},
		},
	}
	for _, obj := range objs {
		mustCreate(ctx, t, obj)
	}

	// The manager, as its ServiceAccount, with its role bound in this
	// program namespace only: it deploys the collector's ServiceAccount,
	// Role and RoleBinding (creating a Role needs the manager to hold what
	// the Role grants).
	a.program(t, ns)
	managerClient, managerCfg := a.manager(t)
	testManagerConfined(t, managerClient)
	metricsAddr := freeAddr(t)
	mgr, err := ctrl.NewManager(managerCfg, ctrl.Options{
		Scheme: env.Scheme,
		// As `cxloop manager` serves them (--metrics-secure, the default).
		Metrics: metricsserver.Options{BindAddress: metricsAddr, SecureServing: true,
			FilterProvider: filters.WithAuthenticationAndAuthorization},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
		// Each install path runs a manager in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupWithManager(mgr, controllers.Options{
		CollectorImage: "example.com/cxloop:test", CollectorStatusEvery: time.Hour,
		// The collector below runs in this process.
		CollectorEndpoint: func(*cxv1.SurveyTouchpoint) string { return "http://127.0.0.1:1" },
	}); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stopMgr()
		if err := <-mgrDone; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	testMetricsNeedAuthorization(t, a, ns, "https://"+metricsAddr+"/metrics")

	role := &rbacv1.Role{}
	eventually(t, "the manager to create the collector's Role naming the channel's Secret", func() bool {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: collectorSA}, role); err != nil {
			return false
		}
		return slices.Equal(secretNames(role), []string{"hook-signing"})
	})
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") && len(r.ResourceNames) == 0 {
			t.Errorf("collector Role grants every Secret: %+v", r)
		}
		// Open a Case, read a dedup key's Case by name, merge into it;
		// watch the touchpoint's Cases close and record the customer's
		// follow-up answer.
		if want := []string{"create", "get", "list", "merge-responses", "patch", "record-customer-answer", "watch"}; slices.Contains(r.Resources, "cases") && !slices.Equal(slices.Sorted(slices.Values(r.Verbs)), want) {
			t.Errorf("collector Role grants %v on cases, want only what the outbox needs: %v", r.Verbs, want)
		}
	}

	// The collector, as its ServiceAccount.
	collectorClient, collectorCfg := asServiceAccount(t, ns, collectorSA)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String()
	cfg := &collector.FileConfig{
		Namespace: ns, Touchpoint: tpName, Store: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "responses.db"),
		Spec: tp.Spec, Generation: 1,
	}
	runCtx, stopCollector := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(runCtx, cfg, collector.RunOptions{Kube: collectorCfg, Listener: lis, Log: logr.Discard()})
	}()
	t.Cleanup(func() {
		stopCollector()
		if err := <-done; err != nil {
			t.Errorf("collector.Run: %v", err)
		}
	})
	post := func(id string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"customer":{"id":"C-100","tier":"Gold"},"answers":{"completed":false}}`, id)
		resp, err := http.Post(url+"/v1/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post %s: %d", id, resp.StatusCode)
		}
	}
	cases := func() []cxv1.Case {
		var list cxv1.CaseList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	// The rule reaches the collector through its watch; until then a
	// response matches nothing, so probe with fresh ids.
	eventually(t, "the first failure to open a Case", func() bool {
		post(fmt.Sprintf("r-1-%d", time.Now().UnixNano()))
		return len(cases()) > 0
	})
	select {
	case <-received: // the collector read the channel's Secret
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s: the collector could not read its channel's Secret")
	}
	post("r-2")
	var merged cxv1.Case
	eventually(t, "the second failure to merge into the open Case", func() bool {
		cs := cases()
		if len(cs) != 1 {
			return false
		}
		merged = cs[0]
		return slices.Contains(merged.Spec.RelatedResponses, tpName+"/r-2")
	})

	// The collector's identity cannot do anything else.
	unrelated := &corev1.Secret{}
	wantDenied(t, "collector reads an unrelated Secret",
		collectorClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "payroll-db"}, unrelated), `cannot get resource "secrets"`)
	if err := collectorClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hook-signing"}, &corev1.Secret{}); err != nil {
		t.Errorf("collector reads its channel's Secret: %v", err)
	}
	wantDenied(t, "collector lists Secrets", collectorClient.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)), "cannot list")
	// It watches the Cases of its own namespace (for the follow-up after
	// closure), and no other namespace's.
	if err := collectorClient.List(ctx, &cxv1.CaseList{}, client.InNamespace(ns)); err != nil {
		t.Errorf("collector lists the Cases of its namespace: %v", err)
	}
	wantDenied(t, "collector lists the cluster's Cases", collectorClient.List(ctx, &cxv1.CaseList{}), `cannot list resource "cases"`)
	other := env.Namespace(t)
	wantDenied(t, "collector lists another namespace's Cases",
		collectorClient.List(ctx, &cxv1.CaseList{}, client.InNamespace(other)), `cannot list resource "cases"`)
	retitled := merged.DeepCopy()
	retitled.Spec.Title = "Nothing to see"
	wantDenied(t, "collector retitles a Case", collectorClient.Patch(ctx, retitled, client.MergeFrom(&merged)),
		"merge-responses, which collectors hold, allows only adding spec.relatedResponses")
	reassigned := merged.DeepCopy()
	reassigned.Spec.Assignee = "mallory"
	wantDenied(t, "collector reassigns a Case", collectorClient.Patch(ctx, reassigned, client.MergeFrom(&merged)), "spec.assignee: only a case manager")
	wantDenied(t, "collector deletes a Case", collectorClient.Delete(ctx, &merged), "cannot delete")

	testCollectorRecordsCustomerAnswer(t, collectorClient, ns)

	// A rule that notifies another channel extends the Role to that
	// channel's Secret, and only that.
	mustCreate(ctx, t, &cxv1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other-hook"},
		Spec: cxv1.NotificationChannelSpec{
			Type: cxv1.ChannelTypeWebhook,
			Webhook: &cxv1.WebhookChannel{URL: "https://hooks.example.com/cx",
				SigningSecretRef: cxv1.SecretKeyReference{Name: "other-hook-signing", Key: "secret"}},
		},
	})
	live := &cxv1.AlertRule{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rule), live); err != nil {
		t.Fatal(err)
	}
	live.Spec.Actions.Notify = append(live.Spec.Actions.Notify, cxv1.NotifyAction{Channel: "other-hook"})
	if err := env.Client.Update(ctx, live); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Role to follow the rule's channels", func() bool {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: collectorSA}, role); err != nil {
			return false
		}
		return slices.Equal(secretNames(role), []string{"hook-signing", "other-hook-signing"})
	})
}

// testCollectorRecordsCustomerAnswer: through the shipped admission
// policies, a collector's identity records the customer's answer to the
// follow-up on a Closed Case once (spec.resolution.customerRecovered, where
// nothing set it), and can neither change that answer nor anything else of
// the Case with it.
func testCollectorRecordsCustomerAnswer(t *testing.T, collectorClient client.Client, ns string) {
	t.Helper()
	ctx := context.Background()
	closed := closedCase(ctx, t, ns)
	// As the collector writes it: with an optimistic lock, read again on a
	// conflict (the manager writes the Case's status meanwhile).
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := &cxv1.Case{}
		if err := collectorClient.Get(ctx, client.ObjectKeyFromObject(closed), live); err != nil {
			return err
		}
		answered := live.DeepCopy()
		answered.Spec.Resolution.CustomerRecovered = ptr.To(true)
		if answered.Annotations == nil {
			answered.Annotations = map[string]string{}
		}
		answered.Annotations[collector.AnnotationCustomerRecoveredBy] = "follow-up"
		return collectorClient.Patch(ctx, answered, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{}))
	}); err != nil {
		t.Fatalf("collector records the customer's follow-up answer on a Closed Case: %v", err)
	}
	live := &cxv1.Case{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(closed), live); err != nil {
		t.Fatal(err)
	}
	if r := live.Spec.Resolution; r == nil || r.CustomerRecovered == nil || !*r.CustomerRecovered ||
		r.RootCause != closed.Spec.Resolution.RootCause || r.Summary != closed.Spec.Resolution.Summary {
		t.Errorf("resolution after the follow-up answer: %+v, want the closing's root cause and summary with customerRecovered true", r)
	}

	overwritten := live.DeepCopy()
	overwritten.Spec.Resolution.CustomerRecovered = ptr.To(false)
	wantDenied(t, "collector changes a recorded answer", collectorClient.Patch(ctx, overwritten, client.MergeFrom(live)),
		"a Closed Case cannot be changed")

	second := closedCase(ctx, t, ns)
	rewritten := second.DeepCopy()
	rewritten.Spec.Resolution.CustomerRecovered = ptr.To(true)
	rewritten.Spec.Resolution.Summary = "Nothing was wrong."
	wantDenied(t, "collector rewrites the resolution's summary with the answer", collectorClient.Patch(ctx, rewritten, client.MergeFrom(second)),
		"a Closed Case cannot be changed")
	retitled := second.DeepCopy()
	retitled.Spec.Resolution.CustomerRecovered = ptr.To(true)
	retitled.Spec.Title = "Solved"
	wantDenied(t, "collector retitles a Case with the answer", collectorClient.Patch(ctx, retitled, client.MergeFrom(second)),
		"a Closed Case cannot be changed")
}

// closedCase creates a Case as the test's admin and closes it, reading it
// again when the manager wrote it in between.
func closedCase(ctx context.Context, t *testing.T, ns string) *cxv1.Case {
	t.Helper()
	c := caseObject(ns, cxv1.CaseOpen)
	mustCreate(ctx, t, c)
	for _, s := range []cxv1.CaseState{cxv1.CaseResolved, cxv1.CaseClosed} {
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
				return err
			}
			c.Spec.State = s
			return env.Client.Update(ctx, c)
		}); err != nil {
			t.Fatalf("move case %s to %s: %v", c.Name, s, err)
		}
	}
	return c
}

// testManagerConfined: outside its program namespaces the manager's
// identity reads no Secret, lists none, and creates no Secret, Role,
// RoleBinding or workload.
func testManagerConfined(t *testing.T, manager client.Client) {
	t.Helper()
	ctx := context.Background()
	other := env.Namespace(t)
	mustCreate(ctx, t, secret(other, "payroll-db", "dsn", "postgres://payroll:hunter2@db/payroll"))
	wantDenied(t, "manager reads a Secret of another namespace",
		manager.Get(ctx, client.ObjectKey{Namespace: other, Name: "payroll-db"}, &corev1.Secret{}), `cannot get resource "secrets"`)
	wantDenied(t, "manager lists the cluster's Secrets", manager.List(ctx, &corev1.SecretList{}), `cannot list resource "secrets"`)
	wantDenied(t, "manager creates a Secret in another namespace",
		manager.Create(ctx, secret(other, "planted", "k", "v")), `cannot create resource "secrets"`)
	wantDenied(t, "manager creates a Role in another namespace", manager.Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "planted"},
	}), `cannot create resource "roles"`)
	wantDenied(t, "manager creates a RoleBinding in another namespace", manager.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "planted"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: other, Name: "default"}},
	}), `cannot create resource "rolebindings"`)
	wantDenied(t, "manager lists Roles cluster-wide", manager.List(ctx, &rbacv1.RoleList{}), `cannot list resource "roles"`)
	wantDenied(t, "manager runs a pod in another namespace", manager.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "planted"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}), `cannot create resource "pods"`)
}

func secret(ns, name, key, value string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{key: value}}
}

// secretNames are the Secrets a Role lets its subject read.
func secretNames(role *rbacv1.Role) []string {
	var names []string
	for _, r := range role.Rules {
		if slices.Contains(r.Resources, "secrets") {
			names = append(names, r.ResourceNames...)
		}
	}
	slices.Sort(names)
	return names
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// testMetricsNeedAuthorization: the manager's metrics answer only a caller
// whose token the API server authenticates and who may GET /metrics (the
// install's metrics-reader ClusterRole); the manager checks with its own
// identity (the install's metrics-auth-role).
func testMetricsNeedAuthorization(t *testing.T, a access, ns, url string) {
	t.Helper()
	ctx := context.Background()
	token := func(sa string) string {
		mustCreate(ctx, t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
		sao := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
		if err := env.Client.SubResource("token").Create(ctx, sao, req); err != nil {
			t.Fatalf("token for %s: %v", sa, err)
		}
		return req.Status.Token
	}
	prometheus, stranger := token("prometheus"), token("stranger")
	mustCreate(ctx, t, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-prometheus"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: a.prefix + "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	})
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-prometheus"}})
	})
	// The certificate is self-signed (no --metrics-cert-dir).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test certificate
	get := func(bearer string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	eventually(t, "the metrics endpoint to serve Prometheus", func() bool { return get(prometheus) == http.StatusOK })
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d, want 401", code)
	}
	if code := get(stranger); code != http.StatusForbidden {
		t.Errorf("metrics with a token not bound to metrics-reader: %d, want 403", code)
	}
	// A token the API server rejects: controller-runtime's filter answers
	// 500 ("Authentication failed"), not the metrics.
	if code := get("not-a-token"); code == http.StatusOK || code == 0 {
		t.Errorf("metrics with a bad token: %d, want a refusal", code)
	}
	plain, err := http.Get(strings.Replace(url, "https://", "http://", 1))
	if err == nil {
		_ = plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("metrics answered 200 over plain HTTP")
		}
	}
}
