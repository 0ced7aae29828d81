package eventlog

import (
	"context"
	"fmt"
	"math"
	"time"

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
	var hardCountLimit uint64 // events at or below it are deleted even if a durable consumer has not read them
	if r.HardMaxEvents > 0 && head > r.HardMaxEvents {
		hardCountLimit = head - r.HardMaxEvents
	}
	durable, err := durablePositions(tx)
	if err != nil {
		return 0, err
	}
	floor := uint64(math.MaxUint64) // durable consumers have acknowledged every event up to it
	for _, seq := range durable {
		floor = min(floor, seq)
	}
	cutoff, hardCutoff := now.Add(-r.MaxAge), now.Add(-r.HardMaxAge)
	var doomed [][]byte
	var last uint64
	err = tx.Scan(eventPrefix, eventKey(horizon+1), func(k, v []byte) (bool, error) {
		seq, err := eventKeySeq(k)
		if err != nil {
			return false, err
		}
		var evTime time.Time
		if r.MaxAge > 0 || r.HardMaxAge > 0 {
			ev, err := decodeStored(v, seq, l.source, "")
			if err != nil {
				return false, fmt.Errorf("decoding event %d: %w", seq, err)
			}
			evTime = ev.GetTime().AsTime()
		}
		expired := seq <= countLimit || (r.MaxAge > 0 && evTime.Before(cutoff))
		if !expired {
			return false, nil // retention keeps a contiguous suffix
		}
		if seq > floor {
			overrun := seq <= hardCountLimit || (r.HardMaxAge > 0 && evTime.Before(hardCutoff))
			if !overrun {
				return false, nil // a durable consumer has not read it yet
			}
		}
		doomed = append(doomed, append([]byte(nil), k...))
		last = seq
		return len(doomed) < limit, nil
	})
	if err != nil || len(doomed) == 0 {
		return 0, err
	}
	for consumer, acked := range durable {
		if last > acked {
			first := max(acked, horizon) + 1
			l.opts.Logger.Error("eventlog: retention deleted events a durable consumer has not read: the operator's hard bound was exceeded; the consumer must resync",
				"source", l.source, "consumer", consumer, "acknowledged", acked, "deleted_through", last)
			tx.OnCommit(func() { retentionOverrun.WithLabelValues(l.source, consumer).Add(float64(last - first + 1)) })
		}
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

// durablePositions returns the acknowledged position of every durable
// consumer, by name.
func durablePositions(tx store.ReadTx) (map[string]uint64, error) {
	positions := map[string]uint64{}
	err := tx.Scan(durablePrefix, nil, func(k, v []byte) (bool, error) {
		seq, err := decodeSeq("durable position", v)
		if err != nil {
			return false, err
		}
		positions[string(k[len(durablePrefix):])] = seq
		return true, nil
	})
	return positions, err
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
