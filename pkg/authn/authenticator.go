package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Metadata keys Steward reads and writes. gRPC metadata keys are lowercase.
const (
	// MDAuthorization carries the caller's credential: "Bearer <token>" or
	// "Service <name>:<secret>".
	MDAuthorization = "authorization"
	// MDActor carries the resource name of the end user a service acts for.
	// It is honoured only from callers authenticated as a service.
	MDActor = "x-steward-actor"
	// MDActorOrganization carries the organization of the end user in MDActor.
	MDActorOrganization = "x-steward-actor-org"
	// MDActorSession carries the session ID of the end user in MDActor (the
	// sign-in session, or the resource name of the API key it used).
	MDActorSession = "x-steward-actor-session"
	// MDRequestID carries the request ID, end to end.
	MDRequestID = "x-request-id"
	// MDClientAddress carries the address of the client a proxy (the
	// gateway) forwards a call for. It is honoured only together with a
	// valid MDProxyAuthorization; from anyone else it is ignored.
	MDClientAddress = "x-steward-client-address"
	// MDProxyAuthorization carries the proxy's own service credential
	// ("Service gateway:<secret>"), which vouches for MDClientAddress and
	// grants nothing else: the call still runs as the principal of
	// MDAuthorization.
	MDProxyAuthorization = "x-steward-proxy-authorization"
)

// Authorization schemes.
const (
	schemeBearer  = "Bearer"
	schemeService = "Service"
)

// certPrefix is the CommonName prefix of a service's client certificate:
// "steward-directory" authenticates as "services/directory".
const certPrefix = "steward-"

// ErrUnauthenticated is returned when credentials were presented but are not
// valid. Errors matching it map to codes.Unauthenticated.
var ErrUnauthenticated = errors.New("authn: unauthenticated")

// ErrNoCredentials is returned when a request carries no credentials at all.
// Errors matching it map to codes.Unauthenticated.
var ErrNoCredentials = errors.New("authn: no credentials")

// Authenticator establishes the principal of an incoming call from its
// metadata and its transport peer (which may be nil). It returns an error
// matching ErrNoCredentials or ErrUnauthenticated when it cannot.
type Authenticator interface {
	Authenticate(ctx context.Context, md metadata.MD, p *peer.Peer) (Principal, error)
}

// AuthenticatorFunc adapts an ordinary function to the Authenticator interface.
type AuthenticatorFunc func(ctx context.Context, md metadata.MD, p *peer.Peer) (Principal, error)

// Authenticate calls f(ctx, md, p).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, md metadata.MD, p *peer.Peer) (Principal, error) {
	return f(ctx, md, p)
}

// Verifier verifies an end-user credential, the part after "Bearer " in the
// authorization metadata: an access token or an API key. It returns an error
// matching ErrUnauthenticated for a credential that is not valid; other errors
// mean verification could not be carried out.
type Verifier interface {
	Verify(ctx context.Context, credential string) (Principal, error)
}

// VerifierFunc adapts an ordinary function to the Verifier interface.
type VerifierFunc func(ctx context.Context, credential string) (Principal, error)

// Verify calls f(ctx, credential).
func (f VerifierFunc) Verify(ctx context.Context, credential string) (Principal, error) {
	return f(ctx, credential)
}

// New returns the default Authenticator. It tries, in order:
//
//  1. a verified client certificate with CommonName "steward-<name>", which
//     authenticates the service "services/<name>";
//  2. "authorization: Service <name>:<secret>", which authenticates
//     "services/<name>" when services verifies secret as name's own (a nil
//     services verifies nothing);
//  3. "authorization: Bearer <credential>", verified by v (a nil v refuses
//     every bearer credential).
//
// A service principal also takes on the end user named by the
// x-steward-actor, x-steward-actor-org and x-steward-actor-session metadata,
// if any; from anyone else that metadata is ignored, so users cannot
// impersonate each other. The returned Authenticator also implements
// ClientAddresser.
func New(services ServiceVerifier, v Verifier) Authenticator {
	return &authenticator{services: services, verifier: v}
}

type authenticator struct {
	services ServiceVerifier
	verifier Verifier
}

func (a *authenticator) Authenticate(ctx context.Context, md metadata.MD, p *peer.Peer) (Principal, error) {
	if name, ok, err := serviceFromPeer(p); err != nil {
		return Principal{}, err
	} else if ok {
		return withEndUser(servicePrincipal(name), md)
	}
	values := md.Get(MDAuthorization)
	switch len(values) {
	case 0:
		return Principal{}, ErrNoCredentials
	case 1:
	default:
		return Principal{}, fmt.Errorf("%w: more than one authorization value", ErrUnauthenticated)
	}
	scheme, credential, _ := strings.Cut(values[0], " ")
	credential = strings.TrimSpace(credential)
	switch {
	case strings.EqualFold(scheme, schemeService):
		name, ok := a.verifyService(credential)
		if !ok {
			return Principal{}, fmt.Errorf("%w: invalid service credential", ErrUnauthenticated)
		}
		return withEndUser(servicePrincipal(name), md)
	case strings.EqualFold(scheme, schemeBearer):
		if a.verifier == nil {
			return Principal{}, fmt.Errorf("%w: no user verifier configured yet", ErrUnauthenticated)
		}
		if credential == "" {
			return Principal{}, fmt.Errorf("%w: empty bearer credential", ErrUnauthenticated)
		}
		pr, err := a.verifier.Verify(ctx, credential)
		if err != nil {
			return Principal{}, err
		}
		if pr.Kind == KindService {
			return Principal{}, fmt.Errorf("%w: bearer credential cannot authenticate a service", ErrUnauthenticated)
		}
		pr.OnBehalfOf = nil
		return pr, nil
	default:
		return Principal{}, fmt.Errorf("%w: unsupported authorization scheme", ErrUnauthenticated)
	}
}

