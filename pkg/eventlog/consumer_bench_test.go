package eventlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// BenchmarkConsumerCatchUp measures how fast a consumer applies a backlog of
// 2,000 events from a local log into a bbolt store (fsync on every commit):
// MaxBatch=1 is one transaction per event, as consumers applied before
// batching; the default applies up to 256 per transaction (issue 10,
// deliver 5). It reports events/s.
func BenchmarkConsumerCatchUp(b *testing.B) {
	const backlog = 2000
	for _, batch := range []int{1, eventlog.DefaultMaxBatch} {
		b.Run(fmt.Sprintf("MaxBatch=%d", batch), func(b *testing.B) {
			ps := benchStore(b, "producer")
			l, err := eventlog.New(ps, "directory", eventlog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			err = ps.Update(context.Background(), func(tx store.Tx) error {
				for i := range backlog {
					if _, err := l.Append(tx, testEvent(i)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				cs := benchStore(b, fmt.Sprintf("consumer-%d", i))
				c := &eventlog.Consumer{Name: "bench", Store: cs, Source: l, Apply: countApply(), MaxBatch: batch}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- c.Run(ctx) }()
				if err := c.WaitFor(context.Background(), backlog); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(backlog*b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

func benchStore(b *testing.B, name string) *bboltstore.Store {
	b.Helper()
	s, err := bboltstore.Open(filepath.Join(b.TempDir(), name+".db"), bboltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}
