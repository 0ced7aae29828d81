// Package backend builds and runs one Steward backend service process
// (directory, access, licensing, audit) the same way for all four: its own
// service credential and the trusted services it verifies callers against,
// what each service may call of it (SuitePolicy), a bbolt store under the data directory, an optional
// event log served as steward.eventlog.v1.EventLogService (which records,
// when asked, every refused call of a mutating method:
// Config.RefusedCallType), and a pkg/grpcserver server. Each service's
// server package fills in a Config, registers its own gRPC services through
// Config.Register, and its main calls Complete and Run.
package backend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/logging"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/store/etcdstore"
	"steward.dev/pkg/tracing"
	"steward.dev/pkg/verifier"
)

// CredentialsDir is the directory of the suite's credentials in its data
// directory: one secret per service, named after it, and
// TrustedServicesFileName. The launcher (deploy/local) creates them there.
const CredentialsDir = "credentials"

// TrustedServicesFileName is the name of the trusted-services file (each
// service's name with the SHA-256 of its secret, see authn.TrustedServices)
// in CredentialsDir. Service names hold no dots, so it never names a
// service's secret.
const TrustedServicesFileName = "services.sha256"

// DefaultConfig returns the configuration of backend name in the layout of
// `make run`, relative to the working directory: data in data/<name>, its
// secret in data/credentials/<name>, the trusted services in
// data/credentials/services.sha256, what services may call as SuitePolicy.
// The addresses are the service's default loopback ports; eventLog says
// whether it keeps a log.
func DefaultConfig(name, addr, metricsAddr string, eventLog bool) Config {
	return Config{
		Name:                  name,
		Addr:                  addr,
		MetricsAddr:           metricsAddr,
		DataDir:               filepath.Join("data", name),
		ServiceCredentialFile: filepath.Join("data", CredentialsDir, name),
		TrustedServicesFile:   filepath.Join("data", CredentialsDir, TrustedServicesFileName),
		Services:              SuitePolicy,
		EventLog:              eventLog,
		Retention:             DefaultRetention,
		DirectoryAddr:         DefaultDirectoryAddr,
		AccessAddr:            DefaultAccessAddr,
	}
}

// Storage backends (Config.Store).
const (
	// StoreBbolt keeps the service's data in a bbolt file of its own.
	StoreBbolt = "bbolt"
	// StoreEtcd keeps it in an etcd cluster shared by the service's replicas.
	StoreEtcd = "etcd"
	// DefaultEtcdPrefix is Config.EtcdPrefix's default.
	DefaultEtcdPrefix = "/steward/"
	// etcdDialTimeout bounds how long a service waits for etcd at start.
	etcdDialTimeout = 10 * time.Second
)

