package notify

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func itoa[T ~uint16 | ~int | ~int32](v T) string { return strconv.Itoa(int(v)) }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-3":                            0,
		"soon":                          0,
		"Sat, 14 Mar 2026 09:00:30 GMT": 30 * time.Second,
		"Sat, 14 Mar 2026 08:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(h, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

// Backoff doubles per attempt up to the cap, never less than half of it.
func TestBackoffBounds(t *testing.T) {
	n := New(nil, Options{BackoffBase: time.Second, BackoffMax: 5 * time.Second})
	for attempt, hi := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 10: 5 * time.Second} {
		for range 50 {
			if d := n.backoff(attempt); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, hi/2, hi)
			}
		}
	}
}

func TestKeyLRUForgetsLeastRecentlyUsed(t *testing.T) {
	l := newKeyLRU(2)
	l.add("a")
	l.add("b")
	l.contains("a") // a is now the most recent
	l.add("c")
	if !l.contains("a") || l.contains("b") || !l.contains("c") {
		t.Errorf("after a, b, touch a, c with room for 2: a=%v b=%v c=%v, want a and c", l.contains("a"), l.contains("b"), l.contains("c"))
	}
}

func TestSigningKey(t *testing.T) {
	if k, err := signingKey([]byte("whsec_aGVsbG8=")); err != nil || string(k) != "hello" {
		t.Errorf("whsec_ key = %q, %v", k, err)
	}
	if k, err := signingKey([]byte("plain secret")); err != nil || string(k) != "plain secret" {
		t.Errorf("raw key = %q, %v", k, err)
	}
	if _, err := signingKey([]byte("whsec_not base64!")); !IsPermanent(err) || !strings.Contains(err.Error(), "spec.webhook.signingSecretRef") {
		t.Errorf("bad whsec_ key error = %v", err)
	}
}

func TestExtraHeadersRefusesReservedAndInvalid(t *testing.T) {
	for _, data := range []map[string][]byte{
		{"webhook-signature": []byte("v1,forged")},
		{"Content-Type": []byte("text/plain")},
		{"Bad Header": []byte("x")},
		{"X-Ok": []byte("a\r\nInjected: 1")},
	} {
		if _, err := extraHeaders("hdrs", data); !IsPermanent(err) || !strings.Contains(err.Error(), "spec.webhook.headersSecretRef") {
			t.Errorf("extraHeaders(%v) error = %v", data, err)
		}
	}
	h, err := extraHeaders("hdrs", map[string][]byte{"authorization": []byte("Bearer x\n")})
	if err != nil || h.Get("Authorization") != "Bearer x" {
		t.Errorf("headers %v, %v", h, err)
	}
}

func TestPermanentWrapping(t *testing.T) {
	base := errors.New("400 Bad Request")
	err := errors.Join(errors.New("context"), Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || IsPermanent(base) || Permanent(nil) != nil {
		t.Error("Permanent/IsPermanent do not wrap as documented")
	}
}

// A key that cannot travel in a header is refused before anything else.
func TestKeyWithControlCharactersIsPermanent(t *testing.T) {
	err := New(nil, Options{}).Deliver(t.Context(), "ns", "crm", Message{Key: "case-1\r\nX-Injected: 1"})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "Message.Key") {
		t.Errorf("error = %v", err)
	}
}

// A long non-ASCII subject is folded into short lines (SMTP's limit is 998)
// and decodes back to the title.
func TestLongSubjectIsFolded(t *testing.T) {
	title := strings.Repeat("Überprüfung der Installation fehlgeschlagen — ", 4)
	raw, err := buildEmail(emailHeader{From: mustAddress(t, "cx@acme.example"), To: []*mail.Address{mustAddress(t, "qa@acme.example")}, MessageID: "<x@acme.example>"},
		Message{Title: title, Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	subjectLines, inSubject := 0, false
	for i, line := range strings.Split(head, "\r\n") {
		// Lines stay near 78 characters; an encoded word (at most 75) is
		// never split.
		if len(line) > 78+len("Subject:") {
			t.Errorf("header line %d has %d characters: %q", i, len(line), line)
		}
		inSubject = strings.HasPrefix(line, "Subject:") || inSubject && strings.HasPrefix(line, " ")
		if inSubject {
			subjectLines++
		}
	}
	if subjectLines < 4 {
		t.Errorf("Subject spans %d lines, want it folded", subjectLines)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || got != strings.TrimSpace(title) {
		t.Errorf("Subject decodes to %q (%v), want %q", got, err, strings.TrimSpace(title))
	}
}

// The SSRF guard refuses every special-purpose block, in IPv4 and IPv6,
// and lets ordinary public addresses through.
func TestPrivateAddrRefusesSpecialPurposeRanges(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // "" when the address may be reached
	}{
		{"127.0.0.1", "a loopback address"},
		{"10.1.2.3", "a private address"},
		{"172.16.0.1", "a private address"},
		{"192.168.1.1", "a private address"},
		{"169.254.169.254", "a link-local address"},
		{"0.0.0.0", "an unspecified address"},
		{"172.32.0.1", ""},
		{"0.1.2.3", `a "this network" address`},
		{"100.64.0.1", "a shared (carrier-grade NAT) address"},
		{"100.127.255.254", "a shared (carrier-grade NAT) address"},
		{"100.100.100.200", "a cloud metadata address"},
		{"192.0.0.8", "an IETF protocol assignment address"},
		{"192.0.2.10", "a documentation address"},
		{"198.18.0.1", "a benchmarking address"},
		{"198.19.255.255", "a benchmarking address"},
		{"198.51.100.7", "a documentation address"},
		{"203.0.113.9", "a documentation address"},
		{"224.0.0.251", "a link-local address"},
		{"239.1.2.3", "a multicast address"},
		{"240.0.0.1", "a reserved address"},
		{"255.255.255.255", "a reserved address"},
		{"::1", "a loopback address"},
		{"::", "an unspecified address"},
		{"::ffff:100.64.0.1", "a shared (carrier-grade NAT) address"},
		{"::ffff:127.0.0.1", "a loopback address"},
		{"fe80::1", "a link-local address"},
		{"fc00::1", "a private address"},
		{"fd00:ec2::254", "a private address"},
		{"fec0::1", "a site-local address"},
		{"ff02::1", "a link-local address"},
		{"ff05::2", "a multicast address"},
		{"100::1", "a discard-only address"},
		{"2001::1", "an IETF protocol assignment address"},
		{"2001:db8::1", "a documentation address"},
		{"3fff::1", "a documentation address"},
		{"64:ff9b::a00:1", "a private address (10.0.0.1) embedded in an IPv6 address"},
		{"64:ff9b::6464:64c8", "a cloud metadata address (100.100.100.200) embedded in an IPv6 address"},
		{"64:ff9b:1::1", "a local-use NAT64 address"},
		{"2002:a9fe:a9fe::1", "a link-local address (169.254.169.254) embedded in an IPv6 address"},
		// Public addresses, also behind NAT64 and 6to4.
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"198.20.0.1", ""},
		{"2606:4700::1111", ""},
		{"64:ff9b::5db8:d70e", ""},
		{"2002:5db8:d70e::1", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if got := privateAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
				t.Errorf("privateAddr(%s) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}
