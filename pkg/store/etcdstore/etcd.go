// Package etcdstore is the scale-out backend of pkg/store: a service's keyspace
// kept in an etcd cluster under a per-service prefix, so that several replicas of
// the service share it (R32).
//
// Transactions are optimistic. A transaction reads at one etcd revision (a
// consistent snapshot, taken by its first read), buffers its writes, and
// commits them in one etcd transaction guarded by compare-on-revision of
// everything it read: each key read must still have the modification revision
// it was read at (0 when it was absent), and no key may have been written, since
// the snapshot, inside a range it scanned. A transaction whose reads were
// changed by a concurrent commit (from this process or another replica) does
// not commit; Update runs it again on a new snapshot, a bounded number of times,
// and returns store.ErrConflict when they are used up. etcd's locks are never
// used for correctness.
//
// Within one process Update calls are committed by one committer at a time,
// in batches (group commit, batch.go): the calls that queued while a commit
// was in flight run one after the other on one transaction, each seeing the
// writes of those before it, and commit together. So conflicts happen only
// between replicas, and a busy process pays one etcd commit per batch.
//
// Layout under Options.Prefix (e.g. "/steward/directory/"):
//
//	<prefix>k/<key>   the store's keys, in their byte order
//	<prefix>s/<name>  NextSequence counters, 8-byte big-endian
//	<prefix>c         the commit marker, rewritten by every committing Update
//
// A transaction that read more keys than fit in one etcd transaction's
// compares checks the commit marker instead: it conflicts with any commit made
// since its snapshot, which is always safe.
package etcdstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"steward.dev/pkg/store"
)

// Defaults of Options. They match the limits of the etcd that Steward's
// Makefile builds and runs (deploy/etcd); an etcd run with its own defaults
// (128 operations, 1.5 MiB requests) needs -etcd-max-txn-ops and
// -etcd-max-request-bytes lowered to match.
const (
	// DefaultMaxTxnOps is the most writes (and, separately, compares) one
	// commit may send: etcd's --max-txn-ops.
	DefaultMaxTxnOps = 8192
	// DefaultMaxRequestBytes is the largest commit request: etcd's
	// --max-request-bytes.
	DefaultMaxRequestBytes = 8 << 20
	// DefaultRetries is how many times Update runs a conflicting
	// transaction again before returning store.ErrConflict.
	DefaultRetries = 32
	// scanPage is how many keys one etcd range request of a Scan returns.
	scanPage = 256
	// maxKeyCompares is how many per-key and per-range compares a commit
	// sends before it checks the commit marker instead.
	maxKeyCompares = 512
	// requestOverhead is what a commit request costs besides its keys and
	// values, per operation, counted towards MaxRequestBytes.
	requestOverhead = 32
)

// ErrTooLarge is returned by Put and Update when a value, or a transaction's
// writes together, would exceed etcd's request limit (Options.MaxRequestBytes)
// or its operation limit (Options.MaxTxnOps). Nothing is written.
var ErrTooLarge = errors.New("etcdstore: too large for one etcd request")

// Options configure a Store.
type Options struct {
	// Prefix is the service's keyspace in etcd, e.g. "/steward/directory/";
	// every key the store writes starts with it. Required; services sharing
	// a cluster must use prefixes none of which is a prefix of another.
	Prefix string
	// MaxTxnOps is etcd's --max-txn-ops; default DefaultMaxTxnOps.
	MaxTxnOps int
	// MaxRequestBytes is etcd's --max-request-bytes; default
	// DefaultMaxRequestBytes.
	MaxRequestBytes int
	// Retries bounds how often Update runs fn again after a conflict;
	// default DefaultRetries.
	Retries int
}

// Store is a store.Store kept in etcd under Options.Prefix.
type Store struct {
	cli    *clientv3.Client
	owned  bool // Close closes cli
	opts   Options
	data   []byte // <prefix>k/
	seqs   []byte // <prefix>s/
	marker []byte // <prefix>c

	writer sync.Mutex   // held by the committer of Update's batches (batch.go)
	queue  batchQueue   // Update calls waiting for the committer
	life   sync.RWMutex // held for reading by every transaction; Close takes it
	closed bool         // guarded by life
}

