// Package oidctest runs a minimal OpenID Connect issuer on the loopback
// interface, for unit and end-to-end tests of sign-in through an external
// identity provider.
//
// The issuer serves a discovery document and a JSON Web Key Set, and mints
// RS256-signed ID tokens with whatever claims a test asks for. It implements
// no authorization or token endpoint: tests obtain ID tokens from Mint
// directly.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultGroupClaim is the claim Mint writes groups into when
// Claims.GroupClaim is empty.
const DefaultGroupClaim = "groups"

// DefaultLifetime is how long a minted token is valid when Claims.Expiry is
// zero.
const DefaultLifetime = 5 * time.Minute

// Claims describes the ID token Mint signs. Zero-valued string fields are
// left out of the token.
type Claims struct {
	// Subject is the "sub" claim.
	Subject string
	// Audience is the "aud" claim, normally the relying party's client ID.
	Audience string
	// Email is the "email" claim.
	Email string
	// Name is the "name" claim.
	Name string
	// Groups, when non-nil, is written as a JSON array of strings under
	// GroupClaim.
	Groups []string
	// GroupClaim names the claim that carries Groups; empty means
	// DefaultGroupClaim.
	GroupClaim string
	// Expiry is the "exp" claim; zero means DefaultLifetime from now.
	Expiry time.Time
	// IssuedAt is the "iat" claim; zero means now.
	IssuedAt time.Time
	// Issuer is the "iss" claim; empty means the issuer's own URL. Set it to
	// test tokens from the wrong issuer.
	Issuer string
	// Extra holds additional claims, such as "preferred_username" or a group
	// claim that is a single string. They are written last and override the
	// claims above.
	Extra map[string]any
}

// signingKey is one RSA key the issuer has signed with.
type signingKey struct {
	id   string
	priv *rsa.PrivateKey
}

// Issuer is a running OpenID Connect issuer on 127.0.0.1. It is safe for
// concurrent use.
type Issuer struct {
	url    string
	server *http.Server
	done   chan struct{}

	mu   sync.Mutex
	keys []signingKey // oldest first; the last one signs
	// browserUser is who /authorize signs in, nil for nobody.
	browserUser *Claims
}

// NewIssuer generates an RSA 2048 signing key and starts an issuer listening
// on an ephemeral port of 127.0.0.1. Call Close when done.
func NewIssuer() (*Issuer, error) {
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oidctest: listen: %w", err)
	}
	iss := &Issuer{
		url:  "http://" + ln.Addr().String(),
		done: make(chan struct{}),
		keys: []signingKey{key},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.serveDiscovery)
	mux.HandleFunc("GET /keys", iss.serveKeys)
	mux.HandleFunc("GET /authorize", iss.serveAuthorize)
	iss.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(iss.done)
		_ = iss.server.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return iss, nil
}

// URL returns the issuer identifier, "http://127.0.0.1:port", which is also
// the base URL of its discovery document.
func (iss *Issuer) URL() string {
	return iss.url
}

// Close stops the issuer and closes its connections. Afterwards URL refuses
// connections, which lets tests exercise an unreachable identity provider.
func (iss *Issuer) Close() {
	_ = iss.server.Close()
	<-iss.done
}

// RotateKey generates a new signing key. Later calls to Mint sign with it,
// and the key set keeps serving the old keys as well, as identity providers
// do during rotation.
func (iss *Issuer) RotateKey() error {
	key, err := newSigningKey()
	if err != nil {
		return err
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.keys = append(iss.keys, key)
	return nil
}

// Mint returns a compact RS256-signed ID token with the claims c, signed with
// the current key and carrying its key ID.
func (iss *Issuer) Mint(c Claims) (string, error) {
	iss.mu.Lock()
	key := iss.keys[len(iss.keys)-1]
	iss.mu.Unlock()

	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.priv, KeyID: key.id}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", fmt.Errorf("oidctest: new signer: %w", err)
	}
	raw, err := jwt.Signed(signer).Claims(iss.claims(c)).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidctest: sign token: %w", err)
	}
	return raw, nil
}

