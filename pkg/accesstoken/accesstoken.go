// Package accesstoken is Steward's access token format, shared by the
// directory, which signs tokens, and every other service, which verifies
// them locally with the directory's public keys: short-lived JWTs signed
// with Ed25519 (alg EdDSA), named by key ID ("kid").
//
// A Signer signs with one key and verifies with every key it holds; a KeySet
// verifies with public keys (a JWKS); a RemoteKeySet keeps a KeySet fetched
// from the directory up to date. Verification checks only what the token
// itself says (signature, issuer, audience, times); whether its principal
// still exists, is active, and still has the token's session generation is
// for the directory (or a cache the directory's events invalidate) to say.
package accesstoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The issuer and audience of Steward's access tokens.
const (
	Issuer   = "steward-directory"
	Audience = "steward"
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
// badly signed, expired, or not meant for this audience. The errors say why,
// for logs; they name key IDs and library errors, so never show them to a
// caller.
var ErrInvalid = errors.New("accesstoken: invalid token")

// ErrUnknownKey is wrapped, with ErrInvalid, by the errors of a well-formed
// token signed under a key ID the verifier does not hold: a RemoteKeySet
// fetches the keys again before refusing it.
var ErrUnknownKey = errors.New("accesstoken: unknown signing key")

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
	// SessionGeneration (sgen) is the principal's session generation when
	// the token was issued. The directory bumps a user's generation when it
	// deactivates or deletes the user, so tokens issued before are refused
	// for good, even after a reactivation. Zero is left out of the token.
	SessionGeneration uint64
	IssuedAt          time.Time // iat
	Expiry            time.Time // exp
}

// privateClaims are the claims of Claims that jwt.Claims does not register.
type privateClaims struct {
	Organization      string `json:"org"`
	SessionID         string `json:"sid"`
	DisplayName       string `json:"name"`
	Kind              string `json:"kind"`
	EnrollmentOnly    bool   `json:"enroll,omitempty"`
	SubjectCreated    int64  `json:"uct,omitempty"`
	SessionGeneration uint64 `json:"sgen,omitempty"`
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
		return Key{}, fmt.Errorf("accesstoken: generate key: %w", err)
	}
	return NewKey(priv), nil
}

// NewKey returns priv with its key ID: the first 16 hex characters of the
// SHA-256 of its public key.
func NewKey(priv ed25519.PrivateKey) Key {
	return Key{ID: keyID(priv.Public().(ed25519.PublicKey)), Private: priv}
}

// keyID is the first 16 hex characters of the SHA-256 of pub.
func keyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// JWK returns k's public key in JSON Web Key form.
func (k Key) JWK() JWK {
	return JWK{
		Kty: "OKP",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(k.Private.Public().(ed25519.PublicKey)),
		Kid: k.ID,
		Alg: string(jose.EdDSA),
		Use: "sig",
	}
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

// publicKey returns the Ed25519 key of j, refusing anything else.
func (j JWK) publicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != string(jose.EdDSA)) || (j.Use != "" && j.Use != "sig") {
		return nil, errors.New("accesstoken: not an Ed25519 signature key")
	}
	if j.Kid == "" {
		return nil, errors.New("accesstoken: key without a key ID")
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("accesstoken: malformed Ed25519 public key")
	}
	return ed25519.PublicKey(x), nil
}

// KeySet verifies access tokens of one issuer and audience with a set of
// public keys. It is immutable and safe for concurrent use.
type KeySet struct {
	issuer   string
	audience string
	public   map[string]ed25519.PublicKey // by key ID
}

// NewKeySet returns the KeySet of issuer and audience holding jwks. Every
// key must be an Ed25519 signature key with a distinct key ID.
func NewKeySet(issuer, audience string, jwks []JWK) (*KeySet, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("accesstoken: issuer and audience are required")
	}
	ks := &KeySet{issuer: issuer, audience: audience, public: make(map[string]ed25519.PublicKey, len(jwks))}
	for _, j := range jwks {
		pub, err := j.publicKey()
		if err != nil {
			return nil, err
		}
		if _, dup := ks.public[j.Kid]; dup {
			return nil, errors.New("accesstoken: duplicate key ID")
		}
		ks.public[j.Kid] = pub
	}
	return ks, nil
}

// Len returns the number of keys in ks.
func (ks *KeySet) Len() int { return len(ks.public) }

