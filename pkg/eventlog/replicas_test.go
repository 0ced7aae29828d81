package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// TestWatchAcrossReplicas: two replicas of a service share one log on etcd;
// a watcher attached to replica A tails what both replicas append, in
// sequence order, gap-free, without polling (R32, issue 17 point 2).
func TestWatchAcrossReplicas(t *testing.T) {
	verifyNoLeaks(t)
	prefix := fmt.Sprintf("/test/%s/%d/", t.Name(), stores.Add(1))
	sa, sb := openEtcd(t, prefix), openEtcd(t, prefix)
	la, lb := newLog(t, sa, eventlog.Options{}), newLog(t, sb, eventlog.Options{})

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		done <- la.Watch(ctx, eventlog.Subscription{}, func(ev *eventlogv1.Event) error { got <- ev.GetSequence(); return nil })
	}()
	const n = 40
	var wg sync.WaitGroup
	for _, r := range []struct {
		s store.Store
		l *eventlog.Log
	}{{sa, la}, {sb, lb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 2 {
				if _, err := tryAppend(r.s, r.l, i); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var seen []uint64
	for len(seen) < n {
		select {
		case seq := <-got:
			seen = append(seen, seq)
		case <-time.After(10 * time.Second):
			t.Fatalf("watcher on replica A saw %d of %d events", len(seen), n)
		}
	}
	checkGapFree(t, seen, 1, n)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v, want context.Canceled", err)
	}
}

// BenchmarkWatchAcrossReplicas measures how long an event appended through
// replica B takes to reach a watcher attached to replica A on a one-member
// etcd on loopback (fsync off): B's commit, etcd's watch notice, A's read.
func BenchmarkWatchAcrossReplicas(b *testing.B) {
	prefix := fmt.Sprintf("/bench/%s/%d/", b.Name(), stores.Add(1))
	sa, sb := openEtcd(b, prefix), openEtcd(b, prefix)
	la, lb := newLog(b, sa, eventlog.Options{}), newLog(b, sb, eventlog.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 1)
	go func() {
		_ = la.Watch(ctx, eventlog.Subscription{}, func(ev *eventlogv1.Event) error { got <- ev.GetSequence(); return nil })
	}()
	b.ResetTimer()
	for i := range b.N {
		seq, err := tryAppend(sb, lb, i)
		if err != nil {
			b.Fatal(err)
		}
		for s := <-got; s != seq; s = <-got {
		}
	}
}
