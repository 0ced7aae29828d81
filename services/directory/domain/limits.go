package domain

import (
	"context"
	"runtime"
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
type Limits struct {
	// SignUpPerSource bounds sign-ups per source address.
	SignUpPerSource rate.Limit
	// SignUpBurst is the burst of SignUpPerSource.
	SignUpBurst int
	// FailedSignInPerAccount bounds sign-in attempts per account: the
	// organization and email of a password sign-in, whether or not the
	// account exists, or the organization, issuer and subject of a verified
	// external identity. Tokens that do not verify count only against the
	// source, so that garbage tokens cannot lock anyone out.
	FailedSignInPerAccount rate.Limit
	// FailedSignInPerSource bounds sign-in attempts per source address.
	FailedSignInPerSource rate.Limit
	// FailedSignInBurst is the burst of both sign-in limits.
	FailedSignInBurst int
	// MaxConcurrentPasswordChecks bounds the password hash computations
	// (argon2id, about 19 MiB each) running at once; further sign-ins wait
	// for one to finish, as long as their context allows. 0 means twice
	// GOMAXPROCS.
	MaxConcurrentPasswordChecks int
}

// DefaultLimits allow 10 sign-ups per source address per hour (burst 5), and
// 10 failed sign-ins per account or source per 15 minutes (burst 10).
func DefaultLimits() Limits {
	return Limits{
		SignUpPerSource:        rate.Every(6 * time.Minute),
		SignUpBurst:            5,
		FailedSignInPerAccount: rate.Every(90 * time.Second),
		FailedSignInPerSource:  rate.Every(90 * time.Second),
		FailedSignInBurst:      10,
	}
}

// maxLimiterKeys bounds the memory of each limiter.
const maxLimiterKeys = 100_000

// limiters are the running Limits.
type limiters struct {
	signUp        *ratelimit.Limiter
	signInAccount *ratelimit.Limiter
	signInSource  *ratelimit.Limiter
	// kdf holds one element per password hash computation in progress.
	kdf chan struct{}
}

func newLimiters(l Limits) *limiters {
	n := l.MaxConcurrentPasswordChecks
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	return &limiters{
		signUp:        ratelimit.New(l.SignUpPerSource, l.SignUpBurst, maxLimiterKeys),
		signInAccount: ratelimit.New(l.FailedSignInPerAccount, l.FailedSignInBurst, maxLimiterKeys),
		signInSource:  ratelimit.New(l.FailedSignInPerSource, l.FailedSignInBurst, maxLimiterKeys),
		kdf:           make(chan struct{}, n),
	}
}

// allowSignUp takes a sign-up token for source.
func (l *limiters) allowSignUp(source string, now time.Time) error {
	if ok, after := l.signUp.Allow(source, now); !ok {
		return &RetryError{After: after}
	}
	return nil
}

// signInAttempt holds the sign-in tokens one attempt has taken.
type signInAttempt struct {
	l       *limiters
	source  string
	account string // "" until an account token is taken
}

// beginSignIn takes a sign-in token from source and, unless account is
// empty, one from account: both or neither. It fails with a *RetryError
// when either limit is reached.
func (l *limiters) beginSignIn(account, source string, now time.Time) (*signInAttempt, error) {
	if ok, after := l.signInSource.Allow(source, now); !ok {
		return nil, &RetryError{After: after}
	}
	a := &signInAttempt{l: l, source: source}
	if account != "" {
		if err := a.charge(account, now); err != nil {
			l.signInSource.Refund(source, now)
			return nil, err
		}
	}
	return a, nil
}

// charge takes a token from account for the attempt, which has none yet.
// The attempt keeps its source token either way.
func (a *signInAttempt) charge(account string, now time.Time) error {
	if ok, after := a.l.signInAccount.Allow(account, now); !ok {
		return &RetryError{After: after}
	}
	a.account = account
	return nil
}

// succeeded gives the attempt's tokens back: successful sign-ins do not
// count.
func (a *signInAttempt) succeeded(now time.Time) {
	a.l.signInSource.Refund(a.source, now)
	if a.account != "" {
		a.l.signInAccount.Refund(a.account, now)
	}
}

// hashSlot waits, no longer than ctx allows, until fewer than the
// configured number of password hash computations run, and reserves a slot;
// call release when the computation is done. It bounds the memory and CPU
// that concurrent sign-ins can make the directory spend (R10).
func (l *limiters) hashSlot(ctx context.Context) (release func(), err error) {
	select {
	case l.kdf <- struct{}{}:
		return func() { <-l.kdf }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hashPassword hashes a new password (argon2id) within the same bound on
// concurrent key derivations as sign-in, so sign-ups and user creation
// cannot exhaust memory either.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	release, err := s.limits.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return credential.HashPassword(password)
}
