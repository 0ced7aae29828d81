// Package server is Steward's HTTP/JSON edge: a grpc-gateway ServeMux over
// one gRPC client connection per backend, with the generated handlers of
// every service that has HTTP bindings (see DefaultBackends), CORS for
// configured origins, GET /healthz aggregating the backends' grpc.health.v1
// status, GET /metrics and GET /openapi.json. It holds no domain logic and makes no
// authorization decisions: the caller's Authorization header travels to the
// backend as metadata, unchanged.
//
// It is also the suite's edge, and guards it (see edge.go): it refuses the
// Service authorization scheme and Steward's internal headers from outside,
// serves only RPCs whose rule is not internal, answers a non-public route
// without credentials before reading its body, bounds request bodies in size
// and time, caps concurrent requests, refuses unknown JSON fields, and tells
// the backends the client's address (-trusted-proxies) under its own service
// credential.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	// Registers the google.rpc error details (ErrorInfo, BadRequest,
	// RetryInfo) the backends send, so the gateway can render them as JSON.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/logging"
	"steward.dev/pkg/tracing"
	"steward.dev/services/gateway/console"
)

// Defaults of Config.
const (
	// DefaultAddr is the HTTP listen address.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultHealthTimeout bounds each backend's health check in /healthz.
	DefaultHealthTimeout = time.Second
	// DefaultShutdownTimeout bounds the graceful HTTP shutdown.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxBodyBytes is the largest request body accepted: 1 MiB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxConcurrentRequests is how many API requests are served at
	// once; more are answered 503.
	DefaultMaxConcurrentRequests = 256
	// DefaultReadHeaderTimeout bounds the arrival of a request's headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds the arrival of a whole request.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a response, or each write of a streamed one.
	DefaultWriteTimeout = time.Minute
	// DefaultIdleTimeout bounds how long a keep-alive connection waits for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
	// serviceName is the gateway's service name, under which its service
	// credential vouches for the client addresses it forwards.
	serviceName = "gateway"
)

// Config describes the gateway.
type Config struct {
	// Addr is the HTTP listen address; an empty host means 127.0.0.1.
	Addr string
	// Backends are the services forwarded to, each with its address and
	// handlers; NewConfig sets DefaultBackends. Names must be unique.
	Backends []Backend
	// CORSOrigins lists the origins allowed to call the gateway from a
	// browser ("https://console.example.com", or "*"); empty disables CORS.
	CORSOrigins []string
	// HealthTimeout bounds each backend's health check; default
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown; default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ServiceCredentialFile holds the gateway's service credential (mode
	// 0600), created if missing. The gateway presents it only in
	// x-steward-proxy-authorization, to vouch for the client address it
	// forwards; calls run with the client's own credentials. Required;
	// NewConfig sets data/credentials/gateway, the launcher's layout.
	ServiceCredentialFile string
	// TrustedServicesFile is the suite's trusted-services file (each
	// service's name and the SHA-256 of its secret): the gateway adds its
	// own line when missing, so that backends believe the client addresses
	// it vouches for. "" leaves it alone.
	TrustedServicesFile string
	// TrustedProxies are the peers whose X-Forwarded-For is believed (see
	// clientAddress); empty means none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes is the largest request body accepted (413 beyond);
	// default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConcurrentRequests caps the API requests served at once (503 with
	// Retry-After beyond); default DefaultMaxConcurrentRequests. /healthz
	// and /metrics are not counted.
	MaxConcurrentRequests int
	// ReadHeaderTimeout bounds the arrival of a request's headers; default
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the arrival of a whole request, headers and body
	// (408 when the body is late); default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handling and writing of a response, and each
	// write of a streamed one (the CSV export); default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection's wait for its next
	// request; default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// TLSCAFile, when set, makes the gateway reach the backends over TLS,
	// verifying their certificates with this PEM CA. Without it only
	// loopback backends can be reached (in plaintext).
	TLSCAFile string
	// Tracing says where the gateway's traces go (-otlp-endpoint); the zero
	// value traces nothing. Complete sets it up (pkg/tracing.Setup) as
	// service "gateway", process-wide: each HTTP request is then a span
	// (otelhttp; a W3C traceparent header from the client is its parent)
	// and the calls to the backends its children, which carry traceparent
	// on. Run flushes the spans when it returns.
	Tracing tracing.Config
	// Log configures the logger built by Complete when Logger is nil.
	Log logging.Config
	// Logger receives the gateway's logs; nil means one built from Log,
	// writing to standard error.
	Logger *slog.Logger
}

