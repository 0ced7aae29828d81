// Package server wires the audit service, which owns the audit trail of
// every event of every service (R27-R29): its configuration, defaults and
// the gRPC services it registers. It keeps no event log of its own: it
// follows the logs of directory, access and licensing as a durable consumer
// (their retention keeps what audit has not recorded), records each event in
// its organization's Merkle log with the cursor, signs checkpoints
// periodically, and serves steward.audit.v1.AuditService.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// Defaults of the audit service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "audit"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7004"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9004"
	// DefaultLicensingAddr is where licensing listens by default.
	DefaultLicensingAddr = "127.0.0.1:7003"
	// DefaultCheckpointInterval is how often the logs that grew get a new
	// signed checkpoint.
	DefaultCheckpointInterval = time.Second
	// DefaultPurgeInterval is how often organizations' retention is
	// applied.
	DefaultPurgeInterval = time.Hour
)

// TypeCallRefused is the type of the audit events of refused calls of
// audit's own mutating methods (R27).
const TypeCallRefused = "audit.call.refused"

// Sources are the services whose event logs audit follows, in the order
// GetIngestionStatus reports them.
var Sources = []string{backend.Directory, backend.Access, backend.Licensing}

// Consumer returns the name of audit's consumer of source's log, e.g.
// "audit-directory": its cursor key and metrics label.
func Consumer(source string) string { return Name + "-" + source }

// Config is the configuration of the audit service process.
type Config struct {
	backend.Config
	// Domain tunes the domain service (clock, search budget).
	Domain domain.Options
	// LicensingAddr is licensing's gRPC address, whose event log audit
	// follows (the directory's and access's are DirectoryAddr and
	// AccessAddr).
	LicensingAddr string
	// SourceConns, when set, holds the connections to the followed services
	// by source name (tests); a source without one is dialled at its
	// address with the service credential.
	SourceConns map[string]grpc.ClientConnInterface
	// CheckpointInterval is how often the logs that grew since their last
	// checkpoint get a new one (R28).
	CheckpointInterval time.Duration
	// PurgeInterval is how often events older than their organization's
	// retention are purged.
	PurgeInterval time.Duration
}

// NewConfig returns the default configuration of the audit service.
func NewConfig() Config {
	return Config{
		Config:             backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, false),
		LicensingAddr:      DefaultLicensingAddr,
		CheckpointInterval: DefaultCheckpointInterval,
		PurgeInterval:      DefaultPurgeInterval,
		Domain:             domain.Options{MinRetention: domain.DefaultMinRetention},
	}
}

// AddFlags registers the backend's flags and audit's own: licensing's
// address (directory's and access's are the backend's), the checkpoint and
// purge intervals and the minimum retention.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.StringVar(&c.LicensingAddr, "licensing-addr", c.LicensingAddr, "licensing's gRPC address, whose event log audit follows; a comma-separated list of host:port names its replicas")
	fs.DurationVar(&c.CheckpointInterval, "checkpoint-interval", c.CheckpointInterval, "how often the audit logs that grew get a new signed checkpoint")
	fs.DurationVar(&c.PurgeInterval, "purge-interval", c.PurgeInterval, "how often events older than their organization's retention are purged")
	fs.DurationVar(&c.Domain.MinRetention, "min-retention", c.Domain.MinRetention, "the shortest retention an organization may set for its audit events")
}

// Complete validates c and builds the audit service, ready to Run.
func (c Config) Complete() (*backend.Backend, error) {
	if c.CheckpointInterval <= 0 {
		return nil, errors.New("audit: -checkpoint-interval must be positive")
	}
	if c.PurgeInterval <= 0 {
		return nil, errors.New("audit: -purge-interval must be positive")
	}
	if c.Domain.MinRetention <= 0 {
		return nil, errors.New("audit: -min-retention must be positive (an organization may always choose 0, keep forever)")
	}
	w := &wiring{cfg: c}
	c.Register = w.register
	// Refused calls of audit's own API (UpdateAuditSettings) are recorded
	// in the organization's trail itself (R27): audit has no event log.
	c.RefusedCallType = TypeCallRefused
	c.RecordRefused = func(tx store.Tx, ev *eventlogv1.Event) error { return w.d.RecordOwn(tx, ev) }
	return c.Config.Complete()
}

