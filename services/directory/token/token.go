// Package token issues and verifies the directory's access tokens: short-lived
// JWTs signed with Ed25519 (alg EdDSA). A Signer signs with its newest key and
// verifies with every key it holds, so retired keys keep verifying the tokens
// they signed until those expire. JWKS publishes the public keys for other
// services.
package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Kinds of principal a token stands for (Claims.Kind).
const (
	KindUser         = "user"
	KindRobotAccount = "robot_account"
	KindExternalApp  = "external_app"
)

// MaxTokenLen bounds the length of a token Verify will parse.
const MaxTokenLen = 16 << 10

// leeway is the clock skew allowed for the iat and nbf claims. Expiry gets none.
const leeway = 30 * time.Second

// ErrInvalid is wrapped by every error Verify returns: the token is malformed,
// badly signed, expired, or not meant for this audience.
var ErrInvalid = errors.New("token: invalid token")

// Claims is what an access token says about its bearer. Times are whole
// seconds on the wire; sub-second parts are dropped.
type Claims struct {
	Subject      string // sub: resource name of the principal
	Organization string // org: organization the principal belongs to
	SessionID    string // sid: the sign-in session the token was issued for
	DisplayName  string // name
	Kind         string // kind: KindUser, KindRobotAccount or KindExternalApp
	// EnrollmentOnly (enroll) marks a token that is good only for enrolling a
	// TOTP second factor, issued after a password sign-in of a user who must
	// enrol one before getting a full token.
	EnrollmentOnly bool
	// SubjectCreated (uct, Unix nanoseconds) is when the principal was
	// created. A principal deleted and created again under the same name is
	// another one: its create time differs, so the old principal's tokens do
	// not speak for it (R10). Zero is left out of the token.
	SubjectCreated int64
	IssuedAt       time.Time // iat
	Expiry         time.Time // exp
}

// privateClaims are the claims of Claims that jwt.Claims does not register.
type privateClaims struct {
	Organization   string `json:"org"`
	SessionID      string `json:"sid"`
	DisplayName    string `json:"name"`
	Kind           string `json:"kind"`
	EnrollmentOnly bool   `json:"enroll,omitempty"`
	SubjectCreated int64  `json:"uct,omitempty"`
}

// Key is an Ed25519 signing key and its key ID (the JWT "kid").
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// GenerateKey returns a new random Ed25519 key.
func GenerateKey() (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("token: generate key: %w", err)
	}
	return newKey(priv), nil
}

