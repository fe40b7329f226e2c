package collector

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := NewTokenSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenSigner([]byte("short")); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short key accepted: %v", err)
	}
	tok, claims, err := s.Issue("acme", "upgrade-install", "C1", testNow, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Verify(tok, "acme", "upgrade-install", "C1", testNow.Add(59*time.Minute)); err != nil || got != claims {
		t.Fatalf("valid token refused: %v (%+v)", err, got)
	}
	other, _ := NewTokenSigner([]byte(strings.Repeat("x", 32)))
	b := []byte(tok)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	tampered := string(b)
	for name, tc := range map[string]struct {
		signer         *TokenSigner
		token, tp, cid string
		at             time.Time
		want           error
	}{
		"expired":          {s, tok, "upgrade-install", "C1", testNow.Add(time.Hour), ErrTokenExpired},
		"other customer":   {s, tok, "upgrade-install", "C2", testNow, ErrTokenScope},
		"other touchpoint": {s, tok, "relationship-nps", "C1", testNow, ErrTokenScope},
		"other key":        {other, tok, "upgrade-install", "C1", testNow, ErrTokenSignature},
		"tampered":         {s, tampered, "upgrade-install", "C1", testNow, ErrTokenSignature},
		"garbage":          {s, "not-a-token", "upgrade-install", "C1", testNow, ErrTokenMalformed},
	} {
		if _, err := tc.signer.Verify(tc.token, "acme", tc.tp, tc.cid, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}