// wiring connects the backend to the domain service, which exists only once
// the backend has opened its store.
type wiring struct {
	cfg Config
	d   *domain.Service // set by register
}

// addr returns the configured address of source.
func (c Config) addr(source string) string {
	switch source {
	case backend.Directory:
		return c.DirectoryAddr
	case backend.Access:
		return c.AccessAddr
	case backend.Licensing:
		return c.LicensingAddr
	}
	return ""
}

// register loads the checkpoint signer, creates the ledger and the domain
// service on b's store, follows the three sources' logs (durably, each
// event recorded with the cursor), starts the checkpointer, registers
// steward.audit.v1.AuditService and the ingestion metrics.
func (w *wiring) register(b *backend.Backend) error {
	ctx := context.Background()
	signer, _, verifierKey, err := ledger.LoadSigner(ctx, b.Store())
	if err != nil {
		return err
	}
	d := domain.New(b.Store(), ledger.New(b.Store(), signer), w.cfg.Domain)
	w.d = d
	m := newMetrics()
	srv := &auditServer{d: d, verifierKey: verifierKey}
	for _, source := range Sources {
		conn := w.cfg.SourceConns[source]
		if conn == nil {
			addr := w.cfg.addr(source)
			if addr == "" {
				return fmt.Errorf("audit: %s's address is required (-%s-addr): audit follows its event log", source, source)
			}
			cc, err := b.Dial(addr)
			if err != nil {
				return err
			}
			b.Server().AddCleanup(cc.Close)
			conn = cc
		}
		r := &resyncer{d: d, source: source, consumer: Consumer(source), log: eventlogv1.NewEventLogServiceClient(conn), logger: b.Logger(), metrics: m}
		c, err := b.Follow(backend.Follow{
			Source:   source,
			Conn:     conn,
			Consumer: Consumer(source),
			Apply:    d.ApplyEvent(source),
			Resync:   r.resync,
			Durable:  true,
			Once:     true, // one replica ingests at a time (R32)
		})
		if err != nil {
			return err
		}
		srv.sources = append(srv.sources, followed{name: source, consumer: c})
	}
	if err := m.register(b.Server().MetricsRegistry(), srv.sources); err != nil {
		return fmt.Errorf("audit: registering metrics: %w", err)
	}
	auditv1.RegisterAuditServiceServer(b.GRPCServer(), srv)
	// One replica signs checkpoints and purges at a time (R32).
	b.EveryOnce("checkpoint", w.cfg.CheckpointInterval, func(ctx context.Context) { checkpoint(ctx, d, b.Logger(), m) })
	b.EveryOnce("purge", w.cfg.PurgeInterval, func(ctx context.Context) { purge(ctx, d, b.Logger(), m) })
	return nil
}

// followed is one followed log and its consumer.
type followed struct {
	name     string
	consumer *eventlog.Consumer
}

// resyncer is the Resync of one consumer: there is no snapshot to rebuild
// an audit trail from, so it records what was lost and continues where the
// source's log does (domain.Service.Resync).
type resyncer struct {
	d        *domain.Service
	source   string
	consumer string
	log      eventlogv1.EventLogServiceClient
	logger   *slog.Logger
	metrics  *metrics
}

