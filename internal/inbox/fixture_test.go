package inbox_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/inbox"
	"github.com/cxloop/cxloop/internal/testenv"
)

// People of the sample program (config/samples/casetemplate-installation-support.yaml).
const (
	member    = "priya.nair"  // spec.team.members
	manager   = "maria.lopez" // spec.team.caseManagers
	outsider  = "olaf"        // not on the team
	frontline = "acme:frontline"
)

// installAccess installs the shipped admission policies (config/admission)
// and the shipped roles (config/rbac) once per control plane.
var installed bool

func installAccess(ctx context.Context, t testing.TB) {
	t.Helper()
	if installed {
		return
	}
	root := testenv.RepoRoot()
	m := testenv.ReadManifest(t, filepath.Join(root, "config", "admission", "case_access_policies.yaml"))
	for _, u := range m.Docs {
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	for _, f := range []string{"case_editor_role.yaml", "casetemplate_viewer_role.yaml", "surveytouchpoint_viewer_role.yaml", "inbox_role.yaml"} {
		for _, u := range testenv.ReadManifest(t, filepath.Join(root, "config", "rbac", f)).Docs {
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
	installed = true
}

// program is one namespace with the sample template and touchpoint and
// RBAC for the frontline group, and an inbox serving it.
type program struct {
	ns      string
	inbox   *inbox.Server
	addr    string // the inbox's own address (behind the proxies)
	proxies map[string]string
}

func newProgram(ctx context.Context, t *testing.T) *program {
	t.Helper()
	installAccess(ctx, t)
	ns := env.Namespace(t)
	root := testenv.RepoRoot()
	for _, f := range []string{"casetemplate-installation-support.yaml", "surveytouchpoint-upgrade-install.yaml"} {
		for _, u := range testenv.ReadManifest(t, filepath.Join(root, "config", "samples", f)).Docs {
			u.SetNamespace(ns)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("create %s: %v", u.GetName(), err)
			}
		}
	}
	for _, role := range []string{"case-editor-role", "casetemplate-viewer-role", "surveytouchpoint-viewer-role"} {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frontline-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: frontline}},
		}
		if err := env.Client.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
	}
	// The inbox runs as its own user, with the shipped inbox role only.
	user, err := env.Environment.AddUser(envtest.User{Name: "cxloop-inbox-" + ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "inbox-" + ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "inbox"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "cxloop-inbox-" + ns}},
	}
	if err := env.Client.Create(ctx, crb); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crb) })

	srv, err := inbox.New(inbox.Options{
		Config: user.Config(), Scheme: env.Scheme, Namespaces: []string{ns},
		Auth: inbox.ProxyAuth{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	if err := srv.Start(sctx); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(sctx, l) }()
	return &program{ns: ns, inbox: srv, addr: l.Addr().String(), proxies: map[string]string{}}
}

// signIn starts a test authenticating proxy for one person: it sets the
// oauth2-proxy headers on every request and forwards to the inbox, as
// oauth2-proxy with --pass-user-headers does. It returns the proxy's URL.
func (p *program) signIn(t *testing.T, user string, groups ...string) string {
	t.Helper()
	target, _ := url.Parse("http://" + p.addr)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.Out.Header.Set("X-Forwarded-User", user)
			r.Out.Header.Set("X-Forwarded-Email", user+"@acme.example")
			r.Out.Header.Set("X-Forwarded-Groups", strings.Join(groups, ","))
		},
		FlushInterval: -1,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + l.Addr().String()
}

// openCase creates a Case of the sample template as the collector would,
// with the status the manager would set: opened, due at due.
func (p *program) openCase(ctx context.Context, t *testing.T, name, customer, assignee string, state cxv1alpha1.CaseState, due time.Time) *cxv1alpha1.Case {
	t.Helper()
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: name},
		Spec: cxv1alpha1.CaseSpec{
			Template: "installation-support", Title: "Installation failed for " + customer,
			Customer: &cxv1alpha1.Customer{ID: customer, Tier: "Gold", Attributes: map[string]string{"region": "emea"}},
			Source: &cxv1alpha1.CaseSource{Rule: "installation-failed", Touchpoint: "upgrade-install", ResponseID: "r-" + name,
				Response: &cxv1alpha1.ResponseSnapshot{
					Answers: map[string]apiextensionsv1.JSON{"ease": {Raw: []byte("3")}, "completed": {Raw: []byte("false")}},
					Comment: "The installer stopped at 80 percent.",
				}},
			Severity: cxv1alpha1.SeverityUrgent, Assignee: assignee, State: state,
		},
	}
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatalf("create Case %s: %v", name, err)
	}
	opened := metav1.NewTime(time.Now().Add(-72 * time.Hour).Truncate(time.Second))
	dueAt := metav1.NewTime(due.Truncate(time.Second))
	c.Status.OpenedAt, c.Status.DueAt, c.Status.ObservedState = &opened, &dueAt, state
	if err := env.Client.Status().Update(ctx, c); err != nil {
		t.Fatalf("set status of Case %s: %v", name, err)
	}
	return c
}

func (p *program) getCase(ctx context.Context, t *testing.T, name string) *cxv1alpha1.Case {
	t.Helper()
	c := &cxv1alpha1.Case{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: p.ns, Name: name}, c); err != nil {
		t.Fatal(err)
	}
	return c
}
