// Package grpcclient dials Steward services from other Steward services: it
// authenticates as the calling service, forwards the end user and the
// request ID of the call being served, and gives unary calls a default
// deadline. A target may name several replicas of one service
// ("127.0.0.1:7002,127.0.0.1:7012"): calls are then spread over the healthy
// ones (see Dial).
package grpcclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/health" // client-side health checking of replicas
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/tracing"
)

// DefaultTimeout is the deadline given to unary calls that have none.
const DefaultTimeout = 10 * time.Second

// Options configures Dial.
type Options struct {
	// Service is the name of the calling service, e.g. "access". Required
	// when Credential is set.
	Service string
	// Credential is the calling service's own credential; when set, every
	// call carries "authorization: Service <Service>:<secret>", which the
	// callee verifies as Service's.
	Credential authn.ServiceCredential
	// TLS enables TLS when any of its fields is set; without it only loopback
	// targets may be dialled (in plaintext).
	TLS TLSConfig
	// Timeout is the deadline of unary calls without one; 0 means
	// DefaultTimeout and a negative value none.
	Timeout time.Duration
	// DialOptions are appended to the ones Dial builds.
	DialOptions []grpc.DialOption
}

// TLSConfig names the PEM files of a TLS client.
type TLSConfig struct {
	// CAFile holds the roots that verify the server; empty means the system
	// roots.
	CAFile string
	// CertFile and KeyFile hold the client certificate (CommonName
	// "steward-<service>") for mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the server certificate is verified
	// against.
	ServerName string
}

func (c TLSConfig) enabled() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// Dial returns a client connection to target ("127.0.0.1:7001",
// "dns:///directory:7001") configured by opts. Like grpc.NewClient it does no
// I/O; the connection is made on first use.
//
// target may also be a comma-separated list of host:port, the replicas of
// one service ("127.0.0.1:7002,127.0.0.1:7012"): the connection then keeps a
// subchannel to each and spreads calls over them round-robin, skipping a
// replica that is down or whose grpc.health.v1 status (the server's, "") is
// not SERVING, so calls go on when one replica stops. A call already sent to
// a replica that dies fails as it would with a single address; it is not
// retried elsewhere. Without TLS every address of the list must be a
// loopback one. A single address behaves as it always did (gRPC's default
// pick-first, no client health checking).
func Dial(target string, opts Options) (*grpc.ClientConn, error) {
	dialOpts, err := DialOptions(target, opts)
	if err != nil {
		return nil, err
	}
	grpcTarget := target
	if addrs, ok := replicaList(target); ok {
		grpcTarget = replicasScheme + ":///" + strings.Join(addrs, ",")
	}
	conn, err := grpc.NewClient(grpcTarget, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("grpcclient: dialling %s: %w", target, err)
	}
	return conn, nil
}

// DialOptions returns the dial options Dial uses for target: transport
// credentials, then the interceptors, then, with tracing on
// (pkg/tracing.Setup), otelgrpc's client stats handler (which sends the
// call's traceparent), then opts.DialOptions. For a list of replicas they
// also hold the resolver of the list and the round-robin service config,
// which only Dial's rewritten target uses: dial a list with Dial.
func DialOptions(target string, opts Options) ([]grpc.DialOption, error) {
	addrs, isList := replicaList(target)
	if strings.Contains(target, ",") && !strings.Contains(target, "/") && !isList {
		return nil, fmt.Errorf("grpcclient: invalid target %q: a list of replicas is comma-separated host:port", target)
	}
	var creds credentials.TransportCredentials
	if opts.TLS.enabled() {
		cfg, err := opts.TLS.config()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	} else {
		checked := addrs
		if !isList {
			checked = []string{target}
		}
		for _, a := range checked {
			if !isLoopback(a) {
				return nil, fmt.Errorf("grpcclient: refusing plaintext connection to non-loopback target %q: configure TLS", a)
			}
		}
		creds = insecure.NewCredentials()
	}
	unary, stream, err := Interceptors(opts)
	if err != nil {
		return nil, err
	}
	out := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithChainUnaryInterceptor(unary),
		grpc.WithChainStreamInterceptor(stream),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnectBackoff, MinConnectTimeout: 20 * time.Second}),
	}
	if isList {
		out = append(out, grpc.WithResolvers(replicasBuilder(addrs)), grpc.WithDefaultServiceConfig(replicasServiceConfig))
	}
	out = append(out, tracing.DialOptions()...)
	return append(out, opts.DialOptions...), nil
}

// replicasScheme is the resolver scheme of Dial's target for a list of
// replicas; its resolver is given to that connection alone.
const replicasScheme = "steward-replicas"

