package domain

import (
	"context"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"steward.dev/pkg/ratelimit"
	"steward.dev/services/directory/credential"
)

// Limits are the rate limits of the public entry points (R1, R9). Each is a
// token bucket per key: events per second and burst.
//
// Sign-in limits count attempts, not failures: a token is taken before the
// credentials are checked, so that concurrent attempts cannot all pass a
// check made before any of them has failed (R9), and it is given back when
// the sign-in succeeds, so that people signing in often (many of them behind
// one address) are never limited. In effect they bound failures, in flight
// or finished.
//
// A sign-in attempt on an account takes a token from three buckets: its
// source's, its (account, source) pair's, and the account's ceiling. The
// pair bucket is what stops one source guessing one account; as it is not
// shared with anyone else, failures from one source never keep the account's
// owner out from another. The ceiling, higher than the pair limit, bounds a
// guessing attack spread over many sources; the sources from which the
// account last signed in successfully do not draw from it, so that even such
// an attack does not lock the owner out where they usually sign in. The
// source bucket bounds what one source tries across accounts.
//
// Source addresses are the caller's address (authn.ClientAddress); IPv6
// addresses count by their /64 prefix, which one subscriber usually holds
// whole.
type Limits struct {
	// SignUpPerSource bounds sign-ups per source address.
	SignUpPerSource rate.Limit
	// SignUpBurst is the burst of SignUpPerSource.
	SignUpBurst int
	// FailedSignInPerAccountSource bounds sign-in attempts per account and
	// source address. The account is the organization and email of a
	// password sign-in, whether or not the account exists, or the
	// organization and subject of a verified external identity. Tokens that
	// do not verify count only against the source, so that garbage tokens
	// cannot lock anyone out.
	FailedSignInPerAccountSource rate.Limit
	// FailedSignInAccountSourceBurst is the burst of
	// FailedSignInPerAccountSource.
	FailedSignInAccountSourceBurst int
	// FailedSignInPerAccount is the ceiling of sign-in attempts per account
	// over all sources but the account's known ones (see knownSourcesMax).
	// Keep it above FailedSignInPerAccountSource (rate and burst), so that
	// one source alone never reaches it.
	FailedSignInPerAccount rate.Limit
	// FailedSignInAccountBurst is the burst of FailedSignInPerAccount.
	FailedSignInAccountBurst int
	// FailedSignInPerSource bounds sign-in attempts per source address,
	// whatever the account.
	FailedSignInPerSource rate.Limit
	// FailedSignInSourceBurst is the burst of FailedSignInPerSource.
	FailedSignInSourceBurst int
	// MaxConcurrentPasswordChecks bounds the password hash computations
	// (argon2id, about 19 MiB each) running at once; further sign-ins wait
	// for one to finish, as long as their context allows. 0 means twice
	// GOMAXPROCS.
	MaxConcurrentPasswordChecks int
	// MaxConcurrentPasswordChecksPerSource bounds the password hash
	// computations one source address runs or waits for at
	// MaxConcurrentPasswordChecks; its further ones wait behind them. So
	// one source, however many calls it makes (successful sign-ins are not
	// rate limited), holds at most this many places in the queue for the
	// shared computations and cannot starve other sources' sign-ins. 0
	// means 2.
	MaxConcurrentPasswordChecksPerSource int
}

// DefaultLimits allow, per source address, 10 sign-ups per hour (burst 5)
// and 30 failed sign-ins then one per 30 seconds; per account and source, 10
// failed sign-ins then one per 90 seconds; and per account, over all sources
// but its known ones, 100 failed sign-ins then one per 90 seconds.
func DefaultLimits() Limits {
	return Limits{
		SignUpPerSource:                rate.Every(6 * time.Minute),
		SignUpBurst:                    5,
		FailedSignInPerAccountSource:   rate.Every(90 * time.Second),
		FailedSignInAccountSourceBurst: 10,
		FailedSignInPerAccount:         rate.Every(90 * time.Second),
		FailedSignInAccountBurst:       100,
		FailedSignInPerSource:          rate.Every(30 * time.Second),
		FailedSignInSourceBurst:        30,
	}
}

