package oidcauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// errTooLarge is the read error of a response body longer than
// MaxResponseBytes.
var errTooLarge = fmt.Errorf("oidcauth: response larger than %d bytes", MaxResponseBytes)

// statusError is a response whose status is neither success nor redirect:
// the guarded client never hands its body to go-oidc, which would quote it.
type statusError struct {
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("oidcauth: HTTP status %d %s", e.code, http.StatusText(e.code))
}

// newTransport returns the transport of the Verifier's own client: no
// proxies, and, unless allowPrivate, connections to public addresses only,
// checked on the address dialled after DNS resolution.
func newTransport(allowPrivate bool) *http.Transport {
	dialer := &net.Dialer{Timeout: DefaultTimeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = dialPublicOnly
	}
	return &http.Transport{
		Proxy:                  nil, // through a proxy, the address checks would check the proxy
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    DefaultTimeout,
		ResponseHeaderTimeout:  DefaultTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// dialPublicOnly is a net.Dialer Control function: it runs for every
// address actually dialled, after name resolution, and refuses those that
// are not public.
func dialPublicOnly(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", ErrIssuerNotAllowed, address)
	}
	if !IsPublic(ap.Addr()) {
		return fmt.Errorf("%w: address %s is not public", ErrIssuerNotAllowed, ap.Addr())
	}
	return nil
}

// nonPublic are special-purpose ranges that netip's predicates do not
// cover (RFC 6890 and successors).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ...)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4, which embeds any IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// nat64 is the well-known NAT64 prefix; its addresses stand for the IPv4
// address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// IsPublic reports whether a is a public unicast address: not loopback,
// private (RFC 1918, fc00::/7), link-local, unspecified, multicast, nor any
// other special-purpose range. IPv4-mapped and NAT64 addresses are judged by
// the IPv4 address they carry.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if nat64.Contains(a) {
		b := a.As16()
		return IsPublic(netip.AddrFrom4([4]byte(b[12:])))
	}
	if !a.IsValid() || a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() ||
		a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// checkScheme refuses URLs that are not https (nor http, with
// allowPrivate).
func checkScheme(u *url.URL, allowPrivate bool) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && allowPrivate:
		return nil
	default:
		return fmt.Errorf("%w: the issuer must use https, not %q", ErrIssuerNotAllowed, u.Scheme)
	}
}

// guardTransport checks the scheme of every request, redirects included,
// turns answers that are neither success nor redirect into a statusError
// without reading them, and caps the bodies of the others.
type guardTransport struct {
	base         http.RoundTripper
	allowPrivate bool
}

// RoundTrip implements http.RoundTripper.
func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL, g.allowPrivate); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	redirect := resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != ""
	if (resp.StatusCode < 200 || resp.StatusCode >= 300) && !redirect {
		_ = resp.Body.Close()
		return nil, &statusError{code: resp.StatusCode}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// limitedBody fails with errTooLarge once more than its limit is read.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close implements io.Closer.
func (b *limitedBody) Close() error { return b.rc.Close() }

// sanitize returns describe(err, what) as an error, which wraps
// ErrIssuerNotAllowed when err does.
func sanitize(err error, what string) error {
	d := describe(err, what)
	if errors.Is(err, ErrIssuerNotAllowed) {
		return fmt.Errorf("%w%s", ErrIssuerNotAllowed, strings.TrimPrefix(d, ErrIssuerNotAllowed.Error()))
	}
	return errors.New(d)
}

// describe returns an account of err, the failure of a request to an
// identity provider, that quotes nothing the provider answered: go-oidc
// puts response bodies in its errors, and they may hold anything the URL
// reaches. Failures it does not recognize become what.
func describe(err error, what string) string {
	var (
		status *statusError
		dnsErr *net.DNSError
		opErr  *net.OpError
		urlErr *url.Error
	)
	switch {
	case errors.Is(err, ErrIssuerNotAllowed):
		// Our own words, from CheckIssuer or dialPublicOnly.
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.HasPrefix(e.Error(), ErrIssuerNotAllowed.Error()) {
				return e.Error()
			}
		}
		return ErrIssuerNotAllowed.Error()
	case errors.As(err, &status):
		return status.Error()
	case errors.Is(err, errTooLarge) || strings.Contains(err.Error(), errTooLarge.Error()):
		return errTooLarge.Error()
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dnsErr):
		return dnsErr.Error()
	case errors.As(err, &opErr):
		return opErr.Error()
	case errors.As(err, &urlErr):
		// A transport failure (TLS, too many redirects): network words only.
		return urlErr.Error()
	}
	return what
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