// DefaultRetention keeps the newest million events or 30 days of them,
// whichever is more to delete; durable consumers (audit, access's history)
// may hold events back for up to 100 days or ten million events: above
// access's default history retention (90 days) plus its interval, so the
// history absorbs every event before the hard bound deletes it.
var DefaultRetention = eventlog.Retention{
	MaxEvents:     1_000_000,
	MaxAge:        30 * 24 * time.Hour,
	HardMaxEvents: 10_000_000,
	HardMaxAge:    100 * 24 * time.Hour,
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
	// DebugAddr is the address of the pprof debug listener (see
	// grpcserver.Config.DebugAddr); "" (the default) disables it.
	DebugAddr string
	// DataDir is the directory holding the service's data, created (mode
	// 0700) if missing; the store is the bbolt file <DataDir>/<Name>.db.
	// Required.
	DataDir string
	// Store is the storage backend: StoreBbolt (the default: the file
	// <DataDir>/<Name>.db, one process) or StoreEtcd (the etcd cluster at
	// EtcdEndpoints under EtcdPrefix+Name+"/", shared by the service's
	// replicas, R32).
	Store string
	// EtcdEndpoints are the etcd cluster's client addresses (host:port), for
	// StoreEtcd.
	EtcdEndpoints []string
	// EtcdPrefix is where Steward's services keep their keys in etcd;
	// default DefaultEtcdPrefix. Suites sharing one cluster need their own.
	EtcdPrefix string
	// EtcdLimits are the etcd cluster's request limits (--max-txn-ops,
	// --max-request-bytes); zero fields mean etcdstore's defaults.
	EtcdLimits etcdstore.Options
	// UnorderedKeys are the key prefixes of the store's ranges written in
	// no particular order (bboltstore.Options.Unordered), kept in pages
	// split half full.
	UnorderedKeys []string
	// ServiceCredentialFile is this service's own secret, with which it
	// calls the others as "services/<Name>". It is created (mode 0600) if
	// missing, so that a service started on its own works; the launcher
	// creates every service's before starting any. Required.
	ServiceCredentialFile string
	// TrustedServicesFile lists each service's name with the SHA-256 of its
	// secret (authn.TrustedServices): a caller authenticates as a service
	// only with that service's own secret. This service's own line is added
	// (or corrected) when missing, creating the file if need be, so that
	// services started one by one find each other; it is read again when an
	// unknown secret arrives and the file has changed. Required.
	TrustedServicesFile string
	// Services says which of this service's methods each service may call;
	// DefaultConfig sets SuitePolicy.
	Services authz.ServicePolicy
	// QuietMethods are full method names whose successful calls are logged
	// at debug level, not info (grpcserver.Config.QuietMethods).
	QuietMethods []string
	// Prevalidated is grpcserver.Config.Prevalidated: a fast check of hot
	// requests that lets them skip protovalidate.
	Prevalidated func(req any) bool
	// TLS enables TLS (and client-certificate authentication of services
	// when ClientCAFile is set); the zero value serves plaintext.
	TLS grpcserver.TLSConfig
	// PeerTLS is how the service dials the other services (the directory,
	// access, the logs it follows): over TLS when any field is set
	// (-peer-tls-ca, -peer-tls-cert and -peer-tls-key, -peer-tls-server-name),
	// presenting the client certificate when one is given (CommonName
	// steward-<Name>, which authenticates the service to a server with
	// -tls-client-ca). The zero value dials in plaintext, which
	// pkg/grpcclient allows to loopback addresses only.
	PeerTLS grpcclient.TLSConfig
	// MaxRecvMsgBytes is the largest request accepted; 0 means the
	// grpcserver default.
	MaxRecvMsgBytes int
	// ShutdownTimeout bounds the graceful stop; 0 means the grpcserver
	// default.
	ShutdownTimeout time.Duration
	// Tracing says where the service's traces go (-otlp-endpoint); the zero
	// value traces nothing. Complete sets it up (pkg/tracing.Setup) under
	// the service's Name, process-wide, before building the server and its
	// clients; Run flushes the spans once the service has stopped.
	Tracing tracing.Config
	// Log configures the logger built by Complete when Logger is nil.
	Log logging.Config
	// Logger receives the service's logs; nil means one built from Log,
	// writing to standard error.
	Logger *slog.Logger
	// Verifier verifies end-user bearer credentials; nil means
	// pkg/verifier with the directory at DirectoryAddr (tokens verified
	// locally with its keys, answers cached until its events say
	// otherwise), or, without one, refusing them.
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
	// Retention bounds the event log (see eventlog.Retention);
	// DefaultConfig sets DefaultRetention.
	Retention eventlog.Retention
	// RefusedCallType, when not empty, is the Event.type under which every
	// refused call of a mutating method (grpcserver.MutatingMethod:
	// PermissionDenied or FailedPrecondition, by authorization or the
	// handler) is recorded in the event log, R27: the service's
	// EVENT_TYPE_CALL_REFUSED, "<Name>.call.refused". The refusal goes
	// back to the caller at once; one goroutine appends it afterwards, and
	// when RefusalQueue refusals already wait it is dropped, counted in
	// steward_refused_calls_dropped_total and logged. Needs EventLog, or
	// RecordRefused.
	RefusedCallType string
	// RecordRefused, when set, records the event of each refused call
	// (RefusedCallType) in tx instead of appending it to the service's
	// event log: for a service without one (audit, which records it in its
	// own trail). It is called after Register, so it may use what Register
	// built.
	RecordRefused func(tx store.Tx, ev *eventlogv1.Event) error
	// RefusalQueue is how many refused calls may wait to be appended; 0
	// means DefaultRefusalQueue.
	RefusalQueue int
	// Register, if not nil, registers the service's own gRPC services on
	// b.GRPCServer(), using b.Store() and b.EventLog().
	Register func(b *Backend) error
}

