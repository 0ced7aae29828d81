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
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"steward.dev/pkg/store"
)

// Bucket names. Every record lives in dataBucket but those of the
// Options.Unordered ranges, each of which lives in the bucket named by its
// prefix inside unorderedBucket; counters of NextSequence live in
// seqBucket; metaBucket holds the schema version.
var (
	dataBucket      = []byte("data")
	unorderedBucket = []byte("unordered")
	seqBucket       = []byte("sequences")
	metaBucket      = []byte("meta")

	schemaVersionKey = []byte("schema_version")
)

// SchemaVersion is the on-disk layout version this package writes. Open refuses a
// file written by a newer layout.
const SchemaVersion = 1

// DefaultMaxBatch is the default Options.MaxBatch.
const DefaultMaxBatch = 256

// Options tune Open.
type Options struct {
	// LockTimeout bounds how long Open waits for another process holding the
	// file lock; default 5s.
	LockTimeout time.Duration
	// NoSync disables fsync on commit. Only for benchmarks: acknowledged
	// writes may be lost on power failure.
	NoSync bool
	// MaxBatch bounds how many concurrent Update calls share one bbolt
	// transaction and one fsync (group commit); default DefaultMaxBatch.
	// 1 gives every Update a transaction of its own.
	MaxBatch int
	// Unordered lists the key prefixes of the ranges written in no
	// particular order (indexes keyed by names). Each range lives in a bucket
	// of its own whose pages bbolt splits half full: under random inserts
	// they settle about 70 % full, where pages split at fillPercent settle
	// about 40 % full (issue 13). None may be a prefix of another. Open moves
	// keys in or out of these buckets when the list changed since the file
	// was last opened.
	Unordered []string
}

// Store is a store.Store on a bbolt file.
//
// Update uses group commit. A lone Update (no transaction running, none
// queued) runs at once, on its caller's goroutine, in a bbolt transaction of
// its own. Calls that arrive while a transaction runs queue up; when it ends,
// the store's committer goroutine runs them together, in arrival order, in
// one transaction, which commits them with one fsync (at most
// Options.MaxBatch of them, the rest waiting for the next). Each fn of a
// batch runs on the committer, on a Tx of its own, and sees the writes of
// the calls before it in the batch. When a fn fails, the whole bbolt
// transaction rolls back (bbolt has no savepoints): unless that fn ran first
// in the transaction, it runs again alone, on the committed state, and what
// it returns then is its call's result; the other calls of the batch run
// again in the next transaction. So, as store.Store allows, a fn may run
// more than once.
//
// Calling Update from inside an Update's fn deadlocks: the inner call waits
// for the transaction running the outer one. Commit hooks run on the
// caller's goroutine, after the commit and before its Update returns, so a
// hook may call Update; the hooks of different calls of one batch may run
// concurrently.
type Store struct {
	db        *bolt.DB
	maxBatch  int
	unordered [][]byte      // Options.Unordered
	closed    atomic.Bool   // set, under mu, by Close
	wake      chan struct{} // capacity 1: the committer may have work, or the store closed
	done      chan struct{} // closed when the committer has drained the queue and stopped

	mu     sync.Mutex
	queue  []*request // Update calls waiting for the committer, in arrival order
	busy   bool       // the committer runs a batch
	direct bool       // a lone Update runs its own transaction

	// inflight is the batch the committer runs (owned by the committer),
	// for a new committer to carry on with after runtime.Goexit.
	inflight []*request
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the bbolt file at path, validates its schema
// version and starts the store's committer.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	// The freelist is synced at every commit (bbolt's default). Not syncing
	// it (NoFreelistSync, as etcd runs) saved about 3 % of audit's
	// recording, but Open then rebuilds it by reading the whole file: 4.3 s
	// for access's 3.7 GB store of a million assignments, against 10 ms
	// (BENCHMARKS.md, issue 13's cold start).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("bboltstore: open %s: %w", path, err)
	}
	unordered, err := checkUnordered(opts.Unordered)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{dataBucket, unorderedBucket, seqBucket, metaBucket} {
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
	if err == nil {
		err = placeUnordered(db, unordered)
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{db: db, maxBatch: opts.MaxBatch, unordered: unordered, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.commit(nil)
	return s, nil
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
		return fn(&tx{btx: btx, buckets: s.buckets(btx, false)})
	})
}

