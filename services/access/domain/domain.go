// Package domain holds access management's rules (R11–R20 of SPEC.md) in
// plain Go: custom roles, role assignments with their delegation limits,
// the built-in assignments the directory's events call for, the Check with
// its consistency wait, the export and robot usage scopes. It keeps roles,
// assignments and robot usage scopes in the access store, appends one event
// per change to the access event log in the same transaction, and keeps the
// in-memory authorizer.Model in step after each commit. It knows nothing of
// gRPC: callers pass an Actor and get records or errors matching the
// sentinels of errors.go, which the server maps to API errors.
package domain

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
)

// Options tunes a Service. The zero value is usable.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// DirectoryHead returns the directory's newest event sequence. When
	// set, changes to role assignments first wait (at most ConsistencyWait)
	// until the feed has applied it, so a user or scope the directory has
	// just created is found: read-your-writes across the two services.
	DirectoryHead func(ctx context.Context) (uint64, error)
	// Logger receives what New does to the store (a rebuild of its
	// indexes); nil means slog.Default().
	Logger *slog.Logger
}

// Service is access management's domain service. It is safe for concurrent
// use: every change is one store transaction, and the model applies it
// after the commit.
type Service struct {
	store store.Store
	log   *eventlog.Log
	model *authorizer.Model
	clock func() time.Time
	feed  *eventlog.Consumer
	// directoryHead is Options.DirectoryHead.
	directoryHead func(ctx context.Context) (uint64, error)
	// applied is the access log sequence the model reflects.
	applied appliedSeq
	// dir is the state of the directory feed (directory.go): the Mirror.
	dir *directoryState
	// writer serializes the store's writers — s.update and the directory
	// feed's transactions (FeedStore) — from before the store's Update until
	// its commit hooks have run. Stores run OnCommit hooks after releasing
	// their own write lock, so without it two commits' hooks could reach the
	// model out of order and leave it different from the store (a deleted
	// assignment kept, the applied sequence ahead of the model).
	writer chan struct{}
	// logger is Options.Logger.
	logger *slog.Logger
	// history is the cache and wake-up of the history (history.go).
	history *history
	// replica is set on a store shared with other replicas (replica.go).
	replica *replica
}