// newKey returns priv with its key ID.
func newKey(priv ed25519.PrivateKey) Key {
	return Key{ID: keyID(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// keyID is the first 16 hex characters of the SHA-256 of pub.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs and verifies access tokens for one issuer and audience. It is
// safe for concurrent use.
type Signer struct {
	issuer   string
	audience string
	signer   jose.Signer
	keys     []Key
	public   map[string]ed25519.PublicKey // by key ID
}

// NewSigner returns a Signer that signs as issuer for audience with keys[0] and
// verifies tokens signed with any of keys. It needs at least one key, and the
// key IDs must be distinct.
func NewSigner(issuer, audience string, keys ...Key) (*Signer, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	if len(keys) == 0 {
		return nil, errors.New("token: no keys")
	}
	s := &Signer{issuer: issuer, audience: audience, keys: slices.Clone(keys), public: make(map[string]ed25519.PublicKey, len(keys))}
	for _, k := range keys {
		if len(k.Private) != ed25519.PrivateKeySize || k.ID == "" {
			return nil, fmt.Errorf("token: key %q is not an Ed25519 private key with an ID", k.ID)
		}
		if _, dup := s.public[k.ID]; dup {
			return nil, fmt.Errorf("token: duplicate key ID %q", k.ID)
		}
		s.public[k.ID] = k.Private.Public().(ed25519.PublicKey)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: keys[0].Private, KeyID: keys[0].ID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	s.signer = signer
	return s, nil
}

// Sign returns c as a compact JWT signed with the signer's first key. Subject,
// a known Kind, IssuedAt and an Expiry after IssuedAt are required.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := checkClaims(c); err != nil {
		return "", err
	}
	std := jwt.Claims{
		Issuer:   s.issuer,
		Audience: jwt.Audience{s.audience},
		Subject:  c.Subject,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt),
		Expiry:   jwt.NewNumericDate(c.Expiry),
	}
	priv := privateClaims{
		Organization:   c.Organization,
		SessionID:      c.SessionID,
		DisplayName:    c.DisplayName,
		Kind:           c.Kind,
		EnrollmentOnly: c.EnrollmentOnly,
		SubjectCreated: c.SubjectCreated,
	}
	raw, err := jwt.Signed(s.signer).Claims(std).Claims(priv).Serialize()
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return raw, nil
}

// checkClaims reports what is missing from c, if anything.
func checkClaims(c Claims) error {
	switch {
	case c.Subject == "":
		return errors.New("token: claims have no subject")
	case c.Kind != KindUser && c.Kind != KindRobotAccount && c.Kind != KindExternalApp:
		return fmt.Errorf("token: unknown kind %q", c.Kind)
	case c.IssuedAt.IsZero() || c.Expiry.IsZero():
		return errors.New("token: claims need issue and expiry times")
	case !c.Expiry.After(c.IssuedAt):
		return errors.New("token: expiry not after issue time")
	}
	return nil
}

// Verify checks raw and returns its claims. It accepts only EdDSA tokens
// signed by one of the signer's keys (named by kid), issued by the signer's
// issuer for its audience, not expired at now, and with iat and nbf (when
// present) no more than 30 seconds after now. Every error it returns wraps
// ErrInvalid.
func (s *Signer) Verify(raw string, now time.Time) (Claims, error) {
	if len(raw) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	if !canonical(raw) {
		return Claims{}, fmt.Errorf("%w: not in compact form", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, fmt.Errorf("%w: want one signature", ErrInvalid)
	}
	pub, ok := s.public[tok.Headers[0].KeyID]
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown key ID %q", ErrInvalid, tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	var priv privateClaims
	if err := tok.Claims(pub, &std, &priv); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	expected := jwt.Expected{Issuer: s.issuer, AnyAudience: jwt.Audience{s.audience}, Time: now}
	if err := std.ValidateWithLeeway(expected, leeway); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		return Claims{}, fmt.Errorf("%w: no exp or iat", ErrInvalid)
	}
	// ValidateWithLeeway gave exp the leeway too; take it back.
	if !now.Before(std.Expiry.Time()) {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, jwt.ErrExpired)
	}
	c := Claims{
		Subject:        std.Subject,
		Organization:   priv.Organization,
		SessionID:      priv.SessionID,
		DisplayName:    priv.DisplayName,
		Kind:           priv.Kind,
		EnrollmentOnly: priv.EnrollmentOnly,
		SubjectCreated: priv.SubjectCreated,
		IssuedAt:       std.IssuedAt.Time(),
		Expiry:         std.Expiry.Time(),
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// canonical reports whether raw is spelled as a compact JWS should be:
// base64url segments without padding, line breaks or non-zero trailing bits
// in the signature. go-jose decodes more leniently, which would let one token
// be written many ways (and signature checks cover only the first two
// segments as written).
func canonical(raw string) bool {
	for _, c := range []byte(raw) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	i := strings.LastIndexByte(raw, '.')
	if i < 0 {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(raw[i+1:])
	return err == nil
}

// JWK is a public key in JSON Web Key form (RFC 7517), as RFC 8037 spells
// Ed25519 keys.
type JWK struct {
	Kty string `json:"kty"` // "OKP"
	Crv string `json:"crv"` // "Ed25519"
	X   string `json:"x"`   // public key, base64url without padding
	Kid string `json:"kid"`
	Alg string `json:"alg"` // "EdDSA"
	Use string `json:"use"` // "sig"
}

// JWKS returns the public keys of every key the signer verifies with, signing
// key first; serve them as {"keys": [...]}.
func (s *Signer) JWKS() []JWK {
	jwks := make([]JWK, 0, len(s.keys))
	for _, k := range s.keys {
		jwks = append(jwks, JWK{
			Kty: "OKP",
			Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(s.public[k.ID]),
			Kid: k.ID,
			Alg: string(jose.EdDSA),
			Use: "sig",
		})
	}
	return jwks
}