// maxLimiterKeys bounds the memory of each limiter.
const maxLimiterKeys = 100_000

// knownSourcesMax is how many of the sources an account last signed in from
// it remembers (userSecrets.SignInSources): attempts from them do not draw
// from the account's ceiling.
const knownSourcesMax = 8

// limiters are the running Limits.
type limiters struct {
	signUp              *ratelimit.Limiter
	signInAccountSource *ratelimit.Limiter
	signInAccount       *ratelimit.Limiter
	signInSource        *ratelimit.Limiter
	// kdf holds one element per password hash computation in progress.
	kdf chan struct{}
	// kdfPerSource is Limits.MaxConcurrentPasswordChecksPerSource.
	kdfPerSource int

	mu sync.Mutex
	// kdfSources are the per-source bounds of password hash computations
	// of the sources that have some in progress or waiting; guarded by mu.
	kdfSources map[string]*sourceSlots
}

// sourceSlots holds one element per password hash computation of a source
// in progress or waiting for the global bound.
type sourceSlots struct {
	ch chan struct{}
	// users counts the calls holding or waiting for ch; guarded by
	// limiters.mu.
	users int
}

func newLimiters(l Limits) *limiters {
	n := l.MaxConcurrentPasswordChecks
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	perSource := l.MaxConcurrentPasswordChecksPerSource
	if perSource <= 0 {
		perSource = 2
	}
	return &limiters{
		signUp:              ratelimit.New(l.SignUpPerSource, l.SignUpBurst, maxLimiterKeys),
		signInAccountSource: ratelimit.New(l.FailedSignInPerAccountSource, l.FailedSignInAccountSourceBurst, maxLimiterKeys),
		signInAccount:       ratelimit.New(l.FailedSignInPerAccount, l.FailedSignInAccountBurst, maxLimiterKeys),
		signInSource:        ratelimit.New(l.FailedSignInPerSource, l.FailedSignInSourceBurst, maxLimiterKeys),
		kdf:                 make(chan struct{}, n),
		kdfPerSource:        perSource,
		kdfSources:          make(map[string]*sourceSlots),
	}
}

// sourceKey is the key of a source address in the limits: the address
// itself, except that IPv6 addresses count by their /64 prefix (a subscriber
// usually holds a whole /64, so addresses within it are one source) and
// IPv4-mapped IPv6 addresses count as the IPv4 address. Anything that is
// not an IP address is its own key.
func sourceKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// allowSignUp takes a sign-up token for source.
func (l *limiters) allowSignUp(source string, now time.Time) error {
	if ok, after := l.signUp.Allow(sourceKey(source), now); !ok {
		return &RetryError{After: after}
	}
	return nil
}

// signInAttempt holds the sign-in tokens one attempt has taken.
type signInAttempt struct {
	l      *limiters
	source string // sourceKey of the caller's address
	// pair is the (account, source) key, "" until charge took its token.
	pair string
	// account is the account key, "" unless charge took a ceiling token.
	account string
}

// beginSignIn takes a sign-in token from the source address's bucket. It
// fails with a *RetryError when the source's limit is reached.
func (l *limiters) beginSignIn(source string, now time.Time) (*signInAttempt, error) {
	key := sourceKey(source)
	if ok, after := l.signInSource.Allow(key, now); !ok {
		return nil, &RetryError{After: after}
	}
	return &signInAttempt{l: l, source: key}, nil
}

