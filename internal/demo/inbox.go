package demo

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cxloop/cxloop/internal/inbox"
)

// demoGroup is the group every demo person signs in with; the demo binds
// it to the roles people need to work Cases in the program's namespace.
const demoGroup = "acme:frontline"

// demoPeople are the sign-in links the demo prints: a case manager and a
// member of the sample's installation-support template.
var demoPeople = []struct{ user, role string }{
	{"maria.lopez", "case manager"},
	{"priya.nair", "team member"},
}

// startInbox serves the inbox on loopback and, for each demo person, a
// sign-in proxy that sets the authenticating proxy's headers as
// oauth2-proxy would. It returns the inbox's address and the sign-in URLs.
func startInbox(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme, namespace string, now func() time.Time, log logr.Logger, wg *sync.WaitGroup) (string, map[string]string, error) {
	srv, err := inbox.New(inbox.Options{
		Config: cfg, Scheme: scheme, Namespaces: []string{namespace}, Clock: now, Log: log,
		Auth: inbox.ProxyAuth{Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	})
	if err != nil {
		return "", nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("inbox: %w", err)
	}
	wg.Go(func() {
		if err := srv.Serve(ctx, l); err != nil && ctx.Err() == nil {
			log.Error(err, "inbox stopped")
		}
	})
	addr := "http://" + l.Addr().String()
	target, _ := url.Parse(addr)
	signIn := map[string]string{}
	for _, p := range demoPeople {
		user := p.user
		rp := &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Header.Set("X-Forwarded-User", user)
				r.Out.Header.Set("X-Forwarded-Groups", demoGroup)
				r.Out.Header.Set("X-Forwarded-Email", user+"@acme.example")
			},
			FlushInterval: -1,
		}
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, fmt.Errorf("sign-in proxy: %w", err)
		}
		hs := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() { _ = hs.Serve(pl) })
		wg.Go(func() { <-ctx.Done(); _ = hs.Close() })
		signIn[user] = "http://" + pl.Addr().String()
	}
	return addr, signIn, nil
}

// grantPeople installs the roles people need (config/rbac) and binds them
// to the demo group in the namespace.
func grantPeople(ctx context.Context, cl client.Client, scheme *k8sruntime.Scheme, namespace, repo string) error {
	roles := map[string]string{
		"case-editor-role": "case_editor_role.yaml", "casetemplate-viewer-role": "casetemplate_viewer_role.yaml",
		"surveytouchpoint-viewer-role": "surveytouchpoint_viewer_role.yaml",
	}
	for role, file := range roles {
		objs, err := readObjects(filepath.Join(repo, "config", "rbac", file), serializer.NewCodecFactory(scheme).UniversalDeserializer())
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := cl.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("install ClusterRole %s: %w", o.GetName(), err)
			}
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "demo-frontline-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: demoGroup}},
		}
		if err := cl.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("bind %s to %s: %w", role, demoGroup, err)
		}
	}
	return nil
}

// errRefused is a change the inbox showed an error for (the API server
// refused it): the Case changed meanwhile, or the person may not.
var errRefused = errors.New("the inbox refused the change")

// inboxClient posts the inbox's forms as a signed-in person, the way the
// authenticating proxy passes them on.
type inboxClient struct {
	base string
	http *http.Client

	mu     sync.Mutex
	tokens map[string]string // the form token of each person
}

func newInboxClient(base string) *inboxClient {
	return &inboxClient{base: base, tokens: map[string]string{}, http: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (ic *inboxClient) do(ctx context.Context, user, method, path string, body url.Values) (*http.Response, string, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, ic.base+path, rd)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("X-Forwarded-User", user)
	req.Header.Set("X-Forwarded-Groups", demoGroup)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := ic.http.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, string(b), err
}

// post submits one form of a Case page as the person: it opens the page
// first for the person's form token, as a browser would.
func (ic *inboxClient) post(ctx context.Context, user, namespace, name, op string, form url.Values) error {
	path := "/namespaces/" + url.PathEscape(namespace) + "/cases/" + url.PathEscape(name)
	ic.mu.Lock()
	token := ic.tokens[user]
	ic.mu.Unlock()
	if token == "" {
		resp, page, err := ic.do(ctx, user, http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("%s opens Case %s in the inbox: %w", user, name, err)
		}
		m := csrfField.FindStringSubmatch(page)
		if resp.StatusCode != http.StatusOK || m == nil {
			return fmt.Errorf("%s opens Case %s in the inbox: %s: %w", user, name, resp.Status, errRefused)
		}
		token = html.UnescapeString(m[1])
		ic.mu.Lock()
		ic.tokens[user] = token
		ic.mu.Unlock()
	}
	form.Set("csrf", token)
	resp, _, err := ic.do(ctx, user, http.MethodPost, path+"/"+op, form)
	if err != nil {
		return fmt.Errorf("%s posts %s on Case %s: %w", user, op, name, err)
	}
	switch {
	case resp.StatusCode == http.StatusSeeOther:
		return nil
	case resp.StatusCode >= 500:
		return fmt.Errorf("%s posts %s on Case %s: the inbox answered %s", user, op, name, resp.Status)
	}
	return fmt.Errorf("%s posts %s on Case %s: %s: %w", user, op, name, resp.Status, errRefused)
}