// Update implements store.Store with group commit (see Store). bbolt has a
// single writer, so there are no conflicts to retry. When ctx is done before
// fn starts, Update returns ctx.Err() without running it; once fn has
// started, the call completes. A panic in fn is raised again, with the same
// value, on the caller's goroutine, and so is runtime.Goexit; the other calls
// of its batch run again, unaffected. The commit hooks of a call run on its
// caller's goroutine, in the order registered, before Update returns.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.ErrClosed
	}
	if !s.busy && !s.direct && len(s.queue) == 0 {
		s.direct = true
		s.mu.Unlock()
		return s.updateAlone(fn)
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.signal()
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, withdrawn) {
			return ctx.Err()
		}
		<-r.done // fn has started: the call completes
	}
	switch r.outcome {
	case panicked:
		panic(r.panicValue)
	case exited:
		runtime.Goexit()
	}
	if r.err != nil {
		return r.err
	}
	for _, h := range r.hooks {
		h()
	}
	return nil
}

// fillPercent is how full bbolt fills the data bucket's pages when it
// splits them at commit. bbolt's default, 0.5, leaves every page of a range
// written in key order (event logs, audit trails, time-ordered indexes) half
// empty, since each commit splits the range's last page again; etcd fills
// its key bucket to 0.9 for the same reason. Measured on the medium bench
// dataset: the directory's file 107 -> 57 MB, audit's 359 -> 237 MB, access's
// (random keys) unchanged, audit's recording rate no lower (BENCHMARKS.md).
const fillPercent = 0.9

// buckets are the buckets of a transaction that hold the keys.
type buckets struct {
	data   *bolt.Bucket
	ranges []keyRange // the Options.Unordered ranges
}

// keyRange is an Options.Unordered range and its bucket.
type keyRange struct {
	prefix []byte
	b      *bolt.Bucket
}

// buckets returns the buckets of btx; those of a write transaction split
// pages as fillPercent says, but the unordered ranges' (bbolt's default,
// half full).
func (s *Store) buckets(btx *bolt.Tx, write bool) buckets {
	bs := buckets{data: btx.Bucket(dataBucket)}
	if write {
		bs.data.FillPercent = fillPercent
	}
	if len(s.unordered) > 0 {
		parent := btx.Bucket(unorderedBucket)
		bs.ranges = make([]keyRange, len(s.unordered))
		for i, p := range s.unordered {
			bs.ranges[i] = keyRange{prefix: p, b: parent.Bucket(p)}
		}
	}
	return bs
}

// of returns the bucket holding key.
func (bs buckets) of(key []byte) *bolt.Bucket {
	for _, r := range bs.ranges {
		if bytes.HasPrefix(key, r.prefix) {
			return r.b
		}
	}
	return bs.data
}

// cursors appends to at cursors over the buckets that may hold keys with
// prefix: an unordered range's alone when prefix lies within it, else the
// data bucket's and those of the unordered ranges within prefix.
func (bs buckets) cursors(prefix []byte, at []cursorAt) []cursorAt {
	for _, r := range bs.ranges {
		if bytes.HasPrefix(prefix, r.prefix) {
			return append(at, cursorAt{c: r.b.Cursor()})
		}
	}
	at = append(at, cursorAt{c: bs.data.Cursor()})
	for _, r := range bs.ranges {
		if bytes.HasPrefix(r.prefix, prefix) {
			at = append(at, cursorAt{c: r.b.Cursor()})
		}
	}
	return at
}

// checkUnordered returns the Options.Unordered prefixes, sorted, refusing an
// empty one and one that is a prefix of another.
func checkUnordered(prefixes []string) ([][]byte, error) {
	out := make([][]byte, 0, len(prefixes))
	for _, p := range prefixes {
		if p == "" {
			return nil, errors.New("bboltstore: an empty unordered range")
		}
		out = append(out, []byte(p))
	}
	slices.SortFunc(out, bytes.Compare)
	for i := 1; i < len(out); i++ {
		if bytes.HasPrefix(out[i], out[i-1]) {
			return nil, fmt.Errorf("bboltstore: unordered ranges %q and %q overlap", out[i-1], out[i])
		}
	}
	return out, nil
}

