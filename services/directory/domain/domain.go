// Package domain holds the directory's rules (R1–R10 of SPEC.md) in plain Go:
// organizations and their owner, the scope tree, users, departments, groups,
// robots and their accounts, external applications, account systems, sign-in
// and credentials. It works on the generated directoryv1 records, which it
// stores deterministically in a store.Store, and appends one event per change
// to the directory's event log in the same transaction. It knows nothing of
// gRPC: callers pass an Actor and get back records or errors matching the
// sentinels of errors.go, which the server maps to API errors.
package domain

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/change"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/oidcauth"
)

// Options tunes a Service. The zero value is usable.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Limits are the rate limits of sign-up and sign-in; nil means
	// DefaultLimits.
	Limits *Limits
	// TokenTTL is the lifetime of access tokens; 0 means 15 minutes.
	TokenTTL time.Duration
	// OIDC verifies ID tokens of external identity providers; nil means
	// oidcauth.New(nil).
	OIDC *oidcauth.Verifier
	// AdministratorRoles asks access management which Administrator roles
	// a user holds, explicit or through a group, anywhere in its
	// organization (R4: such a user cannot be deleted). Nil falls back to
	// membership of the Administrators group.
	AdministratorRoles func(ctx context.Context, user string) ([]string, error)
	// MembershipChange asks access management whether the end user ctx
	// acts for may add a member to (add) or remove one from group (R17):
	// joining a group grants every role the group holds, so membership
	// must not let a user hand out rights beyond their own. It returns nil
	// when allowed, a *AccessDeniedError when refused, any other error
	// when it could not tell (the change is then refused too). AddGroupMember
	// and RemoveGroupMember call it for user actors (not services) when the
	// membership would change, before their transaction. Nil means no
	// check.
	MembershipChange func(ctx context.Context, group string, add bool) error
	// MembershipChanges asks the questions of MembershipChange for several
	// groups in one round trip (BatchAddGroupMembers,
	// BatchRemoveGroupMembers; AddGroupMember and RemoveGroupMember too,
	// when set). It returns nil when every change is allowed; otherwise
	// the error of the first refused change (a *AccessDeniedError) with
	// its index, or any other error with -1 when it could not tell. Nil
	// means asking MembershipChange once per group.
	MembershipChanges func(ctx context.Context, changes []GroupChange) (int, error)
}

// Service is the directory's domain service. It is safe for concurrent use:
// every operation is one store transaction.
type Service struct {
	store    store.Store
	log      *eventlog.Log
	clock    func() time.Time
	limits   *limiters
	keys     signingKeys
	tokenTTL time.Duration
	oidc     *oidcauth.Verifier
	admins   func(ctx context.Context, user string) ([]string, error)
	// membership is Options.MembershipChange.
	membership func(ctx context.Context, group string, add bool) error
	// memberships is Options.MembershipChanges.
	memberships func(ctx context.Context, changes []GroupChange) (int, error)
}

// New returns a Service keeping its records in s and its events in log. It
// loads the token signing keys from s, creating them when missing.
func New(ctx context.Context, s store.Store, log *eventlog.Log, opts Options) (*Service, error) {
	svc := &Service{store: s, log: log, clock: opts.Clock, tokenTTL: opts.TokenTTL, oidc: opts.OIDC, admins: opts.AdministratorRoles, membership: opts.MembershipChange,
		memberships: opts.MembershipChanges}
	if svc.clock == nil {
		svc.clock = time.Now
	}
	limits := DefaultLimits()
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	svc.limits = newLimiters(limits)
	if svc.tokenTTL == 0 {
		svc.tokenTTL = tokenTTLDefault
	}
	if svc.oidc == nil {
		svc.oidc = oidcauth.New(nil)
	}
	if err := svc.loadSigningKeys(ctx); err != nil {
		return nil, err
	}
	if err := svc.migrateAPIKeyCreators(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// The issuer and audience of Steward's access tokens.
const (
	TokenIssuer   = accesstoken.Issuer
	TokenAudience = accesstoken.Audience
)

// Actor is who asks for an operation, as authenticated by the caller.
type Actor struct {
	// Name is the principal's resource name, e.g. "organizations/o1/users/u1"
	// or "services/licensing"; empty for public calls (SignUp, SignIn).
	Name string
	// DisplayName is shown in audit messages.
	DisplayName string
	// Organization is the principal's organization, e.g. "organizations/o1";
	// empty for services and public calls.
	Organization string
	// RequestID correlates the change with its request.
	RequestID string
	// SourceAddress is the caller's network address, for audit.
	SourceAddress string
	// APIKey is the name of the API key a robot account or external app
	// called with, if it did: keys it creates are limited by it (C4).
	APIKey string
	// Traceparent is the W3C traceparent of the traced request
	// (pkg/tracing.Traceparent), recorded in the events the operation
	// appends; "" when tracing is off.
	Traceparent string
}

// audit returns the actor as the audit envelope of the events it causes.
func (a Actor) audit() change.Actor {
	return change.Actor{Name: a.Name, DisplayName: a.DisplayName, RequestID: a.RequestID, SourceAddress: a.SourceAddress, Traceparent: a.Traceparent}
}

// txn is one read-write transaction of an operation (change.Tx: the store
// transaction, its time, its events and idempotency) with the domain's
// actor.
type txn struct {
	*change.Tx
	s     *Service
	actor Actor
}

// update runs fn in one read-write transaction and returns the sequence of
// the last event fn appended (0 if none).
func (s *Service) update(ctx context.Context, actor Actor, fn func(t *txn) error) (uint64, error) {
	return change.Update(ctx, s.store, s.log, actor.audit(), s.clock(), func(ct *change.Tx) error {
		return fn(&txn{Tx: ct, s: s, actor: actor})
	})
}

// setActor makes actor the operation's actor, in the domain's rules and in
// the audit envelope of the events appended from now on.
func (t *txn) setActor(actor Actor) {
	t.actor = actor
	t.Tx.Actor = actor.audit()
}

// view runs fn in one read-only transaction and returns the event-log
// sequence that transaction reflects.
func (s *Service) view(ctx context.Context, fn func(tx store.ReadTx) error) (uint64, error) {
	return change.View(ctx, s.store, fn)
}

// etagOf returns the AIP-154 etag of a record (records.Etag).
func etagOf(m proto.Message) string { return records.Etag(m) }

// setEtag computes m's etag and stores it in m.
func setEtag(m proto.Message) { records.SetEtag(m) }

// checkEtag fails with ErrEtagMismatch when want is set and is not current's
// etag.
func checkEtag(current proto.Message, want string) error {
	if want == "" {
		return nil
	}
	if got := getStringField(current, "etag"); got != want {
		return errorf(ErrEtagMismatch, "etag %q is not the current etag of %s", want, getStringField(current, "name"))
	}
	return nil
}
