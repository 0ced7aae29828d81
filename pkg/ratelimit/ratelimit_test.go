package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

var t0 = time.Unix(1_800_000_000, 0)

// step is one call of Allow and what it should return.
type step struct {
	key   string
	after time.Duration // since t0
	ok    bool
	retry time.Duration
}

func TestAllow(t *testing.T) {
	perMinute := rate.Every(time.Minute)
	for _, tc := range []struct {
		name    string
		limit   rate.Limit
		burst   int
		maxKeys int
		steps   []step
	}{
		{
			name: "burst then refusal", limit: perMinute, burst: 3, maxKeys: 10,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, false, time.Minute},
				{"a", 0, false, time.Minute}, // refusals take nothing
				{"a", 20 * time.Second, false, 40 * time.Second},
			},
		},
		{
			name: "refill", limit: perMinute, burst: 2, maxKeys: 10,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, false, time.Minute},
				{"a", time.Minute, true, 0},
				{"a", time.Minute, false, time.Minute},
				{"a", 10 * time.Minute, true, 0}, // refills up to burst only
				{"a", 10 * time.Minute, true, 0},
				{"a", 10 * time.Minute, false, time.Minute},
			},
		},
		{
			name: "keys independent", limit: perMinute, burst: 1, maxKeys: 10,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, false, time.Minute},
				{"b", 0, true, 0},
				{"b", 0, false, time.Minute},
				{"a", 30 * time.Second, false, 30 * time.Second},
			},
		},
		{
			name: "least recently used key forgotten", limit: perMinute, burst: 1, maxKeys: 2,
			steps: []step{
				{"a", 0, true, 0},
				{"b", 0, true, 0},
				{"a", 0, false, time.Minute}, // a is now more recent than b
				{"c", 0, true, 0},            // forgets b
				{"a", 0, false, time.Minute}, // a remembered
				{"b", 0, true, 0},            // b starts afresh, forgetting c
				{"c", 0, true, 0},
			},
		},
		{
			name: "zero rate never refills", limit: 0, burst: 1, maxKeys: 10,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, false, rate.InfDuration},
				{"a", 24 * time.Hour, false, rate.InfDuration},
			},
		},
		{
			name: "infinite rate", limit: rate.Inf, burst: 1, maxKeys: 10,
			steps: []step{
				{"a", 0, true, 0},
				{"a", 0, true, 0},
				{"a", 0, true, 0},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(tc.limit, tc.burst, tc.maxKeys)
			for i, s := range tc.steps {
				ok, retry := l.Allow(s.key, t0.Add(s.after))
				if ok != s.ok || retry != s.retry {
					t.Errorf("step %d: Allow(%q, t0+%v) = %v, %v; want %v, %v", i, s.key, s.after, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestMaxKeys(t *testing.T) {
	l := New(1, 1, 100)
	for i := range 1000 {
		l.Allow(fmt.Sprint(i), t0)
		if n := l.Len(); n > 100 {
			t.Fatalf("after %d keys Len = %d, want at most 100", i+1, n)
		}
	}
	if n := l.Len(); n != 100 {
		t.Errorf("Len = %d, want 100", n)
	}
}

func TestNewPanics(t *testing.T) {
	for _, tc := range []struct{ burst, maxKeys int }{{0, 1}, {1, 0}, {-1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(1, %d, %d) did not panic", tc.burst, tc.maxKeys)
				}
			}()
			New(1, tc.burst, tc.maxKeys)
		}()
	}
}

// TestConcurrent checks, under -race, that concurrent callers share each
// key's burst exactly, while callers of another limiter churn its LRU.
func TestConcurrent(t *testing.T) {
	const burst, keys, maxKeys = 5, 4, 8
	shared := New(rate.Every(time.Hour), burst, 64)
	churned := New(rate.Every(time.Hour), burst, maxKeys)
	var allowed [keys]atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := i % keys
				if ok, _ := shared.Allow(fmt.Sprint("k", k), t0); ok {
					allowed[k].Add(1)
				}
			}
		})
		wg.Go(func() {
			for i := range 200 {
				churned.Allow(fmt.Sprint(g, "/", i%16), t0.Add(time.Duration(i)*time.Second))
				if n := churned.Len(); n > maxKeys {
					t.Errorf("Len = %d, want at most %d", n, maxKeys)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		if n := allowed[k].Load(); n != burst {
			t.Errorf("key %d allowed %d times, want %d", k, n, burst)
		}
	}
}

// TestWaitTakesNothing: Wait reports the delay Allow would impose, and
// never spends a token itself.
func TestWaitTakesNothing(t *testing.T) {
	l := New(rate.Every(time.Minute), 2, 10)
	for i := 0; i < 5; i++ {
		if d := l.Wait("k", t0); d != 0 {
			t.Fatalf("Wait on a full bucket = %v, want 0", d)
		}
	}
	l.Allow("k", t0)
	l.Allow("k", t0)
	if d := l.Wait("k", t0); d != time.Minute {
		t.Fatalf("Wait on an empty bucket = %v, want 1m", d)
	}
	if d := l.Wait("k", t0.Add(time.Minute)); d != 0 {
		t.Fatalf("Wait after refill = %v, want 0", d)
	}
}

// TestRefund (R9): a refunded token can be taken again, and refunds never
// raise a bucket above its burst.
func TestRefund(t *testing.T) {
	l := New(rate.Every(time.Hour), 2, 10)
	l.Allow("k", t0)
	l.Allow("k", t0)
	if ok, _ := l.Allow("k", t0); ok {
		t.Fatal("third Allow on a burst of 2 succeeded")
	}
	l.Refund("k", t0)
	if ok, _ := l.Allow("k", t0); !ok {
		t.Fatal("Allow after a refund refused")
	}
	l.Refund("k", t0)
	l.Refund("k", t0)
	l.Refund("k", t0) // already full: nothing more
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("k", t0); !ok {
			t.Fatalf("Allow %d after refunds refused", i)
		}
	}
	if ok, _ := l.Allow("k", t0); ok {
		t.Fatal("refunds raised the bucket above its burst")
	}
	// Unknown keys start full; a refund there changes nothing.
	l.Refund("new", t0)
	for i := 0; i < 2; i++ {
		if ok, _ := l.Allow("new", t0); !ok {
			t.Fatalf("Allow %d of a new key refused", i)
		}
	}
	if ok, _ := l.Allow("new", t0); ok {
		t.Fatal("a refund of an unknown key added a token")
	}
}

// TestClockBackwards: a time before the bucket's last use neither refills
// nor rewinds it.
func TestClockBackwards(t *testing.T) {
	l := New(rate.Every(time.Minute), 1, 10)
	l.Allow("k", t0.Add(time.Minute))
	if ok, _ := l.Allow("k", t0); ok {
		t.Fatal("Allow at an earlier time succeeded")
	}
	if ok, _ := l.Allow("k", t0.Add(2*time.Minute)); !ok {
		t.Fatal("Allow a minute after the last use refused")
	}
}