// NewConfig returns the default configuration: HTTP on 127.0.0.1:8080, the
// four backends on their default loopback addresses, the service credential
// in data/credentials/gateway and the default limits.
func NewConfig() Config {
	return Config{
		Addr:                  DefaultAddr,
		Backends:              DefaultBackends(),
		ServiceCredentialFile: filepath.Join("data", "credentials", serviceName),
		TrustedServicesFile:   filepath.Join("data", "credentials", "services.sha256"),
		MaxBodyBytes:          DefaultMaxBodyBytes,
		MaxConcurrentRequests: DefaultMaxConcurrentRequests,
		ReadHeaderTimeout:     DefaultReadHeaderTimeout,
		ReadTimeout:           DefaultReadTimeout,
		WriteTimeout:          DefaultWriteTimeout,
		IdleTimeout:           DefaultIdleTimeout,
	}
}

// AddFlags registers the gateway's flags on fs, defaulting to c's values:
// -addr, -<backend>-addr for each of c.Backends, -cors-origins,
// -service-credential-file, -trusted-proxies, the request limits
// (-max-body-bytes, -max-concurrent-requests, -read-header-timeout,
// -read-timeout, -write-timeout, -idle-timeout), -health-timeout,
// -shutdown-timeout, -tls-ca, -otlp-endpoint, -otlp-insecure and the log
// flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (host:port; an empty host means 127.0.0.1)")
	for i := range c.Backends {
		b := &c.Backends[i]
		fs.StringVar(&b.Addr, b.Name+"-addr", b.Addr, "gRPC address of the "+b.Name+" service; a comma-separated list of host:port names its replicas, over which calls are spread")
	}
	fs.Func("cors-origins", "comma-separated origins allowed by CORS (e.g. http://localhost:3000, or *); empty disables CORS", func(s string) error {
		c.CORSOrigins = nil
		for o := range strings.SplitSeq(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.CORSOrigins = append(c.CORSOrigins, o)
			}
		}
		return nil
	})
	fs.StringVar(&c.ServiceCredentialFile, "service-credential-file", c.ServiceCredentialFile, "the gateway's service credential (mode 0600), created if missing; it vouches for the client addresses the gateway forwards")
	fs.StringVar(&c.TrustedServicesFile, "trusted-services-file", c.TrustedServicesFile, "the suite's trusted-services file, where the gateway adds its own line if missing (empty: leave it alone)")
	fs.Func("trusted-proxies", "comma-separated CIDR prefixes of the proxies in front of the gateway whose X-Forwarded-For is believed; empty trusts none", func(v string) error {
		p, err := ParseTrustedProxies(v)
		c.TrustedProxies = p
		return err
	})
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted (413 beyond); 0 means 1 MiB")
	fs.IntVar(&c.MaxConcurrentRequests, "max-concurrent-requests", c.MaxConcurrentRequests, "API requests served at once (503 with Retry-After beyond); 0 means 256")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "deadline for a request's headers; 0 means 10s")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "deadline for a whole request, headers and body (408 when the body is late); 0 means 30s")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "deadline for a response, or for each write of a streamed one; 0 means 1m")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long a keep-alive connection waits for its next request; 0 means 2m")
	fs.DurationVar(&c.HealthTimeout, "health-timeout", c.HealthTimeout, "deadline of each backend's health check in /healthz; 0 means 1s")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "graceful shutdown deadline; 0 means 10s")
	fs.StringVar(&c.TLSCAFile, "tls-ca", c.TLSCAFile, "PEM CA verifying the backends' certificates; enables TLS to the backends")
	c.Tracing.AddFlags(fs)
	c.Log.AddFlags(fs)
}