// moveBatch bounds the keys one transaction of placeUnordered moves.
const moveBatch = 10000

// placeUnordered puts every key in the bucket Options.Unordered says it
// belongs in: the keys of each range move from the data bucket into the
// range's own bucket, created if missing, and the keys of a bucket whose
// range is no longer listed move back into the data bucket, which then
// drops it; moveBatch keys per transaction.
func placeUnordered(db *bolt.DB, unordered [][]byte) error {
	var stale [][]byte
	err := db.Update(func(btx *bolt.Tx) error {
		parent := btx.Bucket(unorderedBucket)
		for _, p := range unordered {
			if _, err := parent.CreateBucketIfNotExists(p); err != nil {
				return err
			}
		}
		return parent.ForEachBucket(func(name []byte) error {
			if !slices.ContainsFunc(unordered, func(p []byte) bool { return bytes.Equal(p, name) }) {
				stale = append(stale, bytes.Clone(name))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, p := range unordered {
		err := moveKeys(db, p, func(btx *bolt.Tx) (from, to *bolt.Bucket) {
			return btx.Bucket(dataBucket), btx.Bucket(unorderedBucket).Bucket(p)
		})
		if err != nil {
			return err
		}
	}
	for _, name := range stale {
		err := moveKeys(db, nil, func(btx *bolt.Tx) (from, to *bolt.Bucket) {
			to = btx.Bucket(dataBucket)
			to.FillPercent = fillPercent
			return btx.Bucket(unorderedBucket).Bucket(name), to
		})
		if err == nil {
			err = db.Update(func(btx *bolt.Tx) error { return btx.Bucket(unorderedBucket).DeleteBucket(name) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// moveKeys moves every key with prefix from one bucket to the other, as
// pick returns them in each transaction, moveBatch keys per transaction.
func moveKeys(db *bolt.DB, prefix []byte, pick func(btx *bolt.Tx) (from, to *bolt.Bucket)) error {
	for {
		n := 0
		err := db.Update(func(btx *bolt.Tx) error {
			from, to := pick(btx)
			var keys, values [][]byte
			c := from.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < moveBatch; k, v = c.Next() {
				keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			}
			for i, k := range keys {
				if err := to.Put(k, values[i]); err != nil {
					return err
				}
				if err := from.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil || n < moveBatch {
			return err
		}
	}
}

// updateAlone runs fn in a bbolt transaction of its own on the caller's
// goroutine, then its hooks: a lone Update, with nothing to batch it with.
func (s *Store) updateAlone(fn func(store.Tx) error) error {
	var hooks []func()
	err := func() error {
		defer s.endAlone()
		return s.db.Update(func(btx *bolt.Tx) error {
			t := &tx{btx: btx, buckets: s.buckets(btx, true), writable: true}
			if err := fn(t); err != nil {
				return err
			}
			hooks = t.hooks
			return nil
		})
	}()
	if err != nil {
		return err
	}
	for _, h := range hooks {
		h()
	}
	return nil
}

// endAlone ends a lone Update's transaction (however fn ended) and wakes the
// committer if calls queued meanwhile or the store is closing.
func (s *Store) endAlone() {
	s.mu.Lock()
	s.direct = false
	wake := len(s.queue) > 0 || s.closed.Load()
	s.mu.Unlock()
	if wake {
		s.signal()
	}
}

// Close implements store.Store: the Update calls already running or queued
// finish first; later ones return store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed.Swap(true)
	s.mu.Unlock()
	if already {
		return nil
	}
	s.signal()
	<-s.done
	return s.db.Close()
}

// signal wakes the committer, if it is not already due to wake.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// request states: the committer claims a queued request to start it, or its
// caller withdraws it when ctx is done first.
const (
	queued int32 = iota
	started
	withdrawn
)

// An outcome is how a request's fn last ended.
type outcome int

const (
	returned outcome = iota // fn returned (err tells how)
	panicked                // fn panicked with panicValue
	exited                  // fn called runtime.Goexit
)

// A request is one Update call, handed to the committer.
type request struct {
	ctx   context.Context
	fn    func(store.Tx) error
	state atomic.Int32  // queued, started or withdrawn
	done  chan struct{} // closed by the committer once the fields below are final

	// Owned by the committer until done is closed.
	outcome    outcome
	panicValue any
	err        error    // fn's error, or the commit's
	hooks      []func() // registered by fn in the committed run
	answered   bool     // done is closed (or the caller has withdrawn)
}

// run runs r's fn on t and records how it ended, recovering a panic; after
// runtime.Goexit it records exited and lets the goroutine end.
func (r *request) run(t *tx) {
	r.outcome, r.err, r.hooks = exited, nil, nil
	defer func() {
		if r.outcome == exited {
			if v := recover(); v != nil {
				r.outcome, r.panicValue = panicked, v
			}
		}
	}()
	r.err = r.fn(t)
	r.outcome = returned
	r.hooks = t.hooks
}

// failed reports whether r's fn did not return nil in its last run.
func (r *request) failed() bool { return r.outcome != returned || r.err != nil }

// answer hands r's result to its caller.
func (r *request) answer() {
	r.answered = true
	close(r.done)
}

// commit is the store's committer goroutine: it commits the queued requests
// batch by batch until the store is closed and the queue drained. pending are
// requests of an earlier batch still to answer; they go first.
func (s *Store) commit(pending []*request) {
	stopped := false
	defer func() {
		if stopped {
			return
		}
		// A fn called runtime.Goexit (t.FailNow in a test, say) and this
		// goroutine is ending: its caller exits in turn, and a new committer
		// carries on with the rest of the batch. (Anything else ending the
		// committer is a panic outside fn, which ends the program.)
		for _, r := range s.inflight {
			if !r.answered && r.outcome == exited {
				r.answer()
				go s.commit(unanswered(s.inflight))
				return
			}
		}
	}()
	for {
		batch := s.next(pending)
		if batch == nil {
			break
		}
		pending = s.runBatch(batch)
		s.inflight = nil
	}
	stopped = true
	close(s.done)
}

// next returns pending followed by the oldest queued requests, at most
// maxBatch in all, waiting for some when there are none and for a lone
// Update's transaction to end (so that the calls queued behind it form one
// batch). It returns nil once the store is closed and nothing is left.
func (s *Store) next(pending []*request) []*request {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.direct:
			// Wait for endAlone. (pending is empty: no lone Update
			// starts while the committer is busy.)
		case len(pending) > 0 || len(s.queue) > 0:
			n := min(s.maxBatch-len(pending), len(s.queue))
			batch := append(pending, s.queue[:n]...)
			left := copy(s.queue, s.queue[n:])
			clear(s.queue[left:])
			s.queue = s.queue[:left]
			s.busy = true
			return batch
		case s.closed.Load():
			return nil
		}
		s.busy = false
		s.mu.Unlock()
		<-s.wake
		s.mu.Lock()
	}
}

// runBatch commits batch in one transaction and answers its requests. When a
// fn fails, it answers that request and returns the others still to answer,
// to be run again.
func (s *Store) runBatch(batch []*request) (rerun []*request) {
	s.inflight = batch
	i, first, err := s.attempt(batch)
	if i < 0 {
		// Committed (err == nil), or bbolt could not begin or commit the
		// transaction: every request gets that result.
		for _, r := range batch {
			if !r.answered {
				if err != nil {
					r.err, r.hooks = err, nil
				}
				r.answer()
			}
		}
		return nil
	}
	r := batch[i]
	if r.outcome == returned && !first {
		// fn failed after other requests' writes: run it alone, on the
		// committed state, and answer with what it returns then.
		if j, _, err := s.attempt(batch[i : i+1]); j < 0 && err != nil {
			r.err, r.hooks = err, nil
		}
	}
	r.answer()
	return unanswered(batch)
}

// attempt runs the requests in order in one bbolt transaction, starting those
// not started yet (answering those whose ctx is done, or withdrawn), and
// commits it when every fn returned nil. Otherwise it rolls back and returns
// the index of the request that failed, first telling whether it was the
// first to run in the transaction; i is -1 when none failed and err is then
// the transaction's result.
func (s *Store) attempt(reqs []*request) (i int, first bool, err error) {
	i, first = -1, true
	err = s.db.Update(func(btx *bolt.Tx) error {
		bs := s.buckets(btx, true)
		for j, r := range reqs {
			if r.answered || !s.start(r) {
				continue
			}
			r.run(&tx{btx: btx, buckets: bs, writable: true})
			if r.failed() {
				i = j
				return errRollback
			}
			first = false
		}
		return nil
	})
	if i >= 0 {
		return i, first, nil
	}
	return -1, false, err
}

// errRollback makes bbolt roll a batch back.
var errRollback = errors.New("bboltstore: roll back")

// start claims r for running; it answers r and returns false when its caller
// has withdrawn it or its ctx is done. A request once started stays started
// through later runs.
func (s *Store) start(r *request) bool {
	if r.state.Load() == started {
		return true
	}
	if !r.state.CompareAndSwap(queued, started) {
		r.answered = true // withdrawn: its caller is gone
		return false
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		r.answer()
		return false
	}
	return true
}

// unanswered returns the requests of batch not answered yet, in order.
func unanswered(batch []*request) []*request {
	var rest []*request
	for _, r := range batch {
		if !r.answered {
			rest = append(rest, r)
		}
	}
	return rest
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
	btx *bolt.Tx
	buckets
	writable bool
	hooks    []func()
}

func (t *tx) Get(key []byte) ([]byte, error) {
	v := t.of(key).Get(key)
	if v == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// cursorAt is a cursor and the key and value it is at.
type cursorAt struct {
	c    *bolt.Cursor
	k, v []byte
}

func (t *tx) Scan(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	seek := prefix
	if start != nil && bytes.Compare(start, prefix) > 0 {
		seek = start
	}
	var buf [4]cursorAt
	at := t.cursors(prefix, buf[:0])
	for i := range at {
		at[i].k, at[i].v = at[i].c.Seek(seek)
	}
	// The smallest key of the cursors, one bucket after the other.
	return merge(at, prefix, -1, (*bolt.Cursor).Next, fn)
}

func (t *tx) ScanReverse(prefix, start []byte, fn func(k, v []byte) (bool, error)) error {
	end := prefixEnd(prefix)
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		start = nil // beyond the range: begin at its last key
	}
	var buf [4]cursorAt
	at := t.cursors(prefix, buf[:0])
	for i := range at {
		at[i].k, at[i].v = last(at[i].c, start, end)
	}
	return merge(at, prefix, 1, (*bolt.Cursor).Prev, fn)
}

// last positions c at the largest key <= start, or, without start, at the
// largest key < end (the last key when end is nil).
func last(c *bolt.Cursor, start, end []byte) (k, v []byte) {
	switch {
	case start != nil:
		if k, v = c.Seek(start); k == nil {
			return c.Last()
		} else if !bytes.Equal(k, start) {
			return c.Prev()
		}
		return k, v
	case end == nil:
		return c.Last()
	default:
		if k, _ = c.Seek(end); k == nil {
			return c.Last()
		}
		return c.Prev()
	}
}

// merge calls fn with the keys with prefix of the cursors at, merged: each
// time the key that compares to the others' as sign says (-1 the smallest,
// 1 the largest), after which its cursor moves by step; until the cursors
// leave prefix or fn returns false or an error.
func merge(at []cursorAt, prefix []byte, sign int, step func(*bolt.Cursor) ([]byte, []byte), fn func(k, v []byte) (bool, error)) error {
	for {
		best := -1
		for i := range at {
			if at[i].k == nil || !bytes.HasPrefix(at[i].k, prefix) {
				continue
			}
			if best < 0 || bytes.Compare(at[i].k, at[best].k) == sign {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		more, err := fn(at[best].k, at[best].v)
		if err != nil || !more {
			return err
		}
		at[best].k, at[best].v = step(at[best].c)
	}
}

func (t *tx) Put(key, value []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if len(key) == 0 {
		return errors.New("bboltstore: empty key")
	}
	return t.of(key).Put(key, value)
}

func (t *tx) Delete(key []byte) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	return t.of(key).Delete(key)
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
