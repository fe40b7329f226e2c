package notify

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// mapResolver answers from a map and counts lookups.
type mapResolver struct {
	mu      sync.Mutex
	addrs   map[string][]netip.Addr
	lookups []string
}

func (r *mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, host)
	return r.addrs[host], nil
}

const allowHint = "set spec.allowPrivateDestinations: true if this is intended"

// Without allowPrivateDestinations, a loopback URL, a name that resolves to
// loopback and a cluster-internal name are refused before anything is
// sent, with an error that names the field and the fix; with it, the same
// receiver gets the message.
func TestRefusesPrivateDestinations(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t)
	port := netip.MustParseAddrPort(rcv.Listener.Addr().String()).Port()
	res := &mapResolver{addrs: map[string][]netip.Addr{"hooks.partner.example": {netip.MustParseAddr("127.0.0.1")}}}
	n, _ := newTestNotifier(t, func(o *Options) { o.Resolver = res })
	ctx := context.Background()

	for _, tc := range []struct{ name, url, want string }{
		{"loopback", rcv.URL, "spec.webhook.url: destination 127.0.0.1 is a loopback address"},
		{"resolves-to-loopback", "http://hooks.partner.example:" + itoa(port), "spec.webhook.url: destination hooks.partner.example (127.0.0.1) is a loopback address"},
		{"cluster-service", "http://crm.cx-system.svc:" + itoa(port), "spec.webhook.url: destination crm.cx-system.svc is a cluster-internal name"},
		{"link-local", "http://169.254.169.254/latest/meta-data", "destination 169.254.169.254 is a link-local address"},
		{"private", "http://10.0.0.7:8080/hook", "destination 10.0.0.7 is a private address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := webhookChannel(ns, tc.name, tc.url, false)
			create(t, secret(ns, tc.name+"-signing", map[string]string{"key": testSigningSecret}), ch)
			err := n.Deliver(ctx, ns, tc.name, sampleMessage("k"))
			if !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), allowHint) {
				t.Errorf("error = %v, want a permanent refusal with %q and the fix", err, tc.want)
			}
			if st := channelStatus(t, ns, tc.name); st.LastDelivery == nil || !strings.Contains(st.LastDelivery.Message, allowHint) {
				t.Errorf("lastDelivery = %+v", st.LastDelivery)
			}
		})
	}
	if len(rcv.Requests()) != 0 {
		t.Fatalf("receiver got %d requests from refused channels", len(rcv.Requests()))
	}
	for _, host := range res.lookups {
		if strings.HasSuffix(host, ".svc") {
			t.Errorf("cluster-internal name %s was resolved; it should be refused by name", host)
		}
	}

	allowed := webhookChannel(ns, "allowed", "http://hooks.partner.example:"+itoa(port), true)
	create(t, secret(ns, "allowed-signing", map[string]string{"key": testSigningSecret}), allowed)
	if err := n.Deliver(ctx, ns, "allowed", sampleMessage("k")); err != nil {
		t.Fatalf("with allowPrivateDestinations: %v", err)
	}
	if len(rcv.Requests()) != 1 {
		t.Errorf("receiver got %d requests, want 1", len(rcv.Requests()))
	}
}

// An SMTP host on loopback is refused the same way, naming its field.
func TestRefusesPrivateSMTPHost(t *testing.T) {
	ns := env.Namespace(t)
	ch := emailChannel(ns, "leads", 2525, cxv1alpha1.SMTPStartTLS, "")
	ch.Spec.AllowPrivateDestinations = false
	create(t, ch)
	n, _ := newTestNotifier(t)
	err := n.Deliver(context.Background(), ns, "leads", sampleMessage("k"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "spec.email.smtp.host: destination 127.0.0.1 is a loopback address") || !strings.Contains(err.Error(), allowHint) {
		t.Errorf("error = %v", err)
	}
}

// A redirect is not followed: the message would go somewhere the channel
// does not name.
func TestRedirectIsNotFollowed(t *testing.T) {
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusFound)
	rcv.header.Set("Location", "http://169.254.169.254/")
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, _ := newTestNotifier(t)
	err := n.Deliver(context.Background(), ns, "crm", sampleMessage("k"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "the receiver redirects; set spec.webhook.url to the final URL") {
		t.Errorf("error = %v", err)
	}
	if len(rcv.Requests()) != 1 {
		t.Errorf("receiver got %d requests, want 1", len(rcv.Requests()))
	}
}

func TestClusterInternalName(t *testing.T) {
	for host, want := range map[string]bool{
		"crm.default.svc":                     true,
		"crm.default.svc.cluster.local":       true,
		"crm.default.svc.cluster.local.":      true,
		"localhost":                           true,
		"app.localhost":                       true,
		"crm":                                 true,
		"hooks.slack.com":                     false,
		"prod-123.westeurope.logic.azure.com": false,
	} {
		if got := clusterInternalName(host); got != want {
			t.Errorf("clusterInternalName(%q) = %v, want %v", host, got, want)
		}
	}
}

// The dialer's Control hook refuses a private address even when handed
// one directly.
func TestControlRefusesPrivateAddress(t *testing.T) {
	if err := controlRefusePrivate("tcp4", "127.0.0.1:80", nil); err == nil {
		t.Error("127.0.0.1 allowed")
	}
	if err := controlRefusePrivate("tcp6", "[2606:4700::1111]:443", nil); err != nil {
		t.Errorf("public address refused: %v", err)
	}
}
