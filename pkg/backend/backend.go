// Package backend builds and runs one Steward backend service process
// (directory, access, licensing, audit) the same way for all four: the
// service credential, a bbolt store under the data directory, an optional
// event log served as steward.eventlog.v1.EventLogService, and a
// pkg/grpcserver server. Each service's server package fills in a Config,
// registers its own gRPC services through Config.Register, and its main
// calls Complete and Run.
package backend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/logging"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/verifier"
)

// CredentialFileName is the name of the service credential file in the
// suite's data directory; the launcher (deploy/local) creates it there.
const CredentialFileName = "service-credential"

// DefaultConfig returns the configuration of backend name in the layout of
// `make run`, relative to the working directory: data in data/<name>, the
// service credential in data/service-credential. The addresses are the
// service's default loopback ports; eventLog says whether it keeps a log.
func DefaultConfig(name, addr, metricsAddr string, eventLog bool) Config {
	return Config{
		Name:                  name,
		Addr:                  addr,
		MetricsAddr:           metricsAddr,
		DataDir:               filepath.Join("data", name),
		ServiceCredentialFile: filepath.Join("data", CredentialFileName),
		EventLog:              eventLog,
		DirectoryAddr:         DefaultDirectoryAddr,
		AccessAddr:            DefaultAccessAddr,
	}
}

// DefaultDirectoryAddr is where the directory listens by default.
const DefaultDirectoryAddr = "127.0.0.1:7001"

// DefaultAccessAddr is where access management listens by default.
const DefaultAccessAddr = "127.0.0.1:7002"

// Config describes a backend service process. Fields marked required have
// no default; the per-service constructors (e.g. directory's
// server.NewConfig) fill them in.
type Config struct {
	// Name is the service name, e.g. "directory". Required.
	Name string
	// Addr is the gRPC listen address, e.g. "127.0.0.1:7001". Required for
	// the TCP network.
	Addr string
	// Network is grpcserver.NetworkTCP (default) or grpcserver.NetworkBufconn
	// (tests).
	Network string
	// MetricsAddr is the address of the Prometheus /metrics listener; ""
	// disables it.
	MetricsAddr string
	// DataDir is the directory holding the service's data, created (mode
	// 0700) if missing; the store is the bbolt file <DataDir>/<Name>.db.
	// Required.
	DataDir string
	// ServiceCredentialFile is the installation's service credential, shared
	// by every service of the suite. It is created (mode 0600) if missing, so
	// that a service started on its own works; the launcher creates it before
	// starting any service, so all of them share one. Required.
	ServiceCredentialFile string
	// TLS enables TLS (and client-certificate authentication of services
	// when ClientCAFile is set); the zero value serves plaintext.
	TLS grpcserver.TLSConfig
	// MaxRecvMsgBytes is the largest request accepted; 0 means the
	// grpcserver default.
	MaxRecvMsgBytes int
	// ShutdownTimeout bounds the graceful stop; 0 means the grpcserver
	// default.
	ShutdownTimeout time.Duration
	// Log configures the logger built by Complete when Logger is nil.
	Log logging.Config
	// Logger receives the service's logs; nil means one built from Log,
	// writing to standard error.
	Logger *slog.Logger
	// Verifier verifies end-user bearer credentials; nil means asking the
	// directory at DirectoryAddr (pkg/verifier), or, without one, refusing
	// them.
	Verifier authn.Verifier
	// DirectoryAddr is the directory's gRPC address, whose VerifyCredential
	// checks bearer credentials when Verifier is nil; "" disables it.
	DirectoryAddr string
	// Authorizer answers permission checks; nil means asking access
	// management at AccessAddr (pkg/accessauthz), or, without one,
	// authz.DenyAll.
	Authorizer authz.Authorizer
	// AccessAddr is access management's gRPC address, whose CheckPermission
	// answers permission checks when Authorizer is nil; "" disables it.
	AccessAddr string
	// AccessFollowsLog says that access management follows this service's
	// event log (the directory's): each permission check asked of access at
	// AccessAddr then waits until access has applied the log up to its head
	// (pkg/accessauthz.WithDirectorySequence), so that the service's own
	// changes show in its checks at once. Needs EventLog.
	AccessFollowsLog bool
	// EventLog reports whether the service keeps an event log in its store,
	// served as steward.eventlog.v1.EventLogService.
	EventLog bool
	// Register, if not nil, registers the service's own gRPC services on
	// b.GRPCServer(), using b.Store() and b.EventLog().
	Register func(b *Backend) error
}