// AddFlags registers the flags of a backend service on fs, defaulting to
// c's current values. Each can also be set through its STEWARD_* environment
// variable (see pkg/flagenv).
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "gRPC listen address (host:port; an empty host means 127.0.0.1)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "Prometheus /metrics and GET /healthz (200 while SERVING, else 503) listen address, plain HTTP; empty disables it")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "pprof listen address (/debug/pprof/, unauthenticated: keep it on loopback); empty (the default) disables it")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the service's data (its bbolt file is <data-dir>/"+c.Name+".db)")
	fs.Func("store", "storage backend: bbolt (a file in -data-dir; the default) or etcd (the cluster at -etcd-endpoints, shared by the service's replicas)", func(v string) error {
		if v != StoreBbolt && v != StoreEtcd {
			return fmt.Errorf("want %s or %s, got %q", StoreBbolt, StoreEtcd, v)
		}
		c.Store = v
		return nil
	})
	fs.Func("etcd-endpoints", "etcd client addresses, comma-separated host:port (with -store=etcd)", func(v string) (err error) {
		c.EtcdEndpoints, err = parseEndpoints(v)
		return err
	})
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", c.EtcdPrefix, "key prefix of the suite in etcd; each service keeps its keys under <prefix><service>/")
	fs.IntVar(&c.EtcdLimits.MaxTxnOps, "etcd-max-txn-ops", c.EtcdLimits.MaxTxnOps, "the etcd cluster's --max-txn-ops (0: steward-etcd's, 8192)")
	fs.IntVar(&c.EtcdLimits.MaxRequestBytes, "etcd-max-request-bytes", c.EtcdLimits.MaxRequestBytes, "the etcd cluster's --max-request-bytes (0: steward-etcd's, 8 MiB)")
	fs.StringVar(&c.ServiceCredentialFile, "service-credential-file", c.ServiceCredentialFile, "this service's own secret (mode 0600), created if missing")
	fs.StringVar(&c.TrustedServicesFile, "trusted-services-file", c.TrustedServicesFile, "each service's name and the SHA-256 of its secret, to verify callers; this service's line is added if missing")
	fs.StringVar(&c.DirectoryAddr, "directory-addr", c.DirectoryAddr, "the directory's gRPC address, which verifies bearer credentials; a comma-separated list of host:port names its replicas, over which calls are spread")
	fs.StringVar(&c.AccessAddr, "access-addr", c.AccessAddr, "access management's gRPC address, which answers permission checks; a comma-separated list of host:port names its replicas, over which calls are spread")
	fs.StringVar(&c.TLS.CertFile, "tls-cert", c.TLS.CertFile, "PEM server certificate; with -tls-key enables TLS")
	fs.StringVar(&c.TLS.KeyFile, "tls-key", c.TLS.KeyFile, "PEM server private key")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca", c.TLS.ClientCAFile, "PEM CA whose client certificates (CN steward-<service>) authenticate services")
	fs.StringVar(&c.PeerTLS.CAFile, "peer-tls-ca", c.PeerTLS.CAFile, "PEM CA verifying the other services' server certificates; when set (or any -peer-tls-* is), the service dials every other service over TLS")
	fs.StringVar(&c.PeerTLS.CertFile, "peer-tls-cert", c.PeerTLS.CertFile, "PEM client certificate (CN steward-"+c.Name+") presented to the other services, for mutual TLS; with -peer-tls-key")
	fs.StringVar(&c.PeerTLS.KeyFile, "peer-tls-key", c.PeerTLS.KeyFile, "PEM private key of -peer-tls-cert")
	fs.StringVar(&c.PeerTLS.ServerName, "peer-tls-server-name", c.PeerTLS.ServerName, "name the other services' certificates are verified against instead of the host of their address")
	if c.EventLog {
		fs.Uint64Var(&c.Retention.MaxEvents, "eventlog-max-events", c.Retention.MaxEvents, "keep at most this many of the newest events (0: no count limit)")
		fs.DurationVar(&c.Retention.MaxAge, "eventlog-max-age", c.Retention.MaxAge, "keep events younger than this (0: no age limit)")
		fs.Uint64Var(&c.Retention.HardMaxEvents, "eventlog-hard-max-events", c.Retention.HardMaxEvents, "durable consumers (audit) may hold back at most this many events (0: no bound)")
		fs.DurationVar(&c.Retention.HardMaxAge, "eventlog-hard-max-age", c.Retention.HardMaxAge, "durable consumers (audit) may hold back events at most this old (0: no bound)")
	}
	fs.IntVar(&c.MaxRecvMsgBytes, "max-recv-msg-bytes", c.MaxRecvMsgBytes, "largest request message accepted; 0 means 4 MiB")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "graceful stop deadline, after which calls in flight are cancelled; 0 means 10s")
	c.Tracing.AddFlags(fs)
	c.Log.AddFlags(fs)
}

