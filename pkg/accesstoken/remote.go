package accesstoken

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMinRefreshInterval is the least time between two fetches of a
// RemoteKeySet's keys unless configured.
const DefaultMinRefreshInterval = time.Second

// ErrNoKeys is wrapped by the error of a RemoteKeySet that could not fetch
// its keys: the token could not be verified (the call is then Unavailable,
// not Unauthenticated).
var ErrNoKeys = errors.New("accesstoken: the signing keys could not be fetched")

// RemoteKeySet verifies tokens with keys fetched from their issuer (the
// directory's GetJwks). It fetches them on first use, again whenever a
// well-formed token names a key ID it does not hold (a new signing key),
// and whenever Refresh is called (periodically, by its owner). Fetches are
// rate-limited: at most one per MinRefreshInterval, callers who need one
// sooner wait for it and share it, so that tokens under made-up key IDs cost
// the issuer at most one call per interval. Safe for concurrent use.
type RemoteKeySet struct {
	issuer, audience string
	fetch            func(ctx context.Context) ([]JWK, error)
	minInterval      time.Duration
	now              func() time.Time

	// sem is held by the one fetch in progress (a channel, so that waiting
	// for it respects the caller's context).
	sem chan struct{}

	mu       sync.Mutex
	set      *KeySet   // nil before the first successful fetch
	fetches  uint64    // number of fetches completed (successful or not)
	lastTry  time.Time // start of the last fetch
	fetchErr error     // error of the last fetch, nil if it succeeded
}

// RemoteOptions tunes a RemoteKeySet. The zero value is usable.
type RemoteOptions struct {
	// MinRefreshInterval is the least time between two fetches; 0 means
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// NewRemoteKeySet returns a RemoteKeySet of tokens of issuer for audience
// whose keys fetch returns.
func NewRemoteKeySet(issuer, audience string, fetch func(ctx context.Context) ([]JWK, error), opts RemoteOptions) *RemoteKeySet {
	r := &RemoteKeySet{issuer: issuer, audience: audience, fetch: fetch, minInterval: opts.MinRefreshInterval, now: opts.Clock, sem: make(chan struct{}, 1)}
	if r.minInterval <= 0 {
		r.minInterval = DefaultMinRefreshInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Verify is KeySet.Verify with the fetched keys, fetching them first when it
// has none or raw names a key ID it does not hold. Errors wrap ErrInvalid
// when the token is not valid, ErrNoKeys when the keys could not be fetched.
func (r *RemoteKeySet) Verify(ctx context.Context, raw string) (Claims, error) {
	set, seen := r.current()
	if set != nil {
		c, err := set.Verify(raw, r.now())
		if !errors.Is(err, ErrUnknownKey) {
			return c, err
		}
	} else if _, err := (&KeySet{}).Verify(raw, r.now()); !errors.Is(err, ErrUnknownKey) {
		// Malformed tokens never cost a fetch.
		return Claims{}, err
	}
	if err := r.refresh(ctx, seen); err != nil {
		return Claims{}, err
	}
	set, _ = r.current()
	return set.Verify(raw, r.now())
}

// Refresh fetches the keys unless a fetch completed within the minimum
// interval (it then waits for the interval to pass), and reports its error.
func (r *RemoteKeySet) Refresh(ctx context.Context) error {
	_, seen := r.current()
	return r.refresh(ctx, seen)
}

// current returns the key set and the number of fetches completed.
func (r *RemoteKeySet) current() (*KeySet, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set, r.fetches
}

// refresh makes sure a fetch started after the caller's look at the keys
// (when seen fetches had completed) has completed, and returns its error.
// Callers waiting together share one fetch.
func (r *RemoteKeySet) refresh(ctx context.Context, seen uint64) error {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNoKeys, ctx.Err())
	}
	defer func() { <-r.sem }()
	r.mu.Lock()
	done, last, lastErr, haveSet := r.fetches, r.lastTry, r.fetchErr, r.set != nil
	r.mu.Unlock()
	if done > seen {
		// Someone fetched while this caller waited: use theirs.
		if lastErr != nil && !haveSet {
			return lastErr
		}
		return nil
	}
	if wait := r.minInterval - r.now().Sub(last); done > 0 && wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoKeys, ctx.Err())
		}
	}
	start := r.now()
	jwks, err := r.fetch(ctx)
	var set *KeySet
	if err == nil {
		set, err = NewKeySet(r.issuer, r.audience, jwks)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrNoKeys, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fetches++
	r.lastTry, r.fetchErr = start, err
	if set != nil {
		r.set = set
	}
	// After a failed fetch the keys fetched before stay in use.
	return err
}