// New returns a store on cli, which the caller keeps and closes after the store.
func New(cli *clientv3.Client, opts Options) (*Store, error) {
	if cli == nil {
		return nil, errors.New("etcdstore: nil client")
	}
	if opts.Prefix == "" {
		return nil, errors.New("etcdstore: empty prefix")
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.Retries <= 0 {
		opts.Retries = DefaultRetries
	}
	p := opts.Prefix
	return &Store{
		cli:    cli,
		opts:   opts,
		data:   []byte(p + "k/"),
		seqs:   []byte(p + "s/"),
		marker: []byte(p + "c"),
	}, nil
}

// Dial connects to the etcd cluster at endpoints and returns a store on it that
// closes the connection when closed. It fails when no endpoint answers within
// dialTimeout.
func Dial(ctx context.Context, endpoints []string, dialTimeout time.Duration, opts Options) (*Store, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcdstore: no etcd endpoints")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        dialTimeout,
		MaxCallSendMsgSize: opts.MaxRequestBytes + (1 << 20),
		Context:            ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: connecting to %v: %w", endpoints, err)
	}
	// The client connects lazily: ask the cluster once, so that a wrong
	// address fails at start, not at the first request.
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(sctx, "health-probe", clientv3.WithCountOnly()); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcdstore: etcd at %v does not answer: %w", endpoints, err)
	}
	s, err := New(cli, opts)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Revision implements store.ChangeFeed: the cluster's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, string(s.marker), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("etcdstore: %w", err)
	}
	return resp.Header.Revision, nil
}

