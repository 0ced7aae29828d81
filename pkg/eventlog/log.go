package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// Defaults of Options.
const (
	// DefaultBatchSize is how many events Watch reads per read transaction.
	DefaultBatchSize = 256
	// DefaultRetentionInterval is how often RunRetention compacts.
	DefaultRetentionInterval = time.Minute
	// compactBatch bounds how many events one Compact transaction deletes.
	compactBatch = 1000
)

// Options tune a Log. The zero value keeps every event forever.
type Options struct {
	// Retention says which old events Compact and RunRetention delete.
	Retention Retention
	// BatchSize is how many events Watch reads per read transaction; default
	// DefaultBatchSize.
	BatchSize int
	// Clock stamps events and judges their age; default time.Now.
	Clock func() time.Time
	// Logger receives retention errors; default slog.Default().
	Logger *slog.Logger
}

// Retention bounds the log. An event is deleted as soon as either limit says
// so; zero limits are off. The newest MaxEvents events are never deleted for
// their count, but all events may be deleted for their age. Events a durable
// consumer has not acknowledged (see Log.Acknowledge) are kept whatever
// MaxEvents and MaxAge say, until the operator's hard bound, HardMaxEvents or
// HardMaxAge, is exceeded too: then they are deleted, with an error log and
// steward_eventlog_retention_overrun_events_total{source,consumer}.
type Retention struct {
	// MaxEvents keeps at most this many of the newest events.
	MaxEvents uint64
	// MaxAge keeps events committed less than this long ago.
	MaxAge time.Duration
	// HardMaxEvents and HardMaxAge bound what durable consumers may hold
	// back; zero means no bound.
	HardMaxEvents uint64
	HardMaxAge    time.Duration
	// Interval is how often RunRetention compacts; default
	// DefaultRetentionInterval.
	Interval time.Duration
}

func (r Retention) enabled() bool { return r.MaxEvents > 0 || r.MaxAge > 0 }

// Log is the event log of one service, kept in that service's store. It is safe
// for concurrent use. Create it with New.
type Log struct {
	st     store.Store
	source string
	opts   Options

	commits   broadcast    // closed and replaced whenever events may have committed
	id        atomic.Value // string: the log's identity once known (see ID)
	closeOnce sync.Once
	done      chan struct{}

	// On a store other processes commit to (store.ChangeFeed), the first
	// Watch starts a goroutine that wakes the watchers on their commits
	// too; Close stops it and waits for it.
	followMu     sync.Mutex
	followCancel context.CancelFunc // set once following; guarded by followMu
	followClosed bool               // guarded by followMu
	following    sync.WaitGroup
}

