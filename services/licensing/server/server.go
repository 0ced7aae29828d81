// Package server wires the licensing service, which owns license pools, seats, leases and execution locks:
// its configuration, defaults and the gRPC services it registers. It keeps an event log in its store, served as
// steward.eventlog.v1.EventLogService, and follows the directory's.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"google.golang.org/grpc"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/licensing/domain"
	"steward.dev/services/licensing/leasetoken"
)

// Defaults of the licensing service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "licensing"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7003"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9003"
)

// Config is the configuration of the licensing service process.
type Config struct {
	backend.Config
	// Domain tunes the domain service (clock, the trial pool of new
	// organizations).
	Domain domain.Options
	// DirectoryConn, when set, is the connection to the directory whose event
	// log licensing follows (tests); otherwise licensing dials DirectoryAddr
	// with the service credential.
	DirectoryConn grpc.ClientConnInterface
	// SweepInterval is how often expired leases and execution locks are
	// reclaimed, ended leases and old usage hours dropped (R24-R26).
	SweepInterval time.Duration
}

// DefaultSweepInterval is how often the sweeper runs by default: an
// expired lease frees its license at most this long after its expiry.
const DefaultSweepInterval = 15 * time.Second

// NewConfig returns the default configuration of the licensing service.
func NewConfig() Config {
	return Config{
		Config: backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, true),
		Domain: domain.Options{
			Trial:          domain.DefaultTrial,
			LeaseTTL:       domain.DefaultLeaseTTL,
			ExecutionTTL:   domain.DefaultExecutionTTL,
			UsageRetention: domain.DefaultUsageRetention,
		},
		SweepInterval: DefaultSweepInterval,
	}
}

// AddFlags registers the backend's flags and licensing's own: the trial
// pool a new organization gets (R21).
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	t := &c.Domain.Trial
	fs.Func("trial-robot-seats", "robot seats of a new organization's trial pool (0: no robot trial pool; default 2)", intFlag(&t.RobotSeats))
	fs.Func("trial-editor-seats", "editor seats of a new organization's trial pool (0: no editor trial pool; default 2)", intFlag(&t.EditorSeats))
	fs.StringVar(&t.Edition, "trial-edition", t.Edition, "edition of the trial pools")
	fs.DurationVar(&t.Validity, "trial-validity", t.Validity, "how long the trial pools are valid from sign-up")
	fs.DurationVar(&c.Domain.LeaseTTL, "lease-ttl", c.Domain.LeaseTTL, "how long a client's lease holds unless renewed")
	fs.DurationVar(&c.Domain.ExecutionTTL, "execution-ttl", c.Domain.ExecutionTTL, "how long a job's execution lock holds unless released")
	fs.DurationVar(&c.Domain.UsageRetention, "usage-retention", c.Domain.UsageRetention, "how long the usage trend is kept")
	fs.DurationVar(&c.SweepInterval, "lease-sweep-interval", c.SweepInterval, "how often expired leases and execution locks are reclaimed")
}

// intFlag parses a flag value into an int32 seat count.
func intFlag(dst *int32) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil || v < 0 {
			return errors.New("must be a number of seats, 0 or more")
		}
		*dst = int32(v)
		return nil
	}
}

// Complete validates c and builds the licensing service, ready to Run.
func (c Config) Complete() (*backend.Backend, error) {
	if c.Domain.Trial.Validity <= 0 && (c.Domain.Trial.RobotSeats > 0 || c.Domain.Trial.EditorSeats > 0) {
		return nil, errors.New("licensing: -trial-validity must be positive")
	}
	for flag, d := range map[string]time.Duration{"lease-ttl": c.Domain.LeaseTTL, "execution-ttl": c.Domain.ExecutionTTL, "usage-retention": c.Domain.UsageRetention, "lease-sweep-interval": c.SweepInterval} {
		if d <= 0 {
			return nil, fmt.Errorf("licensing: -%s must be positive", flag)
		}
	}
	w := &wiring{cfg: c}
	// Refused changes are audited in licensing's log (R27).
	c.RefusedCallType = eventlog.TypeName(licensingv1.EventType_EVENT_TYPE_CALL_REFUSED)
	c.Register = w.register
	return c.Config.Complete()
}

// wiring connects the backend to the domain service, which exists only once
// the backend has opened its store.
type wiring struct {
	cfg Config
}

// register creates the domain service on b's store and event log, starts
// following the directory's event log and registers
// steward.licensing.v1.LicensingService.
func (w *wiring) register(b *backend.Backend) error {
	conn := w.cfg.DirectoryConn
	if conn == nil {
		if w.cfg.DirectoryAddr == "" {
			return errors.New("licensing: the directory's address is required (-directory-addr)")
		}
		cc, err := b.Dial(w.cfg.DirectoryAddr)
		if err != nil {
			return err
		}
		b.Server().AddCleanup(cc.Close)
		conn = cc
	}
	opts := w.cfg.Domain
	if opts.DirectoryHead == nil {
		opts.DirectoryHead = directoryHead(eventlogv1.NewEventLogServiceClient(conn))
	}
	d := domain.New(b.Store(), b.EventLog(), opts)
	feed, err := b.Follow(backend.Follow{
		Source:   "directory",
		Conn:     conn,
		Consumer: "licensing-directory",
		Apply:    d.ApplyDirectoryEvent,
	})
	if err != nil {
		return err
	}
	d.SetDirectoryFeed(feed)
	key, err := leasetoken.LoadKey(context.Background(), b.Store())
	if err != nil {
		return err
	}
	tokens, err := leasetoken.NewSigner(key)
	if err != nil {
		return err
	}
	licensingv1.RegisterLicensingServiceServer(b.GRPCServer(), &licensingServer{d: d, authorizer: b.Authorizer(), tokens: tokens})
	b.EveryOnce("lease-sweeper", w.cfg.SweepInterval, func(ctx context.Context) { sweep(ctx, d, b.Logger()) })
	return nil
}

// sweep reclaims expired leases and execution locks and drops what is past
// keeping (d.Sweep, run every -lease-sweep-interval). A failed sweep is
// logged; the next tick tries again.
func sweep(ctx context.Context, d *domain.Service, logger *slog.Logger) {
	n, err := d.Sweep(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Warn("sweeping expired leases failed; trying again at the next tick", "err", err)
	case n != (domain.Swept{}):
		logger.Info("swept", "leases_expired", n.LeasesExpired, "executions_expired", n.ExecutionsExpired,
			"leases_dropped", n.LeasesDropped, "usage_hours_dropped", n.HoursDropped)
	}
}

// directoryHead asks the directory's event log for its newest sequence: a
// ListEvents page after every event there is holds no events, only the
// head.
func directoryHead(log eventlogv1.EventLogServiceClient) func(ctx context.Context) (uint64, error) {
	return func(ctx context.Context) (uint64, error) {
		resp, err := log.ListEvents(ctx, &eventlogv1.ListEventsRequest{AfterSequence: math.MaxInt64, PageSize: 1})
		if err != nil {
			return 0, err
		}
		return resp.GetHeadSequence(), nil
	}
}
