// Package authn establishes who is calling a Steward service: the Principal
// behind a request, how it is carried in a context, and how it is
// authenticated from gRPC metadata and the transport (service credential,
// client certificate, or a bearer token checked by a pluggable Verifier).
package authn

import (
	"context"
	"strings"
)

// Kind says what sort of principal a Principal is.
type Kind int

const (
	// KindUnspecified is the zero Kind; no authenticated principal has it.
	KindUnspecified Kind = iota
	// KindUser is a person with an account in an organization.
	KindUser
	// KindRobotAccount is a non-human account of an organization, using API keys.
	KindRobotAccount
	// KindExternalApp is a third-party application registered in an organization.
	KindExternalApp
	// KindService is one of Steward's own services ("services/directory").
	KindService
)

// String returns the name of the kind, e.g. "User".
func (k Kind) String() string {
	switch k {
	case KindUser:
		return "User"
	case KindRobotAccount:
		return "RobotAccount"
	case KindExternalApp:
		return "ExternalApp"
	case KindService:
		return "Service"
	default:
		return "Unspecified"
	}
}

// KindOf returns the kind of principal a resource name denotes, judging by its
// last collection: "organizations/o1/users/u1" is a KindUser,
// ".../robotAccounts/r1" a KindRobotAccount, ".../externalApps/a1" a
// KindExternalApp and "services/directory" a KindService. It returns
// KindUnspecified for any other name.
func KindOf(name string) Kind {
	segs := strings.Split(name, "/")
	if len(segs) < 2 || len(segs)%2 != 0 {
		return KindUnspecified
	}
	for _, s := range segs {
		if s == "" {
			return KindUnspecified
		}
	}
	switch segs[len(segs)-2] {
	case "users":
		return KindUser
	case "robotAccounts":
		return KindRobotAccount
	case "externalApps":
		return KindExternalApp
	case "services":
		if len(segs) == 2 {
			return KindService
		}
	}
	return KindUnspecified
}

// Principal is an authenticated caller.
type Principal struct {
	// Kind says what sort of principal this is.
	Kind Kind
	// Name is the principal's resource name, e.g. "organizations/o1/users/u1"
	// or "services/directory".
	Name string
	// Organization is the organization the principal belongs to, e.g.
	// "organizations/o1"; empty for services.
	Organization string
	// SessionID identifies the sign-in session or API key the request was made
	// with, when known.
	SessionID string
	// DisplayName is a human readable name for logs and audit records.
	DisplayName string
	// OnBehalfOf is the end user a KindService principal acts for, as
	// propagated by the calling service; nil when the service acts on its own
	// account, and always nil for other kinds.
	OnBehalfOf *Principal
}

// IsService reports whether p is one of Steward's own services.
func (p Principal) IsService() bool { return p.Kind == KindService }

type principalKey struct{}

// NewContext returns a copy of ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal carried by ctx, and reports whether there
// was one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Actor returns who really acted in ctx, for audit: the end user a service
// acts on behalf of if there is one, else the principal itself. It reports
// whether ctx carries a principal at all.
func Actor(ctx context.Context) (Principal, bool) {
	p, ok := FromContext(ctx)
	if !ok {
		return Principal{}, false
	}
	if p.OnBehalfOf != nil {
		return *p.OnBehalfOf, true
	}
	return p, true
}

type requestIDKey struct{}

// WithRequestID returns a copy of ctx carrying the request ID id. The server
// sets it for every call; outgoing calls made with pkg/grpcclient forward it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID carried by ctx, or "" if there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type clientAddressKey struct{}

// WithClientAddress returns a copy of ctx carrying addr, the network address
// (host, no port) of the client a call comes from. The server sets it for
// every call (see pkg/grpcserver): the transport peer's address, or the
// address a trusted proxy (the gateway) vouches for in MDClientAddress.
func WithClientAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddressKey{}, addr)
}

// ClientAddress returns the client address carried by ctx (see
// WithClientAddress), or "" when unknown. Rate limits and audit records key
// on it.
func ClientAddress(ctx context.Context) string {
	addr, _ := ctx.Value(clientAddressKey{}).(string)
	return addr
}