// Backend is a completed Config: a gRPC server with the service's
// credential, store and event log it serves from. Run it once.
type Backend struct {
	name       string
	authorizer authz.Authorizer
	accessConn *grpc.ClientConn
	server     *grpcserver.Server
	store      store.Store
	log        *eventlog.Log
	refusals   *refusals // nil unless Config.RefusedCallType
	cred       authn.ServiceCredential
	peerTLS    grpcclient.TLSConfig
	logger     *slog.Logger
	runners    []func(ctx context.Context) error
	// closeConns closes the connections to other services Complete dialled.
	closeConns func() error
	// stopTracing flushes and stops the tracing Complete set up.
	stopTracing func(context.Context) error

	followMu  sync.Mutex
	followers map[string]eventlog.Status // by consumer name; guarded by followMu
}

// Complete validates c, loads (or creates) the service's credential and its
// line in the trusted services, opens the store, creates the event log if c.EventLog, builds the gRPC server and
// calls c.Register. On error nothing is left open.
func (c Config) Complete() (_ *Backend, err error) {
	if c.Name == "" {
		return nil, errors.New("backend: Name is required")
	}
	switch c.Store {
	case "", StoreBbolt:
		if c.DataDir == "" {
			return nil, fmt.Errorf("backend: %s: DataDir is required", c.Name)
		}
	case StoreEtcd:
		if len(c.EtcdEndpoints) == 0 {
			return nil, fmt.Errorf("backend: %s: -store=etcd needs -etcd-endpoints", c.Name)
		}
	default:
		return nil, fmt.Errorf("backend: %s: unknown store %q (want %s or %s)", c.Name, c.Store, StoreBbolt, StoreEtcd)
	}
	if c.ServiceCredentialFile == "" {
		return nil, fmt.Errorf("backend: %s: ServiceCredentialFile is required", c.Name)
	}
	if c.TrustedServicesFile == "" {
		return nil, fmt.Errorf("backend: %s: TrustedServicesFile is required", c.Name)
	}
	if (c.PeerTLS.CertFile == "") != (c.PeerTLS.KeyFile == "") {
		return nil, fmt.Errorf("backend: %s: -peer-tls-cert and -peer-tls-key go together", c.Name)
	}
	if c.RefusedCallType != "" && ((!c.EventLog && c.RecordRefused == nil) || !strings.HasPrefix(c.RefusedCallType, c.Name+".")) {
		return nil, fmt.Errorf("backend: %s: RefusedCallType %q needs the service's own event log (EventLog) or RecordRefused, and a type %s.*", c.Name, c.RefusedCallType, c.Name)
	}
	logger := c.Logger
	if logger == nil {
		if logger, err = c.Log.New(os.Stderr); err != nil {
			return nil, err
		}
	}
	if c.Tracing.ServiceName == "" {
		c.Tracing.ServiceName = c.Name
	}
	stopTracing, err := tracing.Setup(context.Background(), c.Tracing)
	if err != nil {
		return nil, fmt.Errorf("backend: %s: %w", c.Name, err)
	}
	cred, err := loadCredential(c.Name, c.ServiceCredentialFile, c.TrustedServicesFile, logger)
	if err != nil {
		_ = stopTracing(context.Background())
		return nil, err
	}
	trusted, err := authn.OpenTrustedServicesFile(c.TrustedServicesFile)
	if err != nil {
		_ = stopTracing(context.Background())
		return nil, fmt.Errorf("backend: %w", err)
	}
	st, err := c.openStore()
	if err != nil {
		_ = stopTracing(context.Background())
		return nil, err
	}
	b := &Backend{name: c.Name, store: st, cred: cred, peerTLS: c.PeerTLS, logger: logger, stopTracing: stopTracing}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.closeEarly())
		}
	}()
	if c.EventLog {
		if b.log, err = eventlog.New(st, c.Name, eventlog.Options{Logger: logger, Retention: c.Retention}); err != nil {
			return nil, err
		}
		b.GoOnce("eventlog-retention", b.log.RunRetention)
	}
	if c.RefusedCallType != "" {
		record := c.RecordRefused
		if record == nil {
			record = func(tx store.Tx, ev *eventlogv1.Event) error {
				_, err := b.log.Append(tx, ev)
				return err
			}
		}
		b.refusals = newRefusals(c.RefusedCallType, st, record, logger, c.RefusalQueue)
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
		directoryConn, err := b.Dial(c.DirectoryAddr)
		if err != nil {
			return nil, err
		}
		conns = append(conns, directoryConn)
		v := verifier.New(directoryConn, verifier.WithLogger(logger))
		b.Go(v.Run) // follows the directory's events: revocation is immediate
		verify = v
	}
	authorizer := c.Authorizer
	if authorizer == nil && c.AccessAddr != "" {
		accessConn, err := b.Dial(c.AccessAddr)
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
	var recordRefusal func(context.Context, grpcserver.Refusal)
	if b.refusals != nil {
		recordRefusal = b.refusals.record
	}

	b.server, err = grpcserver.Config{
		Name:            c.Name,
		Addr:            c.Addr,
		Network:         c.Network,
		MetricsAddr:     c.MetricsAddr,
		DebugAddr:       c.DebugAddr,
		MaxRecvMsgBytes: c.MaxRecvMsgBytes,
		ShutdownTimeout: c.ShutdownTimeout,
		TLS:             c.TLS,
		Logger:          logger,
		Authenticator:   authn.New(trusted, verify),
		Authorizer:      authorizer,
		Services:        c.Services,
		QuietMethods:    c.QuietMethods,
		Prevalidated:    c.Prevalidated,
		RecordRefusal:   recordRefusal,
	}.Complete()
	if err != nil {
		return nil, err
	}
	if len(conns) > 0 {
		b.server.AddCleanup(closeConns)
	}
	if err := eventlog.RegisterMetrics(b.server.MetricsRegistry()); err != nil {
		return nil, fmt.Errorf("backend: %s: registering event-log metrics: %w", c.Name, err)
	}
	// Cleanups run in reverse order after the server has stopped: the
	// refusals still queued are appended, then the event log closes, then
	// the store, last.
	b.server.AddCleanup(st.Close)
	if b.log != nil {
		b.server.AddCleanup(b.log.Close)
		eventlog.Register(b.server.GRPCServer(), b.log)
	}
	if b.refusals != nil {
		if err := b.refusals.register(b.server.MetricsRegistry()); err != nil {
			return nil, fmt.Errorf("backend: %s: registering refusal metrics: %w", c.Name, err)
		}
		b.server.AddCleanup(b.refusals.stop)
	}
	if c.Register != nil {
		if err := c.Register(b); err != nil {
			return nil, fmt.Errorf("backend: %s: registering services: %w", c.Name, err)
		}
	}
	return b, nil
}

