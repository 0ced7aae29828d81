// Package grpcserver is the one way a Steward service builds and runs its
// gRPC server: Config, validated and completed into a Server with a fixed
// interceptor chain (recovery, request ID, logging, metrics, authentication,
// refusals, validation, authorization), health and reflection; Run serves until its
// context is cancelled and shuts down gracefully. Network "bufconn" runs the
// same wiring in memory for tests.
package grpcserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/ratelimit"
	"steward.dev/pkg/tracing"
)

// Networks a Server can listen on.
const (
	// NetworkTCP listens on Config.Addr.
	NetworkTCP = "tcp"
	// NetworkBufconn listens in memory; clients come from Server.NewClient.
	NetworkBufconn = "bufconn"
)

// Defaults applied by Complete.
const (
	// DefaultMaxRecvMsgBytes is the default Config.MaxRecvMsgBytes, 4 MiB.
	DefaultMaxRecvMsgBytes = 4 << 20
	// DefaultShutdownTimeout is the default Config.ShutdownTimeout.
	DefaultShutdownTimeout = 10 * time.Second
)

// bufconnSize is the buffer size of the in-memory listener.
const bufconnSize = 1 << 20

// streamWorkers is the size of the server's pool of call goroutines
// (grpc.NumStreamWorkers): enough for the 64 concurrent callers of the
// Check benchmark; a goroutine idle in the pool costs its stack.
const streamWorkers = 64

// Config describes a gRPC server. The zero values of optional fields take
// the defaults documented on each.
type Config struct {
	// Name is the service name, e.g. "directory". Required.
	Name string
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:7001". An empty
	// host (":7001") means 127.0.0.1: listening on other interfaces must be
	// asked for explicitly ("0.0.0.0:7001"). Port 0 picks a free port (see
	// Server.Addr). Required for NetworkTCP.
	Addr string
	// Network is NetworkTCP (default) or NetworkBufconn.
	Network string
	// MetricsAddr is the address of the Prometheus /metrics HTTP listener,
	// with the same loopback default as Addr; "" disables it. Besides the
	// Go and process collectors it serves the gRPC calls' counters and
	// their handling-time histogram, grpc_server_handling_seconds (see the
	// interceptor chain's metrics step for what it measures). It also
	// serves GET /healthz: 200 "SERVING" while the server's overall health
	// (grpc.health.v1, service "") is SERVING, 503 otherwise, in plain HTTP
	// whatever TLS the gRPC port uses (Kubernetes' httpGet probes).
	MetricsAddr string
	// DebugAddr is the address of the debug HTTP listener serving
	// net/http/pprof under /debug/pprof/, with the same loopback default as
	// Addr; "" (the default) disables it. It serves profiles to anyone who
	// can reach it, unauthenticated: keep it on loopback.
	DebugAddr string
	// MaxRecvMsgBytes is the largest request message accepted; default
	// DefaultMaxRecvMsgBytes (4 MiB).
	MaxRecvMsgBytes int
	// ShutdownTimeout bounds the graceful stop after which in-flight calls
	// are cancelled; default DefaultShutdownTimeout (10s).
	ShutdownTimeout time.Duration
	// TLS enables TLS, and mutual TLS for services presenting client
	// certificates; the zero value serves plaintext.
	TLS TLSConfig
	// Logger receives the server's logs; default slog.Default().
	Logger *slog.Logger
	// Authenticator establishes the principal of each call whose method is
	// not public. Required; authn.New is the usual one.
	Authenticator authn.Authenticator
	// Authorizer answers permission checks of methods that declare
	// permissions. Required; authz.DenyAll until access management exists.
	Authorizer authz.Authorizer
	// Services says which methods of this server (its grants with Callee
	// Name) each of Steward's services may call; the zero value lets
	// services call public methods only.
	Services authz.ServicePolicy
	// QuietMethods are full method names (e.g.
	// "/steward.access.v1.AccessService/CheckPermission") whose successful
	// calls are logged at debug level instead of info: the hot read paths,
	// where a log line would cost more than the call (issue 13). Their
	// failures are logged as any call's.
	QuietMethods []string
	// Prevalidated, when set, is asked about every unary request before
	// protovalidate: true means the request certainly satisfies its rules
	// (a fast check of a hot request, proven never to accept what
	// protovalidate refuses), and protovalidate is skipped; false means
	// protovalidate decides and words any violation, as for every other
	// request.
	Prevalidated func(req any) bool
	// FailedAuthentication throttles failed authentications per client
	// address (authn.ClientAddress); zero fields take the defaults
	// documented on FailureLimit.
	FailedAuthentication FailureLimit
	// RecordRefusal, when not nil, is told of every refused call of a
	// mutating method (MutatingMethod): a unary call that ended
	// PermissionDenied or FailedPrecondition, whether authorization or the
	// handler refused it (R27). It runs on the caller's goroutine before the
	// refusal goes back, so it must not block: pkg/backend queues the
	// refusal for its event log.
	RecordRefusal func(ctx context.Context, r Refusal)
}

// Defaults of FailureLimit, generous enough that a well-behaved client never
// meets them: a client that keeps failing is slowed to one attempt a second.
const (
	// DefaultFailureBurst is the default FailureLimit.Burst.
	DefaultFailureBurst = 30
	// DefaultFailureRate is the default FailureLimit.PerSecond.
	DefaultFailureRate = 1
	// DefaultFailureClients is the default FailureLimit.Clients.
	DefaultFailureClients = 100_000
)