// AddFlags registers the flags of a backend service on fs, defaulting to
// c's current values. Each can also be set through its STEWARD_* environment
// variable (see pkg/flagenv).
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "gRPC listen address (host:port; an empty host means 127.0.0.1)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "Prometheus /metrics listen address; empty disables it")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the service's data (its bbolt file is <data-dir>/"+c.Name+".db)")
	fs.StringVar(&c.ServiceCredentialFile, "service-credential-file", c.ServiceCredentialFile, "the installation's service credential (mode 0600), created if missing")
	fs.StringVar(&c.DirectoryAddr, "directory-addr", c.DirectoryAddr, "the directory's gRPC address, which verifies bearer credentials")
	fs.StringVar(&c.AccessAddr, "access-addr", c.AccessAddr, "access management's gRPC address, which answers permission checks")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", c.TLS.CertFile, "PEM server certificate; with -tls-key enables TLS")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", c.TLS.KeyFile, "PEM server private key")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca", c.TLS.ClientCAFile, "PEM CA whose client certificates (CN steward-<service>) authenticate services")
	fs.IntVar(&c.MaxRecvMsgBytes, "max-recv-msg-bytes", c.MaxRecvMsgBytes, "largest request message accepted; 0 means 4 MiB")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "graceful stop deadline, after which calls in flight are cancelled; 0 means 10s")
	c.Log.AddFlags(fs)
}

// Backend is a completed Config: a gRPC server with the service credential,
// store and event log it serves from. Run it once.
type Backend struct {
	name       string
	authorizer authz.Authorizer
	accessConn *grpc.ClientConn
	server     *grpcserver.Server
	store      *bboltstore.Store
	log        *eventlog.Log
	cred       authn.ServiceCredential
	logger     *slog.Logger
	runners    []func(ctx context.Context) error
	// closeConns closes the connections to other services Complete dialled.
	closeConns func() error
}

// Complete validates c, loads (or creates) the service credential, opens
// the store, creates the event log if c.EventLog, builds the gRPC server and
// calls c.Register. On error nothing is left open.
func (c Config) Complete() (_ *Backend, err error) {
	if c.Name == "" {
		return nil, errors.New("backend: Name is required")
	}
	if c.DataDir == "" {
		return nil, fmt.Errorf("backend: %s: DataDir is required", c.Name)
	}
	if c.ServiceCredentialFile == "" {
		return nil, fmt.Errorf("backend: %s: ServiceCredentialFile is required", c.Name)
	}
	logger := c.Logger
	if logger == nil {
		if logger, err = c.Log.New(os.Stderr); err != nil {
			return nil, err
		}
	}
	cred, err := loadCredential(c.ServiceCredentialFile, logger)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("backend: creating data directory: %w", err)
	}
	st, err := bboltstore.Open(filepath.Join(c.DataDir, c.Name+".db"), bboltstore.Options{})
	if err != nil {
		return nil, err
	}
	b := &Backend{name: c.Name, store: st, cred: cred, logger: logger}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.closeEarly())
		}
	}()
	if c.EventLog {
		if b.log, err = eventlog.New(st, c.Name, eventlog.Options{Logger: logger}); err != nil {
			return nil, err
		}
	}

	// Connections to other services, closed after the server has stopped
	// (or at once if building it fails).
	var conns []*grpc.ClientConn
	closeConns := func() error {
		var errs []error
		for _, cc := range conns {
			errs = append(errs, cc.Close())
		}
		return errors.Join(errs...)
	}
	b.closeConns = closeConns
	verify := c.Verifier
	if verify == nil && c.DirectoryAddr != "" {
		directoryConn, err := grpcclient.Dial(c.DirectoryAddr, grpcclient.Options{Service: c.Name, Credential: cred})
		if err != nil {
			return nil, err
		}
		conns = append(conns, directoryConn)
		verify = verifier.New(directoryConn)
	}
	authorizer := c.Authorizer
	if authorizer == nil && c.AccessAddr != "" {
		accessConn, err := grpcclient.Dial(c.AccessAddr, grpcclient.Options{Service: c.Name, Credential: cred})
		if err != nil {
			return nil, err
		}
		conns = append(conns, accessConn)
		b.accessConn = accessConn
		var opts []accessauthz.Option
		if c.AccessFollowsLog && b.log != nil {
			opts = append(opts, accessauthz.WithDirectorySequence(b.log.Head))
		}
		authorizer = accessauthz.New(accessConn, opts...)
	}
	if authorizer == nil {
		authorizer = authz.DenyAll
	}
	b.authorizer = authorizer

	b.server, err = grpcserver.Config{
		Name:            c.Name,
		Addr:            c.Addr,
		Network:         c.Network,
		MetricsAddr:     c.MetricsAddr,
		MaxRecvMsgBytes: c.MaxRecvMsgBytes,
		ShutdownTimeout: c.ShutdownTimeout,
		TLS:             c.TLS,
		Logger:          logger,
		Authenticator:   authn.New(cred, verify),
		Authorizer:      authorizer,
	}.Complete()
	if err != nil {
		return nil, err
	}
	if len(conns) > 0 {
		b.server.AddCleanup(closeConns)
	}
	// Cleanups run in reverse order after the server has stopped: the event
	// log, then the store, last.
	b.server.AddCleanup(st.Close)
	if b.log != nil {
		b.server.AddCleanup(b.log.Close)
		eventlog.Register(b.server.GRPCServer(), b.log)
	}
	if c.Register != nil {
		if err := c.Register(b); err != nil {
			return nil, fmt.Errorf("backend: %s: registering services: %w", c.Name, err)
		}
	}
	return b, nil
}

