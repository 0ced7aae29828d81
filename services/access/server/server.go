// Package server wires the access service, which owns the permission catalogue, roles and role assignments, and answers Check:
// its configuration, defaults and the gRPC services it registers. It keeps an event log in its store, served as
// steward.eventlog.v1.EventLogService.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/domain"
)

// Defaults of the access service. Every address is loopback: serving on
// other interfaces must be asked for.
const (
	// Name is the service name.
	Name = "access"
	// DefaultAddr is the gRPC listen address.
	DefaultAddr = "127.0.0.1:7002"
	// DefaultMetricsAddr is the Prometheus /metrics listen address.
	DefaultMetricsAddr = "127.0.0.1:9002"
)

// Config is the configuration of the access service process.
type Config struct {
	backend.Config
	// Domain tunes the domain service (clock).
	Domain domain.Options
	// Sizes presizes the authorization model.
	Sizes authorizer.Sizes
	// DirectoryConn, when set, is the connection to the directory whose event
	// log access follows (tests); otherwise access dials DirectoryAddr with
	// the service credential.
	DirectoryConn grpc.ClientConnInterface
	// History tunes the history of access (issue 14): how often its base
	// rolls forward and how far back it answers.
	History domain.HistoryOptions
}

// AddFlags registers the backend's flags and access's own on fs,
// defaulting to c's values: -history-interval and -history-retention.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.DurationVar(&c.History.Interval, "history-interval", c.History.Interval,
		"how often the history's base absorbs the events older than -history-retention")
	fs.DurationVar(&c.History.Retention, "history-retention", c.History.Retention,
		"how far back access answers questions about the past (as_of); both event logs keep what it has not absorbed, "+
			"up to their hard bounds (-eventlog-hard-max-age here and at the directory)")
}

// NewConfig returns the default configuration of the access service.
func NewConfig() Config {
	return Config{
		Config:  backend.DefaultConfig(Name, DefaultAddr, DefaultMetricsAddr, true),
		History: domain.HistoryOptions{Interval: domain.DefaultHistoryInterval, Retention: domain.DefaultHistoryRetention},
	}
}

// Complete validates c and builds the access service, ready to Run. Access
// authorizes its own callers from its own model.
func (c Config) Complete() (*backend.Backend, error) {
	w := &wiring{cfg: c}
	c.Authorizer = authz.AuthorizerFunc(w.authorize)
	// Refused changes are audited in access's log (R27).
	c.RefusedCallType = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_CALL_REFUSED)
	// Checks are the hot path (orchestrators ask on every job): a log line
	// per allowed or denied answer cost more than the answer (issue 13).
	c.QuietMethods = []string{accessv1.AccessService_CheckPermission_FullMethodName, accessv1.AccessService_BatchCheckPermission_FullMethodName}
	c.Prevalidated = prevalidated
	// Its indexes by name fill their pages better kept apart (issue 13).
	c.UnorderedKeys = domain.UnorderedKeyRanges
	c.Register = w.register
	return c.Config.Complete()
}

// wiring connects the backend to the domain service, which exists only once
// the backend has opened its store.
type wiring struct {
	cfg Config
	d   *domain.Service
}

// register creates the model and the domain service on b's store and event
// log, registers steward.access.v1.AccessService and starts following the
// directory's event log.
func (w *wiring) register(b *backend.Backend) error {
	conn := w.cfg.DirectoryConn
	if conn == nil {
		if w.cfg.DirectoryAddr == "" {
			return errors.New("access: the directory's address is required (-directory-addr)")
		}
		cc, err := b.Dial(w.cfg.DirectoryAddr)
		if err != nil {
			return err
		}
		b.Server().AddCleanup(cc.Close)
		conn = cc
	}
	directoryLog := eventlogv1.NewEventLogServiceClient(conn)
	opts := w.cfg.Domain
	if opts.DirectoryHead == nil {
		opts.DirectoryHead = directoryHead(directoryLog)
	}
	if opts.Logger == nil {
		opts.Logger = b.Logger()
	}
	model := authorizer.New(w.cfg.Sizes)
	d, err := domain.New(context.Background(), b.Store(), b.EventLog(), model, opts)
	if err != nil {
		return err
	}
	w.d = d
	const consumer = domain.DirectoryFeedName
	feed, err := b.Follow(backend.Follow{
		Source:   "directory",
		Conn:     conn,
		Consumer: consumer,
		Store:    d.FeedStore(), // its Update keeps the model in commit order
		Apply:    d.ApplyDirectoryEvent,
		Resync: func(ctx context.Context) (eventlog.Position, error) {
			pos, records, err := directorySnapshot(ctx, directoryv1.NewDirectoryServiceClient(conn))
			if err != nil {
				return eventlog.Position{}, err
			}
			return pos, d.ResyncDirectory(ctx, consumer, pos, records)
		},
	})
	if err != nil {
		return err
	}
	d.SetDirectoryFeed(feed)
	if d.Replicated() {
		// On etcd the model follows every replica's commits (R32).
		b.Go(d.FollowReplicas)
	}
	w.runHistory(b, d)
	accessv1.RegisterAccessServiceServer(b.GRPCServer(), &accessServer{d: d, authorizer: authz.AuthorizerFunc(w.authorize)})
	return nil
}

// runHistory keeps the history's base (domain.RunHistory) while the
// service runs, and warns when the log's hard bound would delete events
// before the history absorbs them (its base then restarts from the current
// state).
func (w *wiring) runHistory(b *backend.Backend, d *domain.Service) {
	h, hard := w.cfg.History, w.cfg.Retention.HardMaxAge
	if hard > 0 && h.Retention+h.Interval > hard {
		b.Logger().Warn("access: -history-retention plus -history-interval exceeds -eventlog-hard-max-age: events may be deleted before the history absorbs them",
			"history_retention", h.Retention, "history_interval", h.Interval, "eventlog_hard_max_age", hard)
	}
	b.GoOnce("history", func(ctx context.Context) error { return d.RunHistory(ctx, h) })
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

// directorySnapshot reads the directory's snapshot: the records of
// ExportSnapshot and the event-log position they reflect.
func directorySnapshot(ctx context.Context, dir directoryv1.DirectoryServiceClient) (eventlog.Position, []proto.Message, error) {
	stream, err := dir.ExportSnapshot(ctx, &directoryv1.ExportSnapshotRequest{})
	if err != nil {
		return eventlog.Position{}, nil, err
	}
	var pos eventlog.Position
	var records []proto.Message
	for first := true; ; first = false {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return pos, records, nil
		}
		if err != nil {
			return eventlog.Position{}, nil, err
		}
		if first {
			pos = eventlog.Position{LogID: resp.GetLogId(), Sequence: resp.GetSequence()}
		}
		for _, a := range resp.GetRecords() {
			m, err := a.UnmarshalNew()
			if err != nil {
				return eventlog.Position{}, nil, fmt.Errorf("access: the directory's snapshot: %w", err)
			}
			records = append(records, m)
		}
	}
}
