package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it; tests inject one that maps names to loopback addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// refusedError is a destination the SSRF guard refused.
type refusedError struct {
	field  string
	host   string
	reason string
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s: destination %s is %s, which is refused so that notifications cannot reach internal services; set spec.allowPrivateDestinations: true if this is intended",
		e.field, e.host, e.reason)
}

// fieldKey carries the channel field that names the destination being
// dialed, so a refusal names it.
type fieldKey struct{}

func withField(ctx context.Context, field string) context.Context {
	return context.WithValue(ctx, fieldKey{}, field)
}

func fieldFrom(ctx context.Context) string {
	if f, ok := ctx.Value(fieldKey{}).(string); ok {
		return f
	}
	return "destination"
}

// clusterInternalName reports whether host is a name that only resolves
// inside a cluster (Services, Pods) or the machine itself.
func clusterInternalName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, suffix := range []string{".svc", ".cluster.local", ".localhost"} {
		if strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return h == "localhost" || !strings.Contains(h, ".") && net.ParseIP(h) == nil
}

// privateAddr says why an address must not be reached without
// allowPrivateDestinations, or "" when it may be.
func privateAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not a valid address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsPrivate():
		return "a private address"
	case ip.Is4() && ip.As4()[0] == 0:
		return `a "this network" address`
	}
	return ""
}

// guardedDialer dials TCP connections for notifications. It resolves the
// host itself (with the Notifier's Resolver) and connects to an address it
// resolved. Unless allowPrivate is set it refuses cluster-internal names
// and private addresses and connects only to a checked address, so a DNS answer
// that changes between a check and the connection (DNS rebinding) cannot
// bypass it. The dialer's Control hook checks the address once more right
// before the socket connects.
type guardedDialer struct {
	resolver     Resolver
	allowPrivate bool
	dialer       net.Dialer
}

func newGuardedDialer(resolver Resolver, allowPrivate bool) *guardedDialer {
	d := &guardedDialer{resolver: resolver, allowPrivate: allowPrivate}
	d.dialer = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.dialer.Control = controlRefusePrivate
	}
	return d
}

// controlRefusePrivate runs on the literal address a socket is about to
// connect to.
func controlRefusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: not an IP address and port", address)
	}
	if reason := privateAddr(ap.Addr()); reason != "" {
		return &refusedError{field: "destination", host: ap.Addr().String(), reason: reason}
	}
	return nil
}

// DialContext connects to addr (host:port).
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	field := fieldFrom(ctx)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		if !d.allowPrivate && clusterInternalName(host) {
			return nil, &refusedError{field: field, host: host, reason: "a cluster-internal name"}
		}
		ips, err = d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("%s: resolve %s: %w", field, host, err)
		}
	}
	var refused error
	var dialErrs []error
	for _, ip := range ips {
		if reason := privateAddr(ip); reason != "" && !d.allowPrivate {
			refused = &refusedError{field: field, host: describeHost(host, ip), reason: reason}
			continue
		}
		conn, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		dialErrs = append(dialErrs, err)
	}
	if len(dialErrs) > 0 {
		return nil, errors.Join(dialErrs...)
	}
	if refused != nil {
		return nil, refused
	}
	return nil, fmt.Errorf("%s: %s has no addresses", field, host)
}

func describeHost(host string, ip netip.Addr) string {
	if host == ip.String() {
		return host
	}
	return fmt.Sprintf("%s (%s)", host, ip)
}

// PrivateHost says, without resolving anything, why host (an IP literal or
// a name) is a destination that needs allowPrivateDestinations: a private,
// loopback, link-local or unspecified address, or a cluster-internal name.
// It returns "" for a public-looking name, which the notifier still checks
// once resolved, when it connects.
func PrivateHost(host string) string {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return privateAddr(ip)
	}
	if clusterInternalName(host) {
		return "a cluster-internal name"
	}
	return ""
}
