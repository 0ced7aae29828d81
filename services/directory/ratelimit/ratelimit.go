// Package ratelimit limits how often each of many keys (a source address, an
// account) may do something: one token bucket per key, with the least
// recently used keys forgotten once there are too many.
//
// Forgetting a key resets its bucket to full, so someone able to use more than
// maxKeys keys can flush the limiter; size maxKeys well above the number of
// keys active within one refill period.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets, one per key. It is safe for concurrent
// use.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket; guarded by mu
	lru     *list.List               // most recently used first; guarded by mu
}

// bucket is one key's token bucket in the LRU list.
type bucket struct {
	key string
	lim *rate.Limiter
}

// New returns a Limiter that lets each key act burst times at once and then r
// times a second, remembering at most maxKeys keys. It panics if burst or
// maxKeys is less than 1.
func New(r rate.Limit, burst, maxKeys int) *Limiter {
	if burst < 1 || maxKeys < 1 {
		panic("ratelimit: burst and maxKeys must be positive")
	}
	return &Limiter{
		limit:   r,
		burst:   burst,
		maxKeys: maxKeys,
		buckets: make(map[string]*list.Element),
		lru:     list.New(),
	}
}

// Allow reports whether key may act at now, and takes a token from its bucket
// if so. If not, retryAfter is how long after now the next token arrives, or
// rate.InfDuration if none ever will (r is 0). A refusal takes no token.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.bucketLocked(key).ReserveN(now, 1)
	if !r.OK() {
		return false, rate.InfDuration
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Wait returns how long key must wait for a token at now, without taking
// one: 0 when Allow would succeed. Callers use it to refuse before doing
// work whose failure alone spends a token (failed sign-ins).
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.bucketLocked(key).ReserveN(now, 1)
	if !r.OK() {
		return rate.InfDuration
	}
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// Len returns the number of keys the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// bucketLocked returns key's bucket, creating it (and forgetting the least
// recently used key if there are too many) as needed, and marks it most
// recently used. l.mu must be held.
func (l *Limiter) bucketLocked(key string) *rate.Limiter {
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket).lim
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
	l.buckets[key] = l.lru.PushFront(b)
	for l.lru.Len() > l.maxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	return b.lim
}
