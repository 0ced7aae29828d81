// Package server wires the directory service, which owns organizations, the scope tree, principals, memberships, credentials and token signing keys:
// its configuration, defaults and the gRPC services it registers. It keeps an event log in its store, served as
// steward.eventlog.v1.EventLogService.
package server

import (
	"context"
	"errors"
	"flag"
	"sync/atomic"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/directory/domain"
	"steward.dev/services/directory/oidcauth"
)

// Defaults of the directory service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "directory"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7001"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9001"
	// DefaultTokenKeyRotation is how long a token signing key signs.
	DefaultTokenKeyRotation = 24 * time.Hour
)

// Config is the configuration of the directory service process.
type Config struct {
	backend.Config
	// Domain tunes the domain service (clock, rate limits, token lifetime).
	Domain domain.Options
	// OIDCAllowPrivateIssuers lets organizations' OIDC issuers use plain http
	// and non-public addresses (loopback, private networks, link-local
	// ranges such as cloud metadata services). Off by default: anyone can
	// make the directory contact an organization's issuer by signing in, so
	// allowing this in production lets an organization owner reach the
	// directory's internal network (SSRF). For development and tests, whose
	// issuers run on 127.0.0.1 (oidctest). Ignored when Domain.OIDC is set.
	OIDCAllowPrivateIssuers bool
	// TokenKeyRotation is how long a token signing key signs before the
	// directory rotates it (issue 9 item 9); 0 or less rotates only on
	// demand (RotateSigningKeys).
	TokenKeyRotation time.Duration
}

// AddFlags registers the directory's flags on fs, defaulting to c's values:
// the backend's, -oidc-allow-private-issuers and -token-ttl.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.BoolVar(&c.OIDCAllowPrivateIssuers, "oidc-allow-private-issuers", c.OIDCAllowPrivateIssuers,
		"let OIDC issuers use plain http and loopback, private or link-local addresses; DANGEROUS outside development: "+
			"an organization owner could make the directory fetch URLs of its internal network (SSRF)")
	fs.DurationVar(&c.TokenKeyRotation, "token-key-rotation", c.TokenKeyRotation,
		"how long an access token signing key signs before it is rotated; 0 rotates only on demand (RotateSigningKeys)")
	fs.DurationVar(&c.Domain.TokenTTL, "token-ttl", c.Domain.TokenTTL, "lifetime of the access tokens the directory issues; 0 means 15m")
}

// NewConfig returns the default configuration of the directory service.
func NewConfig() Config {
	return Config{Config: backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, true), TokenKeyRotation: DefaultTokenKeyRotation}
}

// Complete validates c and builds the directory service, ready to Run. The
// directory verifies its own callers' credentials (see authorize.go); access
// management answers its permission checks (Config.Authorizer, by default
// access at AccessAddr), once it has applied the directory's event log up to
// the moment of the check, so that the directory's own changes (a new
// member of Administrators, say) show in its checks at once.
func (c Config) Complete() (*backend.Backend, error) {
	if c.Domain.TokenTTL < 0 {
		return nil, errors.New("directory: -token-ttl must not be negative")
	}
	w := &wiring{opts: c.Domain, allowPrivateIssuers: c.OIDCAllowPrivateIssuers, keyRotation: c.TokenKeyRotation}
	c.Verifier = authn.VerifierFunc(w.verify)
	c.AccessFollowsLog = true
	// Refused changes are audited in the directory's log (R27).
	c.RefusedCallType = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_CALL_REFUSED)
	// Every other service verifies credentials it has not cached through
	// VerifyCredential: a hot read, logged only when it fails (issue 13).
	c.QuietMethods = []string{directoryv1.DirectoryService_VerifyCredential_FullMethodName}
	c.Register = w.register
	return c.Config.Complete()
}

// wiring connects the backend to the domain service, which exists only once
// the backend has opened its store.
type wiring struct {
	opts                domain.Options
	allowPrivateIssuers bool
	keyRotation         time.Duration
	d                   atomic.Pointer[domain.Service]
}

// errNotReady is returned by credential checks arriving before register ran.
var errNotReady = errors.New("directory: not ready")

// register creates the domain service on b's store and event log and
// registers steward.directory.v1.DirectoryService.
func (w *wiring) register(b *backend.Backend) error {
	opts := w.opts
	if conn := b.AccessConn(); conn != nil && opts.AdministratorRoles == nil {
		opts.AdministratorRoles = AdministratorRoles(accessv1.NewAccessServiceClient(conn))
	}
	if conn := b.AccessConn(); conn != nil && opts.MembershipChange == nil {
		opts.MembershipChange = MembershipChange(accessv1.NewAccessServiceClient(conn))
	}
	if conn := b.AccessConn(); conn != nil && opts.MembershipChanges == nil {
		opts.MembershipChanges = MembershipChanges(accessv1.NewAccessServiceClient(conn))
	}
	if opts.OIDC == nil {
		opts.OIDC = oidcauth.NewWithOptions(oidcauth.Options{AllowPrivate: w.allowPrivateIssuers, Logger: b.Logger()})
	}
	if w.allowPrivateIssuers {
		b.Logger().Warn("OIDC issuers may use plain http and private addresses (-oidc-allow-private-issuers): for development only")
	}
	d, err := domain.New(context.Background(), b.Store(), b.EventLog(), opts)
	if err != nil {
		return err
	}
	if err := d.MigrateSharedFolders(context.Background()); err != nil {
		return err
	}
	w.d.Store(d)
	b.GoOnce("key-rotation", func(ctx context.Context) error { return rotateKeys(ctx, d, w.keyRotation, b.Logger()) })
	if b.Replicated() {
		// The other replicas' rotations.
		b.Go(func(ctx context.Context) error { return d.FollowSigningKeys(ctx, b.Logger()) })
	}
	directoryv1.RegisterDirectoryServiceServer(b.GRPCServer(), &directoryServer{d: d, authorizer: b.Authorizer()})
	return nil
}

func (w *wiring) domain(ctx context.Context) (*domain.Service, error) {
	d := w.d.Load()
	if d == nil {
		return nil, errNotReady
	}
	return d, nil
}
