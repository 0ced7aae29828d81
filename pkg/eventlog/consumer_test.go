package eventlog_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// countApply returns an Apply that counts, in the consumer's store, how often
// each event was applied (key "applied/<seq>").
func countApply() func(store.Tx, *eventlogv1.Event) error {
	return func(tx store.Tx, ev *eventlogv1.Event) error {
		key := fmt.Appendf(nil, "applied/%08d", ev.GetSequence())
		var n uint64
		if b, err := tx.Get(key); err == nil {
			n = binary.BigEndian.Uint64(b)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(key, binary.BigEndian.AppendUint64(nil, n+1))
	}
}

// appliedCounts returns how often each sequence was applied.
func appliedCounts(t *testing.T, s store.Store) map[uint64]uint64 {
	t.Helper()
	counts := map[uint64]uint64{}
	err := s.View(context.Background(), func(tx store.ReadTx) error {
		return tx.Scan([]byte("applied/"), nil, func(k, v []byte) (bool, error) {
			var seq uint64
			if _, err := fmt.Sscanf(string(k), "applied/%d", &seq); err != nil {
				return false, err
			}
			counts[seq] = binary.BigEndian.Uint64(v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// checkAppliedOnce fails unless exactly the sequences from..to were applied,
// each once.
func checkAppliedOnce(t *testing.T, s store.Store, from, to uint64) {
	t.Helper()
	counts := appliedCounts(t, s)
	if uint64(len(counts)) != to-from+1 {
		t.Errorf("applied %d events, want %d (%d..%d): %v", len(counts), to-from+1, from, to, counts)
	}
	for seq := from; seq <= to; seq++ {
		if counts[seq] != 1 {
			t.Errorf("event %d applied %d times, want 1", seq, counts[seq])
		}
	}
}

func storedCursor(t *testing.T, s store.Store, name string) uint64 {
	t.Helper()
	var c uint64
	err := s.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		c, err = eventlog.GetCursor(tx, name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runConsumer runs c until the returned stop function is called; stop returns
// Run's error.
func runConsumer(t *testing.T, c *eventlog.Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t *testing.T, c *eventlog.Consumer, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
}

func TestConsumerExactlyOnceAcrossFailuresAndRestart(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{})
	appendN(t, ps, l, 5)

	var failing atomic.Bool
	var failures atomic.Int32
	failing.Store(true)
	apply := countApply()
	newConsumer := func() *eventlog.Consumer {
		return &eventlog.Consumer{
			Name: "audit-directory", Store: cs, Source: l, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			Apply: func(tx store.Tx, ev *eventlogv1.Event) error {
				if err := apply(tx, ev); err != nil { // written, then rolled back on failure
					return err
				}
				if ev.GetSequence() == 3 && failing.Load() {
					failures.Add(1)
					return errors.New("apply refused")
				}
				return nil
			},
		}
	}
	c := newConsumer()
	stop := runConsumer(t, c)
	eventually(t, "Apply to fail three times", func() bool { return failures.Load() >= 3 })
	if got := c.Cursor(); got != 2 {
		t.Fatalf("Cursor while event 3 fails = %d, want 2", got)
	}
	if got := storedCursor(t, cs, "audit-directory"); got != 2 {
		t.Fatalf("stored cursor while event 3 fails = %d, want 2", got)
	}
	checkAppliedOnce(t, cs, 1, 2) // event 3's write rolled back with the cursor

	failing.Store(false)
	waitFor(t, c, 5)
	wait := appendInBackground(t, ps, l, 5)
	waitFor(t, c, 10)
	wait()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}

	// Restart: resumes from the stored cursor.
	appendN(t, ps, l, 5)
	c2 := newConsumer()
	runConsumer(t, c2)
	waitFor(t, c2, 15)
	checkAppliedOnce(t, cs, 1, 15)
}

// flakySource breaks every stream after at most three events.
type flakySource struct {
	eventlog.Source
	streams atomic.Int32
}

func (f *flakySource) Watch(ctx context.Context, sub eventlog.Subscription, fn func(*eventlogv1.Event) error) error {
	f.streams.Add(1)
	n := 0
	err := f.Source.Watch(ctx, sub, func(ev *eventlogv1.Event) error {
		if n++; n > 3 {
			return errors.New("connection reset")
		}
		return fn(ev)
	})
	return err
}

func TestConsumerReconnects(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{})
	src := &flakySource{Source: eventlog.NewClientSource(serve(t, l))}
	c := &eventlog.Consumer{Name: "c", Store: cs, Source: src, Apply: countApply(), MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	runConsumer(t, c)
	wait := appendInBackground(t, ps, l, 20)
	waitFor(t, c, 20)
	wait()
	checkAppliedOnce(t, cs, 1, 20)
	if n := src.streams.Load(); n < 7 {
		t.Errorf("%d streams, want at least 7", n)
	}
}

func TestConsumerResyncOverGRPC(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 5}})
	reg := prometheus.NewRegistry()
	if err := eventlog.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	before := resyncCount(t, reg, "audit-resync")
	appendN(t, ps, l, 20)
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}

	var resyncs atomic.Int32
	c := &eventlog.Consumer{
		Name: "audit-resync", Store: cs, Source: eventlog.NewClientSource(serve(t, l)), Apply: countApply(),
		MinBackoff: time.Millisecond,
		Resync: func(ctx context.Context) (eventlog.Position, error) {
			resyncs.Add(1)
			return snapshot(ctx, l, cs, "audit-resync")
		},
	}
	runConsumer(t, c)
	waitFor(t, c, 20)
	appendN(t, ps, l, 3)
	waitFor(t, c, 23)
	checkAppliedOnce(t, cs, 21, 23) // 1..20 came from the snapshot
	if n := resyncs.Load(); n != 1 {
		t.Errorf("Resync called %d times, want 1", n)
	}
	if got := resyncCount(t, reg, "audit-resync") - before; got != 1 {
		t.Errorf("steward_eventlog_consumer_resyncs_total grew by %v, want 1", got)
	}
	if got := storedCursor(t, cs, "audit-resync"); got != 23 {
		t.Errorf("stored cursor = %d, want 23", got)
	}
}

func resyncCount(t *testing.T, reg *prometheus.Registry, consumer string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "steward_eventlog_consumer_resyncs_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "consumer" && lp.GetValue() == consumer {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// snapshot stands for a consumer's Resync: it stores, in one transaction of
// cs, the source's head position as the consumer's (a real Resync writes its
// snapshot in the same transaction) and returns it.
func snapshot(ctx context.Context, l *eventlog.Log, cs store.Store, consumer string) (eventlog.Position, error) {
	pos, err := l.HeadPosition(ctx)
	if err != nil {
		return pos, err
	}
	return pos, cs.Update(ctx, func(tx store.Tx) error { return eventlog.PutPosition(tx, consumer, pos) })
}

// statusWatch returns an OnStatus hook and a channel receiving every status
// it reports.
func statusWatch() (func(eventlog.Status), chan eventlog.Status) {
	ch := make(chan eventlog.Status, 1000)
	return func(s eventlog.Status) { ch <- s }, ch
}

// waitStatus returns the first status from ch that satisfies ok.
func waitStatus(t *testing.T, ch chan eventlog.Status, what string, ok func(eventlog.Status) bool) eventlog.Status {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			if ok(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("no status %s within 10s", what)
		}
	}
}

func TestConsumerFellBehindWithoutResyncIsStuck(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 1}})
	appendN(t, ps, l, 3)
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	hook, statuses := statusWatch()
	c := &eventlog.Consumer{Name: "c", Store: cs, Source: l, Apply: countApply(), OnStatus: hook}
	runConsumer(t, c)
	st := waitStatus(t, statuses, "stuck", func(s eventlog.Status) bool { return s.Stuck })
	if st.Ready || !strings.Contains(st.Reason, "retention horizon") {
		t.Errorf("status = %+v, want not ready, stuck behind the retention horizon", st)
	}
	if n := len(appliedCounts(t, cs)); n != 0 {
		t.Errorf("applied %d events, want none", n)
	}
}