// replicasServiceConfig spreads calls over the replicas and leaves out
// those whose health (the server's own status, "") is not SERVING: a
// replica stopping (health turns NOT_SERVING before it drains) or still
// catching up with the logs it follows. The read-only calls every service
// makes on every request it serves (a bearer credential's verification, a
// permission check) and health checks are retried on UNAVAILABLE, which a
// call sent to a replica that has just died gets before its client has seen
// the connection go: the retry goes to another replica. Other calls are not
// retried: a write may have been applied before its connection broke.
const replicasServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""},
  "methodConfig": [{
    "name": [
      {"service": "grpc.health.v1.Health", "method": "Check"},
      {"service": "steward.directory.v1.DirectoryService", "method": "VerifyCredential"},
      {"service": "steward.directory.v1.DirectoryService", "method": "GetJwks"},
      {"service": "steward.access.v1.AccessService", "method": "CheckPermission"},
      {"service": "steward.access.v1.AccessService", "method": "BatchCheckPermission"}
    ],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.05s",
      "maxBackoff": "0.5s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// replicaList reports whether target is a list of replicas, two or more
// host:port separated by commas (blanks around them and empty items are
// ignored), and returns them.
func replicaList(target string) ([]string, bool) {
	if !strings.Contains(target, ",") {
		return nil, false
	}
	var addrs []string
	for a := range strings.SplitSeq(target, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if strings.Contains(a, "/") {
			return nil, false // a scheme or a path: not host:port
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, false
		}
		addrs = append(addrs, a)
	}
	return addrs, len(addrs) > 0
}

// replicasBuilder returns the resolver of a list of replicas: it hands
// the connection every address once (again whenever the connection leaves
// idleness), each with its own host:port as the authority its TLS
// certificate is verified against, as when it is dialled alone.
func replicasBuilder(addrs []string) resolver.Builder {
	var state resolver.State
	for _, a := range addrs {
		state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a, ServerName: a}}})
	}
	return staticBuilder{state: state}
}

type staticBuilder struct{ state resolver.State }

func (b staticBuilder) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	// round_robin accepts any non-empty list: there is no error to retry.
	_ = cc.UpdateState(b.state)
	return staticResolver{}, nil
}

func (staticBuilder) Scheme() string { return replicasScheme }

type staticResolver struct{}

func (staticResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (staticResolver) Close()                                {}

// reconnectBackoff is how often a client tries to reach a server that is
// down: gRPC's default backoff but capped at one second instead of two
// minutes, so that a backend that comes up (a restart, a cold start of
// access on a large store) is in use within a second, not after the
// client's next try several seconds later (issue 13). Steward's clients
// reach a handful of backends, so the extra attempts cost nothing.
var reconnectBackoff = backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}

// Interceptors returns the client interceptors of opts: each call gets the
// service credential, the propagated end user and request ID (see
// OutgoingContext) and, for unary calls, the default deadline.
func Interceptors(opts Options) (grpc.UnaryClientInterceptor, grpc.StreamClientInterceptor, error) {
	if !opts.Credential.IsZero() && !authn.ValidServiceName(opts.Service) {
		return nil, nil, fmt.Errorf("grpcclient: invalid service name %q", opts.Service)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	var authorization string
	if !opts.Credential.IsZero() {
		authorization = opts.Credential.AuthorizationFor(opts.Service)
	}
	prepare := func(ctx context.Context) context.Context {
		ctx = OutgoingContext(ctx)
		if authorization != "" {
			ctx = setOutgoing(ctx, authn.MDAuthorization, authorization, true)
		}
		return ctx
	}
	unary := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(prepare(ctx), method, req, reply, cc, callOpts...)
	}
	stream := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(prepare(ctx), desc, cc, method, callOpts...)
	}
	return unary, stream, nil
}

// OutgoingContext returns ctx with outgoing metadata carrying, unless
// already set, the end user ctx acts for (x-steward-actor,
// x-steward-actor-org and x-steward-actor-session, from authn.Actor, when
// that is not a service) and the request ID (x-request-id, from
// authn.RequestID or the incoming metadata). The callee holds the call to
// that end user's permissions.
func OutgoingContext(ctx context.Context) context.Context {
	if actor, ok := authn.Actor(ctx); ok && !actor.IsService() && actor.Name != "" {
		ctx = setOutgoing(ctx, authn.MDActor, actor.Name, false)
		if actor.Organization != "" {
			ctx = setOutgoing(ctx, authn.MDActorOrganization, actor.Organization, false)
		}
		if actor.SessionID != "" {
			ctx = setOutgoing(ctx, authn.MDActorSession, actor.SessionID, false)
		}
	}
	id := authn.RequestID(ctx)
	if id == "" {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(authn.MDRequestID); len(v) > 0 {
				id = v[0]
			}
		}
	}
	if id != "" {
		ctx = setOutgoing(ctx, authn.MDRequestID, id, false)
	}
	return ctx
}

// setOutgoing sets key to value in the outgoing metadata of ctx, replacing
// an existing value only when replace is true.
func setOutgoing(ctx context.Context, key, value string, replace bool) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx) // a copy
	if md == nil {
		md = metadata.MD{}
	}
	if len(md.Get(key)) > 0 && !replace {
		return ctx
	}
	md.Set(key, value)
	return metadata.NewOutgoingContext(ctx, md)
}

// isLoopback reports whether target, a gRPC target string, names a loopback
// address, "localhost", a Unix socket or an in-process passthrough target.
func isLoopback(target string) bool {
	if strings.HasPrefix(target, "unix:") || strings.HasPrefix(target, "unix-abstract:") {
		return true
	}
	for _, scheme := range []string{"dns:///", "passthrough:///"} {
		target = strings.TrimPrefix(target, scheme)
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.IsLoopback()
}

func (c TLSConfig) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("grpcclient: reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("grpcclient: no certificates in CA file %s", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("grpcclient: TLS CertFile and KeyFile must be set together")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("grpcclient: loading client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
