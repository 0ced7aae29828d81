package domain

import (
	"time"

	"golang.org/x/time/rate"

	"steward.dev/services/directory/ratelimit"
)

// Limits are the rate limits of the public entry points (R1, R9). Each is a
// token bucket per key: events per second and burst.
type Limits struct {
	// SignUpPerSource bounds sign-ups per source address.
	SignUpPerSource rate.Limit
	// SignUpBurst is the burst of SignUpPerSource.
	SignUpBurst int
	// FailedSignInPerAccount bounds failed sign-ins per organization + email
	// (or external subject), whether or not the account exists.
	FailedSignInPerAccount rate.Limit
	// FailedSignInPerSource bounds failed sign-ins per source address.
	FailedSignInPerSource rate.Limit
	// FailedSignInBurst is the burst of both failed sign-in limits.
	FailedSignInBurst int
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
}

func newLimiters(l Limits) *limiters {
	return &limiters{
		signUp:        ratelimit.New(l.SignUpPerSource, l.SignUpBurst, maxLimiterKeys),
		signInAccount: ratelimit.New(l.FailedSignInPerAccount, l.FailedSignInBurst, maxLimiterKeys),
		signInSource:  ratelimit.New(l.FailedSignInPerSource, l.FailedSignInBurst, maxLimiterKeys),
	}
}

// allowSignUp takes a sign-up token for source.
func (l *limiters) allowSignUp(source string, now time.Time) error {
	if ok, after := l.signUp.Allow(source, now); !ok {
		return &RetryError{After: after}
	}
	return nil
}

// signInBlocked reports, without taking a token, whether failed sign-ins
// for account or from source are over their limit.
func (l *limiters) signInBlocked(account, source string, now time.Time) error {
	if after := l.signInAccount.Wait(account, now); after > 0 {
		return &RetryError{After: after}
	}
	if after := l.signInSource.Wait(source, now); after > 0 {
		return &RetryError{After: after}
	}
	return nil
}

// signInFailed counts a failed sign-in against account and source.
func (l *limiters) signInFailed(account, source string, now time.Time) {
	l.signInAccount.Allow(account, now)
	l.signInSource.Allow(source, now)
}
