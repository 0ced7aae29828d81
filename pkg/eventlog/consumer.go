package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/tracing"
)

// Defaults of Consumer.
const (
	// DefaultMinBackoff is the first wait before a Consumer reconnects.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the wait between reconnections: short, so that a
	// consumer started before its source catches up soon after it comes up.
	DefaultMaxBackoff = 2 * time.Second
	// DefaultMaxBatch bounds how many events one transaction applies.
	DefaultMaxBatch = 256
	// DefaultAckInterval is how often a durable consumer acknowledges its
	// position to the source.
	DefaultAckInterval = 5 * time.Second
	// stuckAfter is how many failed attempts in a row, without progress,
	// make a consumer report itself stuck.
	stuckAfter = 3
)

// Consumer follows a Source and applies each event exactly once to its own
// store: Apply's writes and the advanced cursor commit in one transaction, so a
// crash, a failed Apply or a broken stream never loses or repeats an event.
// Events that arrive together are applied in one transaction (up to
// MaxBatch), so a consumer catching up pays one commit per batch, not one per
// event.
//
// The cursor is a Position: the source log's identity and a sequence. A source
// whose log is not the one the cursor was taken from (its store was replaced:
// another log ID, or a head below the cursor) is never skipped silently: the
// consumer resyncs, or, without Resync, stops applying and reports itself stuck.
//
// Set the exported fields, then call Run once. Cursor, Position, Ready,
// Status and WaitFor may be called from any goroutine. A Consumer must not be
// copied after first use.
type Consumer struct {
	// Name identifies the consumer (e.g. "audit-directory"); its cursor is kept
	// under eventlog/cursor/<Name> in Store. Required.
	Name string
	// Store is the consumer's own store: the cursor and Apply's writes. Required.
	Store store.Store
	// Source is the log followed. Required.
	Source Source
	// Apply applies one event inside the transaction that also advances the
	// cursor (and may apply other events of the same batch). An error rolls
	// the whole batch back; Run logs it and retries after a backoff. Like any
	// store.Update function it may run more than once and must have no effect
	// outside tx. Required.
	Apply func(tx store.Tx, ev *eventlogv1.Event) error
	// Resync rebuilds the consumer's state from a snapshot of the source when
	// the cursor fell behind the source's retention horizon or belongs to
	// another log. It must write the snapshot and its position (PutPosition)
	// in one transaction of Store, and return that position. It must be safe
	// to repeat. When nil, Run stops applying and reports the consumer stuck
	// (Status) until the process is restarted after an operator's repair.
	Resync func(ctx context.Context) (Position, error)
	// Durable registers the consumer with the source, which then never
	// deletes events it has not acknowledged (see Log.Acknowledge); audit's
	// consumers are durable.
	Durable bool
	// Logger receives reconnections and resyncs; default slog.Default().
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the exponential wait between attempts
	// after a failure; defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxBatch bounds the events applied per transaction; default
	// DefaultMaxBatch.
	MaxBatch int
	// AckInterval is how often a durable consumer acknowledges its position;
	// default DefaultAckInterval.
	AckInterval time.Duration
	// OnStatus, if set, is called (from Run's goroutine) whenever the
	// consumer's Status changes.
	OnStatus func(Status)

	mu      sync.Mutex
	pos     Position  // c.mu must be held
	status  Status    // c.mu must be held
	applied broadcast // notified whenever pos changes
}

// Status is what a consumer reports about itself, for readiness and
// metrics.
type Status struct {
	// Ready is true once the consumer has caught up with the head it saw on
	// connecting, and stays true while it is not stuck.
	Ready bool
	// Stuck is true when the consumer cannot make progress without help: its
	// source's log was replaced or trimmed past it and it has no Resync, or
	// applying keeps failing.
	Stuck bool
	// Reason says why the consumer is not ready, in words.
	Reason string
	// Cursor is the sequence of the last event applied; Head the newest
	// sequence of the source known to the consumer.
	Cursor, Head uint64
	// LogID is the identity of the source's log the cursor belongs to.
	LogID string
}

// Cursor returns the sequence of the last event applied (0 before Run loaded it
// or when nothing was applied yet).
func (c *Consumer) Cursor() uint64 { return c.Position().Sequence }

// Position returns the consumer's position.
func (c *Consumer) Position() Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// Status returns the consumer's status.
func (c *Consumer) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Ready reports whether the consumer has caught up with the head it saw on
// connecting and is not stuck.
func (c *Consumer) Ready() bool { return c.Status().Ready }

// WaitFor blocks until the consumer has applied the event with sequence seq (a
// consistency token from the source) or a later one, or ctx is done. Bound it
// with a deadline.
func (c *Consumer) WaitFor(ctx context.Context, seq uint64) error {
	for {
		ch := c.applied.wait()
		if c.Cursor() >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("eventlog: waiting for %s to apply sequence %d: %w", c.Name, seq, ctx.Err())
		case <-ch:
		}
	}
}

