// Package domain holds licensing's rules (R21-R26 of SPEC.md) in plain Go:
// license pools and the requests that change them, named seats assigned to
// members, the trial pool a new organization gets, and usage. It keeps its
// records in the licensing store and appends one event per change to the
// licensing event log in the same transaction (pkg/change). A pool's seat
// count is a record of its own, read and written in the transaction that
// assigns: the store serialises writers, so no concurrency hands out more
// seats than a pool holds. It knows nothing of gRPC: callers pass an Actor
// and get records or errors matching the sentinels of errors.go, which the
// server maps to API errors.
package domain

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"steward.dev/pkg/change"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// Trial is the pool a new organization gets at sign-up (R21): one pool of
// each product, named, of Edition, with the given seats, valid for Validity
// from sign-up. A product with 0 seats gets no pool.
type Trial struct {
	// RobotSeats is the size of the robot pool.
	RobotSeats int32
	// EditorSeats is the size of the editor pool.
	EditorSeats int32
	// Edition is the pools' edition.
	Edition string
	// Validity is how long the pools are valid.
	Validity time.Duration
}

// DefaultTrial is 2 Professional robot and 2 Professional editor seats for
// 30 days (issue 11).
var DefaultTrial = Trial{RobotSeats: 2, EditorSeats: 2, Edition: EditionProfessional, Validity: 30 * 24 * time.Hour}

// EditionProfessional is the edition batch assignment takes (R22).
const EditionProfessional = "professional"

// Options tunes a Service. The zero value is usable.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Trial is the trial pool of new organizations; the zero value means
	// DefaultTrial.
	Trial Trial
	// DirectoryHead returns the directory's newest event sequence. When
	// set (with SetDirectoryFeed), an assignment naming a member licensing
	// has not heard of first waits, at most ConsistencyWait, until the feed
	// has applied it: a member the directory has just created is found.
	DirectoryHead func(ctx context.Context) (uint64, error)
	// LeaseTTL is how long a lease holds unless renewed (R24); 0 means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// ExecutionTTL is how long an execution lock holds unless released
	// (R25); 0 means DefaultExecutionTTL.
	ExecutionTTL time.Duration
	// UsageRetention is how long the usage trend keeps its hours (R26); 0
	// means DefaultUsageRetention.
	UsageRetention time.Duration
}

// Defaults of Options.
const (
	// DefaultLeaseTTL is the lease TTL of issue 11: 2 minutes.
	DefaultLeaseTTL = 2 * time.Minute
	// DefaultExecutionTTL bounds how long a crashed robot's job keeps its
	// user's execution lock.
	DefaultExecutionTTL = time.Hour
	// DefaultUsageRetention keeps the usage trend for about 13 months, so
	// a year can be compared with the last.
	DefaultUsageRetention = 400 * 24 * time.Hour
	// EndedLeaseRetention is how long an ended lease is kept, so that a
	// client renewing late learns why it ended.
	EndedLeaseRetention = 24 * time.Hour
)

// ConsistencyWait bounds how long an operation waits for the directory
// feed to catch up.
const ConsistencyWait = time.Second

// Directory is the feed of the directory's event log, for read-your-writes:
// eventlog.Consumer.
type Directory interface {
	// WaitFor returns once the feed has applied the directory's event seq.
	WaitFor(ctx context.Context, seq uint64) error
}

// Service is licensing's domain service. It is safe for concurrent use:
// every change is one store transaction.
type Service struct {
	store         store.Store
	log           *eventlog.Log
	clock         func() time.Time
	trial         Trial
	directoryHead func(ctx context.Context) (uint64, error)
	feed          Directory
	leaseTTL      time.Duration
	executionTTL  time.Duration
	retention     time.Duration
}

// New returns a Service over the licensing store s and its event log.
func New(s store.Store, log *eventlog.Log, opts Options) *Service {
	svc := &Service{store: s, log: log, clock: opts.Clock, trial: opts.Trial, directoryHead: opts.DirectoryHead}
	if svc.clock == nil {
		svc.clock = time.Now
	}
	if svc.trial == (Trial{}) {
		svc.trial = DefaultTrial
	}
	svc.leaseTTL = cmp.Or(opts.LeaseTTL, DefaultLeaseTTL)
	svc.executionTTL = cmp.Or(opts.ExecutionTTL, DefaultExecutionTTL)
	svc.retention = cmp.Or(opts.UsageRetention, DefaultUsageRetention)
	return svc
}

// SetDirectoryFeed sets the feed of the directory's log that read-your-
// writes waits for (see Options.DirectoryHead).
func (s *Service) SetDirectoryFeed(feed Directory) { s.feed = feed }