// New returns a Service over the access store s and its event log, and
// loads the stored custom roles, directory facts and assignments into
// model (load.go). It first rebuilds the store's assignment indexes if an
// older version wrote them (upgradeIndexes).
func New(ctx context.Context, s store.Store, log *eventlog.Log, model *authorizer.Model, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := upgradeIndexes(ctx, s, opts.Logger); err != nil {
		return nil, err
	}
	svc := &Service{store: s, log: log, model: model, clock: opts.Clock, directoryHead: opts.DirectoryHead, writer: make(chan struct{}, 1), logger: opts.Logger, history: newHistory()}
	if svc.clock == nil {
		svc.clock = time.Now
	}
	if cf, ok := s.(store.ChangeFeed); ok {
		// Changes after this point reach the model from FollowReplicas.
		r, err := newReplica(ctx, s, cf)
		if err != nil {
			return nil, err
		}
		svc.replica = r
	}
	head, err := log.Head(ctx)
	if err != nil {
		return nil, err
	}
	svc.applied.advance(head)
	if err := svc.load(ctx); err != nil {
		return nil, err
	}
	if err := svc.loadAPIKeys(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// Model returns the authorization model the service keeps in step.
func (s *Service) Model() *authorizer.Model { return s.model }

// Actor is who asks for an operation.
type Actor struct {
	// Name is the principal's resource name, e.g. "organizations/o1/users/u1"
	// or "services/directory"; empty for the system (built-in assignments
	// made from the directory's events).
	Name string
	// DisplayName is shown in audit messages.
	DisplayName string
	// Organization is the principal's organization; empty for services.
	Organization string
	// RequestID correlates the change with its request.
	RequestID string
	// SourceAddress is the caller's network address, for audit.
	SourceAddress string
	// Traceparent is the W3C traceparent of the traced request
	// (pkg/tracing.Traceparent), recorded in the events the operation
	// appends; "" when tracing is off.
	Traceparent string
}

// IsService reports whether the actor is one of Steward's services (or the
// system itself), which the delegation limits do not apply to.
func (a Actor) IsService() bool { return a.Organization == "" }

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

// begin returns the operation transaction of actor over tx.
func (s *Service) begin(tx store.Tx, actor Actor) *txn {
	return &txn{Tx: change.Begin(tx, s.log, actor.audit(), s.clock()), s: s, actor: actor}
}

// update runs fn in one read-write transaction and returns the sequence of
// the last event fn appended (0 if none).
func (s *Service) update(ctx context.Context, actor Actor, fn func(t *txn) error) (uint64, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	var seq uint64
	err = s.store.Update(ctx, func(tx store.Tx) error {
		t := s.begin(tx, actor)
		if err := fn(t); err != nil {
			return err
		}
		t.noteCommit()
		seq = t.LastSeq
		return nil
	})
	if err == nil && seq > 0 && s.replica != nil {
		// Return once this replica's model shows the change, as the
		// commit hooks ensure on a store of its own.
		if werr := s.applied.wait(ctx, seq); werr != nil {
			return seq, werr
		}
	}
	return seq, err
}

// lockWriter takes the writer lock (see Service.writer), or returns ctx's
// error; the caller calls unlock once the store's Update, hooks included,
// has returned.
func (s *Service) lockWriter(ctx context.Context) (unlock func(), err error) {
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// FeedStore returns the store the directory feed's consumer must use: the
// service's store whose Update holds the writer lock until its commit hooks
// (ApplyDirectoryEvent's model and Mirror updates) have run, so the model
// applies the feed's commits and the service's own in commit order.
func (s *Service) FeedStore() store.Store { return feedStore{Store: s.store, s: s} }

// feedStore is FeedStore's store.
type feedStore struct {
	store.Store
	s *Service
}

// Update runs the store's Update under the writer lock.
func (f feedStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	unlock, err := f.s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return f.Store.Update(ctx, fn)
}

// view runs fn in one read-only transaction.
func (s *Service) view(ctx context.Context, fn func(tx store.ReadTx) error) error {
	return s.store.View(ctx, fn)
}

// noteCommit registers, as t's last commit hook (after those that update
// the model), the advance of the applied sequence to t's last event.
func (t *txn) noteCommit() {
	if seq, s := t.LastSeq, t.s; seq > 0 && s.replica == nil {
		t.OnCommit(func() { s.applied.advance(seq) })
	}
}

// appliedSeq is a sequence that only grows, with waiters.
type appliedSeq struct {
	mu   sync.Mutex
	seq  uint64
	wake chan struct{} // closed and replaced at each advance
}

// advance raises the sequence to seq (never lowers it) and wakes waiters.
func (a *appliedSeq) advance(seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.seq {
		return
	}
	a.seq = seq
	if a.wake != nil {
		close(a.wake)
		a.wake = nil
	}
}

// get returns the sequence.
func (a *appliedSeq) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// wait returns once the sequence is at least seq, or ctx's error.
func (a *appliedSeq) wait(ctx context.Context, seq uint64) error {
	for {
		a.mu.Lock()
		if a.seq >= seq {
			a.mu.Unlock()
			return nil
		}
		if a.wake == nil {
			a.wake = make(chan struct{})
		}
		wake := a.wake
		a.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// idempotent makes a create retryable (records.Idempotent) per caller and
// request_id; without a requestID it just runs do. The key is the actor's
// own name (the end user when a service acts for one), never only its
// organization: a request_id another member used must not hand this
// caller the other's stored response, nor refuse its request.
func (t *txn) idempotent(requestID string, req, resp proto.Message, do func() error) (bool, error) {
	replayed, err := t.Idempotent(idempotencyPrefix, requestID, req, resp, do)
	if errors.Is(err, records.ErrRequestIDReused) {
		return false, errorf(ErrRequestIDReused, "request_id %s was used for a different request", requestID)
	}
	return replayed, err
}

// get reads the record stored at key into m; ErrNotFound naming name.
func get(tx store.ReadTx, key []byte, name string, m proto.Message) error {
	err := store.GetProto(tx, key, m)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return err
}

// Event types of the access event log, as the strings of accessv1.EventType
// (proto/steward/access/v1/events.proto, the contract consumers use).
var (
	TypeRoleCreated               = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_CREATED)
	TypeRoleUpdated               = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_UPDATED)
	TypeRoleDeleted               = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_DELETED)
	TypeRoleAssignmentCreated     = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_ASSIGNMENT_CREATED)
	TypeRoleAssignmentDeleted     = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_ASSIGNMENT_DELETED)
	TypeRobotUsageScopeSet        = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROBOT_USAGE_SCOPE_SET)
	TypeRobotUsageScopeDeleted    = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROBOT_USAGE_SCOPE_DELETED)
	TypeRoleAssignmentsExported   = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_ROLE_ASSIGNMENTS_EXPORTED)
	TypePermissionHoldersExported = eventlog.TypeName(accessv1.EventType_EVENT_TYPE_PERMISSION_HOLDERS_EXPORTED)
)
