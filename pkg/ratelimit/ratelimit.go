// Package ratelimit limits how often each of many keys (a source address, an
// account) may do something: one token bucket per key, with the least
// recently used keys forgotten once there are too many.
//
// Forgetting a key resets its bucket to full, so someone able to use more than
// maxKeys keys can flush the limiter; size maxKeys well above the number of
// keys active within one refill period.
//
// A token is taken before the work it pays for (Allow), so concurrent
// callers cannot all pass a check made before any of them has finished;
// Refund gives a token back once the work turns out not to count (a
// successful sign-in, say).
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

// bucket is one key's token bucket in the LRU list: tokens available at
// last.
type bucket struct {
	key    string
	tokens float64
	last   time.Time
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
	if l.limit == rate.Inf {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	tokens := l.advance(b, now)
	if tokens < 1 {
		return false, l.wait(1 - tokens)
	}
	b.tokens = tokens - 1
	return true, 0
}

// Refund gives back a token Allow took for key, up to the burst. Callers
// use it when the attempt the token paid for turns out not to count.
func (l *Limiter) Refund(key string, now time.Time) {
	if l.limit == rate.Inf {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	b.tokens = min(l.advance(b, now)+1, float64(l.burst))
}

// Wait returns how long key must wait for a token at now, without taking
// one: 0 when Allow would succeed.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	if l.limit == rate.Inf {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tokens := l.advance(l.bucketLocked(key, now), now)
	if tokens >= 1 {
		return 0
	}
	return l.wait(1 - tokens)
}

// Len returns the number of keys the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// advance refills b up to now (never backwards in time) and returns its
// tokens. l.mu must be held.
func (l *Limiter) advance(b *bucket, now time.Time) float64 {
	if now.After(b.last) {
		if l.limit > 0 {
			b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*float64(l.limit), float64(l.burst))
		}
		b.last = now
	}
	return b.tokens
}

// wait is how long the limiter takes to refill missing tokens.
func (l *Limiter) wait(missing float64) time.Duration {
	if l.limit <= 0 {
		return rate.InfDuration
	}
	return time.Duration(float64(time.Second) * (missing / float64(l.limit)))
}

// bucketLocked returns key's bucket, creating a full one at now (and
// forgetting the least recently used key if there are too many) as needed,
// and marks it most recently used. l.mu must be held.
func (l *Limiter) bucketLocked(key string, now time.Time) *bucket {
	if e, ok := l.buckets[key]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*bucket)
	}
	b := &bucket{key: key, tokens: float64(l.burst), last: now}
	l.buckets[key] = l.lru.PushFront(b)
	for l.lru.Len() > l.maxKeys {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*bucket).key)
	}
	return b
}
