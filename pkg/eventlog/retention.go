package eventlog

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
)

// Compact deletes the events Options.Retention no longer keeps, oldest first,
// in transactions of at most 1000 deletions each, and records the new horizon
// in the same transactions. It returns how many events it deleted. Watchers
// positioned below the new horizon fail with a *FellBehindError on their next
// read. Without retention limits it does nothing.
func (l *Log) Compact(ctx context.Context) (uint64, error) {
	r := l.opts.Retention
	if !r.enabled() {
		return 0, nil
	}
	var total uint64
	for {
		var n int
		err := l.st.Update(ctx, func(tx store.Tx) error {
			var err error
			n, err = l.compactBatch(tx, l.opts.Clock(), compactBatch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("eventlog: compact: %w", err)
		}
		total += uint64(n)
		if n < compactBatch {
			return total, nil
		}
	}
}

// compactBatch deletes up to limit of the oldest events that retention no
// longer keeps at time now and raises the horizon to the last one deleted.
func (l *Log) compactBatch(tx store.Tx, now time.Time, limit int) (int, error) {
	r := l.opts.Retention
	head, horizon, err := headHorizon(tx)
	if err != nil {
		return 0, err
	}
	var countLimit uint64 // events at or below it are deleted for their count
	if r.MaxEvents > 0 && head > r.MaxEvents {
		countLimit = head - r.MaxEvents
	}
	cutoff := now.Add(-r.MaxAge)
	var doomed [][]byte
	var last uint64
	err = tx.Scan(eventPrefix, eventKey(horizon+1), func(k, v []byte) (bool, error) {
		seq, err := eventKeySeq(k)
		if err != nil {
			return false, err
		}
		if seq > countLimit {
			if r.MaxAge <= 0 {
				return false, nil
			}
			ev := &eventlogv1.Event{}
			if err := proto.Unmarshal(v, ev); err != nil {
				return false, fmt.Errorf("decoding event %d: %w", seq, err)
			}
			if !ev.GetTime().AsTime().Before(cutoff) {
				return false, nil // retention keeps a contiguous suffix
			}
		}
		doomed = append(doomed, append([]byte(nil), k...))
		last = seq
		return len(doomed) < limit, nil
	})
	if err != nil || len(doomed) == 0 {
		return 0, err
	}
	for _, k := range doomed {
		if err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	if err := tx.Put(horizonKey, encodeSeq(last)); err != nil {
		return 0, err
	}
	return len(doomed), nil
}

// RunRetention compacts the log at once and then every Retention.Interval until
// ctx is done, logging failures (the next round retries). It returns nil when
// ctx is done, and at once when no retention limit is set.
func (l *Log) RunRetention(ctx context.Context) error {
	if !l.opts.Retention.enabled() {
		return nil
	}
	t := time.NewTicker(l.opts.Retention.Interval)
	defer t.Stop()
	for {
		n, err := l.Compact(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			l.opts.Logger.Error("eventlog: retention failed", "source", l.source, "error", err)
		case n > 0:
			l.opts.Logger.Info("eventlog: retention deleted old events", "source", l.source, "deleted", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
