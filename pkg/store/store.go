// Package store is Steward's small transactional key-value interface. Services keep
// their records in it as deterministic protobuf bytes under key ranges they list in
// their own keys.go; the backend (bbolt embedded, etcd for scale-out) is hidden
// behind the Store interface and proven interchangeable by the storetest suite.
//
// The keyspace is flat and ordered by bytes. Scans walk a key prefix in ascending
// (or descending) order, so big-endian integers in keys sort numerically.
package store

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("store: key not found")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store: closed")

// ErrReadOnly is returned when a write is attempted inside a View transaction.
var ErrReadOnly = errors.New("store: write in read-only transaction")

// ErrConflict is returned by Update when the backend could not commit because a
// concurrent transaction changed what this one read. Update retries conflicts
// itself a bounded number of times before returning it.
var ErrConflict = errors.New("store: transaction conflict")

// Store is a transactional, ordered key-value store.
type Store interface {
	// View runs fn in a read-only transaction with a consistent snapshot,
	// taken when the transaction begins or, at the latest, by its first read
	// (an optimistic backend's snapshot is the revision that read saw). Writes
	// return ErrReadOnly. The error fn returns is returned unchanged.
	View(ctx context.Context, fn func(tx ReadTx) error) error
	// Update runs fn in a read-write transaction and commits it when fn returns
	// nil; when fn returns an error nothing it wrote is kept and that error is
	// returned unchanged. Update may run fn more than once (optimistic backends
	// retry on conflict), so fn must have no effects outside tx other than those
	// registered with Tx.OnCommit. Update must not be called from inside another
	// transaction on the same goroutine.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the store. Transactions in flight finish first.
	Close() error
}

// Elector is implemented by a backend shared by several processes (etcd): it
// elects one of them to do work that must be done once (sweeping, signing,
// ingesting, deleting old events).
type Elector interface {
	// Lead campaigns for the leadership called name among the processes
	// sharing the store, and while this process holds it runs fn with a
	// context that ends when the leadership is lost. Update calls made with
	// that context are fenced: they commit only while the leadership holds,
	// so a leader that was paused past the loss of its leadership cannot
	// write after another took over (they fail with an error matching
	// ErrNotLeader). When fn returns or the leadership is lost, Lead
	// campaigns again; it returns ctx's error once ctx is done.
	Lead(ctx context.Context, name string, fn func(ctx context.Context) error) error
}

// ErrNotLeader is returned by Update when its context belongs to a
// leadership (Elector.Lead) that was lost.
var ErrNotLeader = errors.New("store: no longer the leader")

// Change is one key's change in a commit, as a ChangeFeed streams it.
type Change struct {
	// Key is the changed key; Value its new value, nil when Deleted.
	Key, Value []byte
	// Deleted reports that the key was deleted.
	Deleted bool
}

// ChangeFeed is implemented by a backend other processes commit to (etcd):
// every process's committed changes, in commit order. A replica keeps an
// in-memory read model in step with the shared store by loading it after
// taking Revision and then applying every Change after that revision; an
// event log wakes its watchers on the other replicas' appends with it. A
// backend only this process writes (bbolt) does not implement it:
// Tx.OnCommit sees every commit there.
type ChangeFeed interface {
	// Revision returns the store's current revision.
	Revision(ctx context.Context) (int64, error)
	// Changes calls fn with the changes to keys with prefix made by each
	// commit after revision after, commit by commit in commit order, with the
	// commit's revision, until ctx is done (it returns ctx's error) or fn
	// returns an error (returned unchanged). It fails when the changes after
	// after are no longer kept.
	Changes(ctx context.Context, prefix []byte, after int64, fn func(rev int64, changes []Change) error) error
}

// ReadTx reads inside a transaction. Byte slices passed in are not retained;
// byte slices returned are owned by the caller and remain valid after the
// transaction ends.
type ReadTx interface {
	// Get returns the value stored at key, or ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for each key with the given prefix whose key is >= start
	// (or, when start is nil, for every key with the prefix), in ascending byte
	// order, until fn returns false or an error. The key and value passed to fn
	// are valid only during the call; copy them to keep them.
	Scan(prefix, start []byte, fn func(key, value []byte) (bool, error)) error
	// ScanReverse is Scan in descending order; start, when non-nil, is the
	// largest key considered (inclusive).
	ScanReverse(prefix, start []byte, fn func(key, value []byte) (bool, error)) error
}

// Tx reads and writes inside a read-write transaction.
type Tx interface {
	ReadTx
	// Put stores value at key, replacing any value there. Empty keys are refused.
	Put(key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(key []byte) error
	// NextSequence increments the named counter and returns its new value; the
	// first call for a name returns 1. Counters live in the same transaction:
	// a rolled-back transaction leaves them unchanged, so sequences are gap-free.
	NextSequence(name string) (uint64, error)
	// OnCommit registers fn to run after the transaction has committed durably.
	// It does not run when the transaction rolls back.
	OnCommit(fn func())
}

// marshalOptions encodes records deterministically, so equal records are equal
// bytes (needed for hashing and for comparing stored values).
var marshalOptions = proto.MarshalOptions{Deterministic: true}

// Marshal encodes a record deterministically.
func Marshal(m proto.Message) ([]byte, error) { return marshalOptions.Marshal(m) }

// PutProto stores m at key, encoded deterministically.
func PutProto(tx Tx, key []byte, m proto.Message) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

// GetProto reads the record at key into m; it returns ErrNotFound when absent.
func GetProto(tx ReadTx, key []byte, m proto.Message) error {
	b, err := tx.Get(key)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, m)
}
