package inbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// Identity is the signed-in person as the authenticating proxy names them:
// the user name and groups the API server will see when the inbox
// impersonates them.
type Identity struct {
	User   string
	Groups []string
	// Email is shown on pages only; it plays no part in access.
	Email string
}

// key identifies the identity in caches: user and groups (two requests with
// the same user but other groups may be allowed other things).
func (id Identity) key() string {
	return id.User + "\x00" + strings.Join(id.Groups, "\x00")
}

// ProxyAuth reads the identity from the headers of a trusted authenticating
// proxy (oauth2-proxy with --pass-user-headers, or any proxy that sets the
// same headers). Requests from any other address are refused, so a client
// cannot name itself by sending the headers directly.
type ProxyAuth struct {
	// Trusted are the proxy's addresses. Empty trusts nobody.
	Trusted []netip.Prefix
	// UserHeader carries the user name (default X-Forwarded-User).
	UserHeader string
	// GroupsHeader carries the groups, comma-separated or repeated
	// (default X-Forwarded-Groups).
	GroupsHeader string
	// EmailHeader carries the email shown on pages (default
	// X-Forwarded-Email).
	EmailHeader string
	// UserPrefix and GroupPrefix are prepended to the names, as the API
	// server's --oidc-username-prefix and --oidc-groups-prefix are, so the
	// inbox impersonates the names the cluster's RBAC already uses.
	UserPrefix, GroupPrefix string
}

// errUntrusted is returned for requests that do not come from the proxy.
var errUntrusted = errors.New("request did not come through the authenticating proxy")

// ParsePrefixes parses a comma-separated list of CIDRs or addresses.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a CIDR (10.0.0.0/8) nor an address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func header(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// Identify returns the person of a request.
func (p ProxyAuth) Identify(r *http.Request) (Identity, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return Identity{}, errUntrusted
	}
	addr = addr.Unmap()
	if !slices.ContainsFunc(p.Trusted, func(pr netip.Prefix) bool { return pr.Contains(addr) }) {
		return Identity{}, errUntrusted
	}
	user := strings.TrimSpace(r.Header.Get(header(p.UserHeader, "X-Forwarded-User")))
	if user == "" {
		return Identity{}, errors.New("the proxy sent no user name (" + header(p.UserHeader, "X-Forwarded-User") + ")")
	}
	id := Identity{User: p.UserPrefix + user, Email: strings.TrimSpace(r.Header.Get(header(p.EmailHeader, "X-Forwarded-Email")))}
	for _, v := range r.Header.Values(header(p.GroupsHeader, "X-Forwarded-Groups")) {
		for _, g := range strings.Split(v, ",") {
			if g = strings.TrimSpace(g); g != "" && !slices.Contains(id.Groups, p.GroupPrefix+g) {
				id.Groups = append(id.Groups, p.GroupPrefix+g)
			}
		}
	}
	slices.Sort(id.Groups)
	// The inbox may impersonate anyone; it never impersonates the
	// cluster's own identities (system:masters, service accounts, nodes),
	// whatever the proxy sends.
	if strings.HasPrefix(id.User, "system:") {
		return Identity{}, fmt.Errorf("user %q: the inbox does not act as system: users", id.User)
	}
	for _, g := range id.Groups {
		if strings.HasPrefix(g, "system:") {
			return Identity{}, fmt.Errorf("group %q: the inbox does not act with system: groups", g)
		}
	}
	return id, nil
}

// csrfToken is the token the forms of a person carry: an HMAC of the user
// under the inbox's key. Forms are also refused when the browser says the
// request is cross-site (http.CrossOriginProtection); the token protects
// browsers that do not send Sec-Fetch-Site or Origin.
func csrfToken(key []byte, id Identity) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("cxloop-inbox-csrf\x00" + id.User))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func validCSRF(key []byte, id Identity, token string) bool {
	return hmac.Equal([]byte(csrfToken(key, id)), []byte(token))
}