// setPosition records pos as applied.
func (c *Consumer) setPosition(pos Position) {
	c.update(func(s *Status) {
		c.pos = pos
		s.Cursor, s.LogID = pos.Sequence, pos.LogID
		s.Head = max(s.Head, pos.Sequence)
	})
	c.applied.notify()
}

// update changes the status under c.mu, exports it as metrics and calls
// OnStatus when it changed.
func (c *Consumer) update(fn func(s *Status)) {
	c.mu.Lock()
	before := c.status
	fn(&c.status)
	after := c.status
	c.mu.Unlock()
	consumerCursor.WithLabelValues(c.Name).Set(float64(after.Cursor))
	consumerHead.WithLabelValues(c.Name).Set(float64(after.Head))
	consumerLag.WithLabelValues(c.Name).Set(float64(after.Head - min(after.Head, after.Cursor)))
	consumerStuck.WithLabelValues(c.Name).Set(boolGauge(after.Stuck))
	consumerReady.WithLabelValues(c.Name).Set(boolGauge(after.Ready))
	if after != before && c.OnStatus != nil {
		c.OnStatus(after)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// applyError is a failure of Apply (or of the consumer's store), as opposed
// to one of the connection to the source.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// Run loads the cursor from Store and follows Source from it until ctx is
// done, applying the events with Apply. On connecting it reads the source's
// head and reports the consumer ready once it has applied that far. When the
// stream breaks or Apply fails, it reconnects from the stored cursor after an
// exponential backoff. When the cursor fell behind the source's horizon or
// belongs to another log, it says so loudly (an error log and
// steward_eventlog_consumer_resyncs_total{consumer}) and calls Resync;
// without Resync it reports itself stuck and waits for ctx. Run returns nil
// once ctx is done; it returns an error for a missing required field or a
// cursor that cannot be loaded.
func (c *Consumer) Run(ctx context.Context) error {
	switch {
	case c.Name == "":
		return errors.New("eventlog: Consumer.Name is required")
	case c.Store == nil || c.Source == nil || c.Apply == nil:
		return fmt.Errorf("eventlog: consumer %s: Store, Source and Apply are required", c.Name)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", c.Name)
	minBackoff, maxBackoff := c.MinBackoff, c.MaxBackoff
	if minBackoff <= 0 {
		minBackoff = DefaultMinBackoff
	}
	if maxBackoff < minBackoff {
		maxBackoff = max(DefaultMaxBackoff, minBackoff)
	}

	var pos Position
	err := c.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		pos, err = GetPosition(tx, c.Name)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("eventlog: consumer %s: loading cursor: %w", c.Name, err)
	}
	c.setPosition(pos)
	c.update(func(s *Status) { s.Reason = "connecting to the source" })
	log.Info("eventlog: consumer starting", "cursor", pos.Sequence, "log_id", pos.LogID)

	backoff := minBackoff
	failures := 0
	resynced := false // the last attempt was a resync that the source has not yet accepted
	for {
		start := c.Position()
		err := c.follow(ctx, log)
		if ctx.Err() != nil {
			return nil
		}
		progressed := c.Cursor() > start.Sequence
		if progressed {
			backoff, failures = minBackoff, 0 // it made progress: the failure is new
		}
		mustResync := errors.Is(err, ErrFellBehind) || errors.Is(err, ErrReset)
		switch {
		case mustResync && c.Resync == nil:
			consumerResyncs.WithLabelValues(c.Name).Inc()
			log.Error("eventlog: consumer cannot follow its source and has no Resync: stuck until repaired", "cursor", c.Cursor(), "error", err)
			c.update(func(s *Status) { s.Ready, s.Stuck, s.Reason = false, true, err.Error() })
			<-ctx.Done()
			return nil
		case mustResync && resynced && !progressed:
			// The snapshot was already behind: back off before the next one.
			err = &applyError{fmt.Errorf("eventlog: consumer %s: the snapshot is still behind its source: %w", c.Name, err)}
			resynced = false
		case mustResync:
			consumerResyncs.WithLabelValues(c.Name).Inc()
			log.Error("eventlog: consumer cannot follow its source: resyncing from a snapshot", "cursor", c.Cursor(), "error", err)
			if err = c.resync(ctx); err == nil {
				log.Warn("eventlog: consumer resynced", "cursor", c.Cursor(), "log_id", c.Position().LogID)
				resynced = true
				continue
			}
			err = &applyError{err}
		}
		resynced = false
		if ctx.Err() != nil {
			return nil
		}
		if ae := (*applyError)(nil); errors.As(err, &ae) {
			// Connection failures are not counted: a source that is down
			// changes nothing, so the consumer's state is as fresh as it gets.
			if failures++; failures >= stuckAfter {
				c.update(func(s *Status) { s.Ready, s.Stuck, s.Reason = false, true, err.Error() })
			}
		}
		log.Warn("eventlog: consumer interrupted, retrying", "error", err, "cursor", c.Cursor(), "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow connects to the source and applies its events until the stream or
// an apply fails.
func (c *Consumer) follow(ctx context.Context, log *slog.Logger) error {
	head, err := c.Source.HeadPosition(ctx)
	if err != nil {
		return fmt.Errorf("eventlog: consumer %s: reading the source's head: %w", c.Name, err)
	}
	pos := c.Position()
	if (pos.LogID != "" && head.LogID != "" && pos.LogID != head.LogID) || pos.Sequence > head.Sequence {
		return &ResetError{Position: pos, LogID: head.LogID, Head: head.Sequence}
	}
	target := head.Sequence
	c.update(func(s *Status) { s.Head = max(s.Head, target) })
	c.checkCaughtUp(target)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan *eventlogv1.Event, c.maxBatch())
	watchErr := make(chan error, 1)
	go func() {
		sub := Subscription{From: pos, Consumer: c.Name, Durable: c.Durable}
		watchErr <- c.Source.Watch(ctx, sub, func(ev *eventlogv1.Event) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	lastAck, acked := time.Time{}, pos
	if c.Durable {
		// Acknowledge what was applied when the stream ends too, so that a
		// stopping consumer leaves the producer its true position.
		defer func() {
			if p := c.Position(); p != acked {
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				defer cancel()
				_ = c.Source.Acknowledge(actx, c.Name, p)
			}
		}()
	}
	for {
		var batch []*eventlogv1.Event
		select {
		case ev := <-events:
			batch = append(batch, ev)
		case err := <-watchErr:
			// Apply what was received before the stream ended.
			for len(events) > 0 {
				if aerr := c.applyEach(ctx, drain(events, nil, c.maxBatch())); aerr != nil {
					return aerr
				}
			}
			return err
		}
		batch = drain(events, batch, c.maxBatch())
		if err := c.applyEach(ctx, batch); err != nil {
			return err
		}
		c.update(func(s *Status) { s.Head = max(s.Head, batch[len(batch)-1].GetSequence()) })
		c.checkCaughtUp(target)
		if c.Durable && time.Since(lastAck) >= c.ackInterval() {
			p := c.Position()
			if err := c.Source.Acknowledge(ctx, c.Name, p); err != nil {
				log.Debug("eventlog: consumer could not acknowledge its position", "error", err)
			} else {
				lastAck, acked = time.Now(), p
			}
		}
	}
}

// drain appends to batch the events waiting in ch, without blocking, up to
// max in all.
func drain(ch chan *eventlogv1.Event, batch []*eventlogv1.Event, max int) []*eventlogv1.Event {
	for len(batch) < max {
		select {
		case ev := <-ch:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// checkCaughtUp makes the consumer ready once its cursor reached target.
func (c *Consumer) checkCaughtUp(target uint64) {
	c.update(func(s *Status) {
		if s.Cursor >= target {
			s.Ready, s.Stuck, s.Reason = true, false, ""
		} else if !s.Ready {
			s.Reason = fmt.Sprintf("catching up with the source: at %d of %d", s.Cursor, target)
		}
	})
}

func (c *Consumer) maxBatch() int {
	if c.MaxBatch > 0 {
		return c.MaxBatch
	}
	return DefaultMaxBatch
}

func (c *Consumer) ackInterval() time.Duration {
	if c.AckInterval > 0 {
		return c.AckInterval
	}
	return DefaultAckInterval
}

// applyEach applies batch in one transaction; if that fails, it applies the
// events one by one, so that the events before a failing one still commit
// and the cursor stops right before it.
func (c *Consumer) applyEach(ctx context.Context, batch []*eventlogv1.Event) error {
	err := c.applyBatch(ctx, batch)
	if err == nil || len(batch) == 1 || errors.Is(err, ErrReset) {
		return err
	}
	for _, ev := range batch {
		if err := c.applyBatch(ctx, []*eventlogv1.Event{ev}); err != nil {
			return err
		}
	}
	return nil
}

// tracer traces the consumers' applies (a no-op one while tracing is off).
var tracer = tracing.Tracer("steward.dev/pkg/eventlog")

// apply applies ev with c.Apply. With tracing on, an event that recorded
// the span context of the request it was appended in (Event.traceparent)
// is applied in a span "eventlog.apply <type>" that is a CHILD of that
// request's span, not the root of a trace of its own merely linked to it:
// the request and every consumer its change reached are then one trace,
// which is the question a trace answers ("what did this CreateUser
// cause, and when did access apply it?"). The span's kind is consumer,
// and it carries the consumer, the source, the sequence and the request
// ID.
func (c *Consumer) apply(ctx context.Context, tx store.Tx, ev *eventlogv1.Event) error {
	tp := ev.GetTraceparent()
	if tp == "" || !tracing.Enabled() {
		return c.Apply(tx, ev)
	}
	_, span := tracer.Start(tracing.ContextWithTraceparent(ctx, tp), "eventlog.apply "+ev.GetType(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("steward.eventlog.consumer", c.Name),
			attribute.String("steward.eventlog.source", ev.GetSource()),
			attribute.Int64("steward.eventlog.sequence", int64(ev.GetSequence())),
			attribute.String("steward.eventlog.type", ev.GetType()),
			tracing.RequestIDKey.String(ev.GetAudit().GetRequestId()),
		))
	defer span.End()
	err := c.Apply(tx, ev)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(otelcodes.Error, err.Error())
	}
	return err
}

// applyBatch applies evs and advances the cursor in one transaction. Events
// at or below the stored cursor are skipped (a duplicate delivery, or another
// instance of the same consumer got there first); an event of another log
// is a *ResetError, a gap an error matching ErrReset.
func (c *Consumer) applyBatch(ctx context.Context, evs []*eventlogv1.Event) error {
	var pos Position
	err := c.Store.Update(ctx, func(tx store.Tx) error {
		stored, err := GetPosition(tx, c.Name)
		if err != nil {
			return err
		}
		pos = stored
		for _, ev := range evs {
			seq := ev.GetSequence()
			if id := ev.GetLogId(); id != "" {
				switch {
				case pos.LogID == "":
					pos.LogID = id
				case pos.LogID != id:
					return &ResetError{Source: ev.GetSource(), Position: pos, LogID: id, Head: seq}
				}
			}
			switch {
			case seq <= pos.Sequence:
				continue
			case seq != pos.Sequence+1:
				return &ResetError{Source: ev.GetSource(), Position: pos, LogID: ev.GetLogId(), Head: seq}
			}
			if err := c.apply(ctx, tx, ev); err != nil {
				return fmt.Errorf("eventlog: consumer %s: applying event %d (%s): %w", c.Name, seq, ev.GetType(), err)
			}
			pos.Sequence = seq
		}
		if pos == stored {
			return nil
		}
		return PutPosition(tx, c.Name, pos)
	})
	if err != nil {
		if errors.Is(err, ErrReset) {
			return err
		}
		return &applyError{err}
	}
	applied := pos.Sequence - min(pos.Sequence, c.Cursor())
	consumerApplied.WithLabelValues(c.Name).Add(float64(applied))
	consumerBatches.WithLabelValues(c.Name).Inc()
	c.setPosition(pos)
	return nil
}

// resync calls Resync and checks that it stored the position it returns.
func (c *Consumer) resync(ctx context.Context) error {
	pos, err := c.Resync(ctx)
	if err != nil {
		return fmt.Errorf("eventlog: consumer %s: resync: %w", c.Name, err)
	}
	var stored Position
	err = c.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		stored, err = GetPosition(tx, c.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("eventlog: consumer %s: reading the resynced cursor: %w", c.Name, err)
	}
	if stored != pos {
		return fmt.Errorf("eventlog: consumer %s: Resync returned %+v but stored %+v: it must store its position with its snapshot", c.Name, pos, stored)
	}
	c.setPosition(pos)
	return nil
}

// GetCursor returns the sequence of the cursor of consumer stored in tx, 0
// when none is.
func GetCursor(tx store.ReadTx, consumer string) (uint64, error) {
	pos, err := GetPosition(tx, consumer)
	return pos.Sequence, err
}

// GetPosition returns the position of consumer stored in tx, the zero
// Position when none is.
func GetPosition(tx store.ReadTx, consumer string) (Position, error) {
	b, err := tx.Get(cursorKey(consumer))
	if errors.Is(err, store.ErrNotFound) {
		return Position{}, nil
	}
	if err != nil {
		return Position{}, err
	}
	if len(b) < 8 {
		return Position{}, fmt.Errorf("eventlog: malformed cursor of %s (%d bytes)", consumer, len(b))
	}
	seq, _ := decodeSeq("cursor", b[:8])
	return Position{Sequence: seq, LogID: string(b[8:])}, nil
}

// PutPosition stores the position of consumer in tx. Consumer.Run does it
// with every batch; a Resync function does it in the transaction that stores
// its snapshot.
func PutPosition(tx store.Tx, consumer string, pos Position) error {
	return tx.Put(cursorKey(consumer), append(encodeSeq(pos.Sequence), pos.LogID...))
}