// Changes implements store.ChangeFeed with an etcd watch of the prefix's keys
// from revision after+1. The changes of one commit (one etcd revision) reach
// fn together; when the watch breaks (a lost connection or leader) it resumes
// after the last revision fn saw.
func (s *Store) Changes(ctx context.Context, prefix []byte, after int64, fn func(rev int64, changes []store.Change) error) error {
	key := string(append(slices.Clip(s.data), prefix...))
	var (
		rev     int64 // the revision of the changes gathered in batch
		batch   []store.Change
		flushed = after
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(rev, batch)
		flushed, batch = rev, nil
		return err
	}
	for {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := s.cli.Watch(wctx, key, clientv3.WithPrefix(), clientv3.WithRev(flushed+1))
		var werr error
		for resp := range wch {
			if werr = resp.Err(); werr != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision != rev {
					if err := flush(); err != nil {
						cancel()
						return err
					}
					rev = ev.Kv.ModRevision
				}
				c := store.Change{Key: ev.Kv.Key[len(s.data):], Deleted: ev.Type == clientv3.EventTypeDelete}
				if !c.Deleted {
					c.Value = ev.Kv.Value
				}
				batch = append(batch, c)
			}
			// A response ends with whole revisions unless etcd had to split
			// a large one (Fragment is not set): flush what is complete.
			if err := flush(); err != nil {
				cancel()
				return err
			}
		}
		cancel()
		batch, rev = nil, flushed // resume after the last whole revision
		if errors.Is(werr, rpctypes.ErrCompacted) {
			return fmt.Errorf("etcdstore: changes after revision %d are compacted: %w", flushed, werr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Lead implements store.Elector with an etcd election (client/v3/concurrency)
// under <prefix>elections/<name>: the leader's key lives as long as its
// session's lease, which the client keeps alive; a process that stops (or
// pauses) for longer than the lease's TTL loses it. Writes made with the
// leader's context compare the leader key's creation revision, so they fail
// with store.ErrNotLeader once the key is gone or another's.
func (s *Store) Lead(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	key := s.opts.Prefix + "elections/" + name
	for {
		err := s.leadOnce(ctx, key, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			slog.Default().Warn("etcdstore: leadership ended", "election", key, "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaderRetry):
		}
	}
}

// leadOnce campaigns once and, if elected, runs fn until it returns or the
// leadership is lost, then resigns.
func (s *Store) leadOnce(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	session, err := concurrency.NewSession(s.cli, concurrency.WithTTL(leaderTTL), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcdstore: election session: %w", err)
	}
	defer session.Close() // revokes the lease: the key goes at once
	e := concurrency.NewElection(session, key)
	if err := e.Campaign(ctx, ""); err != nil {
		return fmt.Errorf("etcdstore: campaign: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithValue(ctx, fenceKey{}, fence{store: s, key: e.Key(), rev: e.Rev()}))
	defer cancel()
	go func() {
		select {
		case <-session.Done(): // the lease expired or was lost
			cancel()
		case <-lctx.Done():
		}
	}()
	err = fn(lctx)
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	_ = e.Resign(rctx)
	return err
}

// The leadership's lease: lost this long after the leader stops renewing it.
const (
	leaderTTL   = 5 // seconds
	leaderRetry = 500 * time.Millisecond
)

// fence is a leadership writes made with its context depend on.
type fence struct {
	store *Store
	key   string
	rev   int64 // the leader key's creation revision
}

type fenceKey struct{}

// fenceOf returns the leadership ctx belongs to, for this store.
func (s *Store) fenceOf(ctx context.Context) (fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(fence)
	return f, ok && f.store == s
}

// begin holds the store open for one transaction; end releases it.
func (s *Store) begin() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return store.ErrClosed
	}
	return nil
}

func (s *Store) end() { s.life.RUnlock() }

// Close waits for the transactions in flight and closes the store (and its
// client, when it came from Dial).
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.owned {
		return s.cli.Close()
	}
	return nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.ReadTx) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	tx := &txn{s: s, ctx: ctx, readOnly: true}
	return fn(tx)
}

// txn is a transaction: reads at rev, writes buffered until commit.
type txn struct {
	s        *Store
	ctx      context.Context
	readOnly bool
	rev      int64 // the snapshot's revision; 0 until the first read
	err      error // the first read error

	writes map[string]*[]byte // full etcd key -> value; nil value: deleted
	hooks  []func()

	reads  map[string]int64 // full etcd key -> mod revision read (0: absent)
	ranges [][2][]byte      // full etcd key ranges [from, to) scanned
	// cache holds what Get read at rev, by full etcd key (nil: absent): a
	// revision never changes, so the calls of a batch that read the same
	// keys (a pool's counters) ask etcd once.
	cache map[string][]byte
}

// get reads one etcd key at the snapshot (taking the snapshot on the first
// read) and records it in the read set.
func (t *txn) getRaw(key []byte) (value []byte, found bool, err error) {
	opts := []clientv3.OpOption{}
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(t.ctx, string(key), opts...)
	if err != nil {
		return nil, false, t.fail(err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	var modRev int64
	if len(resp.Kvs) == 1 {
		value, found, modRev = resp.Kvs[0].Value, true, resp.Kvs[0].ModRevision
	}
	t.recordKey(key, modRev)
	return value, found, nil
}

func (t *txn) fail(err error) error {
	err = fmt.Errorf("etcdstore: %w", err)
	if t.err == nil {
		t.err = err
	}
	return err
}

func (t *txn) recordKey(key []byte, modRev int64) {
	if t.readOnly {
		return
	}
	if t.reads == nil {
		t.reads = map[string]int64{}
	}
	if _, seen := t.reads[string(key)]; !seen {
		t.reads[string(key)] = modRev
	}
}

func (t *txn) recordRange(from, to []byte) {
	if t.readOnly || bytes.Compare(from, to) >= 0 {
		return
	}
	t.ranges = append(t.ranges, [2][]byte{bytes.Clone(from), bytes.Clone(to)})
}

func (t *txn) dataKey(key []byte) []byte {
	return append(slices.Clip(t.s.data), key...)
}

// Get implements store.ReadTx.
func (t *txn) Get(key []byte) ([]byte, error) {
	full := t.dataKey(key)
	if v, ok := t.writes[string(full)]; ok {
		if v == nil {
			return nil, store.ErrNotFound
		}
		return bytes.Clone(*v), nil
	}
	v, cached := t.cache[string(full)]
	if !cached {
		var found bool
		var err error
		if v, found, err = t.getRaw(full); err != nil {
			return nil, err
		}
		if !found {
			v = nil
		} else if v == nil {
			v = []byte{}
		}
		if t.cache == nil {
			t.cache = map[string][]byte{}
		}
		t.cache[string(full)] = v
	}
	if v == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Scan implements store.ReadTx.
func (t *txn) Scan(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(prefix, start, false, fn)
}

// ScanReverse implements store.ReadTx.
func (t *txn) ScanReverse(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	return t.scan(prefix, start, true, fn)
}

// scan walks [lo, hi) of etcd keys (the prefix's range, narrowed by start),
// page by page at the snapshot, merged with this transaction's own writes,
// and records the part it walked in the read set.
func (t *txn) scan(prefix, start []byte, reverse bool, fn func(key, value []byte) (bool, error)) error {
	lo := t.dataKey(prefix)
	hi := []byte(clientv3.GetPrefixRangeEnd(string(lo)))
	if start != nil {
		s := t.dataKey(start)
		if !reverse && bytes.Compare(s, lo) > 0 {
			lo = s
		}
		if reverse {
			if !bytes.HasPrefix(s, lo) && bytes.Compare(s, lo) < 0 {
				return nil
			}
			if end := append(bytes.Clone(s), 0); bytes.Compare(end, hi) < 0 {
				hi = end
			}
		}
	}
	if bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	pending := t.pendingIn(lo, hi, reverse)
	walkedLo, walkedHi := lo, hi // shrunk to what was walked when fn stops early
	from, to := lo, hi           // the part of etcd's range not yet fetched
	var page []*kv
	more := true
	for {
		if len(page) == 0 && more {
			var err error
			if page, more, err = t.fetch(from, to, reverse); err != nil {
				return err
			}
			if len(page) > 0 {
				last := page[len(page)-1].key
				if reverse {
					to = last
				} else {
					from = append(bytes.Clone(last), 0)
				}
			}
		}
		// Take the next key, from etcd's page or the pending writes.
		var next *kv
		switch {
		case len(page) > 0 && len(pending) > 0:
			c := bytes.Compare(page[0].key, pending[0].key)
			if reverse {
				c = -c
			}
			switch {
			case c < 0:
				next, page = page[0], page[1:]
			case c > 0:
				next, pending = pending[0], pending[1:]
			default: // the transaction rewrote (or deleted) this key
				next, page, pending = pending[0], page[1:], pending[1:]
			}
		case len(page) > 0:
			next, page = page[0], page[1:]
		case len(pending) > 0:
			next, pending = pending[0], pending[1:]
		default:
			t.recordRange(walkedLo, walkedHi)
			return nil
		}
		if next.deleted {
			continue
		}
		cont, err := fn(next.key[len(t.s.data):], next.value)
		if err != nil || !cont {
			if reverse {
				walkedLo = next.key
			} else {
				walkedHi = append(bytes.Clone(next.key), 0)
			}
			t.recordRange(walkedLo, walkedHi)
			return err
		}
	}
}

// kv is one key of a scan: from etcd, or a pending write of the transaction.
type kv struct {
	key, value []byte
	deleted    bool
}

// fetch reads one page of [from, to) at the snapshot.
func (t *txn) fetch(from, to []byte, reverse bool) ([]*kv, bool, error) {
	opts := []clientv3.OpOption{clientv3.WithRange(string(to)), clientv3.WithLimit(scanPage)}
	if reverse {
		opts = append(opts, clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	}
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(t.ctx, string(from), opts...)
	if err != nil {
		return nil, false, t.fail(err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	page := make([]*kv, len(resp.Kvs))
	for i, e := range resp.Kvs {
		page[i] = &kv{key: e.Key, value: e.Value}
		t.recordKey(e.Key, e.ModRevision)
	}
	return page, resp.More, nil
}

// pendingIn returns the transaction's writes to data keys in [lo, hi), in scan
// order.
func (t *txn) pendingIn(lo, hi []byte, reverse bool) []*kv {
	var out []*kv
	for k, v := range t.writes {
		key := []byte(k)
		if bytes.Compare(key, lo) < 0 || bytes.Compare(key, hi) >= 0 {
			continue
		}
		e := &kv{key: key, deleted: v == nil}
		if v != nil {
			e.value = *v
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *kv) int {
		if reverse {
			return bytes.Compare(b.key, a.key)
		}
		return bytes.Compare(a.key, b.key)
	})
	return out
}

// Put implements store.Tx.
func (t *txn) Put(key, value []byte) error {
	if t.readOnly {
		return store.ErrReadOnly
	}
	if len(key) == 0 {
		return errors.New("etcdstore: empty key")
	}
	full := t.dataKey(key)
	if n := len(full) + len(value) + requestOverhead; n > t.s.opts.MaxRequestBytes {
		return fmt.Errorf("%w: a value of %d bytes at %q (limit %d bytes per request)", ErrTooLarge, len(value), key, t.s.opts.MaxRequestBytes)
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	t.writes[string(full)] = &v
	return nil
}

// Delete implements store.Tx.
func (t *txn) Delete(key []byte) error {
	if t.readOnly {
		return store.ErrReadOnly
	}
	t.writes[string(t.dataKey(key))] = nil
	return nil
}

// NextSequence implements store.Tx: the counter is a key read and rewritten in
// the transaction, so two transactions taking the same sequence conflict and
// a rolled-back one leaves no gap.
func (t *txn) NextSequence(name string) (uint64, error) {
	if t.readOnly {
		return 0, store.ErrReadOnly
	}
	key := append(slices.Clip(t.s.seqs), name...)
	var cur uint64
	if v, ok := t.writes[string(key)]; ok {
		cur = binary.BigEndian.Uint64(*v)
	} else {
		b, found, err := t.getRaw(key)
		if err != nil {
			return 0, err
		}
		if found {
			if len(b) != 8 {
				return 0, fmt.Errorf("etcdstore: malformed sequence %q", name)
			}
			cur = binary.BigEndian.Uint64(b)
		}
	}
	next := binary.BigEndian.AppendUint64(nil, cur+1)
	t.writes[string(key)] = &next
	return cur + 1, nil
}

// OnCommit implements store.Tx.
func (t *txn) OnCommit(fn func()) { t.hooks = append(t.hooks, fn) }

// commit sends the buffered writes guarded by the read set. It reports false
// when a concurrent commit changed what the transaction read.
func (t *txn) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil // read-only: its snapshot was consistent
	}
	ops := make([]clientv3.Op, 0, len(t.writes)+1)
	size := 0
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic requests
	for _, k := range keys {
		if v := t.writes[k]; v != nil {
			ops = append(ops, clientv3.OpPut(k, string(*v)))
			size += len(k) + len(*v) + requestOverhead
		} else {
			ops = append(ops, clientv3.OpDelete(k))
			size += len(k) + requestOverhead
		}
	}
	ops = append(ops, clientv3.OpPut(string(t.s.marker), ""))
	if len(ops) > t.s.opts.MaxTxnOps {
		return false, fmt.Errorf("%w: the transaction writes %d keys (limit %d operations per etcd transaction)", ErrTooLarge, len(ops)-1, t.s.opts.MaxTxnOps)
	}
	if size > t.s.opts.MaxRequestBytes {
		return false, fmt.Errorf("%w: the transaction writes %d bytes (limit %d bytes per request)", ErrTooLarge, size, t.s.opts.MaxRequestBytes)
	}
	cmps := t.compares()
	var orElse []clientv3.Op
	f, fenced := t.s.fenceOf(t.ctx)
	if fenced {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev))
		orElse = append(orElse, clientv3.OpGet(f.key))
	}
	resp, err := t.s.cli.Txn(t.ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if err == nil && !resp.Succeeded && fenced {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 || kvs[0].CreateRevision != f.rev {
			return false, fmt.Errorf("%w (%s)", store.ErrNotLeader, f.key)
		}
	}
	if err != nil {
		if errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge) {
			return false, fmt.Errorf("%w: etcd refused the transaction (%d writes, %d bytes): %v", ErrTooLarge, len(ops)-1, size, err)
		}
		return false, fmt.Errorf("etcdstore: commit: %w", err)
	}
	return resp.Succeeded, nil
}

// compares guards the commit: every key read still as read, nothing new in a
// scanned range; or, when that is too many compares, no commit at all since
// the snapshot.
func (t *txn) compares() []clientv3.Cmp {
	if t.rev == 0 {
		return nil // blind writes
	}
	if len(t.reads)+len(t.ranges) > min(maxKeyCompares, t.s.opts.MaxTxnOps) {
		return []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(string(t.s.marker)), "<", t.rev+1)}
	}
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+len(t.ranges))
	for k, rev := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	for _, r := range t.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(string(r[0])), "<", t.rev+1).WithRange(string(r[1])))
	}
	return cmps
}
