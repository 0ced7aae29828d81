package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// wantRetry fails unless err is a *RetryError with a positive delay.
func wantRetry(t *testing.T, err error, what string) {
	t.Helper()
	var retry *RetryError
	if !errors.As(err, &retry) || retry.After <= 0 {
		t.Fatalf("%s: %v, want a *RetryError", what, err)
	}
}

// failFrom runs n failed sign-in attempts on account from source under l at
// now and returns how many the limits let through.
func failFrom(l *limiters, account, source string, known []string, n int, now time.Time) int {
	passed := 0
	for range n {
		a, err := l.beginSignIn(source, now)
		if err != nil {
			continue
		}
		if a.charge(account, known, now) == nil {
			passed++
		}
	}
	return passed
}

// Issue 9 item 2: the default policy, attempt by attempt. Failures from one
// source use up that source's allowance on the account and nothing of
// anyone else's; a many-source attack is bounded by the account's ceiling,
// which the account's known sources do not draw from.
func TestSignInLimitsPerAccountAndSource(t *testing.T) {
	d := DefaultLimits()
	now := time.Unix(1_700_000_000, 0)
	const account = "password:organizations/o1/owner@o1.example"

	t.Run("one source cannot lock the owner out", func(t *testing.T) {
		l := newLimiters(d)
		if got := failFrom(l, account, "203.0.113.1", nil, 25, now); got != d.FailedSignInAccountSourceBurst {
			t.Fatalf("%d attempts from A let through, want %d", got, d.FailedSignInAccountSourceBurst)
		}
		// A stays limited on the account: one attempt per refill period.
		a, err := l.beginSignIn("203.0.113.1", now)
		if err != nil {
			t.Fatal(err)
		}
		wantRetry(t, a.charge(account, nil, now), "attempt from A")
		if got := failFrom(l, account, "203.0.113.1", nil, 3, now.Add(90*time.Second)); got != 1 {
			t.Fatalf("%d attempts from A one refill period later, want 1", got)
		}
		// B, unknown to the account, is not limited.
		b, err := l.beginSignIn("198.51.100.2", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.charge(account, nil, now); err != nil {
			t.Fatalf("attempt from B after A's failures: %v", err)
		}
	})

	t.Run("the ceiling bounds a many-source attack", func(t *testing.T) {
		l := newLimiters(d)
		passed := 0
		for i := range 50 {
			passed += failFrom(l, account, fmt.Sprintf("203.0.113.%d", i), nil, 10, now)
		}
		if passed != d.FailedSignInAccountBurst {
			t.Fatalf("%d attempts from 50 sources let through, want the ceiling %d", passed, d.FailedSignInAccountBurst)
		}
		// A new source is refused, and the refusal takes nothing from its
		// pair bucket.
		c, err := l.beginSignIn("192.0.2.9", now)
		if err != nil {
			t.Fatal(err)
		}
		wantRetry(t, c.charge(account, nil, now), "attempt from a new source at the ceiling")
		// A known source of the account still gets its own allowance.
		known := []string{"198.51.100.2"}
		if got := failFrom(l, account, "198.51.100.2", known, 20, now); got != d.FailedSignInAccountSourceBurst {
			t.Fatalf("%d attempts from a known source at the ceiling, want %d", got, d.FailedSignInAccountSourceBurst)
		}
		// Another account is untouched.
		if got := failFrom(l, "password:organizations/o1/ada@o1.example", "192.0.2.9", nil, 1, now); got != 1 {
			t.Fatal("another account is limited by the first one's ceiling")
		}
	})

	t.Run("one source alone never reaches the ceiling", func(t *testing.T) {
		l := newLimiters(d)
		at := now
		for range 1000 { // about a day at the pair's refill rate
			failFrom(l, account, "203.0.113.1", nil, 20, at)
			at = at.Add(90 * time.Second)
		}
		if wait := l.signInAccount.Wait(account, at); wait != 0 {
			t.Fatalf("the ceiling waits %v after one source's attack", wait)
		}
	})

	t.Run("the source bounds attempts across accounts", func(t *testing.T) {
		l := newLimiters(d)
		passed := 0
		for i := range 100 {
			passed += failFrom(l, fmt.Sprintf("password:organizations/o1/u%d@o1.example", i), "203.0.113.1", nil, 1, now)
		}
		if passed != d.FailedSignInSourceBurst {
			t.Fatalf("%d attempts on 100 accounts from one source, want %d", passed, d.FailedSignInSourceBurst)
		}
	})

	t.Run("success gives every token back", func(t *testing.T) {
		l := newLimiters(d)
		for range 3 * d.FailedSignInSourceBurst {
			a, err := l.beginSignIn("203.0.113.1", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.charge(account, nil, now); err != nil {
				t.Fatal(err)
			}
			a.succeeded(now)
		}
	})

	t.Run("an IPv6 /64 is one source", func(t *testing.T) {
		l := newLimiters(d)
		passed := 0
		for i := range 25 {
			passed += failFrom(l, account, fmt.Sprintf("2001:db8:1:2::%x", i+1), nil, 1, now)
		}
		if passed != d.FailedSignInAccountSourceBurst {
			t.Fatalf("%d attempts from one /64, want %d", passed, d.FailedSignInAccountSourceBurst)
		}
	})
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"bufconn", "bufconn"},
		{"", ""},
	} {
		if got := sourceKey(tc.addr); got != tc.want {
			t.Errorf("sourceKey(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestRememberSource(t *testing.T) {
	many := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8"}
	for _, tc := range []struct {
		name    string
		have    []string
		source  string
		want    []string
		changed bool
	}{
		{"first", nil, "10.0.0.1", []string{"10.0.0.1"}, true},
		{"already latest", []string{"10.0.0.1", "10.0.0.2"}, "10.0.0.1", []string{"10.0.0.1", "10.0.0.2"}, false},
		{"moves to the front", []string{"10.0.0.1", "10.0.0.2"}, "10.0.0.2", []string{"10.0.0.2", "10.0.0.1"}, true},
		{"keeps the latest", many, "10.0.0.9", append([]string{"10.0.0.9"}, many[:knownSourcesMax-1]...), true},
		{"IPv6 by /64", nil, "2001:db8::5", []string{"2001:db8::/64"}, true},
		{"unknown address", []string{"10.0.0.1"}, "", []string{"10.0.0.1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := userSecrets{SignInSources: slices.Clone(tc.have)}
			changed := rememberSource(&sec, tc.source)
			if changed != tc.changed || !slices.Equal(sec.SignInSources, tc.want) {
				t.Fatalf("rememberSource = %v, %q; want %v, %q", changed, sec.SignInSources, tc.changed, tc.want)
			}
		})
	}
}

// Issue 9 item 4 review (R10): one source holds at most its share of the
// password hash computations, running or waiting, however many calls it
// makes; other sources get theirs.
func TestHashSlotPerSource(t *testing.T) {
	d := DefaultLimits()
	d.MaxConcurrentPasswordChecks, d.MaxConcurrentPasswordChecksPerSource = 3, 1
	l := newLimiters(d)
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	releaseA, err := l.hashSlot(ctx, "2001:db8:1:2::1")
	if err != nil {
		t.Fatal(err)
	}
	// A's next computation, from another address of its /64, waits (here:
	// gives up at once).
	if _, err := l.hashSlot(done, "2001:db8:1:2::2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second computation of one source: %v, want it to wait", err)
	}
	releaseB, err := l.hashSlot(ctx, "203.0.113.1")
	if err != nil {
		t.Fatalf("another source: %v", err)
	}
	releaseA()
	releaseA, err = l.hashSlot(ctx, "2001:db8:1:2::2")
	if err != nil {
		t.Fatalf("the source after its computation finished: %v", err)
	}
	releaseA()
	releaseB()
	if n := len(l.kdfSources); n != 0 {
		t.Fatalf("%d sources remembered with nothing in progress", n)
	}
	// The global bound still holds across sources.
	var releases []func()
	for i := range 3 {
		r, err := l.hashSlot(ctx, fmt.Sprintf("203.0.113.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if _, err := l.hashSlot(done, "203.0.113.9"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a computation past the global bound: %v, want it to wait", err)
	}
	for _, r := range releases {
		r()
	}
	if n := len(l.kdfSources); n != 0 {
		t.Fatalf("%d sources remembered with nothing in progress", n)
	}
}
