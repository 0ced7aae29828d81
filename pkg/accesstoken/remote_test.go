package accesstoken

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer serves the JWKS of its current signer and counts fetches.
type fakeIssuer struct {
	mu      sync.Mutex
	signer  *Signer
	fail    bool
	fetches atomic.Int64
}

func (f *fakeIssuer) fetch(context.Context) ([]JWK, error) {
	f.fetches.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("directory unreachable")
	}
	return f.signer.JWKS(), nil
}

func (f *fakeIssuer) set(s *Signer, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signer, f.fail = s, fail
}

// TestRemoteKeySet (issue 9 item 10): tokens are verified locally with
// fetched keys; the keys are fetched on first use and on an unknown key ID
// only; malformed tokens never cost a fetch; a failed fetch is ErrNoKeys,
// not an invalid token.
func TestRemoteKeySet(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	first, rotated := newTestSigner(t, k1), newTestSigner(t, k2, k1)
	clock := now
	f := &fakeIssuer{signer: first}
	r := NewRemoteKeySet(testIssuer, testAudience, f.fetch, RemoteOptions{Clock: func() time.Time { return clock }})
	ctx := context.Background()

	for _, tc := range []struct {
		name        string
		before      func()
		signer      *Signer
		wantErr     error // nil: valid
		wantFetches int64
	}{
		{"malformed before any fetch", nil, nil, ErrInvalid, 0},
		{"first token fetches", nil, first, nil, 1},
		{"known key: no fetch", nil, first, nil, 1},
		{"bad signature under a known key: no fetch", nil, newTestSigner(t, Key{ID: k1.ID, Private: k2.Private}), ErrInvalid, 1},
		{"new key after rotation: one fetch", func() { f.set(rotated, false); clock = clock.Add(time.Minute) }, rotated, nil, 2},
		{"retired key still verifies", nil, first, nil, 2},
		{"unknown key: fetch, then refused", func() { clock = clock.Add(time.Minute) }, newTestSigner(t, testKey(3)), ErrUnknownKey, 3},
		{"issuer down: ErrNoKeys", func() { f.set(rotated, true); clock = clock.Add(time.Minute) }, newTestSigner(t, testKey(4)), ErrNoKeys, 4},
		{"issuer down: known keys still verify", nil, rotated, nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			raw := "garbage"
			c := testClaims()
			c.IssuedAt, c.Expiry = clock, clock.Add(time.Minute)
			if tc.signer != nil {
				raw = sign(t, tc.signer, c)
			}
			_, err := r.Verify(ctx, raw)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("Verify = %v, want %+v", err, c)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Verify = %v, want %v", err, tc.wantErr)
			}
			if got := f.fetches.Load(); got != tc.wantFetches {
				t.Errorf("fetches = %d, want %d", got, tc.wantFetches)
			}
		})
	}
}

// TestRemoteKeySetRateLimit: unknown key IDs within the minimum interval
// wait for it rather than fetch; callers waiting together share one fetch.
func TestRemoteKeySetRateLimit(t *testing.T) {
	k1 := testKey(1)
	first := newTestSigner(t, k1)
	clock := now
	f := &fakeIssuer{signer: first}
	r := NewRemoteKeySet(testIssuer, testAudience, f.fetch, RemoteOptions{MinRefreshInterval: time.Hour, Clock: func() time.Time { return clock }})
	if _, err := r.Verify(context.Background(), sign(t, first, testClaims())); err != nil {
		t.Fatal(err)
	}
	forged := sign(t, newTestSigner(t, testKey(9)), testClaims())
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := r.Verify(ctx, forged)
		cancel()
		if !errors.Is(err, ErrNoKeys) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Verify(unknown key within the interval) = %v, want ErrNoKeys after the deadline", err)
		}
	}
	if got := f.fetches.Load(); got != 1 {
		t.Errorf("fetches = %d after made-up key IDs within the interval, want 1", got)
	}

	// Past the interval, concurrent callers of a new key share one fetch.
	k2 := testKey(2)
	rotated := newTestSigner(t, k2, k1)
	f.set(rotated, false)
	clock = clock.Add(2 * time.Hour)
	c := testClaims()
	c.IssuedAt, c.Expiry = clock, clock.Add(time.Minute)
	raw := sign(t, rotated, c)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := r.Verify(context.Background(), raw); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := f.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2: concurrent callers share one fetch", got)
	}
}