// Actor is who asks for an operation.
type Actor struct {
	// Name is the principal's resource name, e.g. "organizations/o1/users/u1"
	// or "services/operator".
	Name string
	// DisplayName is shown in audit messages.
	DisplayName string
	// Organization is the principal's organization; empty for Steward's
	// services and the operator, which act across organizations.
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

// audit returns the actor as the audit envelope of the events it causes.
func (a Actor) audit() change.Actor {
	return change.Actor{Name: a.Name, DisplayName: a.DisplayName, RequestID: a.RequestID, SourceAddress: a.SourceAddress, Traceparent: a.Traceparent}
}

// Visible returns ErrNotFound when name belongs to another organization
// than the actor's (services see every organization).
func (a Actor) Visible(name string) error {
	if a.Organization != "" && resourcename.OrganizationOf(name) != a.Organization {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// txn is one read-write transaction of an operation (change.Tx: the store
// transaction, its time, its events and idempotency) with the domain's
// actor.
type txn struct {
	*change.Tx
	actor Actor
}

// begin returns the operation transaction of actor over tx.
func (s *Service) begin(tx store.Tx, actor Actor) *txn {
	return &txn{Tx: change.Begin(tx, s.log, actor.audit(), s.clock()), actor: actor}
}

// update runs fn in one read-write transaction.
func (s *Service) update(ctx context.Context, actor Actor, fn func(t *txn) error) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return fn(s.begin(tx, actor)) })
}

// view runs fn in one read-only transaction.
func (s *Service) view(ctx context.Context, fn func(tx store.ReadTx) error) error {
	return s.store.View(ctx, fn)
}

// idempotent makes a create retryable (records.Idempotent) per caller and
// request_id; without a requestID it just runs do.
func (t *txn) idempotent(requestID string, req, resp proto.Message, do func() error) (bool, error) {
	replayed, err := t.Idempotent(idempotencyPrefix, requestID, req, resp, do)
	if errors.Is(err, records.ErrRequestIDReused) {
		return false, errorf(ErrRequestIDReused, "request_id %s was used for a different request", requestID)
	}
	return replayed, err
}

// create runs do in one read-write transaction, retryable with
// requestID (idempotent: a retry gets the first answer), once the members
// are known (withMembers), and returns the record it made into out.
func create[T proto.Message](ctx context.Context, s *Service, actor Actor, members []string, requestID string, req proto.Message, out T, do func(t *txn) (T, error)) (T, error) {
	err := s.withMembers(ctx, members, func() error {
		return s.update(ctx, actor, func(t *txn) error {
			_, err := t.idempotent(requestID, req, out, func() error {
				m, err := do(t)
				if err != nil {
					return err
				}
				proto.Merge(out, m)
				return nil
			})
			return err
		})
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// get reads the record stored at key into m; ErrNotFound naming name.
func get(tx store.ReadTx, key string, name string, m proto.Message) error {
	err := store.GetProto(tx, []byte(key), m)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return err
}

// put stores m at key with a fresh etag.
func put(tx store.Tx, key string, m proto.Message) error {
	records.SetEtag(m)
	return store.PutProto(tx, []byte(key), m)
}

// checkEtag returns ErrEtagMismatch unless etag is empty or m's.
func checkEtag(m proto.Message, etag string) error {
	if etag != "" && etag != records.Etag(m) {
		return errorf(ErrEtagMismatch, "etag %q is not the current one", etag)
	}
	return nil
}

// seats returns the number of pool's seats assigned.
func seats(tx store.ReadTx, pool string) (int32, error) { return counter(tx, seatsPrefix+pool) }

// addSeats changes the number of pool's seats assigned by delta.
func addSeats(tx store.Tx, pool string, delta int32) error {
	_, err := addCounter(tx, seatsPrefix+pool, delta)
	return err
}

// counter returns the count stored at key (store.GetUint64), 0 if none.
func counter(tx store.ReadTx, key string) (int32, error) {
	n, err := store.GetUint64(tx, []byte(key))
	return int32(n), err
}

// addCounter changes the count at key by delta and returns the new count;
// a count of 0 is deleted.
func addCounter(tx store.Tx, key string, delta int32) (int32, error) {
	n, err := counter(tx, key)
	if err != nil {
		return 0, err
	}
	n += delta
	switch {
	case n < 0:
		return 0, errors.New("domain: count at " + key + " below zero")
	case n == 0:
		return 0, tx.Delete([]byte(key))
	}
	return n, store.PutUint64(tx, []byte(key), uint64(n))
}

// timeKey returns prefix + t as 8 big-endian bytes of Unix nanoseconds +
// suffix: keys that sort by time.
func timeKey(prefix string, t time.Time, suffix string) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefix), uint64(t.UnixNano()))
	return append(k, suffix...)
}

// keyTime returns the time and suffix of a timeKey under prefix.
func keyTime(prefix string, key []byte) (time.Time, string) {
	rest := key[len(prefix):]
	return time.Unix(0, int64(binary.BigEndian.Uint64(rest[:8]))).UTC(), string(rest[8:])
}
