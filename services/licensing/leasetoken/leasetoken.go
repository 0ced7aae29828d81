// Package leasetoken is the licensing service's lease token (R24): the
// signed proof a robot or editor client holds of its lease, which it checks
// offline, with the licensing service's public keys (GetLicensingJwks),
// until the lease expires or it renews it.
//
// A lease token is a compact JWS signed with Ed25519 (alg EdDSA), built on
// pkg/accesstoken's JWS machinery and held to the same rules (canonical
// compact form, one signature, a known key ID, no leeway on expiry, 30
// seconds on iat and nbf). Its header is
//
//	{"alg": "EdDSA", "kid": <key ID>, "typ": "lease+jwt"}
//
// and its payload
//
//	{
//	  "iss": "steward-licensing", "aud": "steward-lease",
//	  "jti": "organizations/{o}/leases/{l}",
//	  "sub": "organizations/{o}/users/{u}" or "organizations/{o}/robotAccounts/{r}",
//	  "org": "organizations/{o}",
//	  "client": "robot" or "editor",
//	  "machine": <the client's machine>,
//	  "pool": "organizations/{o}/licensePools/{p}",
//	  "service": "organizations/{o}/tenants/{t}/services/{s}" (only when the client connects to one),
//	  "iat": <issued at>, "exp": <expiry>
//	}
//
// with times in whole seconds since the epoch. The issuer, audience and typ
// differ from the access token's ("steward-directory", "steward", "JWT"), so
// an access token never passes for a lease token nor a lease token for an
// access token, even were both signed with one key.
package leasetoken

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"steward.dev/pkg/accesstoken"
)

// The issuer, audience and header type of lease tokens.
const (
	Issuer   = "steward-licensing"
	Audience = "steward-lease"
	Type     = "lease+jwt"
)

// The clients a lease is for (Claims.Client): the products of
// licensingv1.Product, in lower case.
const (
	ClientRobot  = "robot"
	ClientEditor = "editor"
)

// format is the accesstoken.Format of lease tokens.
var format = accesstoken.Format{Issuer: Issuer, Audience: Audience, Type: Type}

// ErrInvalid is wrapped by every error Verifier.Verify returns: the token is
// malformed, badly signed, expired, not a lease token, or says what no lease
// token says. The errors also wrap accesstoken.ErrInvalid (and
// accesstoken.ErrUnknownKey for a token under a key the verifier does not
// hold); they say why, for logs, naming key IDs and library errors, so
// never show them to a caller.
var ErrInvalid = errors.New("leasetoken: invalid token")

// Claims is what a lease token says. Every field but Service is required.
// Times are whole seconds on the wire; sub-second parts are dropped.
type Claims struct {
	Lease        string    // jti: "organizations/{o}/leases/{l}"
	Principal    string    // sub: "organizations/{o}/users/{u}" or "organizations/{o}/robotAccounts/{r}"
	Organization string    // org: "organizations/{o}", the organization of every name here
	Client       string    // client: ClientRobot or ClientEditor
	Machine      string    // machine: the machine the client runs on (UTF-8)
	Pool         string    // pool: "organizations/{o}/licensePools/{p}", the pool of the seat
	Service      string    // service, optional: "organizations/{o}/tenants/{t}/services/{s}"
	IssuedAt     time.Time // iat
	Expiry       time.Time // exp: when the lease expires unless renewed
}

// privateClaims are the claims of Claims that are not registered.
type privateClaims struct {
	Organization string `json:"org"`
	Client       string `json:"client"`
	Machine      string `json:"machine"`
	Pool         string `json:"pool"`
	Service      string `json:"service,omitempty"`
}

// Signer signs lease tokens with one key. It is immutable and safe for
// concurrent use.
type Signer struct {
	signer *accesstoken.Signer
}

// NewSigner returns the Signer of lease tokens signing with key (LoadKey's).
func NewSigner(key accesstoken.Key) (*Signer, error) {
	s, err := accesstoken.NewFormatSigner(format, key)
	if err != nil {
		return nil, fmt.Errorf("leasetoken: %w", err)
	}
	return &Signer{signer: s}, nil
}