// Server is a completed Config. Run it once.
type Server struct {
	cfg      Config
	log      *slog.Logger
	backends []upstream
	handler  http.Handler
	routes   routeTable
	json     runtime.Marshaler
	// proxyAuthorization is the x-steward-proxy-authorization value:
	// "Service gateway:<secret>".
	proxyAuthorization string

	// stopTracing flushes and stops the tracing Complete set up.
	stopTracing func(context.Context) error

	mu   sync.Mutex
	addr string
}

// upstream is a backend with its client connection.
type upstream struct {
	name   string
	conn   *grpc.ClientConn
	health healthpb.HealthClient
}

// Complete validates c, dials one client connection per backend (no I/O
// happens until the first call), registers the backends' handlers and
// builds the HTTP handler.
func (c Config) Complete() (_ *Server, err error) {
	if c.Addr == "" {
		return nil, errors.New("gateway: Addr is required, e.g. 127.0.0.1:8080")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: invalid Addr %q: %w", c.Addr, err)
	}
	if host == "" {
		c.Addr = net.JoinHostPort("127.0.0.1", port)
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxConcurrentRequests <= 0 {
		c.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ServiceCredentialFile == "" {
		return nil, errors.New("gateway: ServiceCredentialFile is required, e.g. data/credentials/gateway")
	}
	if err := os.MkdirAll(filepath.Dir(c.ServiceCredentialFile), 0o700); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	cred, err := authn.LoadOrCreateServiceCredential(c.ServiceCredentialFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if c.TrustedServicesFile != "" {
		if err := os.MkdirAll(filepath.Dir(c.TrustedServicesFile), 0o700); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if _, err := authn.EnsureTrustedService(c.TrustedServicesFile, serviceName, cred); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
	}
	logger := c.Logger
	if logger == nil {
		if logger, err = c.Log.New(os.Stderr); err != nil {
			return nil, err
		}
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = serviceName
	}
	stopTracing, err := tracing.Setup(context.Background(), c.Tracing)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s := &Server{
		stopTracing:        stopTracing,
		cfg:                c,
		log:                logger.With("service", "gateway"),
		routes:             routeTable{},
		json:               newJSONMarshaler(),
		proxyAuthorization: cred.AuthorizationFor(serviceName),
	}
	defer func() {
		if err != nil {
			s.closeConns()
			_ = s.stopTracing(context.Background())
		}
	}()

	mux := runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(incomingHeader),
		runtime.WithOutgoingHeaderMatcher(outgoingHeader),
		runtime.WithMetadata(s.forwardedMetadata),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, s.json),
		runtime.WithMarshalerOption(downloadMIME, downloadMarshaler{newJSONMarshaler()}),
		runtime.WithErrorHandler(s.httpError),
		runtime.WithMiddlewares(s.routeMiddleware),
		// A form-encoded POST may otherwise be parsed (its body read)
		// while the mux looks for a GET route, before any middleware.
		runtime.WithDisablePathLengthFallback(),
	)
	seen := make(map[string]bool)
	for _, b := range c.Backends {
		if b.Name == "" || b.Addr == "" {
			return nil, fmt.Errorf("gateway: backend %q needs a name and an address", b.Name)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("gateway: backend %q listed twice", b.Name)
		}
		seen[b.Name] = true
		for _, svc := range b.Services {
			sd, err := serviceDescriptor(svc.Name)
			if err != nil {
				return nil, fmt.Errorf("gateway: %s: %w", b.Name, err)
			}
			if err := s.routes.add(sd); err != nil {
				return nil, fmt.Errorf("gateway: %s: %w", b.Name, err)
			}
		}
		// The connection carries the caller's credentials, never a
		// service credential of its own: a call through the gateway must
		// not run with a service's privileges.
		conn, err := grpcclient.Dial(b.Addr, grpcclient.Options{TLS: grpcclient.TLSConfig{CAFile: c.TLSCAFile}})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", b.Name, err)
		}
		s.backends = append(s.backends, upstream{name: b.Name, conn: conn, health: healthpb.NewHealthClient(conn)})
		for _, svc := range b.Services {
			if err := svc.Register(context.Background(), mux, conn); err != nil {
				return nil, fmt.Errorf("gateway: registering %s handlers: %w", b.Name, err)
			}
		}
	}

	registry := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "steward_gateway_http_requests_total",
		Help: "HTTP requests served by the gateway, by method and status code.",
	}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "steward_gateway_http_request_duration_seconds",
		Help:    "Latency of the HTTP requests served by the gateway.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "code"})
	registry.MustRegister(requests, duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", s.serveHealthz)
	root.HandleFunc("GET /readyz", s.serveHealthz)
	root.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	root.Handle("GET /openapi.json", openAPIHandler())
	root.Handle("/v1/", s.limit(mux))
	// Everything else is the admin console (issue 16): its files, and
	// index.html for its own routes.
	root.Handle("/", console.Handler())
	h := s.edge(root)
	if len(c.CORSOrigins) > 0 {
		exposed := []string{"X-Request-Id", "Content-Disposition", "Retry-After"}
		for _, b := range c.Backends {
			exposed = append(exposed, sequenceHeader(b.Name))
		}
		h = cors.New(cors.Options{
			AllowedOrigins: c.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-Request-Id"},
			ExposedHeaders: exposed,
			MaxAge:         600,
		}).Handler(h)
	}
	s.handler = promhttp.InstrumentHandlerCounter(requests, promhttp.InstrumentHandlerDuration(duration, h))
	if tracing.Enabled() {
		s.handler = traced(s.handler)
	}
	return s, nil
}

