package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	authzv1 "steward.dev/gen/steward/authz/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/ratelimit"
)

// Server is a completed Config: register services on GRPCServer, then Run.
type Server struct {
	cfg      Config
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	metrics  *grpcprom.ServerMetrics
	registry *prometheus.Registry
	bufconn  *bufconn.Listener // NetworkBufconn only
	// failures counts failed authentications per client address.
	failures *ratelimit.Limiter
	now      func() time.Time
	// tracing is whether pkg/tracing was on when the server was built: its
	// calls are traced and carry their request ID as a span attribute.
	tracing bool

	// rules is set by Run before serving; nil until then.
	rules atomic.Pointer[authz.Table]

	readyCh chan struct{} // closed once listening

	mu          sync.Mutex
	started     bool
	serving     bool // listening and not shutting down
	ready       bool // as set by SetReady
	addr        string
	metricsAddr string
	debugAddr   string
	cleanups    []func() error
}

// GRPCServer returns the grpc.Server to register services on before Run.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// MetricsRegistry returns the server's Prometheus registry, served on
// Config.MetricsAddr, for the service's own collectors.
func (s *Server) MetricsRegistry() *prometheus.Registry { return s.registry }

// AddCleanup registers f to run after the server has stopped, in reverse
// order of registration (close clients before stores). Errors are returned
// by Run.
func (s *Server) AddCleanup(f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// SetReady sets the service's readiness: health reports SERVING for the
// server (""), Config.Name and every registered service while the server
// is listening and ready, NOT_SERVING otherwise. A Server starts ready.
func (s *Server) SetReady(ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready = ready
	s.updateHealthLocked()
}

// updateHealthLocked sets every health status from s.serving and s.ready.
// s.mu must be held.
func (s *Server) updateHealthLocked() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if s.serving && s.ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(s.cfg.Name, st)
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, st)
	}
}

// Ready returns a channel closed once the server is listening.
func (s *Server) Ready() <-chan struct{} { return s.readyCh }

// Addr returns the address the server listens on, "" before it does.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// MetricsAddr returns the address of the /metrics listener, "" before it
// listens or when disabled.
func (s *Server) MetricsAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metricsAddr
}

// DebugAddr returns the address of the pprof debug listener, "" before it
// listens or when disabled.
func (s *Server) DebugAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.debugAddr
}

// NewClient returns a plaintext client connection to the server, with opts
// applied after the defaults (so they may override the transport
// credentials). With NetworkBufconn it works at any time; with NetworkTCP
// only once the server listens.
func (s *Server) NewClient(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	target := "passthrough:///bufnet"
	if s.bufconn != nil {
		base = append(base, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return s.bufconn.DialContext(ctx)
		}))
	} else {
		addr := s.Addr()
		if addr == "" {
			return nil, errors.New("grpcserver: NewClient: server is not listening yet")
		}
		target = "passthrough:///" + addr
	}
	conn, err := grpc.NewClient(target, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: NewClient: %w", err)
	}
	return conn, nil
}