// Verify checks raw and returns its claims. It accepts only EdDSA tokens
// in canonical compact form, signed by one of the set's keys (named by kid),
// issued by the set's issuer for its audience, not expired at now, and with
// iat and nbf (when present) no more than 30 seconds after now. Every error
// it returns wraps ErrInvalid; a well-formed token under an unknown key ID
// also ErrUnknownKey.
func (ks *KeySet) Verify(raw string, now time.Time) (Claims, error) {
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
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return Claims{}, fmt.Errorf("%w: no key ID", ErrInvalid)
	}
	pub, ok := ks.public[kid]
	if !ok {
		return Claims{}, fmt.Errorf("%w: %w %q", ErrInvalid, ErrUnknownKey, kid)
	}
	var std jwt.Claims
	var priv privateClaims
	if err := tok.Claims(pub, &std, &priv); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	expected := jwt.Expected{Issuer: ks.issuer, AnyAudience: jwt.Audience{ks.audience}, Time: now}
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
		Subject:           std.Subject,
		Organization:      priv.Organization,
		SessionID:         priv.SessionID,
		DisplayName:       priv.DisplayName,
		Kind:              priv.Kind,
		EnrollmentOnly:    priv.EnrollmentOnly,
		SubjectCreated:    priv.SubjectCreated,
		SessionGeneration: priv.SessionGeneration,
		IssuedAt:          std.IssuedAt.Time(),
		Expiry:            std.Expiry.Time(),
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// Signer signs access tokens for one issuer and audience with its first key
// and verifies tokens signed with any of its keys. It is immutable and safe
// for concurrent use.
type Signer struct {
	signer jose.Signer
	keys   *KeySet
	jwks   []JWK
}

// NewSigner returns a Signer that signs as issuer for audience with keys[0] and
// verifies tokens signed with any of keys. It needs at least one key, and the
// key IDs must be distinct.
func NewSigner(issuer, audience string, keys ...Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("accesstoken: no keys")
	}
	jwks := make([]JWK, 0, len(keys))
	for _, k := range keys {
		if len(k.Private) != ed25519.PrivateKeySize || k.ID == "" {
			return nil, errors.New("accesstoken: a key is not an Ed25519 private key with an ID")
		}
		jwks = append(jwks, k.JWK())
	}
	ks, err := NewKeySet(issuer, audience, jwks)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: keys[0].Private, KeyID: keys[0].ID}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("accesstoken: %w", err)
	}
	return &Signer{signer: signer, keys: ks, jwks: jwks}, nil
}

// Sign returns c as a compact JWT signed with the signer's first key. Subject,
// a known Kind, IssuedAt and an Expiry after IssuedAt are required.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := checkClaims(c); err != nil {
		return "", err
	}
	std := jwt.Claims{
		Issuer:   s.keys.issuer,
		Audience: jwt.Audience{s.keys.audience},
		Subject:  c.Subject,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt),
		Expiry:   jwt.NewNumericDate(c.Expiry),
	}
	priv := privateClaims{
		Organization:      c.Organization,
		SessionID:         c.SessionID,
		DisplayName:       c.DisplayName,
		Kind:              c.Kind,
		EnrollmentOnly:    c.EnrollmentOnly,
		SubjectCreated:    c.SubjectCreated,
		SessionGeneration: c.SessionGeneration,
	}
	raw, err := jwt.Signed(s.signer).Claims(std).Claims(priv).Serialize()
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %w", err)
	}
	return raw, nil
}

// Verify is KeySet.Verify with the signer's keys.
func (s *Signer) Verify(raw string, now time.Time) (Claims, error) { return s.keys.Verify(raw, now) }

// JWKS returns the public keys of every key the signer verifies with, signing
// key first; serve them as {"keys": [...]}.
func (s *Signer) JWKS() []JWK { return append([]JWK(nil), s.jwks...) }

// checkClaims reports what is missing from c, if anything.
func checkClaims(c Claims) error {
	switch {
	case c.Subject == "":
		return errors.New("accesstoken: claims have no subject")
	case c.Kind != KindUser && c.Kind != KindRobotAccount && c.Kind != KindExternalApp:
		return fmt.Errorf("accesstoken: unknown kind %q", c.Kind)
	case c.IssuedAt.IsZero() || c.Expiry.IsZero():
		return errors.New("accesstoken: claims need issue and expiry times")
	case !c.Expiry.After(c.IssuedAt):
		return errors.New("accesstoken: expiry not after issue time")
	}
	return nil
}

// canonical reports whether raw is spelled as a compact JWS should be:
// three base64url segments without padding, line breaks or non-zero
// trailing bits. go-jose decodes more leniently (and checks the signature
// over the segments as it re-encodes them), which would let one token be
// written many ways.
func canonical(raw string) bool {
	segments := strings.Split(raw, ".")
	if len(segments) != 3 {
		return false
	}
	for _, seg := range segments {
		if seg == "" || strings.ContainsAny(seg, "=\r\n") {
			return false
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(seg); err != nil {
			return false
		}
	}
	return true
}
