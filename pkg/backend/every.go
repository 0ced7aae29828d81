package backend

import (
	"context"
	"time"
)

// Every registers fn to run every interval while the service runs (Go): a
// periodic job such as signing checkpoints, purging or sweeping. fn deals
// with its own failures (logs and counts them); the next tick tries again.
// The first run is one interval after the start. Call it before Run.
func (b *Backend) Every(interval time.Duration, fn func(ctx context.Context)) {
	b.Go(func(ctx context.Context) error {
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
	})
}