// resync asks the source where its log stands (a ListEvents page past its
// head holds no events, only the head, the horizon and the log's
// identity), moves the cursor there with an audit event in the
// installation's log saying how many events were lost between which
// sequences, logs it loudly, counts it, and returns the new position.
func (r *resyncer) resync(ctx context.Context) (eventlog.Position, error) {
	resp, err := r.log.ListEvents(ctx, &eventlogv1.ListEventsRequest{AfterSequence: math.MaxUint64, PageSize: 1})
	if err != nil {
		return eventlog.Position{}, fmt.Errorf("audit: reading where the %s's log stands: %w", r.source, err)
	}
	loss, err := r.d.Resync(ctx, r.source, r.consumer, domain.SourcePosition{
		LogID: resp.GetLogId(), Head: resp.GetHeadSequence(), Horizon: resp.GetHorizonSequence(),
	})
	if err != nil {
		return eventlog.Position{}, err
	}
	if loss.Event == nil {
		r.logger.Warn("audit: asked to resync, but the source's log continues right after audit's cursor: nothing skipped",
			"source", r.source, "cursor", loss.Resumed.Sequence, "log_id", loss.Resumed.LogID)
		return loss.Resumed, nil
	}
	r.metrics.resyncs.WithLabelValues(r.source).Inc()
	r.metrics.lost.WithLabelValues(r.source).Add(float64(loss.Count()))
	r.logger.Error("audit: events of a followed log were lost: they are gone from the source before audit recorded them; continuing where its log continues",
		"source", r.source, "lost", loss.Count(), "from_sequence", loss.From, "through_sequence", loss.Through,
		"resumed_after", loss.Resumed.Sequence, "log_id", loss.Resumed.LogID, "note", loss.Event.GetName(), "message", loss.Event.GetMessage())
	return loss.Resumed, nil
}

// checkpoint signs a checkpoint of every log that grew (run every
// -checkpoint-interval). A failure is logged and counted; the next tick
// tries again.
func checkpoint(ctx context.Context, d *domain.Service, logger *slog.Logger, m *metrics) {
	n, err := d.Checkpoint(ctx)
	m.checkpoints.Add(float64(n))
	if err != nil && ctx.Err() == nil {
		m.checkpointErrors.Inc()
		level := slog.LevelWarn
		if errors.Is(err, ledger.ErrTampered) {
			level = slog.LevelError
		}
		logger.Log(ctx, level, "audit: signing checkpoints failed; trying again at the next tick", "error", err)
	}
}

// metrics are audit's own Prometheus metrics; the consumers' are
// steward_eventlog_consumer_* (pkg/eventlog), labelled by consumer.
type metrics struct {
	resyncs          *prometheus.CounterVec
	lost             *prometheus.CounterVec
	checkpoints      prometheus.Counter
	checkpointErrors prometheus.Counter
	purged           *prometheus.CounterVec
	purgeErrors      prometheus.Counter
}

// newMetrics returns audit's metrics, unregistered.
func newMetrics() *metrics {
	return &metrics{
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_audit_resyncs_total",
			Help: "Times audit had to skip to where a followed log continues because the events after its cursor were gone (retention passed it, or the log was replaced).",
		}, []string{"source"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_audit_lost_events_total",
			Help: "Events of a followed log that were gone before audit recorded them, as counted at each resync.",
		}, []string{"source"}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "steward_audit_checkpoints_signed_total",
			Help: "Checkpoints the periodic checkpointer signed.",
		}),
		checkpointErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "steward_audit_checkpoint_errors_total",
			Help: "Rounds of the periodic checkpointer that failed for some log (a tree contradicting its last checkpoint among them).",
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_audit_purged_events_total",
			Help: "Audit events purged because they were older than their organization's retention.",
		}, []string{"organization"}),
		purgeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "steward_audit_purge_errors_total",
			Help: "Rounds of the periodic purge that failed for some organization.",
		}),
	}
}

// register registers m on r with the ingestion gauges of sources, read
// from their consumers at each scrape: steward_audit_ingestion_cursor,
// _head and _lag_events, by source.
func (m *metrics) register(r prometheus.Registerer, sources []followed) error {
	cs := []prometheus.Collector{m.resyncs, m.lost, m.checkpoints, m.checkpointErrors, m.purged, m.purgeErrors}
	for _, s := range sources {
		c := s.consumer
		labels := prometheus.Labels{"source": s.name}
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_audit_ingestion_cursor", Help: "The last sequence of the source's log audit recorded.", ConstLabels: labels},
				func() float64 { return float64(c.Status().Cursor) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_audit_ingestion_head", Help: "The source's newest sequence, as audit last saw it.", ConstLabels: labels},
				func() float64 { return float64(c.Status().Head) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_audit_ingestion_lag_events", Help: "Events of the source audit knows of and has not recorded yet.", ConstLabels: labels},
				func() float64 { st := c.Status(); return float64(st.Head - min(st.Head, st.Cursor)) }),
		)
	}
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
