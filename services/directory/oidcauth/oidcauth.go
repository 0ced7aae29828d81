// Package oidcauth verifies ID tokens issued by an organization's external
// OpenID Connect identity provider, for sign-in through an external account
// system (SPEC R8, R9).
//
// A Verifier discovers each issuer once, caches its metadata and key set, and
// verifies tokens with github.com/coreos/go-oidc: signature, issuer, audience
// and expiry. It then reads the identity claims the directory needs to find or
// auto-provision the user: subject, email, name and groups.
package oidcauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// DefaultTimeout bounds each request to an identity provider when New is
// given a nil client.
const DefaultTimeout = 10 * time.Second

// ErrInvalidToken is returned, wrapped, when an ID token is malformed, not
// signed by the issuer, issued by another issuer or for another client,
// expired, or lacks a usable subject or claim. Callers map it to
// ID_TOKEN_INVALID.
var ErrInvalidToken = errors.New("oidcauth: invalid ID token")

// ErrIssuerUnavailable is returned, wrapped, when the identity provider
// cannot be used: its discovery document or key set cannot be fetched or is
// unusable. The token itself may be fine; the caller may retry later.
var ErrIssuerUnavailable = errors.New("oidcauth: identity provider unavailable")

// Identity is who a verified ID token says the user is.
type Identity struct {
	// Subject is the "sub" claim, the user's stable identifier at the issuer.
	Subject string
	// Email is the "email" claim, or empty.
	Email string
	// Name is the "name" claim, falling back to "preferred_username", or
	// empty.
	Name string
	// Groups are the values of the configured group claim, in token order,
	// without empty strings. It is nil when the claim is absent or not
	// configured.
	Groups []string
}

// Verifier verifies ID tokens from any number of issuers. It discovers each
// issuer on first use and keeps the result; a failed discovery is not kept,
// so the next call tries again. The issuer's key set is refetched when a
// token carries a key ID it has not seen, which picks up key rotation.
//
// A Verifier is safe for concurrent use. Its zero value is not usable; call
// New.
type Verifier struct {
	client *http.Client

	mu      sync.Mutex
	issuers map[string]*issuerEntry // by issuer URL, exactly as given
}

// issuerEntry is the discovered configuration of one issuer. Its other
// fields are written before ready is closed and read only after.
type issuerEntry struct {
	ready chan struct{}

	keys oidc.KeySet
	algs []string // supported ID token signing algorithms; nil means RS256
	err  error
}

// New returns a Verifier that talks to identity providers with client. A nil
// client means an http.Client with DefaultTimeout.
func New(client *http.Client) *Verifier {
	if client == nil {
		client = &http.Client{Timeout: DefaultTimeout}
	}
	return &Verifier{client: client, issuers: make(map[string]*issuerEntry)}
}

// Verify verifies rawIDToken as an ID token issued by issuer for clientID and
// returns the identity it asserts. groupClaim names the claim holding the
// user's groups, either a JSON array of strings or a single string; an empty
// groupClaim or a missing claim yields no groups.
//
// The issuer is discovered on first use, bounded by ctx. Errors wrap
// ErrInvalidToken when the token does not verify and ErrIssuerUnavailable
// when the issuer cannot be reached; an empty issuer or clientID is a
// configuration error and wraps neither.
func (v *Verifier) Verify(ctx context.Context, issuer, clientID, groupClaim, rawIDToken string) (Identity, error) {
	if issuer == "" || clientID == "" {
		return Identity{}, errors.New("oidcauth: issuer and client ID are required")
	}
	e, err := v.issuer(ctx, issuer)
	if err != nil {
		return Identity{}, err
	}

	rec := new(fetchRecorder)
	verifier := oidc.NewVerifier(issuer, e.keys, &oidc.Config{ClientID: clientID, SupportedSigningAlgs: e.algs})
	tok, err := verifier.Verify(context.WithValue(ctx, fetchRecorderKey{}, rec), rawIDToken)
	if rec.err != nil {
		return Identity{}, fmt.Errorf("%w: fetching keys of %q: %w", ErrIssuerUnavailable, issuer, rec.err)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return identityOf(tok, groupClaim)
}

// issuer returns the discovered configuration of issuer, discovering it if
// no other call has. Concurrent first calls share one discovery.
func (v *Verifier) issuer(ctx context.Context, issuer string) (*issuerEntry, error) {
	v.mu.Lock()
	e, ok := v.issuers[issuer]
	if !ok {
		e = &issuerEntry{ready: make(chan struct{})}
		v.issuers[issuer] = e
	}
	v.mu.Unlock()

	if !ok {
		e.discover(ctx, v.client, issuer)
		if e.err != nil {
			v.mu.Lock()
			if v.issuers[issuer] == e {
				delete(v.issuers, issuer)
			}
			v.mu.Unlock()
		}
		close(e.ready)
	} else {
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for discovery of %q: %w", ErrIssuerUnavailable, issuer, ctx.Err())
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e, nil
}

// discover fetches the discovery document of issuer and fills in e.
func (e *issuerEntry) discover(ctx context.Context, client *http.Client, issuer string) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		e.err = fmt.Errorf("%w: discovery of %q: %w", ErrIssuerUnavailable, issuer, err)
		return
	}
	var meta struct {
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		e.err = fmt.Errorf("%w: discovery of %q: %w", ErrIssuerUnavailable, issuer, err)
		return
	}
	if meta.JWKSURI == "" {
		e.err = fmt.Errorf("%w: discovery of %q: no jwks_uri", ErrIssuerUnavailable, issuer)
		return
	}
	for _, alg := range meta.Algs {
		if slices.Contains(supportedAlgs, alg) {
			e.algs = append(e.algs, alg)
		}
	}
	// The key set outlives ctx: it refetches keys in the background when a
	// token carries an unknown key ID.
	remote := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), client), meta.JWKSURI)
	e.keys = recordingKeySet{remote: remote}
}

