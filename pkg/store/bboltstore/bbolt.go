// Package bboltstore is the embedded backend of pkg/store: one bbolt file per
// service, opened with a lock timeout and mode 0600, every record in a single
// ordered bucket so that key ranges are plain prefixes (the same keyspace the
// etcd backend keeps under its prefix).
package bboltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"steward.dev/pkg/store"
)

// Bucket names. Every record lives in dataBucket; counters of NextSequence live
// in seqBucket; metaBucket holds the schema version.
var (
	dataBucket = []byte("data")
	seqBucket  = []byte("sequences")
	metaBucket = []byte("meta")

	schemaVersionKey = []byte("schema_version")
)

// SchemaVersion is the on-disk layout version this package writes. Open refuses a
// file written by a newer layout.
const SchemaVersion = 1

// Options tune Open.
type Options struct {
	// LockTimeout bounds how long Open waits for another process holding the
	// file lock; default 5s.
	LockTimeout time.Duration
	// NoSync disables fsync on commit. Only for benchmarks: acknowledged
	// writes may be lost on power failure.
	NoSync bool
}

// Store is a store.Store on a bbolt file.
type Store struct {
	db     *bolt.DB
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path and validates its schema
// version.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("bboltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{dataBucket, seqBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		if v := meta.Get(schemaVersionKey); v != nil {
			if got := binary.BigEndian.Uint64(v); got > SchemaVersion {
				return fmt.Errorf("bboltstore: %s has schema version %d, newer than %d", path, got, SchemaVersion)
			}
		}
		return meta.Put(schemaVersionKey, binary.BigEndian.AppendUint64(nil, SchemaVersion))
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.ReadTx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(btx *bolt.Tx) error {
		return fn(&tx{btx: btx, data: btx.Bucket(dataBucket)})
	})
}

// Update implements store.Store. bbolt has a single writer, so there are no
// conflicts to retry.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var hooks []func()
	err := s.db.Update(func(btx *bolt.Tx) error {
		t := &tx{btx: btx, data: btx.Bucket(dataBucket), writable: true}
		if err := fn(t); err != nil {
			return err
		}
		hooks = t.hooks
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range hooks {
		h()
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.db.Path() }

// Check runs bbolt's consistency check over the whole file and returns the first
// problem found; tests call it after crashes.
func (s *Store) Check() error {
	return s.db.View(func(btx *bolt.Tx) error {
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

type tx struct {
	btx      *bolt.Tx
	data     *bolt.Bucket
	writable bool
	hooks    []func()
}

func (t *tx) Get(key []byte) ([]byte, error) {
	v := t.data.Get(key)
	if v == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t *tx) Scan(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	c := t.data.Cursor()
	seek := prefix
	if start != nil && bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *tx) ScanReverse(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	c := t.data.Cursor()
	end := prefixEnd(prefix)
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		start = nil // beyond the range: begin at its last key
	}
	var k, v []byte
	switch {
	case start != nil:
		// The largest key <= start.
		if k, v = c.Seek(start); k == nil {
			k, v = c.Last()
		} else if !bytes.Equal(k, start) {
			k, v = c.Prev()
		}
	case end == nil:
		k, v = c.Last()
	default:
		// The largest key < end.
		if k, v = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *tx) Put(key, value []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if len(key) == 0 {
		return errors.New("bboltstore: empty key")
	}
	return t.data.Put(key, value)
}

func (t *tx) Delete(key []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	return t.data.Delete(key)
}

func (t *tx) NextSequence(name string) (uint64, error) {
	if !t.writable {
		return 0, store.ErrReadOnly
	}
	b := t.btx.Bucket(seqBucket)
	var n uint64
	if v := b.Get([]byte(name)); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, b.Put([]byte(name), binary.BigEndian.AppendUint64(nil, n))
}

func (t *tx) OnCommit(fn func()) { t.hooks = append(t.hooks, fn) }

// prefixEnd returns the smallest key greater than every key with prefix p, or nil
// when there is none (p is empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
