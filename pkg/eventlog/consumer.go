package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
)

// Defaults of Consumer.
const (
	// DefaultMinBackoff is the first wait before a Consumer reconnects.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the wait between reconnections.
	DefaultMaxBackoff = 10 * time.Second
)

// Consumer follows a Source and applies each event exactly once to its own
// store: Apply's writes and the advanced cursor commit in one transaction, so a
// crash, a failed Apply or a broken stream never loses or repeats an event.
//
// Set the exported fields, then call Run once. Cursor and WaitFor may be called
// from any goroutine. A Consumer must not be copied after first use.
type Consumer struct {
	// Name identifies the consumer (e.g. "audit-directory"); its cursor is kept
	// under eventlog/cursor/<Name> in Store. Required.
	Name string
	// Store is the consumer's own store: the cursor and Apply's writes. Required.
	Store store.Store
	// Source is the log followed. Required.
	Source Source
	// Apply applies one event inside the transaction that also advances the
	// cursor. An error rolls both back; Run logs it and retries the same event
	// after a backoff. Like any store.Update function it may run more than once
	// and must have no effect outside tx. Required.
	Apply func(tx store.Tx, ev *eventlogv1.Event) error
	// Resync rebuilds the consumer's state from a snapshot of the source when the
	// cursor fell behind the source's horizon, and returns the sequence the
	// snapshot is at, which becomes the cursor (Resync may also write it itself
	// with PutCursor in the snapshot's transaction). It must be safe to repeat:
	// a crash before the cursor is stored resyncs again. When nil, Run returns
	// the *FellBehindError instead.
	Resync func(ctx context.Context) (uint64, error)
	// Logger receives reconnections and resyncs; default slog.Default().
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the exponential wait between attempts
	// after a failure; defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	mu      sync.Mutex
	cursor  uint64    // c.mu must be held
	applied broadcast // notified whenever cursor changes
}

// Cursor returns the sequence of the last event applied (0 before Run loaded it
// or when nothing was applied yet).
func (c *Consumer) Cursor() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cursor
}

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

func (c *Consumer) setCursor(seq uint64) {
	c.mu.Lock()
	c.cursor = seq
	c.mu.Unlock()
	consumerCursor.WithLabelValues(c.Name).Set(float64(seq))
	c.applied.notify()
}

// Run loads the cursor from Store and follows Source from it until ctx is
// done, applying each event with Apply. When the stream breaks or Apply fails,
// it reconnects from the stored cursor after an exponential backoff. When the
// cursor fell behind the source's horizon it says so loudly (an error log and
// steward_eventlog_consumer_resyncs_total{consumer}), calls Resync and
// continues from the sequence Resync returned. Run returns nil once ctx is
// done; it returns an error for a missing required field, a cursor that cannot
// be loaded, or a fell-behind source without Resync.
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

	var cursor uint64
	err := c.Store.View(ctx, func(tx store.ReadTx) error {
		var err error
		cursor, err = GetCursor(tx, c.Name)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("eventlog: consumer %s: loading cursor: %w", c.Name, err)
	}
	c.setCursor(cursor)
	log.Info("eventlog: consumer starting", "cursor", cursor)

	backoff := minBackoff
	resynced := false // the last attempt was a resync that the source has not yet accepted
	for {
		start := c.Cursor()
		err := c.Source.Watch(ctx, start, func(ev *eventlogv1.Event) error { return c.apply(ctx, ev) })
		if ctx.Err() != nil {
			return nil
		}
		if c.Cursor() > start {
			backoff = minBackoff // it made progress: the failure is new
		}
		if fb := (*FellBehindError)(nil); errors.As(err, &fb) {
			switch {
			case c.Resync == nil:
				log.Error("eventlog: consumer fell behind the source's retention horizon and has no Resync", "cursor", c.Cursor(), "horizon", fb.Horizon)
				return fmt.Errorf("eventlog: consumer %s: %w", c.Name, err)
			case resynced && c.Cursor() == start:
				// The snapshot was already behind: back off before the next one.
				err = fmt.Errorf("eventlog: consumer %s: snapshot at %d is still behind the horizon %d", c.Name, start, fb.Horizon)
				resynced = false
			default:
				consumerResyncs.WithLabelValues(c.Name).Inc()
				log.Error("eventlog: consumer fell behind the source's retention horizon: events were lost, resyncing from a snapshot",
					"cursor", c.Cursor(), "horizon", fb.Horizon)
				if err = c.resync(ctx); err == nil {
					log.Warn("eventlog: consumer resynced", "cursor", c.Cursor())
					resynced = true
					continue
				}
			}
		}
		resynced = false
		if ctx.Err() != nil {
			return nil
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

// apply applies ev and advances the cursor in one transaction. Events at or
// below the stored cursor are skipped (a duplicate delivery, or another
// instance of the same consumer got there first); a gap is an error.
func (c *Consumer) apply(ctx context.Context, ev *eventlogv1.Event) error {
	seq := ev.GetSequence()
	var skipped bool
	err := c.Store.Update(ctx, func(tx store.Tx) error {
		skipped = false
		stored, err := GetCursor(tx, c.Name)
		if err != nil {
			return err
		}
		switch {
		case seq <= stored:
			skipped = true
			return nil
		case seq != stored+1:
			return fmt.Errorf("eventlog: consumer %s at %d received event %d: gap in the source's log", c.Name, stored, seq)
		}
		if err := c.Apply(tx, ev); err != nil {
			return fmt.Errorf("eventlog: consumer %s: applying event %d (%s): %w", c.Name, seq, ev.GetType(), err)
		}
		return PutCursor(tx, c.Name, seq)
	})
	if err != nil {
		return err
	}
	if !skipped {
		c.setCursor(seq)
	}
	return nil
}

// resync calls Resync and stores the sequence it returns as the cursor.
func (c *Consumer) resync(ctx context.Context) error {
	seq, err := c.Resync(ctx)
	if err != nil {
		return fmt.Errorf("eventlog: consumer %s: resync: %w", c.Name, err)
	}
	err = c.Store.Update(ctx, func(tx store.Tx) error { return PutCursor(tx, c.Name, seq) })
	if err != nil {
		return fmt.Errorf("eventlog: consumer %s: storing resynced cursor: %w", c.Name, err)
	}
	c.setCursor(seq)
	return nil
}

// GetCursor returns the cursor of consumer stored in tx, 0 when none is.
func GetCursor(tx store.ReadTx, consumer string) (uint64, error) {
	b, err := tx.Get(cursorKey(consumer))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeSeq("cursor", b)
}

// PutCursor stores the cursor of consumer in tx. Consumer.Run does it with every
// event; a Resync function may do it in the transaction that stores its
// snapshot.
func PutCursor(tx store.Tx, consumer string, seq uint64) error {
	return tx.Put(cursorKey(consumer), encodeSeq(seq))
}