// supportedAlgs are the signing algorithms go-oidc verifies; the others an
// issuer advertises are ignored, as oidc.Provider does.
var supportedAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// fetchRecorderKey is the context key of the *fetchRecorder of one Verify
// call.
type fetchRecorderKey struct{}

// fetchRecorder receives the error of a failed key set fetch during one
// Verify call. go-oidc flattens key set errors into a string, so the key set
// reports them here instead, which tells an unreachable issuer apart from a
// bad signature.
type fetchRecorder struct {
	err error
}

// recordingKeySet is an oidc.KeySet that reports key fetch failures to the
// fetchRecorder in the context.
type recordingKeySet struct {
	remote *oidc.RemoteKeySet
}

// VerifySignature implements oidc.KeySet.
func (k recordingKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	// RemoteKeySet wraps an error with %w only when fetching the key set
	// failed (network, HTTP status, decoding, or ctx done); a signature that
	// does not verify is an unwrapped error.
	if err != nil && errors.Unwrap(err) != nil {
		if rec, ok := ctx.Value(fetchRecorderKey{}).(*fetchRecorder); ok {
			rec.err = err
		}
	}
	return payload, err
}

// identityOf reads the identity claims of a verified token.
func identityOf(tok *oidc.IDToken, groupClaim string) (Identity, error) {
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if tok.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	id := Identity{Subject: tok.Subject}
	var err error
	if id.Email, err = stringClaim(claims, "email"); err != nil {
		return Identity{}, err
	}
	if id.Name, err = stringClaim(claims, "name"); err != nil {
		return Identity{}, err
	}
	if id.Name == "" {
		if id.Name, err = stringClaim(claims, "preferred_username"); err != nil {
			return Identity{}, err
		}
	}
	if groupClaim != "" {
		if id.Groups, err = groupsClaim(claims, groupClaim); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// stringClaim returns the string claim name, or "" if it is absent or null.
func stringClaim(claims map[string]json.RawMessage, name string) (string, error) {
	raw, ok := claims[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: claim %q is not a string", ErrInvalidToken, name)
	}
	return s, nil
}

// groupsClaim returns the groups in claim name, which may be an array of
// strings or a single string. Absent, null and empty values give nil.
func groupsClaim(claims map[string]json.RawMessage, name string) ([]string, error) {
	raw, ok := claims[name]
	if !ok {
		return nil, nil
	}
	var values []string
	switch raw = bytes.TrimSpace(raw); {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: group claim %q: %w", ErrInvalidToken, name, err)
		}
		values = []string{s}
	default: // an array or null
		if err := json.Unmarshal(raw, &values); err != nil {
			return nil, fmt.Errorf("%w: group claim %q is neither a string nor an array of strings", ErrInvalidToken, name)
		}
	}
	values = slices.DeleteFunc(values, func(g string) bool { return g == "" })
	if len(values) == 0 {
		return nil, nil
	}
	return values, nil
}
