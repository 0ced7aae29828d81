package eventlog_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

func TestCompactMaxEvents(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 5}})
	ctx := context.Background()
	appendN(t, s, l, 20)

	n, err := l.Compact(ctx)
	if err != nil || n != 15 {
		t.Fatalf("Compact = %d, %v; want 15", n, err)
	}
	if n, err := l.Compact(ctx); err != nil || n != 0 {
		t.Fatalf("second Compact = %d, %v; want 0", n, err)
	}
	horizon, err := l.Horizon(ctx)
	if err != nil || horizon != 15 {
		t.Fatalf("Horizon = %d, %v; want 15", horizon, err)
	}
	checkGapFree(t, readAll(t, l, 15), 16, 20)

	_, err = l.Read(ctx, 3, 10)
	checkFellBehind(t, err, 3, 15)
	err = l.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(*eventlogv1.Event) error { return nil })
	checkFellBehind(t, err, 0, 15)

	// A cursor at the horizon is fine.
	var got []uint64
	err = l.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 15}}, func(ev *eventlogv1.Event) error {
		got = append(got, ev.GetSequence())
		if len(got) == 5 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Watch(15) = %v", err)
	}
	checkGapFree(t, got, 16, 20)
}

func TestCompactManyBatches(t *testing.T) {
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 10}})
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range 2600 {
			if _, err := l.Append(tx, testEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Compact(ctx); err != nil || n != 2590 {
		t.Fatalf("Compact = %d, %v; want 2590", n, err)
	}
	checkGapFree(t, readAll(t, l, 2590), 2591, 2600)
}

func TestCompactMaxAge(t *testing.T) {
	s := openStore(t, "p")
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	l := newLog(t, s, eventlog.Options{Clock: clock, Retention: eventlog.Retention{MaxAge: time.Hour}})
	ctx := context.Background()

	appendN(t, s, l, 3) // 1..3 at t0
	advance(30 * time.Minute)
	appendN(t, s, l, 2) // 4..5 at t0+30m
	advance(45 * time.Minute)
	// Now t0+75m: 1..3 are older than an hour, 4..5 are not.
	if n, err := l.Compact(ctx); err != nil || n != 3 {
		t.Fatalf("Compact = %d, %v; want 3", n, err)
	}
	advance(2 * time.Hour)
	if n, err := l.Compact(ctx); err != nil || n != 2 {
		t.Fatalf("Compact = %d, %v; want 2", n, err)
	}
	// Everything is gone: the head is the horizon and appends go on after it.
	head, err := l.Head(ctx)
	if err != nil || head != 5 {
		t.Fatalf("Head = %d, %v; want 5", head, err)
	}
	if seq := appendOne(t, s, l, 6); seq != 6 {
		t.Fatalf("append after full compaction = %d, want 6", seq)
	}
	checkGapFree(t, readAll(t, l, 5), 6, 6)
}

func TestWatchFellBehindWhileStreaming(t *testing.T) {
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{BatchSize: 2, Retention: eventlog.Retention{MaxEvents: 1}})
	ctx := context.Background()
	appendN(t, s, l, 10)
	var got []uint64
	err := l.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(ev *eventlogv1.Event) error {
		got = append(got, ev.GetSequence())
		if len(got) == 1 {
			if _, err := l.Compact(ctx); err != nil { // a slow watcher overtaken by retention
				t.Fatal(err)
			}
		}
		return nil
	})
	checkFellBehind(t, err, 2, 9)
	checkGapFree(t, got, 1, 2)
}

func TestRunRetention(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 2, Interval: 5 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.RunRetention(ctx) }()
	appendN(t, s, l, 10)
	eventually(t, "retention to compact", func() bool {
		h, err := l.Horizon(context.Background())
		return err == nil && h == 8
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunRetention = %v", err)
	}
	// Without limits it returns at once.
	if err := newLog(t, s, eventlog.Options{}).RunRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
}