// Run verifies that every registered method declares an authorization rule
// (refusing to start otherwise), listens, and serves until ctx is cancelled.
// Then health turns NOT_SERVING, the server stops gracefully, cancelling
// calls still in flight after Config.ShutdownTimeout (Run waits for their
// handlers, which must return once their context is done), the metrics
// and debug listeners shut down and the cleanups run. Run returns nil after a clean shutdown.
// It may be called once.
func (s *Server) Run(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("grpcserver: Run called twice")
	}
	s.started = true
	s.mu.Unlock()
	defer func() { err = errors.Join(err, s.runCleanups()) }()

	table := authz.NewTable(s.grpc.GetServiceInfo(), nil)
	if err := table.Verify(); err != nil {
		s.grpc.Stop()
		return fmt.Errorf("grpcserver: %s refuses to start: %w", s.cfg.Name, err)
	}
	s.rules.Store(table)
	s.metrics.InitializeMetrics(s.grpc)

	lis, err := s.listen()
	if err != nil {
		s.grpc.Stop()
		return err
	}
	aux, err := s.listenHTTP()
	if err != nil {
		_ = lis.Close()
		s.grpc.Stop()
		return err
	}

	s.mu.Lock()
	s.addr = lis.Addr().String()
	for _, l := range aux {
		*l.addr = l.lis.Addr().String()
	}
	s.serving = true
	s.updateHealthLocked()
	s.mu.Unlock()
	close(s.readyCh)
	s.log.Info("grpcserver: serving", "addr", s.addr, "network", s.cfg.Network, "metrics_addr", s.MetricsAddr(), "debug_addr", s.DebugAddr())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("grpcserver: serve: %w", err)
		}
		return nil
	})
	for _, l := range aux {
		g.Go(func() error {
			if err := l.srv.Serve(l.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("grpcserver: %s: %w", l.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		return s.shutdown(aux)
	})
	return g.Wait()
}

// httpListener is one of the server's auxiliary HTTP listeners: /metrics
// and /healthz on Config.MetricsAddr, pprof on Config.DebugAddr.
type httpListener struct {
	name string
	lis  net.Listener
	srv  *http.Server
	addr *string // where Run records the address listened on; s.mu guards it
}

// listenHTTP opens the auxiliary HTTP listeners that are configured,
// closing those already open if one fails.
func (s *Server) listenHTTP() ([]httpListener, error) {
	metrics := http.NewServeMux()
	metrics.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	metrics.HandleFunc("GET /healthz", s.serveHealthz)
	var out []httpListener
	for _, l := range []struct {
		name, addr string
		handler    http.Handler
		recordAt   *string
	}{
		{"metrics", s.cfg.MetricsAddr, metrics, &s.metricsAddr},
		{"debug", s.cfg.DebugAddr, debugHandler(), &s.debugAddr},
	} {
		if l.addr == "" {
			continue
		}
		lis, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range out {
				_ = o.lis.Close()
			}
			return nil, fmt.Errorf("grpcserver: %s listener: %w", l.name, err)
		}
		out = append(out, httpListener{name: l.name, lis: lis, addr: l.recordAt,
			srv: &http.Server{Handler: l.handler, ReadHeaderTimeout: 5 * time.Second}})
	}
	return out, nil
}

// serveHealthz answers GET /healthz on the metrics listener with the
// server's overall health (grpc.health.v1, service ""): 200 "SERVING" while
// it is listening and ready, 503 with the status otherwise. It is plain
// HTTP whatever TLS the gRPC port uses, for probes that cannot speak TLS or
// gRPC (Kubernetes' httpGet).
func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{}); err == nil {
		st = resp.GetStatus()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if st != healthpb.HealthCheckResponse_SERVING {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprintln(w, st)
}

// debugHandler serves net/http/pprof's index, command line, CPU profile,
// symbols, trace and every runtime profile (heap, allocs, goroutine, block,
// mutex, threadcreate) under /debug/pprof/.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) listen() (net.Listener, error) {
	if s.bufconn != nil {
		return s.bufconn, nil
	}
	lis, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: listen: %w", err)
	}
	return lis, nil
}

// shutdown turns health NOT_SERVING, stops the gRPC server gracefully,
// falling back to Stop after the shutdown timeout, and shuts down the
// auxiliary HTTP listeners.
func (s *Server) shutdown(aux []httpListener) error {
	s.log.Info("grpcserver: shutting down", "timeout", s.cfg.ShutdownTimeout)
	s.mu.Lock()
	s.serving = false
	s.mu.Unlock()
	s.health.Shutdown() // every status NOT_SERVING, for good

	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("grpcserver: graceful stop timed out, cancelling calls in flight")
		s.grpc.Stop()
		<-stopped
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, l := range aux {
		if err := l.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("grpcserver: %s shutdown: %w", l.name, err))
		}
	}
	return errors.Join(errs...)
}

// runCleanups runs the cleanups in reverse order of registration.
func (s *Server) runCleanups() error {
	s.mu.Lock()
	cleanups := slices.Clone(s.cleanups)
	s.cleanups = nil
	s.mu.Unlock()
	var errs []error
	for _, f := range slices.Backward(cleanups) {
		if err := f(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ruleSource is the authz.RuleSource of the server: the rules Run looked
// up, or none before Run (failing closed).
type ruleSource struct{ s *Server }

func (r ruleSource) RuleFor(fullMethod string) (*authzv1.Rule, bool) {
	t := r.s.rules.Load()
	if t == nil {
		return nil, false
	}
	return t.RuleFor(fullMethod)
}
