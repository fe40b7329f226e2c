package notify

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
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