// claims turns c into the token's JSON claims, applying defaults.
func (iss *Issuer) claims(c Claims) map[string]any {
	now := time.Now()
	if c.Issuer == "" {
		c.Issuer = iss.url
	}
	if c.Expiry.IsZero() {
		c.Expiry = now.Add(DefaultLifetime)
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.GroupClaim == "" {
		c.GroupClaim = DefaultGroupClaim
	}
	m := map[string]any{
		"iss": c.Issuer,
		"exp": jwt.NewNumericDate(c.Expiry),
		"iat": jwt.NewNumericDate(c.IssuedAt),
	}
	for name, v := range map[string]string{"sub": c.Subject, "aud": c.Audience, "email": c.Email, "name": c.Name} {
		if v != "" {
			m[name] = v
		}
	}
	if c.Groups != nil {
		m[c.GroupClaim] = c.Groups
	}
	maps.Copy(m, c.Extra)
	return m
}

// serveDiscovery serves the OpenID Provider metadata. The authorization
// endpoint serves SignInBrowserAs's user; the token endpoint is a
// placeholder the discovery specification requires.
func (iss *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                iss.url,
		"jwks_uri":                              iss.url + "/keys",
		"authorization_endpoint":                iss.url + "/authorize",
		"token_endpoint":                        iss.url + "/token",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token"},
		"subject_types_supported":               []string{"public"},
	})
}

// SignInBrowserAs makes the authorization endpoint sign in c's subject at
// once, as a provider does for someone already signed in to it: a browser
// sent to /authorize comes back to its redirect_uri with an ID token for c
// (its audience the client_id asked for, its nonce the one sent) in the
// fragment. Until it is called, /authorize refuses.
func (iss *Issuer) SignInBrowserAs(c Claims) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.browserUser = &c
}

// serveAuthorize is the implicit flow's authorization endpoint
// (response_type=id_token, the answer in the redirect's fragment).
func (iss *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	iss.mu.Lock()
	user := iss.browserUser
	iss.mu.Unlock()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || redirect.Scheme == "" || redirect.Host == "":
		http.Error(w, "oidctest: redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	case q.Get("response_type") != "id_token":
		http.Error(w, "oidctest: only response_type=id_token is served", http.StatusBadRequest)
		return
	case user == nil:
		http.Error(w, "oidctest: nobody is signed in (SignInBrowserAs)", http.StatusForbidden)
		return
	}
	c := *user
	c.Audience = q.Get("client_id")
	c.Extra = maps.Clone(c.Extra)
	if c.Extra == nil {
		c.Extra = map[string]any{}
	}
	if n := q.Get("nonce"); n != "" {
		c.Extra["nonce"] = n
	}
	tok, err := iss.Mint(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	frag := url.Values{"id_token": {tok}, "token_type": {"Bearer"}}
	if s := q.Get("state"); s != "" {
		frag.Set("state", s)
	}
	redirect.Fragment = ""
	http.Redirect(w, r, redirect.String()+"#"+frag.Encode(), http.StatusFound)
}

// serveKeys serves the public halves of every signing key.
func (iss *Issuer) serveKeys(w http.ResponseWriter, _ *http.Request) {
	iss.mu.Lock()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(iss.keys))}
	for _, k := range iss.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       &k.priv.PublicKey,
			KeyID:     k.id,
			Algorithm: string(jose.RS256),
			Use:       "sig",
		})
	}
	iss.mu.Unlock()
	writeJSON(w, set)
}

// writeJSON writes v as an application/json response.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// newSigningKey generates an RSA 2048 key with a random key ID.
func newSigningKey() (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("oidctest: generate key: %w", err)
	}
	return signingKey{id: rand.Text(), priv: priv}, nil
}