// New returns the log of the service called source (e.g. "directory") kept in
// s. It does no I/O. There must be one Log per store.
func New(s store.Store, source string, opts Options) (*Log, error) {
	if s == nil {
		return nil, errors.New("eventlog: New: nil store")
	}
	if source == "" {
		return nil, errors.New("eventlog: New: empty source")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retention.Interval <= 0 {
		opts.Retention.Interval = DefaultRetentionInterval
	}
	return &Log{st: s, source: source, opts: opts, done: make(chan struct{})}, nil
}

// Source returns the name of the service the log belongs to.
func (l *Log) Source() string { return l.source }

// NewEvent returns the event of a change of type typ (e.g.
// "directory.user.created") to resource, for Append: its Organization is
// resource's (resourcename.OrganizationOf), audit is its envelope with
// Action set to typ, and data, unless nil, is packed as its Any (by
// convention the record after a create or update, before a delete).
func NewEvent(typ string, op eventlogv1.Operation, resource string, data proto.Message, audit *eventlogv1.AuditEnvelope) (*eventlogv1.Event, error) {
	audit.Action = typ
	ev := &eventlogv1.Event{
		Type:         typ,
		Resource:     resource,
		Organization: resourcename.OrganizationOf(resource),
		Operation:    op,
		Audit:        audit,
	}
	if data != nil {
		a, err := anypb.New(data)
		if err != nil {
			return nil, fmt.Errorf("eventlog: event data: %w", err)
		}
		ev.Data = a
	}
	return ev, nil
}

// Append adds ev to the log inside the caller's transaction tx and returns its
// sequence, which write responses carry as a consistency token. It sets ev's
// Sequence, Time (from Options.Clock), Source and LogId, overwriting what was there,
// and stores ev deterministically in the compact form of stored.go, from which
// every read gives back ev as it is then. The event becomes visible with the rest of
// tx when tx commits, and watchers are woken then; if tx rolls back, the
// sequence is not used. Append may be called several times in one transaction.
func (l *Log) Append(tx store.Tx, ev *eventlogv1.Event) (uint64, error) {
	if ev == nil {
		return 0, errors.New("eventlog: Append: nil event")
	}
	seq, err := tx.NextSequence(sequenceName)
	if err != nil {
		return 0, fmt.Errorf("eventlog: next sequence: %w", err)
	}
	id, err := l.idTx(tx)
	if err != nil {
		return 0, fmt.Errorf("eventlog: log identity: %w", err)
	}
	ev.Sequence = seq
	ev.Time = timestamppb.New(l.opts.Clock())
	ev.Source = l.source
	ev.LogId = id
	b, err := encodeStored(ev)
	if err != nil {
		return 0, fmt.Errorf("eventlog: append event %d: %w", seq, err)
	}
	if err := tx.Put(eventKey(seq), b); err != nil {
		return 0, fmt.Errorf("eventlog: append event %d: %w", seq, err)
	}
	tx.OnCommit(l.commits.notify)
	return seq, nil
}

// followOthers makes sure, once, that commits other processes make to a
// shared store (store.ChangeFeed: etcd, with the service's other replicas)
// wake this log's watchers as this process's own commits do. It is a no-op on
// a store only this process writes.
func (l *Log) followOthers() {
	feed, ok := l.st.(store.ChangeFeed)
	if !ok {
		return
	}
	l.followMu.Lock()
	defer l.followMu.Unlock()
	if l.followCancel != nil || l.followClosed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.followCancel = cancel
	l.following.Add(1)
	go func() {
		defer l.following.Done()
		wake := func(int64, []store.Change) error { l.commits.notify(); return nil }
		for ctx.Err() == nil {
			// Wake the watchers once the revision is taken: they read
			// again, seeing every commit up to it; the later ones wake
			// them from the feed. A feed that ends (its changes were
			// compacted away) starts again from a new revision.
			rev, err := feed.Revision(ctx)
			if err == nil {
				l.commits.notify()
				err = feed.Changes(ctx, eventPrefix, rev, wake)
			}
			if ctx.Err() == nil {
				l.opts.Logger.Warn("eventlog: following other replicas' commits; retrying", "source", l.source, "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
}

// Close ends every Watch with ErrClosed and makes later ones fail at once, so
// that a graceful server stop need not wait for tailing streams. It does not
// close the store. Append keeps working.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	l.followMu.Lock()
	l.followClosed = true
	if l.followCancel != nil {
		l.followCancel()
	}
	l.followMu.Unlock()
	l.following.Wait()
	return nil
}

// Head returns the sequence of the newest committed event (0 when the log is
// empty).
func (l *Log) Head(ctx context.Context) (uint64, error) {
	var head uint64
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		head, _, err = headHorizon(tx)
		return err
	})
	return head, err
}

// HeadTx returns the sequence of the newest event visible in tx (0 when the
// log is empty). List reads call it in their own transaction so that the page
// and the sequence it reflects agree: a consumer takes the page as a snapshot
// and watches from that sequence.
func HeadTx(tx store.ReadTx) (uint64, error) {
	head, _, err := headHorizon(tx)
	return head, err
}

// PositionTx returns the log's identity ("" before it has one) and the
// newest sequence visible in tx: the position a snapshot read in tx
// reflects, from which its consumer watches on.
func PositionTx(tx store.ReadTx) (Position, error) {
	head, err := HeadTx(tx)
	if err != nil {
		return Position{}, err
	}
	b, err := tx.Get(idKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Position{}, err
	}
	return Position{LogID: string(b), Sequence: head}, nil
}

// Horizon returns the retention horizon: the highest sequence deleted by
// retention (0 when nothing was). Cursors below it fell behind.
func (l *Log) Horizon(ctx context.Context) (uint64, error) {
	var horizon uint64
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		var err error
		horizon, err = getHorizon(tx)
		return err
	})
	return horizon, err
}