// TestConsumerNoticesReplacedProducer: a producer that comes back with a fresh
// store is never skipped silently, whether its new log is shorter than the
// consumer's cursor (the head is behind it) or longer (another log ID).
func TestConsumerNoticesReplacedProducer(t *testing.T) {
	for _, fresh := range []int{3, 7} {
		t.Run(fmt.Sprintf("fresh log of %d events", fresh), func(t *testing.T) {
			verifyNoLeaks(t)
			cs := openStore(t, "consumer")
			oldStore := openStore(t, "old")
			old := newLog(t, oldStore, eventlog.Options{})
			ps := openStore(t, "producer")
			l := newLog(t, ps, eventlog.Options{})
			appendN(t, oldStore, old, 5)
			first := &eventlog.Consumer{Name: "c", Store: cs, Source: old, Apply: countApply()}
			stop := runConsumer(t, first)
			waitFor(t, first, 5)
			if err := stop(); err != nil {
				t.Fatal(err)
			}

			appendN(t, ps, l, fresh) // the producer's replaced store
			hook, statuses := statusWatch()
			stuck := &eventlog.Consumer{Name: "c", Store: cs, Source: l, Apply: countApply(), OnStatus: hook}
			stop = runConsumer(t, stuck)
			st := waitStatus(t, statuses, "stuck", func(s eventlog.Status) bool { return s.Stuck })
			if !strings.Contains(st.Reason, "resync") {
				t.Errorf("reason = %q, want it to say the consumer must resync", st.Reason)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			checkAppliedOnce(t, cs, 1, 5) // nothing of the new log was applied as if it were the old one

			before := appliedCounts(t, cs) // of the old log: the consumer's store keeps them
			var resyncs atomic.Int32
			newLog := mustHead(t, l).LogID
			hook, statuses = statusWatch()
			c := &eventlog.Consumer{Name: "c", Store: cs, Source: l, Apply: countApply(), MinBackoff: time.Millisecond, OnStatus: hook,
				Resync: func(ctx context.Context) (eventlog.Position, error) {
					resyncs.Add(1)
					return snapshot(ctx, l, cs, "c")
				}}
			runConsumer(t, c)
			// The old log's cursor may already be past these sequences: wait
			// for the new log's.
			waitStatus(t, statuses, "resynced", func(s eventlog.Status) bool { return s.LogID == newLog && s.Cursor == uint64(fresh) })
			appendN(t, ps, l, 2)
			waitStatus(t, statuses, "applied the new events", func(s eventlog.Status) bool { return s.LogID == newLog && s.Cursor == uint64(fresh)+2 })
			if n := resyncs.Load(); n != 1 {
				t.Errorf("Resync called %d times, want 1", n)
			}
			counts := appliedCounts(t, cs)
			for seq := uint64(fresh) + 1; seq <= uint64(fresh)+2; seq++ {
				if counts[seq]-before[seq] != 1 {
					t.Errorf("new event %d applied %d times, want 1", seq, counts[seq]-before[seq])
				}
			}
			if pos := c.Position(); pos.LogID == "" || pos.LogID != mustHead(t, l).LogID {
				t.Errorf("position %+v, want the new log's ID", pos)
			}
		})
	}
}

func mustHead(t *testing.T, l *eventlog.Log) eventlog.Position {
	t.Helper()
	pos, err := l.HeadPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// gatedSource is a Source that is down until opened.
type gatedSource struct {
	eventlog.Source
	open chan struct{}
}

func (g *gatedSource) up() bool {
	select {
	case <-g.open:
		return true
	default:
		return false
	}
}

func (g *gatedSource) HeadPosition(ctx context.Context) (eventlog.Position, error) {
	if !g.up() {
		return eventlog.Position{}, errors.New("connection refused")
	}
	return g.Source.HeadPosition(ctx)
}

// TestConsumerReadyOnlyWhenCaughtUp: a consumer started before its source is
// not ready; once the source is up it becomes ready only when it has applied
// the head it saw on connecting.
func TestConsumerReadyOnlyWhenCaughtUp(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{})
	appendN(t, ps, l, 600)
	src := &gatedSource{Source: l, open: make(chan struct{})}
	hook, statuses := statusWatch()
	c := &eventlog.Consumer{Name: "c", Store: cs, Source: src, Apply: countApply(), OnStatus: hook,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxBatch: 50}
	runConsumer(t, c)
	waitStatus(t, statuses, "connecting", func(s eventlog.Status) bool { return strings.Contains(s.Reason, "connecting") })
	if c.Ready() {
		t.Fatal("ready before the source is up")
	}
	close(src.open)
	st := waitStatus(t, statuses, "ready", func(s eventlog.Status) bool { return s.Ready })
	if st.Cursor < 600 {
		t.Errorf("ready at cursor %d, want at least the head 600 seen on connecting", st.Cursor)
	}
	checkAppliedOnce(t, cs, 1, 600)
}

func TestConsumerValidatesAndWaitForTimesOut(t *testing.T) {
	cs := openStore(t, "consumer")
	if err := (&eventlog.Consumer{Name: "c", Store: cs}).Run(context.Background()); err == nil {
		t.Error("Run without Source and Apply succeeded")
	}
	c := &eventlog.Consumer{Name: "c"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want DeadlineExceeded", err)
	}
	if err := c.WaitFor(context.Background(), 0); err != nil {
		t.Fatalf("WaitFor(0) = %v", err)
	}
}

func TestConsumerStaleSnapshotBacksOffThenIsStuck(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 1}})
	appendN(t, ps, l, 5)
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	var resyncs atomic.Int32
	hook, statuses := statusWatch()
	c := &eventlog.Consumer{
		Name: "stale", Store: cs, Source: l, Apply: countApply(), MinBackoff: time.Millisecond, OnStatus: hook,
		Resync: func(ctx context.Context) (eventlog.Position, error) {
			resyncs.Add(1)
			pos := eventlog.Position{LogID: mustHead(t, l).LogID, Sequence: 1} // below horizon 4
			return pos, cs.Update(ctx, func(tx store.Tx) error { return eventlog.PutPosition(tx, "stale", pos) })
		},
	}
	stop := runConsumer(t, c)
	waitStatus(t, statuses, "stuck", func(s eventlog.Status) bool { return s.Stuck })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Each stale snapshot is followed by a backoff; three failures in a
	// row without progress make the consumer stuck.
	if n := resyncs.Load(); n != 3 {
		t.Errorf("Resync called %d times before the consumer reported itself stuck, want 3", n)
	}
}