// FailureLimit is a token bucket per client address, charged for every
// failed authentication and checked before each authentication: once empty,
// calls from that address are refused with ResourceExhausted until it
// refills.
type FailureLimit struct {
	// Burst is how many failures a client may have in a row; default
	// DefaultFailureBurst.
	Burst int
	// PerSecond is how fast the bucket refills; default DefaultFailureRate.
	PerSecond float64
	// Clients bounds how many client addresses are remembered (the least
	// recently seen are forgotten first); default DefaultFailureClients.
	Clients int
}

func (l FailureLimit) withDefaults() FailureLimit {
	if l.Burst <= 0 {
		l.Burst = DefaultFailureBurst
	}
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultFailureRate
	}
	if l.Clients <= 0 {
		l.Clients = DefaultFailureClients
	}
	return l
}

// TLSConfig names the PEM files of the server's TLS setup.
type TLSConfig struct {
	// CertFile and KeyFile hold the server certificate and key; both or
	// neither.
	CertFile, KeyFile string
	// ClientCAFile holds the CA that signs services' client certificates.
	// When set, a client certificate is verified if presented, and a valid
	// one authenticates the service it names; callers without one still
	// authenticate with tokens.
	ClientCAFile string
}

func (c TLSConfig) enabled() bool { return c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "" }

func (c TLSConfig) credentials() (credentials.TransportCredentials, error) {
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("grpcserver: TLS needs both CertFile and KeyFile")
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: loading TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("grpcserver: reading client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("grpcserver: no certificates in client CA file %s", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return credentials.NewTLS(cfg), nil
}

// Complete validates c, applies defaults and builds the Server: a
// grpc.Server with the interceptor chain, keepalive policy, health and
// reflection registered. Register services on Server.GRPCServer, then call
// Run.
func (c Config) Complete() (*Server, error) {
	if !authn.ValidServiceName(c.Name) {
		return nil, fmt.Errorf("grpcserver: invalid Name %q", c.Name)
	}
	if c.Authenticator == nil {
		return nil, errors.New("grpcserver: Authenticator is required")
	}
	if c.Authorizer == nil {
		return nil, errors.New("grpcserver: Authorizer is required (authz.DenyAll until access management exists)")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("service", c.Name)
	if c.MaxRecvMsgBytes <= 0 {
		c.MaxRecvMsgBytes = DefaultMaxRecvMsgBytes
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	var err error
	switch c.Network {
	case "", NetworkTCP:
		c.Network = NetworkTCP
		if c.Addr == "" {
			return nil, errors.New("grpcserver: Addr is required, e.g. 127.0.0.1:7001")
		}
		if c.Addr, err = loopbackDefault(c.Addr); err != nil {
			return nil, err
		}
	case NetworkBufconn:
	default:
		return nil, fmt.Errorf("grpcserver: unknown Network %q (want %q or %q)", c.Network, NetworkTCP, NetworkBufconn)
	}
	if c.MetricsAddr != "" {
		if c.MetricsAddr, err = loopbackDefault(c.MetricsAddr); err != nil {
			return nil, err
		}
	}
	if c.DebugAddr != "" {
		if c.DebugAddr, err = loopbackDefault(c.DebugAddr); err != nil {
			return nil, err
		}
	}

	c.FailedAuthentication = c.FailedAuthentication.withDefaults()

	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("grpcserver: creating validator: %w", err)
	}
	s := &Server{
		cfg:      c,
		log:      c.Logger,
		health:   health.NewServer(),
		metrics:  grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(handlingTimeBuckets()))),
		registry: prometheus.NewRegistry(),
		ready:    true,
		readyCh:  make(chan struct{}),
		failures: ratelimit.New(rate.Limit(c.FailedAuthentication.PerSecond), c.FailedAuthentication.Burst, c.FailedAuthentication.Clients),
		now:      time.Now,
	}
	if err := s.registry.Register(s.metrics); err != nil {
		return nil, fmt.Errorf("grpcserver: registering metrics: %w", err)
	}
	if err := s.registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("grpcserver: registering metrics: %w", err)
	}
	if err := s.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("grpcserver: registering metrics: %w", err)
	}

	s.tracing = tracing.Enabled()
	unary, stream := s.interceptors(validator)
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.MaxRecvMsgBytes),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		// Calls run on a pool of goroutines whose stacks have already grown
		// to the depth of the interceptor chain, instead of a new goroutine
		// per call growing (copying) its stack each time: 13 % of access's
		// CPU under Check load (issue 13). When every worker is busy a call
		// gets a goroutine of its own, as without the pool.
		grpc.NumStreamWorkers(streamWorkers),
	}
	// With tracing on (pkg/tracing.Setup), otelgrpc's stats handler traces
	// every call but health checks, and the request ID interceptor puts the
	// ID on its span; off, nothing is added.
	opts = append(opts, tracing.ServerOptions()...)
	if c.TLS.enabled() {
		creds, err := c.TLS.credentials()
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(creds))
	}
	s.grpc = grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if c.Network == NetworkBufconn {
		s.bufconn = bufconn.Listen(bufconnSize)
	}
	return s, nil
}

// handlingTimeBuckets returns the upper bounds, in seconds, of the
// grpc_server_handling_seconds histogram: every 25 µs up to 500 µs, fine
// enough to read issue 13's 150 µs target for a BatchCheckPermission of
// 100 from the buckets, then coarser up to 10 s (longer calls, e.g. a
// Watch stream's life, fall in +Inf). That is 34 buckets, 37 series per
// method; an observation is a search of the bounds and an atomic add
// (about 0.1 µs a call next to the counters' 1 µs, issue 13).
func handlingTimeBuckets() []float64 {
	var b []float64
	for us := 25; us <= 500; us += 25 {
		b = append(b, float64(us)*1e-6)
	}
	return append(b, 750e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10)
}

// loopbackDefault returns addr with an empty host replaced by 127.0.0.1.
func loopbackDefault(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("grpcserver: invalid address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