// Read returns at most limit events with sequence greater than after, in
// sequence order, read in one transaction; fewer than limit means it reached
// the head. It fails with a *FellBehindError when after is below the horizon.
func (l *Log) Read(ctx context.Context, after uint64, limit int) ([]*eventlogv1.Event, error) {
	p, err := l.readPage(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	if after < p.horizon {
		return nil, &FellBehindError{Source: l.source, After: after, Horizon: p.horizon}
	}
	return p.events, nil
}

// Subscription is what a consumer asks of a Watch.
type Subscription struct {
	// From is the consumer's position: events after From.Sequence are
	// streamed, provided From.LogID (when set) is the log's identity.
	From Position
	// Consumer names the consumer, e.g. "audit-directory"; optional.
	Consumer string
	// Durable registers the consumer's position, so that retention keeps
	// every event it has not acknowledged (see Acknowledge). Needs Consumer.
	Durable bool
}

// Watch calls fn with every event after sub.From, in order, first from
// history and then as new events commit, until ctx is done, the Log is
// closed (ErrClosed) or fn returns an error, which Watch returns unchanged.
// fn runs outside any store transaction, so it may use any store. History is
// read in batches of Options.BatchSize, each in its own read transaction; when
// caught up, Watch blocks until the next commit without polling.
//
// Watch fails with a *ResetError when sub.From does not belong to this log
// (another log ID, or a sequence past the head), and with a *FellBehindError
// when the position, at the start or while streaming, is below the retention
// horizon; sequence 0 fails too once anything was deleted, because the events
// from 1 are gone. A resumed Watch (from the last event fn saw) sees every
// event exactly once. A durable subscription records sub.From as the
// consumer's acknowledged position first.
func (l *Log) Watch(ctx context.Context, sub Subscription, fn func(*eventlogv1.Event) error) error {
	if sub.Durable && sub.Consumer != "" {
		if err := l.Acknowledge(ctx, sub.Consumer, sub.From); err != nil && !errors.Is(err, ErrReset) {
			return err
		}
	}
	l.followOthers()
	cursor := sub.From.Sequence
	first := true
	for {
		// Take the wake-up channel before reading, so that a commit landing
		// between the read and the wait is not missed.
		woken := l.commits.wait()
		select {
		case <-l.done:
			return ErrClosed
		default:
		}
		p, err := l.readPage(ctx, cursor, l.opts.BatchSize)
		if err != nil {
			return err
		}
		if first {
			if err := l.checkPosition(sub.From, p); err != nil {
				return err
			}
			first = false
		}
		if cursor < p.horizon {
			return &FellBehindError{Source: l.source, After: cursor, Horizon: p.horizon}
		}
		for _, ev := range p.events {
			if err := fn(ev); err != nil {
				return err
			}
			cursor = ev.GetSequence()
		}
		if len(p.events) == l.opts.BatchSize {
			continue // more history
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return ErrClosed
		case <-woken:
		}
	}
}

// checkPosition returns a *ResetError unless pos belongs to the log p was
// read from.
func (l *Log) checkPosition(pos Position, p page) error {
	if (pos.LogID != "" && pos.LogID != p.id) || pos.Sequence > p.head {
		return &ResetError{Source: l.source, Position: pos, LogID: p.id, Head: p.head}
	}
	return nil
}

// Acknowledge records that the durable consumer has applied every event up
// to pos.Sequence: retention keeps every later event (see Retention). A
// position of another log is refused with a *ResetError.
func (l *Log) Acknowledge(ctx context.Context, consumer string, pos Position) error {
	if consumer == "" {
		return errors.New("eventlog: Acknowledge: empty consumer name")
	}
	return l.st.Update(ctx, func(tx store.Tx) error {
		id, err := l.readID(tx)
		if err != nil {
			return err
		}
		if pos.LogID != "" && pos.LogID != id {
			head, _, err := headHorizon(tx)
			if err != nil {
				return err
			}
			return &ResetError{Source: l.source, Position: pos, LogID: id, Head: head}
		}
		return tx.Put(durableKey(consumer), encodeSeq(pos.Sequence))
	})
}

// page is what one read transaction saw.
type page struct {
	events        []*eventlogv1.Event
	head, horizon uint64
	id            string // the log's identity, "" before it has one
}

// readPage reads up to limit events after after, with the head and horizon, in
// one read transaction. It does not check the horizon.
func (l *Log) readPage(ctx context.Context, after uint64, limit int) (page, error) {
	var p page
	if limit <= 0 {
		limit = l.opts.BatchSize
	}
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		p = page{}
		var err error
		if p.head, p.horizon, err = headHorizon(tx); err != nil {
			return err
		}
		if p.id, err = l.readID(tx); err != nil {
			return err
		}
		if after == math.MaxUint64 {
			return nil
		}
		return tx.Scan(eventPrefix, eventKey(after+1), func(k, v []byte) (bool, error) {
			seq, err := eventKeySeq(k)
			if err != nil {
				return false, err
			}
			ev, err := decodeStored(v, seq, l.source, p.id)
			if err != nil {
				return false, fmt.Errorf("eventlog: decoding event %d: %w", seq, err)
			}
			p.events = append(p.events, ev)
			return len(p.events) < limit, nil
		})
	})
	if err != nil {
		return page{}, err
	}
	return p, nil
}

// getHorizon returns the recorded horizon, 0 when none was recorded.
func getHorizon(tx store.ReadTx) (uint64, error) {
	b, err := tx.Get(horizonKey)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeSeq("horizon", b)
}

// headHorizon returns the newest sequence and the horizon. When retention
// deleted every event the head is the horizon.
func headHorizon(tx store.ReadTx) (head, horizon uint64, err error) {
	if horizon, err = getHorizon(tx); err != nil {
		return 0, 0, err
	}
	head = horizon
	err = tx.ScanReverse(eventPrefix, nil, func(k, _ []byte) (bool, error) {
		seq, err := eventKeySeq(k)
		if err != nil {
			return false, err
		}
		head = max(head, seq)
		return false, nil
	})
	return head, horizon, err
}

// broadcast wakes every waiter at once: wait returns a channel that the next
// notify closes. The zero value is ready to use; notify without waiters costs
// a lock and nothing else.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
