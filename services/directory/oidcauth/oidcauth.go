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
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// DefaultTimeout bounds each request to an identity provider made by the
// client a Verifier builds.
const DefaultTimeout = 10 * time.Second

// MaxResponseBytes bounds the body of every response read from an identity
// provider (discovery document, key set).
const MaxResponseBytes = 1 << 20

// maxRedirects bounds the redirects followed for one request.
const maxRedirects = 3

// maxIssuers bounds the issuers a Verifier remembers; past it, one
// remembered issuer is forgotten for each new one.
const maxIssuers = 1024

// ErrInvalidToken is returned, wrapped, when an ID token is malformed, not
// signed by the issuer, issued by another issuer or for another client,
// expired, or lacks a usable subject or claim. Callers map it to
// ID_TOKEN_INVALID.
var ErrInvalidToken = errors.New("oidcauth: invalid ID token")

// ErrIssuerUnavailable is returned, wrapped, when the identity provider
// cannot be used: its discovery document or key set cannot be fetched or is
// unusable, or its URL is not allowed (ErrIssuerNotAllowed). The token
// itself may be fine; the caller may retry later.
var ErrIssuerUnavailable = errors.New("oidcauth: identity provider unavailable")

// ErrIssuerNotAllowed is returned, wrapped, by CheckIssuer, and by Verify
// and the HTTP client's requests along with ErrIssuerUnavailable, when an
// issuer URL or an address it resolves to is not one the Verifier may
// contact: not https, or not a public address (see Options.AllowPrivate).
var ErrIssuerNotAllowed = errors.New("oidcauth: identity provider not allowed")

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

// Options configure a Verifier.
//
// Issuer URLs are chosen by organization owners, and anyone may present an
// ID token naming their organization, so the Verifier must not become a way
// to reach what the directory's network can (SSRF). By default it therefore
// speaks https only, and its HTTP client connects only to public addresses,
// checked on the address actually dialled after DNS resolution (a name
// that resolves to a public address when the issuer is configured and to
// 127.0.0.1 later gains nothing), without HTTP proxies (through which no
// such check is possible). Every response body is capped at
// MaxResponseBytes, and the errors and logs of the Verifier quote nothing of
// what an issuer answered.
type Options struct {
	// AllowPrivate lets issuers use plain http and addresses that are not
	// public: loopback, private, link-local, unspecified, multicast and
	// other special-purpose ranges. For development and tests only
	// (oidctest runs on http://127.0.0.1).
	AllowPrivate bool
	// Client, if not nil, replaces the HTTP client the Verifier builds; for
	// tests. Its requests still go through the scheme check and the response
	// limits, but the address checks are the client's own business.
	Client *http.Client
	// Timeout bounds each request of the built client; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Logger receives the details of failed verifications, at WARN; nil
	// means slog.Default().
	Logger *slog.Logger
}

// Verifier verifies ID tokens from any number of issuers. It discovers each
// issuer on first use and keeps the result; a failed discovery is not kept,
// so the next call tries again. The issuer's key set is refetched when a
// token carries a key ID it has not seen, which picks up key rotation.
//
// A Verifier is safe for concurrent use. Its zero value is not usable; call
// New or NewWithOptions.
type Verifier struct {
	client       *http.Client
	allowPrivate bool
	logger       *slog.Logger

	mu      sync.Mutex
	issuers map[string]*issuerEntry // by issuer URL, exactly as given
}

// issuerEntry is the discovered configuration of one issuer. Its other
// fields are written before ready is closed and read only after.
type issuerEntry struct {
	ready chan struct{}

	keys oidc.KeySet
	algs []string // supported ID token signing algorithms; nil means RS256
	// authorize is the issuer's authorization endpoint, where a browser
	// starts a sign-in ("" when the document names none).
	authorize string
	err       error
}

// New returns a Verifier with the default Options (https and public
// addresses only) that talks to identity providers with client; a nil
// client means the Verifier's own guarded client.
func New(client *http.Client) *Verifier {
	return NewWithOptions(Options{Client: client})
}

// NewWithOptions returns a Verifier configured by opts.
func NewWithOptions(opts Options) *Verifier {
	v := &Verifier{allowPrivate: opts.AllowPrivate, logger: opts.Logger, issuers: make(map[string]*issuerEntry)}
	if v.logger == nil {
		v.logger = slog.Default()
	}
	base := http.RoundTripper(nil)
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if opts.Client != nil {
		base = opts.Client.Transport
		if opts.Client.Timeout != 0 {
			timeout = opts.Client.Timeout
		}
	}
	if base == nil {
		base = newTransport(opts.AllowPrivate)
	}
	v.client = &http.Client{
		Transport: &guardTransport{base: base, allowPrivate: opts.AllowPrivate},
		Timeout:   timeout,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
	return v
}

// CheckIssuer reports whether the Verifier may use issuer: an absolute
// https URL (http too with AllowPrivate) without user information, query
// or fragment, whose host is not a non-public IP address or "localhost"
// (unless AllowPrivate). Names are resolved, and their addresses checked,
// only when the issuer is contacted. The error wraps ErrIssuerNotAllowed and
// says what is wrong in words fit for an administrator.
func (v *Verifier) CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%w: the issuer must be an absolute URL", ErrIssuerNotAllowed)
	case u.User != nil:
		return fmt.Errorf("%w: the issuer URL must not carry user information", ErrIssuerNotAllowed)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("%w: the issuer URL must have no query or fragment", ErrIssuerNotAllowed)
	}
	if err := checkScheme(u, v.allowPrivate); err != nil {
		return err
	}
	if v.allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: the issuer must not be on this host", ErrIssuerNotAllowed)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !IsPublic(ip) {
		return fmt.Errorf("%w: the issuer's address %s is not public", ErrIssuerNotAllowed, ip)
	}
	return nil
}