// charge takes, for the attempt, which has none yet, a token from the
// (account, source) pair's bucket and, unless the source is one of known
// (the account's known sources, as kept by rememberSource), one from the
// account's ceiling: all or none. It fails with a *RetryError when a limit
// is reached; the attempt keeps its source token either way.
func (a *signInAttempt) charge(account string, known []string, now time.Time) error {
	pair := account + "\x00" + a.source
	if ok, after := a.l.signInAccountSource.Allow(pair, now); !ok {
		return &RetryError{After: after}
	}
	if a.source == "" || !slices.Contains(known, a.source) {
		if ok, after := a.l.signInAccount.Allow(account, now); !ok {
			a.l.signInAccountSource.Refund(pair, now)
			return &RetryError{After: after}
		}
		a.account = account
	}
	a.pair = pair
	return nil
}

// succeeded gives the attempt's tokens back: successful sign-ins do not
// count.
func (a *signInAttempt) succeeded(now time.Time) {
	a.l.signInSource.Refund(a.source, now)
	if a.pair != "" {
		a.l.signInAccountSource.Refund(a.pair, now)
	}
	if a.account != "" {
		a.l.signInAccount.Refund(a.account, now)
	}
}

// limitCodeCheck counts a check of code, a TOTP code of user's given to
// replace their authenticator (EnrollTotp), as a sign-in attempt on the
// account "totp:" + user from source, so that the holder of a stolen
// session cannot guess a current code (R9): it takes the attempt's tokens,
// failing with a *RetryError when a limit is reached, and returns settle,
// to call with whether the check passed (which gives the tokens back). An
// empty code is no guess and counts nothing.
func (s *Service) limitCodeCheck(source, user, code string) (settle func(passed bool), err error) {
	if code == "" {
		return func(bool) {}, nil
	}
	attempt, err := s.limits.beginSignIn(source, s.clock())
	if err != nil {
		return nil, err
	}
	if err := attempt.charge("totp:"+user, nil, s.clock()); err != nil {
		return nil, err
	}
	return func(passed bool) {
		if passed {
			attempt.succeeded(s.clock())
		}
	}, nil
}

// rememberSource records source (an address) as the latest of sec's known
// sources, keeping knownSourcesMax of them, and reports whether sec
// changed. Unknown addresses ("") are not recorded.
func rememberSource(sec *userSecrets, source string) bool {
	key := sourceKey(source)
	if key == "" || (len(sec.SignInSources) > 0 && sec.SignInSources[0] == key) {
		return false
	}
	sources := slices.DeleteFunc(slices.Clone(sec.SignInSources), func(s string) bool { return s == key })
	sources = append([]string{key}, sources...)
	sec.SignInSources = sources[:min(len(sources), knownSourcesMax)]
	return true
}

// hashSlot waits, no longer than ctx allows, until source (an address) has
// fewer than its bound of password hash computations in progress or
// waiting, and then until fewer than the global bound run, and reserves a
// slot; call release when the computation is done. It bounds the memory
// and CPU that concurrent sign-ins can make the directory spend (R10), and
// the share of it one source can hold.
func (l *limiters) hashSlot(ctx context.Context, source string) (release func(), err error) {
	key := sourceKey(source)
	l.mu.Lock()
	own := l.kdfSources[key]
	if own == nil {
		own = &sourceSlots{ch: make(chan struct{}, l.kdfPerSource)}
		l.kdfSources[key] = own
	}
	own.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if own.users--; own.users == 0 {
			delete(l.kdfSources, key)
		}
	}
	select {
	case own.ch <- struct{}{}:
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	select {
	case l.kdf <- struct{}{}:
		return func() {
			<-l.kdf
			<-own.ch
			leave()
		}, nil
	case <-ctx.Done():
		<-own.ch
		leave()
		return nil, ctx.Err()
	}
}

// hashPassword hashes a new password (argon2id) for a caller at source
// within the same bounds on concurrent key derivations as sign-in, so
// sign-ups and user creation cannot exhaust memory either.
func (s *Service) hashPassword(ctx context.Context, source, password string) (string, error) {
	release, err := s.limits.hashSlot(ctx, source)
	if err != nil {
		return "", err
	}
	defer release()
	return credential.HashPassword(password)
}
