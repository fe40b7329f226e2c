package collector

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinSigningKeyBytes is the shortest HMAC key accepted for invitation
// tokens.
const MinSigningKeyBytes = 32

// TokenClaims are what an invitation token asserts.
type TokenClaims struct {
	// ID is unique per token, so a token is used once.
	ID string `json:"jti"`
	// Touchpoint and Namespace the token is valid for.
	Touchpoint string `json:"tp"`
	Namespace  string `json:"ns"`
	// Customer the invitation was issued to.
	Customer string `json:"sub"`
	// IssuedAt and ExpiresAt in Unix seconds.
	IssuedAt  int64 `json:"iat"`
	ExpiresAt int64 `json:"exp"`
}

// Token errors; all of them answer 401.
var (
	ErrTokenMalformed = errors.New("the token is malformed")
	ErrTokenSignature = errors.New("the token's signature does not match (issued by another touchpoint or altered)")
	ErrTokenExpired   = errors.New("the token has expired; ask for a new invitation")
	ErrTokenScope     = errors.New("the token was issued for another touchpoint or customer")
)

// TokenSigner issues and verifies invitation tokens with an HMAC-SHA256 key.
// Tokens are "<base64url claims>.<base64url signature>".
type TokenSigner struct {
	key []byte
}

// NewTokenSigner checks the key's length.
func NewTokenSigner(key []byte) (*TokenSigner, error) {
	if len(key) < MinSigningKeyBytes {
		return nil, fmt.Errorf("the invitation signing key has %d bytes; use at least %d random bytes (for example: openssl rand -base64 48)", len(key), MinSigningKeyBytes)
	}
	return &TokenSigner{key: append([]byte(nil), key...)}, nil
}

// Issue signs a new token for customer at now, valid for ttl.
func (s *TokenSigner) Issue(namespace, touchpoint, customer string, now time.Time, ttl time.Duration) (string, TokenClaims, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", TokenClaims{}, fmt.Errorf("token id: %w", err)
	}
	c := TokenClaims{
		ID: hex.EncodeToString(id), Namespace: namespace, Touchpoint: touchpoint, Customer: customer,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(ttl).Unix(),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", TokenClaims{}, err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.sign(payload)), c, nil
}

func (s *TokenSigner) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

// Verify checks the signature, the expiry and that the token belongs to
// this touchpoint and customer. Whether it was already used is the store's
// to say.
func (s *TokenSigner) Verify(token, namespace, touchpoint, customer string, now time.Time) (TokenClaims, error) {
	enc := base64.RawURLEncoding
	payloadPart, sigPart, ok := strings.Cut(token, ".")
	if !ok {
		return TokenClaims{}, ErrTokenMalformed
	}
	payload, err1 := enc.DecodeString(payloadPart)
	sig, err2 := enc.DecodeString(sigPart)
	if err1 != nil || err2 != nil {
		return TokenClaims{}, ErrTokenMalformed
	}
	if !hmac.Equal(sig, s.sign(payload)) {
		return TokenClaims{}, ErrTokenSignature
	}
	var c TokenClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		return TokenClaims{}, ErrTokenMalformed
	}
	if c.Namespace != namespace || c.Touchpoint != touchpoint || c.Customer != customer {
		return TokenClaims{}, ErrTokenScope
	}
	if now.Unix() >= c.ExpiresAt {
		return TokenClaims{}, ErrTokenExpired
	}
	return c, nil
}