// incomingHeader decides which HTTP request headers reach the backends as
// gRPC metadata. Authorization is not among them because grpc-gateway always
// forwards it, unprefixed, as "authorization"; mapping it here too would send
// it twice, which authentication refuses. X-Request-Id travels as
// x-request-id; standard headers keep grpc-gateway's default ("grpcgateway-"
// prefix). Everything else is dropped: in particular grpc-gateway's
// Grpc-Metadata-<key> pass-through and Steward's internal x-steward-*
// headers, with which a client could pose as someone else (the edge refuses
// requests carrying them; this is the second line).
func incomingHeader(key string) (string, bool) {
	canonical := textproto.CanonicalMIMEHeaderKey(key)
	switch canonical {
	case "Authorization", "Cookie":
		return "", false
	case "X-Request-Id":
		return authn.MDRequestID, true
	}
	for _, prefix := range internalHeaderPrefixes {
		if strings.HasPrefix(canonical, prefix) {
			return "", false
		}
	}
	return runtime.DefaultHeaderMatcher(key)
}

// sequencePattern matches the read-your-writes headers the backends send
// after a change, x-steward-<service>-sequence.
var sequencePattern = regexp.MustCompile(`^x-steward-[a-z0-9]+(-[a-z0-9]+)*-sequence$`)

// sequenceHeader is the HTTP header carrying service's sequence,
// X-Steward-<Service>-Sequence.
func sequenceHeader(service string) string {
	return textproto.CanonicalMIMEHeaderKey("x-steward-" + service + "-sequence")
}

