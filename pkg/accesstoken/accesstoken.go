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
//
// The JWS machinery is not tied to the access token's claims: a Format
// names another kind of token (its issuer, audience and "typ" header), and
// Signer.SignWith and KeySet.VerifyWith sign and verify tokens of it with
// the registered claims in a Registered and any private claims of the
// caller's, under the same rules (compact form only, EdDSA only, one
// signature, a known key ID, no leeway on expiry). The licensing service's
// lease tokens are built on them.
package accesstoken

import (
	"bytes"
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
	jjson "github.com/go-jose/go-jose/v4/json"
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

// MaxTokenLen bounds the length of a token Verify and VerifyWith will parse.
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

// Format names one kind of token: the issuer and audience of its claims and
// the "typ" of its header. Tokens of different formats (different issuer,
// audience or type) are never taken for one another.
type Format struct {
	// Issuer is the iss claim signers write and key sets require.
	Issuer string
	// Audience is the aud claim signers write; key sets require it among
	// the token's audiences.
	Audience string
	// Type is the typ header signers write and key sets require, compared
	// as RFC 7515 says: ignoring ASCII case, with "application/" implied
	// when it has no "/". Empty means signers write "JWT" and key sets
	// accept any typ, or none (the access token's format).
	Type string
}

// Registered is the part of a token's registered claims (RFC 7519) that
// depends on the token, for SignWith and VerifyWith; iss and aud come from
// the Format. Times are whole seconds on the wire; sub-second parts are
// dropped.
type Registered struct {
	Subject  string    // sub; left out when empty
	ID       string    // jti; left out when empty
	IssuedAt time.Time // iat
	Expiry   time.Time // exp
}

// registeredNames are the claim names Registered and Format own, which
// private claims may not use.
var registeredNames = []string{"iss", "aud", "sub", "jti", "iat", "exp", "nbf"}

// KeySet verifies tokens of one Format with a set of public keys. It is
// immutable and safe for concurrent use.
type KeySet struct {
	format Format
	public map[string]ed25519.PublicKey // by key ID
}

// NewKeySet returns the KeySet of access tokens of issuer and audience
// (whatever their typ) holding jwks: NewFormatKeySet with Format{Issuer:
// issuer, Audience: audience}.
func NewKeySet(issuer, audience string, jwks []JWK) (*KeySet, error) {
	return NewFormatKeySet(Format{Issuer: issuer, Audience: audience}, jwks)
}

// NewFormatKeySet returns the KeySet of tokens of format f holding jwks.
// The issuer and audience are required. Every key must be an Ed25519
// signature key with a distinct key ID.
func NewFormatKeySet(f Format, jwks []JWK) (*KeySet, error) {
	if f.Issuer == "" || f.Audience == "" {
		return nil, errors.New("accesstoken: issuer and audience are required")
	}
	ks := &KeySet{format: f, public: make(map[string]ed25519.PublicKey, len(jwks))}
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

// Verify checks the access token raw and returns its claims. It accepts
// only what VerifyWith accepts, with the access token's claims: a subject
// and a known kind. Every error it returns wraps ErrInvalid; a well-formed
// token under an unknown key ID also ErrUnknownKey.
func (ks *KeySet) Verify(raw string, now time.Time) (Claims, error) {
	var priv privateClaims
	std, err := ks.VerifyWith(raw, now, &priv)
	if err != nil {
		return Claims{}, err
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
		IssuedAt:          std.IssuedAt,
		Expiry:            std.Expiry,
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// VerifyWith checks raw, a token of the set's Format, and returns its
// registered claims, decoding the payload into private too when it is not
// nil (a pointer to a struct or map, as for encoding/json; its fields must
// not name registered claims). It accepts only EdDSA tokens in canonical
// compact form of at most MaxTokenLen bytes, with one signature, by one of
// the set's keys (named by kid), with the format's typ when it names one,
// issued by the format's issuer for its audience, with exp and iat, not
// expired at now (exactly at exp is expired), and with iat and nbf (when
// present) no more than 30 seconds after now. Every error it returns wraps
// ErrInvalid; a well-formed token under an unknown key ID also
// ErrUnknownKey.
func (ks *KeySet) VerifyWith(raw string, now time.Time, private any) (Registered, error) {
	if len(raw) > MaxTokenLen {
		return Registered{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	if !canonical(raw) {
		return Registered{}, fmt.Errorf("%w: not in compact form", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Registered{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return Registered{}, fmt.Errorf("%w: want one signature", ErrInvalid)
	}
	kid := tok.Headers[0].KeyID
	if kid == "" {
		return Registered{}, fmt.Errorf("%w: no key ID", ErrInvalid)
	}
	if want := ks.format.Type; want != "" {
		// Before the key lookup: a token of another type never costs a
		// RemoteKeySet a fetch.
		typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string)
		if !sameMediaType(typ, want) {
			return Registered{}, fmt.Errorf("%w: typ %q, want %q", ErrInvalid, typ, want)
		}
	}
	pub, ok := ks.public[kid]
	if !ok {
		return Registered{}, fmt.Errorf("%w: %w %q", ErrInvalid, ErrUnknownKey, kid)
	}
	var std jwt.Claims
	dest := []any{&std}
	if private != nil {
		dest = append(dest, private)
	}
	if err := tok.Claims(pub, dest...); err != nil {
		return Registered{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	expected := jwt.Expected{Issuer: ks.format.Issuer, AnyAudience: jwt.Audience{ks.format.Audience}, Time: now}
	if err := std.ValidateWithLeeway(expected, leeway); err != nil {
		return Registered{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		return Registered{}, fmt.Errorf("%w: no exp or iat", ErrInvalid)
	}
	// ValidateWithLeeway gave exp the leeway too; take it back.
	if !now.Before(std.Expiry.Time()) {
		return Registered{}, fmt.Errorf("%w: %w", ErrInvalid, jwt.ErrExpired)
	}
	return Registered{
		Subject:  std.Subject,
		ID:       std.ID,
		IssuedAt: std.IssuedAt.Time(),
		Expiry:   std.Expiry.Time(),
	}, nil
}

// Signer signs tokens of one Format with its first key and verifies tokens
// signed with any of its keys. It is immutable and safe for concurrent use.
type Signer struct {
	signer jose.Signer
	keys   *KeySet
	jwks   []JWK
}

// NewSigner returns a Signer of access tokens that signs as issuer for
// audience: NewFormatSigner with Format{Issuer: issuer, Audience: audience}.
func NewSigner(issuer, audience string, keys ...Key) (*Signer, error) {
	return NewFormatSigner(Format{Issuer: issuer, Audience: audience}, keys...)
}

// NewFormatSigner returns a Signer of tokens of format f that signs with
// keys[0] and verifies tokens signed with any of keys. It needs at least one
// key, and the key IDs must be distinct.
func NewFormatSigner(f Format, keys ...Key) (*Signer, error) {
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
	ks, err := NewFormatKeySet(f, jwks)
	if err != nil {
		return nil, err
	}
	typ := f.Type
	if typ == "" {
		typ = "JWT"
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: keys[0].Private, KeyID: keys[0].ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
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
	return s.SignWith(Registered{Subject: c.Subject, IssuedAt: c.IssuedAt, Expiry: c.Expiry}, privateClaims{
		Organization:      c.Organization,
		SessionID:         c.SessionID,
		DisplayName:       c.DisplayName,
		Kind:              c.Kind,
		EnrollmentOnly:    c.EnrollmentOnly,
		SubjectCreated:    c.SubjectCreated,
		SessionGeneration: c.SessionGeneration,
	})
}

// SignWith returns a compact JWT of the signer's Format signed with its
// first key: the issuer and audience of the format, the registered claims
// r, and private, when it is not nil, a struct or map whose JSON form is an
// object of further claims (which may not name registered claims: iss, aud,
// sub, jti, iat, exp or nbf). IssuedAt and an Expiry after IssuedAt are
// required. SignWith checks nothing else: what a claim set requires is for
// its caller to check.
func (s *Signer) SignWith(r Registered, private any) (string, error) {
	switch {
	case r.IssuedAt.IsZero() || r.Expiry.IsZero():
		return "", errors.New("accesstoken: claims need issue and expiry times")
	case !r.Expiry.After(r.IssuedAt):
		return "", errors.New("accesstoken: expiry not after issue time")
	}
	std := jwt.Claims{
		Issuer:   s.keys.format.Issuer,
		Audience: jwt.Audience{s.keys.format.Audience},
		Subject:  r.Subject,
		ID:       r.ID,
		IssuedAt: jwt.NewNumericDate(r.IssuedAt),
		Expiry:   jwt.NewNumericDate(r.Expiry),
	}
	b := jwt.Signed(s.signer).Claims(std)
	if private != nil {
		m, err := claimsMap(private)
		if err != nil {
			return "", err
		}
		b = b.Claims(m)
	}
	raw, err := b.Serialize()
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %w", err)
	}
	return raw, nil
}

// claimsMap returns private as the map of claims go-jose would make of it
// (encoded with go-jose's JSON, numbers kept as they are written), refusing
// anything that is not an object or that names a registered claim.
func claimsMap(private any) (map[string]any, error) {
	b, err := jjson.Marshal(private)
	if err != nil {
		return nil, fmt.Errorf("accesstoken: sign: %w", err)
	}
	d := jjson.NewDecoder(bytes.NewReader(b))
	d.SetNumberType(jjson.UnmarshalJSONNumber)
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, errors.New("accesstoken: sign: private claims are not a JSON object")
	}
	for _, name := range registeredNames {
		if _, ok := m[name]; ok {
			return nil, fmt.Errorf("accesstoken: sign: private claims name the registered claim %q", name)
		}
	}
	return m, nil
}

// Verify is KeySet.Verify with the signer's keys.
func (s *Signer) Verify(raw string, now time.Time) (Claims, error) { return s.keys.Verify(raw, now) }

// VerifyWith is KeySet.VerifyWith with the signer's keys.
func (s *Signer) VerifyWith(raw string, now time.Time, private any) (Registered, error) {
	return s.keys.VerifyWith(raw, now, private)
}

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

// sameMediaType reports whether the typ headers a and b name one media type
// (RFC 7515, section 4.1.9): media types ignore ASCII case, and a value
// without a "/" stands for "application/" followed by it.
func sameMediaType(a, b string) bool {
	full := func(t string) string {
		if !strings.Contains(t, "/") {
			t = "application/" + t
		}
		return t
	}
	a, b = full(a), full(b)
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// lowerASCII returns c in lower case if it is an ASCII letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