// Sign returns c as a signed lease token, refusing claims that are missing
// or malformed (see Claims) or an Expiry not after IssuedAt.
func (s *Signer) Sign(c Claims) (string, error) {
	if err := checkClaims(c); err != nil {
		return "", err
	}
	raw, err := s.signer.SignWith(
		accesstoken.Registered{Subject: c.Principal, ID: c.Lease, IssuedAt: c.IssuedAt, Expiry: c.Expiry},
		privateClaims{Organization: c.Organization, Client: c.Client, Machine: c.Machine, Pool: c.Pool, Service: c.Service},
	)
	if err != nil {
		return "", fmt.Errorf("leasetoken: %w", err)
	}
	return raw, nil
}

// JWKS returns the public keys that verify the signer's tokens, for
// GetLicensingJwks and NewVerifier.
func (s *Signer) JWKS() []accesstoken.JWK { return s.signer.JWKS() }

// Verifier verifies lease tokens offline with the licensing service's
// public keys. It is immutable and safe for concurrent use.
type Verifier struct {
	keys *accesstoken.KeySet
}

// NewVerifier returns the Verifier holding jwks, the keys GetLicensingJwks
// returned. It needs at least one key; every key must be an Ed25519
// signature key with a distinct key ID.
func NewVerifier(jwks []accesstoken.JWK) (*Verifier, error) {
	if len(jwks) == 0 {
		return nil, errors.New("leasetoken: no keys")
	}
	ks, err := accesstoken.NewFormatKeySet(format, jwks)
	if err != nil {
		return nil, fmt.Errorf("leasetoken: %w", err)
	}
	return &Verifier{keys: ks}, nil
}

// Verify checks the lease token raw at now and returns its claims: it must
// be signed by one of the verifier's keys, carry the lease token's issuer,
// audience and typ, claims Sign would sign, and not be expired (exactly at
// its expiry it is). Every error it returns wraps ErrInvalid.
func (v *Verifier) Verify(raw string, now time.Time) (Claims, error) {
	var priv privateClaims
	r, err := v.keys.VerifyWith(raw, now, &priv)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c := Claims{
		Lease:        r.ID,
		Principal:    r.Subject,
		Organization: priv.Organization,
		Client:       priv.Client,
		Machine:      priv.Machine,
		Pool:         priv.Pool,
		Service:      priv.Service,
		IssuedAt:     r.IssuedAt,
		Expiry:       r.Expiry,
	}
	if err := checkClaims(c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// checkClaims reports what is missing from c or malformed in it, if
// anything.
func checkClaims(c Claims) error {
	org, ok := strings.CutPrefix(c.Organization, "organizations/")
	switch {
	case !ok || !validID(org):
		return fmt.Errorf("leasetoken: organization %q is not an organization name", c.Organization)
	case !within(c.Lease, c.Organization, "leases"):
		return fmt.Errorf("leasetoken: lease %q is not a lease name of %s", c.Lease, c.Organization)
	case !within(c.Principal, c.Organization, "users") && !within(c.Principal, c.Organization, "robotAccounts"):
		return fmt.Errorf("leasetoken: principal %q is not a user or robot account name of %s", c.Principal, c.Organization)
	case c.Client != ClientRobot && c.Client != ClientEditor:
		return fmt.Errorf("leasetoken: unknown client %q", c.Client)
	case c.Machine == "" || !utf8.ValidString(c.Machine):
		return errors.New("leasetoken: the machine is empty or not UTF-8")
	case !within(c.Pool, c.Organization, "licensePools"):
		return fmt.Errorf("leasetoken: pool %q is not a license pool name of %s", c.Pool, c.Organization)
	case c.Service != "" && !within(c.Service, c.Organization, "tenants", "services"):
		return fmt.Errorf("leasetoken: service %q is not a service name of %s", c.Service, c.Organization)
	case c.IssuedAt.IsZero() || c.Expiry.IsZero():
		return errors.New("leasetoken: claims need issue and expiry times")
	case !c.Expiry.After(c.IssuedAt):
		return errors.New("leasetoken: expiry not after issue time")
	}
	return nil
}

// within reports whether name is parent followed by one ID in each of
// collections, in order: within("organizations/o/tenants/t/services/s",
// "organizations/o", "tenants", "services") is true.
func within(name, parent string, collections ...string) bool {
	rest, ok := strings.CutPrefix(name, parent+"/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2*len(collections) {
		return false
	}
	for i, c := range collections {
		if parts[2*i] != c || !validID(parts[2*i+1]) {
			return false
		}
	}
	return true
}

// validID reports whether id is a resource ID as the licensing API's
// patterns spell one: [a-z0-9][a-z0-9-]{0,62}.
func validID(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if ch := id[i]; !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}