// Verify verifies rawIDToken as an ID token issued by issuer for clientID and
// returns the identity it asserts. groupClaim names the claim holding the
// user's groups, either a JSON array of strings or a single string; an empty
// groupClaim or a missing claim yields no groups.
//
// The issuer is discovered on first use, bounded by ctx. Errors wrap
// ErrInvalidToken when the token does not verify and ErrIssuerUnavailable
// when the issuer cannot be reached or is not allowed (CheckIssuer, and the
// address checks of Options); an empty issuer or clientID is a
// configuration error and wraps neither. Errors quote nothing an issuer
// answered, so they may be logged; Verify logs them at WARN itself. They
// still describe the issuer's network and are not meant for the person
// signing in.
func (v *Verifier) Verify(ctx context.Context, issuer, clientID, groupClaim, rawIDToken string) (Identity, error) {
	id, err := v.verify(ctx, issuer, clientID, groupClaim, rawIDToken)
	if err != nil {
		// The error quotes nothing an issuer answered (see describe), and
		// no part of the token but what the verification found wrong.
		v.logger.Warn("OIDC ID token not verified", "issuer", issuer, "client_id", clientID, "error", err.Error())
	}
	return id, err
}

func (v *Verifier) verify(ctx context.Context, issuer, clientID, groupClaim, rawIDToken string) (Identity, error) {
	if issuer == "" || clientID == "" {
		return Identity{}, errors.New("oidcauth: issuer and client ID are required")
	}
	if err := v.CheckIssuer(issuer); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrIssuerUnavailable, err)
	}
	e, err := v.issuer(ctx, issuer)
	if err != nil {
		return Identity{}, err
	}

	rec := new(fetchRecorder)
	verifier := oidc.NewVerifier(issuer, e.keys, &oidc.Config{ClientID: clientID, SupportedSigningAlgs: e.algs})
	tok, err := verifier.Verify(context.WithValue(ctx, fetchRecorderKey{}, rec), rawIDToken)
	if rec.err != nil {
		return Identity{}, fmt.Errorf("%w: fetching the keys of %q: %w", ErrIssuerUnavailable, issuer, sanitize(rec.err, "the key set is not valid"))
	}
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return identityOf(tok, groupClaim)
}

// AuthorizationEndpoint returns issuer's authorization endpoint from its
// discovery document (discovering it if no call has yet), where a browser
// is sent to sign in; "" when the document names none. Its errors are
// those of Verify's discovery (ErrIssuerUnavailable).
func (v *Verifier) AuthorizationEndpoint(ctx context.Context, issuer string) (string, error) {
	if err := v.CheckIssuer(issuer); err != nil {
		return "", fmt.Errorf("%w: %w", ErrIssuerUnavailable, err)
	}
	e, err := v.issuer(ctx, issuer)
	if err != nil {
		return "", err
	}
	return e.authorize, nil
}

// issuer returns the discovered configuration of issuer, discovering it if
// no other call has. Concurrent first calls share one discovery.
func (v *Verifier) issuer(ctx context.Context, issuer string) (*issuerEntry, error) {
	v.mu.Lock()
	e, ok := v.issuers[issuer]
	if !ok {
		if len(v.issuers) >= maxIssuers {
			v.forgetOneLocked()
		}
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

// forgetOneLocked forgets one issuer whose discovery is over, so that
// owners switching issuers cannot grow the Verifier without bound. v.mu
// must be held.
func (v *Verifier) forgetOneLocked() {
	for issuer, e := range v.issuers {
		select {
		case <-e.ready:
			delete(v.issuers, issuer)
			return
		default:
		}
	}
}

// discover fetches the discovery document of issuer and fills in e.
func (e *issuerEntry) discover(ctx context.Context, client *http.Client, issuer string) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		what := "the discovery document is not valid"
		if strings.Contains(err.Error(), "did not match the issuer") {
			what = "the discovery document names another issuer"
		}
		e.err = fmt.Errorf("%w: discovery of %q: %w", ErrIssuerUnavailable, issuer, sanitize(err, what))
		return
	}
	var meta struct {
		JWKSURI   string   `json:"jwks_uri"`
		Algs      []string `json:"id_token_signing_alg_values_supported"`
		Authorize string   `json:"authorization_endpoint"`
	}
	if err := p.Claims(&meta); err != nil {
		e.err = fmt.Errorf("%w: discovery of %q: the discovery document is not valid", ErrIssuerUnavailable, issuer)
		return
	}
	if meta.JWKSURI == "" {
		e.err = fmt.Errorf("%w: discovery of %q: no jwks_uri", ErrIssuerUnavailable, issuer)
		return
	}
	if u, err := url.Parse(meta.Authorize); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		e.authorize = meta.Authorize
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
