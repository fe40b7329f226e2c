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

// specialPurpose are the address blocks of the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and successors) and cloud
// metadata addresses that a notification must not reach without
// allowPrivateDestinations: none of them is an ordinary public Internet
// host, and several are how a pod reaches things it should not (the pod
// and node ranges of carrier-grade NAT clusters, metadata services).
// Loopback, private, link-local and unspecified addresses are checked
// first, with netip's own predicates.
// documentationAddress is the reason of the ranges reserved for examples.
const documentationAddress = "a documentation address"

var specialPurpose = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address`},
	// 100.100.100.200 is a cloud metadata service (Alibaba Cloud), inside
	// the shared address space; named for the message.
	{netip.MustParsePrefix("100.100.100.200/32"), "a cloud metadata address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), documentationAddress},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), documentationAddress},
	{netip.MustParsePrefix("203.0.113.0/24"), documentationAddress},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	// fd00:ec2::254 is the AWS metadata service over IPv6 (inside the
	// unique-local block, refused as private too).
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment address"},
	{netip.MustParsePrefix("2001:db8::/32"), documentationAddress},
	{netip.MustParsePrefix("3fff::/20"), documentationAddress},
	{netip.MustParsePrefix("5f00::/16"), "a segment-routing (SRv6) address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// Prefixes that embed an IPv4 address, which is checked in turn: NAT64
// (64:ff9b::/96, the IPv4 in the last 32 bits) and 6to4 (2002::/16, in bits
// 16 to 48).
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixToV4 = netip.MustParsePrefix("2002::/16")
)

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
	}
	for _, sp := range specialPurpose {
		if sp.prefix.Contains(ip) {
			return sp.reason
		}
	}
	if ip.Is6() && (nat64.Contains(ip) || sixToV4.Contains(ip)) {
		b := ip.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if sixToV4.Contains(ip) {
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if reason := privateAddr(v4); reason != "" {
			return reason + " (" + v4.String() + ") embedded in an IPv6 address"
		}
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