// loadCredential loads the credential of the service name at path, and
// makes the trusted-services file at trustedPath verify it, creating either
// (and their directories) when missing.
func loadCredential(name, path, trustedPath string, logger *slog.Logger) (authn.ServiceCredential, error) {
	for _, p := range []string{path, trustedPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return authn.ServiceCredential{}, fmt.Errorf("backend: creating the credentials directory: %w", err)
		}
	}
	_, statErr := os.Stat(path)
	cred, err := authn.LoadOrCreateServiceCredential(path)
	if err != nil {
		return authn.ServiceCredential{}, fmt.Errorf("backend: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		logger.Warn("backend: created a new service credential", "service", name, "path", path)
	}
	changed, err := authn.EnsureTrustedService(trustedPath, name, cred)
	if err != nil {
		return authn.ServiceCredential{}, fmt.Errorf("backend: %w", err)
	}
	if changed {
		logger.Warn("backend: added this service's secret to the trusted services; services already running read it again, others must be given the same file",
			"service", name, "path", trustedPath)
	}
	return cred, nil
}

// parseEndpoints parses a comma-separated list of host:port.
func parseEndpoints(v string) ([]string, error) {
	var eps []string
	for _, ep := range strings.Split(v, ",") {
		ep = strings.TrimSpace(ep)
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" {
			return nil, fmt.Errorf("want a comma-separated host:port list, got %q", v)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("endpoint %q: the port must be 1-65535", ep)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// openStore opens the service's store: its bbolt file, or its prefix in etcd.
func (c Config) openStore() (store.Store, error) {
	if c.Store == StoreEtcd {
		opts := c.EtcdLimits
		prefix := c.EtcdPrefix
		if prefix == "" {
			prefix = DefaultEtcdPrefix
		}
		opts.Prefix = prefix + c.Name + "/"
		st, err := etcdstore.Dial(context.Background(), c.EtcdEndpoints, etcdDialTimeout, opts)
		if err != nil {
			return nil, fmt.Errorf("backend: %s: %w", c.Name, err)
		}
		return st, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("backend: creating data directory: %w", err)
	}
	return bboltstore.Open(filepath.Join(c.DataDir, c.Name+".db"), bboltstore.Options{Unordered: c.UnorderedKeys})
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
	errs = append(errs, b.stopTracing(context.Background()))
	return errors.Join(errs...)
}

// Replicated reports whether the service's store is shared with other
// replicas of the service (etcd, R32): in-memory state must then follow the
// other replicas' commits, not only this process's own.
func (b *Backend) Replicated() bool {
	_, ok := b.store.(store.ChangeFeed)
	return ok
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

// ServiceCredential returns the service's own credential, for dialling
// other services as itself with pkg/grpcclient (Dial does).
func (b *Backend) ServiceCredential() authn.ServiceCredential { return b.cred }

// Dial returns a connection to another service of the suite at addr (one
// host:port or a comma-separated list of replicas, see grpcclient.Dial):
// calls carry the service's name and credential, and go over TLS with
// Config.PeerTLS when it is set. Without it only loopback addresses may be
// dialled. Like grpcclient.Dial it does no I/O; the caller closes the
// connection.
func (b *Backend) Dial(addr string) (*grpc.ClientConn, error) {
	return grpcclient.Dial(addr, grpcclient.Options{Service: b.name, Credential: b.cred, TLS: b.peerTLS})
}

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
	if b.refusals != nil {
		b.refusals.start() // stopped by a cleanup of the server, once it has stopped
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
	// The spans of the last calls and events, still buffered, go out now.
	tctx, tcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer tcancel()
	if terr := b.stopTracing(tctx); terr != nil {
		b.logger.Warn("backend: flushing traces", "service", b.name, "error", terr)
	}
	return err
}

// Go registers fn to run in the background while the service runs (a
// consumer of another service's event log, for instance). Run starts it
// with a context that ends when the service stops, and waits for it to
// return before returning itself; an error is logged. Call it before Run.
func (b *Backend) Go(fn func(ctx context.Context) error) { b.runners = append(b.runners, fn) }