// loadCredential loads the service credential at path, creating it (and its
// directory) when missing.
func loadCredential(path string, logger *slog.Logger) (authn.ServiceCredential, error) {
	_, statErr := os.Stat(path)
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return authn.ServiceCredential{}, fmt.Errorf("backend: creating service credential directory: %w", err)
		}
	}
	cred, err := authn.LoadOrCreateServiceCredential(path)
	if err != nil {
		return authn.ServiceCredential{}, fmt.Errorf("backend: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		logger.Warn("backend: created a new service credential; services of the suite must share one", "path", path)
	}
	return cred, nil
}

// closeEarly releases what Complete opened when it fails before Run.
func (b *Backend) closeEarly() error {
	var errs []error
	if b.server != nil {
		b.server.GRPCServer().Stop()
	}
	if b.closeConns != nil {
		errs = append(errs, b.closeConns())
	}
	if b.log != nil {
		errs = append(errs, b.log.Close())
	}
	errs = append(errs, b.store.Close())
	return errors.Join(errs...)
}

// Name returns the service name.
func (b *Backend) Name() string { return b.name }

// GRPCServer returns the gRPC server to register services on, before Run.
// When the service keeps an event log, the mutating methods of services
// registered on it send the log's sequence as header and trailer
// x-steward-<name>-sequence after each success (eventlog.SequenceServer).
func (b *Backend) GRPCServer() eventlog.Registrar {
	return eventlog.SequenceServer(b.server.GRPCServer(), b.log)
}

// Server returns the underlying grpcserver.Server (for Addr, NewClient,
// SetReady, AddCleanup).
func (b *Backend) Server() *grpcserver.Server { return b.server }

// Authorizer returns what answers the service's permission checks (for
// handlers that check an object themselves, with authz.Check): Config's
// Authorizer, access management at AccessAddr, or authz.DenyAll.
func (b *Backend) Authorizer() authz.Authorizer { return b.authorizer }

// AccessConn returns the connection to access management that Complete
// dialled for permission checks (AccessAddr), nil when the Authorizer was
// given instead. Services use it for their other questions to access.
func (b *Backend) AccessConn() grpc.ClientConnInterface {
	if b.accessConn == nil {
		return nil
	}
	return b.accessConn
}

// Store returns the service's store.
func (b *Backend) Store() store.Store { return b.store }

// EventLog returns the service's event log, nil unless Config.EventLog.
func (b *Backend) EventLog() *eventlog.Log { return b.log }

// ServiceCredential returns the installation's service credential, for
// dialling other services with pkg/grpcclient.
func (b *Backend) ServiceCredential() authn.ServiceCredential { return b.cred }

// Logger returns the service's logger.
func (b *Backend) Logger() *slog.Logger { return b.logger }

// Run serves until ctx is cancelled, then shuts down gracefully and closes
// the event log and the store, last. The event log is closed as soon as
// shutdown starts, so that tailing Watch streams end (UNAVAILABLE: the
// consumer reconnects elsewhere) instead of holding the graceful stop up
// until its deadline. Run returns nil after a clean shutdown.
func (b *Backend) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if b.log != nil {
		go func() {
			<-runCtx.Done()
			_ = b.log.Close() // idempotent; the cleanup closes it again
		}()
	}
	var wg sync.WaitGroup
	for _, r := range b.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r(runCtx); err != nil && runCtx.Err() == nil {
				b.logger.Error("backend: background task stopped", "service", b.name, "error", err)
			}
		}()
	}
	err := b.server.Run(runCtx)
	cancel()
	wg.Wait()
	return err
}

// Go registers fn to run in the background while the service runs (a
// consumer of another service's event log, for instance). Run starts it
// with a context that ends when the service stops, and waits for it to
// return before returning itself; an error is logged. Call it before Run.
func (b *Backend) Go(fn func(ctx context.Context) error) { b.runners = append(b.runners, fn) }
