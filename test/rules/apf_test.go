package rules_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// statusCounter counts the API server's answers by status code; it only
// watches, the answers are the API server's own.
type statusCounter struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	seen map[int]int
}

func (s *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		s.seen[resp.StatusCode]++
		s.mu.Unlock()
	}
	return resp, err
}

func (s *statusCounter) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[code]
}

// The API server's Priority and Fairness gives the collector's user one
// tiny priority level that rejects what it cannot take (429 with
// Retry-After). A collector with no client-side limit (the default), 16
// workers and a burst of matches is pushed back and waits: every Case
// opens, none is dropped.
func TestPriorityAndFairnessPushbackIsWaitedOut(t *testing.T) {
	ctx := context.Background()
	user := fmt.Sprintf("apf-collector-%d", time.Now().UnixNano())
	au, err := env.Environment.ControlPlane.AddUser(envtest.User{Name: user}, env.Config)
	if err != nil {
		t.Fatal(err)
	}
	p := newProgram(t, nil, rule("installation-failed", "answers.completed == false"))

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "apf-collector"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{cxv1alpha1.GroupVersion.Group}, Resources: []string{"cases"}, Verbs: []string{"get", "create", "patch"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: "apf-collector"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	level := &flowcontrolv1.PriorityLevelConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
			Type: flowcontrolv1.PriorityLevelEnablementLimited,
			Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
				NominalConcurrencyShares: ptr(int32(1)),
				LendablePercent:          ptr(int32(0)),
				BorrowingLimitPercent:    ptr(int32(0)),
				LimitResponse:            flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeReject},
			},
		},
	}
	schema := &flowcontrolv1.FlowSchema{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Spec: flowcontrolv1.FlowSchemaSpec{
			PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: level.Name},
			MatchingPrecedence:         100,
			DistinguisherMethod:        &flowcontrolv1.FlowDistinguisherMethod{Type: flowcontrolv1.FlowDistinguisherMethodByUserType},
			Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
				Subjects:         []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindUser, User: &flowcontrolv1.UserSubject{Name: user}}},
				ResourceRules:    []flowcontrolv1.ResourcePolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}, Namespaces: []string{"*"}}},
				NonResourceRules: []flowcontrolv1.NonResourcePolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
			}},
		},
	}
	for _, obj := range []client.Object{role, binding, level, schema} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), obj) })
	}

	cfg := au.Config()
	cfg.QPS = -1 // the collector's default: no client-side limit
	counter := &statusCounter{seen: map[int]int{}}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.rt = rt; return counter }
	kube, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The API server applies a new FlowSchema within a moment; wait until
	// requests of the user are classified by it.
	waitForFlowSchema(t, rest.CopyConfig(cfg), schema.Name)

	const n = 120
	for i := range n {
		p.post(fmt.Sprintf("r-%03d", i), fmt.Sprintf("C-%03d", i), false, "")
	}
	d := collector.NewDispatcher(collector.DispatcherOptions{
		Store: p.st, Client: kube, Notifier: p.sent, Now: p.clock.Now, Workers: 16, Batch: 1,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Log: logr.Discard(),
	})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.Run(runCtx)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		depth, _, err := p.st.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if depth == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d actions left after 2 minutes", depth)
		}
		p.clock.Advance(time.Second) // retries are scheduled on the injected clock
		time.Sleep(50 * time.Millisecond)
	}
	if got := len(p.cases()); got != n {
		t.Errorf("%d Cases, want %d: pushback dropped actions", got, n)
	}
	rejected := counter.count(http.StatusTooManyRequests)
	if rejected == 0 {
		t.Errorf("the API server never answered 429: the test did not push back (answers %v)", counter.seen)
	}
	t.Logf("%d Cases opened through %d 429 answers (%d 201)", n, rejected, counter.count(http.StatusCreated))
}

// waitForFlowSchema waits until the API server names the FlowSchema in
// its answers to the user.
func waitForFlowSchema(t *testing.T, cfg *rest.Config, name string) {
	t.Helper()
	fs := &flowcontrolv1.FlowSchema{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, fs); err != nil {
		t.Fatal(err)
	}
	cfg.WrapTransport = nil
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(cfg.Host + "/apis/" + cxv1alpha1.GroupVersion.String())
		if err == nil {
			_ = resp.Body.Close()
			if resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID") == string(fs.UID) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the API server did not apply FlowSchema %s within 30s", name)
}

func ptr[T any](v T) *T { return &v }
