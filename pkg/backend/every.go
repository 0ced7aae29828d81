package backend

import (
	"context"
	"time"

	"steward.dev/pkg/store"
)

// Every registers fn to run every interval while the service runs (Go): a
// periodic job such as signing checkpoints, purging or sweeping. fn deals
// with its own failures (logs and counts them); the next tick tries again.
// The first run is one interval after the start. Call it before Run.
func (b *Backend) Every(interval time.Duration, fn func(ctx context.Context)) {
	b.Go(func(ctx context.Context) error { return every(ctx, interval, fn) })
}

// EveryOnce is Every for a job that must run in one process at a time when
// the service's replicas share a store (GoOnce): only the elected replica
// runs it, and its writes are fenced by its leadership.
func (b *Backend) EveryOnce(name string, interval time.Duration, fn func(ctx context.Context)) {
	b.GoOnce(name, func(ctx context.Context) error { return every(ctx, interval, fn) })
}

// GoOnce registers fn to run while the service runs (Go), in one process at a
// time: on a store shared by the service's replicas (store.Elector: etcd) only
// the replica elected for name runs it, with a context that ends when it
// loses the leadership and whose store writes commit only while it holds it
// (R32); when it loses it, another replica is elected and runs fn. On a store
// of its own (bbolt) fn simply runs. Call it before Run.
func (b *Backend) GoOnce(name string, fn func(ctx context.Context) error) {
	el, ok := b.store.(store.Elector)
	if !ok {
		b.Go(fn)
		return
	}
	b.Go(func(ctx context.Context) error {
		return el.Lead(ctx, name, func(ctx context.Context) error {
			b.logger.Info("backend: elected to run "+name, "service", b.name)
			err := fn(ctx)
			if ctx.Err() == nil && err != nil {
				b.logger.Error("backend: "+name+" failed", "service", b.name, "error", err)
			}
			return err
		})
	})
}

func every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			fn(ctx)
		}
	}
}