// verifyService returns the service a "<name>:<secret>" service credential
// authenticates, and reports whether it verifies.
func (a *authenticator) verifyService(credential string) (string, bool) {
	name, secret, ok := strings.Cut(credential, ":")
	if !ok || !ValidServiceName(name) || a.services == nil || !a.services.VerifyService(name, secret) {
		return "", false
	}
	return name, true
}

// ProxyService is the one service whose word on a client's address is
// taken: the gateway (see MDClientAddress).
const ProxyService = "gateway"

// ClientAddresser is implemented by Authenticators that know whom to
// believe about the address of a call's client. pkg/grpcserver asks it for
// every call, public methods included.
type ClientAddresser interface {
	// ClientAddress returns the address of the client of a call with
	// metadata md over transport peer p: MDClientAddress when it is a valid
	// IP address and the call comes from the proxy (MDProxyAuthorization
	// verifies as ProxyService, or p's client certificate names it), else
	// p's host. badProxy reports a MDProxyAuthorization that does not
	// verify at all, which counts as a failed authentication of p.
	ClientAddress(md metadata.MD, p *peer.Peer) (addr string, badProxy bool)
}

// ClientAddress implements ClientAddresser.
func (a *authenticator) ClientAddress(md metadata.MD, p *peer.Peer) (string, bool) {
	addr := PeerAddress(p)
	vouched := false
	if name, ok, err := serviceFromPeer(p); err == nil && ok && name == ProxyService {
		vouched = true
	}
	badProxy := false
	if values := md.Get(MDProxyAuthorization); len(values) > 0 {
		scheme, credential, _ := strings.Cut(values[0], " ")
		name, ok := a.verifyService(strings.TrimSpace(credential))
		switch {
		case len(values) != 1 || !strings.EqualFold(scheme, schemeService) || !ok:
			badProxy = true
		case name == ProxyService:
			vouched = true
		}
	}
	if !vouched {
		return addr, badProxy
	}
	values := md.Get(MDClientAddress)
	if len(values) != 1 {
		return addr, badProxy
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(values[0]))
	if err != nil || ip.Zone() != "" {
		return addr, badProxy
	}
	return ip.Unmap().String(), badProxy
}

// PeerAddress returns the host part of p's network address, "" when
// unknown.
func PeerAddress(p *peer.Peer) string {
	if p == nil || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// serviceFromPeer returns the service name of p's verified client
// certificate, and reports whether there was one.
func serviceFromPeer(p *peer.Peer) (string, bool, error) {
	if p == nil {
		return "", false, nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false, nil
	}
	name, err := serviceFromCertificate(info.State.VerifiedChains[0][0])
	if err != nil {
		return "", false, err
	}
	return name, true, nil
}

func serviceFromCertificate(cert *x509.Certificate) (string, error) {
	cn := cert.Subject.CommonName
	name, ok := strings.CutPrefix(cn, certPrefix)
	if !ok || !ValidServiceName(name) {
		return "", fmt.Errorf("%w: client certificate common name %q is not steward-<service>", ErrUnauthenticated, cn)
	}
	return name, nil
}

func servicePrincipal(name string) Principal {
	return Principal{Kind: KindService, Name: "services/" + name, DisplayName: name}
}

// withEndUser attaches to the service principal p the end user named in
// md, if any: a user, robot account or external app, whose organization is
// the one its name lies in (x-steward-actor-org, when sent, must agree).
func withEndUser(p Principal, md metadata.MD) (Principal, error) {
	actor := lastValue(md, MDActor)
	if actor == "" {
		return p, nil
	}
	kind := KindOf(actor)
	org := organizationOf(actor)
	if kind == KindUnspecified || kind == KindService || org == "" {
		return Principal{}, fmt.Errorf("%w: %s is not a user, robot account or external app", ErrUnauthenticated, MDActor)
	}
	if claimed := lastValue(md, MDActorOrganization); claimed != "" && claimed != org {
		return Principal{}, fmt.Errorf("%w: %s does not match %s", ErrUnauthenticated, MDActorOrganization, MDActor)
	}
	p.OnBehalfOf = &Principal{
		Kind:         kind,
		Name:         actor,
		Organization: org,
		SessionID:    lastValue(md, MDActorSession),
		DisplayName:  actor,
	}
	return p, nil
}

// organizationOf returns "organizations/{o}" of a name inside an
// organization, "" for any other name.
func organizationOf(name string) string {
	rest, ok := strings.CutPrefix(name, "organizations/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" {
		return ""
	}
	return "organizations/" + id
}

func lastValue(md metadata.MD, key string) string {
	v := md.Get(key)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}