// outgoingHeader decides which gRPC response headers reach the HTTP client:
// x-request-id as X-Request-Id, content-disposition as Content-Disposition
// (file downloads such as the role-assignment export),
// x-steward-<service>-sequence as X-Steward-<Service>-Sequence (the
// sequence to wait for to read one's writes), others with grpc-gateway's
// default "Grpc-Metadata-" prefix.
func outgoingHeader(key string) (string, bool) {
	switch {
	case strings.EqualFold(key, authn.MDRequestID):
		return "X-Request-Id", true
	case strings.EqualFold(key, "content-disposition"):
		return "Content-Disposition", true
	case sequencePattern.MatchString(strings.ToLower(key)):
		return textproto.CanonicalMIMEHeaderKey(key), true
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// Handler returns the gateway's HTTP handler, for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address the gateway listens on, "" before Run listens.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// HealthReport is the JSON body of GET /healthz.
type HealthReport struct {
	// Status is SERVING when every backend is, NOT_SERVING otherwise.
	Status string `json:"status"`
	// Backends maps each backend to its grpc.health.v1 status
	// (SERVING, NOT_SERVING, ...) or UNREACHABLE when its health check failed.
	Backends map[string]string `json:"backends"`
}

// Health statuses of HealthReport besides grpc.health.v1's.
const (
	statusServing     = "SERVING"
	statusNotServing  = "NOT_SERVING"
	statusUnreachable = "UNREACHABLE"
)

// Health asks every backend's grpc.health.v1 Check, in parallel, each
// bounded by Config.HealthTimeout, and reports whether all are serving.
func (s *Server) Health(ctx context.Context) (HealthReport, bool) {
	report := HealthReport{Status: statusServing, Backends: make(map[string]string, len(s.backends))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range s.backends {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.HealthTimeout)
			defer cancel()
			st := statusUnreachable
			resp, err := b.health.Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				st = resp.GetStatus().String()
			} else {
				s.log.DebugContext(ctx, "gateway: backend health check failed", "backend", b.name, "error", err)
			}
			mu.Lock()
			defer mu.Unlock()
			report.Backends[b.name] = st
			if st != statusServing {
				report.Status = statusNotServing
			}
		})
	}
	wg.Wait()
	return report, report.Status == statusServing
}

// serveHealthz answers GET /healthz and GET /readyz: 200 with the report
// when every backend is serving, 503 otherwise. A backend's health is its
// readiness: a service that follows another's event log reports SERVING
// only once it has caught up (pkg/backend Follow), so the two paths agree;
// /readyz is the name orchestrators' readiness probes expect.
func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	report, ok := s.Health(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(report)
}

// Run listens on Config.Addr and serves until ctx is cancelled, then shuts
// down gracefully (bounded by Config.ShutdownTimeout) and closes the backend
// connections. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) (err error) {
	defer s.stopTracingAfter()
	defer s.closeConns()
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	s.mu.Lock()
	s.addr = lis.Addr().String()
	s.mu.Unlock()
	// ReadTimeout ends with the body: net/http clears the deadline once
	// the body is read, so a long call after it (the CSV export) is not
	// cut. WriteTimeout is moved forward before each write of a streamed
	// response (routeMiddleware).
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	backends := make([]any, 0, 2*len(s.backends))
	for _, b := range s.cfg.Backends {
		backends = append(backends, b.Name, b.Addr)
	}
	s.log.Info("gateway: serving", append(append([]any{"addr", s.Addr()}, backends...), s.describeLimits()...)...)

	select {
	case err := <-served:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("gateway: shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Close closes the backend connections of a Server that will not Run (Run
// closes them itself when it returns) and stops its tracing.
func (s *Server) Close() error {
	s.closeConns()
	s.stopTracingAfter()
	return nil
}

// stopTracingAfter flushes the spans still buffered and stops tracing,
// within a few seconds.
func (s *Server) stopTracingAfter() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.stopTracing(ctx); err != nil {
		s.log.Warn("gateway: flushing traces", "error", err)
	}
}

// closeConns closes the backend connections.
func (s *Server) closeConns() {
	for _, b := range s.backends {
		_ = b.conn.Close()
	}
}
