package domain

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/storetest"
)

// memStore is an in-memory store.Store for tests that make hundreds of
// thousands of small transactions (the escalation property test): the same
// semantics as the bbolt store for one process — ordered keys, prefix
// scans, counters, commit hooks, rollback — without its per-commit I/O,
// which dominates such a test under the race detector.
//
// Keys are kept sorted per bucket, the key's first segment (up to and
// including the first "/"): inserting an index entry does not shift the
// event log's keys. Concatenating the buckets in name order keeps the
// global byte order, as every key of a bucket starts with its name and a
// name ends at its only "/".
type memStore struct {
	*memData
	closed atomic.Bool
}

// memData is what a memStore holds; reopen shares it with a new store.
type memData struct {
	mu      sync.RWMutex
	names   []string // bucket names, sorted
	buckets map[string][]string
	vals    map[string][]byte
	seqs    map[string]uint64
}

var _ store.Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{memData: &memData{buckets: map[string][]string{}, vals: map[string][]byte{}, seqs: map[string]uint64{}}}
}

// reopen returns a store over m's data, as opening a closed store again.
func (m *memStore) reopen() *memStore { return &memStore{memData: m.memData} }

func memBucket(key string) string {
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return key[:i+1]
	}
	return key
}

// View runs fn under the read lock.
func (m *memStore) View(_ context.Context, fn func(tx store.ReadTx) error) error {
	if m.closed.Load() {
		return store.ErrClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{m: m.memData})
}

// Update runs fn under the write lock, undoing its writes when it fails,
// and runs its commit hooks after releasing the lock (as bbolt does).
func (m *memStore) Update(_ context.Context, fn func(tx store.Tx) error) error {
	if m.closed.Load() {
		return store.ErrClosed
	}
	m.mu.Lock()
	tx := &memTx{m: m.memData, writable: true}
	if err := fn(tx); err != nil {
		for i := len(tx.undo) - 1; i >= 0; i-- {
			tx.undo[i]()
		}
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	for _, h := range tx.hooks {
		h()
	}
	return nil
}

// Close makes the store refuse transactions; its data stays (reopen).
func (m *memStore) Close() error {
	m.closed.Store(true)
	return nil
}

// memTx is a transaction of a memStore, which it holds locked.
type memTx struct {
	m        *memData
	writable bool
	undo     []func()
	hooks    []func()
}

func (t *memTx) Get(key []byte) ([]byte, error) {
	v, ok := t.m.vals[string(key)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(v), nil
}

// next returns the smallest key >= from (after, when strictly) with
// prefix, or false.
func (t *memTx) next(prefix, from string, strictly bool) (string, bool) {
	for _, b := range t.m.names {
		if !strings.HasPrefix(b, prefix) && !strings.HasPrefix(prefix, b) {
			continue
		}
		keys := t.m.buckets[b]
		i, found := slices.BinarySearch(keys, from)
		if found && strictly {
			i++
		}
		if i < len(keys) && strings.HasPrefix(keys[i], prefix) {
			return keys[i], true
		}
	}
	return "", false
}

// prev returns the largest key <= from (before, when strictly) with
// prefix, or false; from "" means the largest key with prefix.
func (t *memTx) prev(prefix, from string, strictly bool) (string, bool) {
	for n := len(t.m.names) - 1; n >= 0; n-- {
		b := t.m.names[n]
		if !strings.HasPrefix(b, prefix) && !strings.HasPrefix(prefix, b) {
			continue
		}
		keys := t.m.buckets[b]
		i := len(keys)
		if from != "" {
			j, found := slices.BinarySearch(keys, from)
			if found && !strictly {
				j++
			}
			i = j
		}
		for i--; i >= 0; i-- {
			if strings.HasPrefix(keys[i], prefix) {
				return keys[i], true
			}
			if keys[i] < prefix {
				break
			}
		}
	}
	return "", false
}

func (t *memTx) Scan(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	p, from := string(prefix), string(prefix)
	if start != nil && string(start) > from {
		from = string(start)
	}
	for k, ok := t.next(p, from, false); ok; k, ok = t.next(p, k, true) {
		more, err := fn([]byte(k), t.m.vals[k])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (t *memTx) ScanReverse(prefix, start []byte, fn func(key, value []byte) (bool, error)) error {
	p, from := string(prefix), ""
	if start != nil && strings.HasPrefix(string(start), p) {
		from = string(start)
	} else if start != nil && string(start) < p {
		return nil
	}
	for k, ok := t.prev(p, from, false); ok; k, ok = t.prev(p, k, true) {
		more, err := fn([]byte(k), t.m.vals[k])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// set stores (or, with ok false, removes) key, keeping the bucket sorted.
func (t *memTx) set(key string, v []byte, ok bool) {
	m := t.m
	b := memBucket(key)
	keys, had := m.buckets[b]
	if !had {
		i, _ := slices.BinarySearch(m.names, b)
		m.names = slices.Insert(m.names, i, b)
	}
	i, found := slices.BinarySearch(keys, key)
	switch {
	case ok && !found:
		keys = slices.Insert(keys, i, key)
	case !ok && found:
		keys = slices.Delete(keys, i, i+1)
	}
	m.buckets[b] = keys
	if ok {
		m.vals[key] = v
	} else {
		delete(m.vals, key)
	}
}

func (t *memTx) write(key string, v []byte, ok bool) error {
	if !t.writable {
		return store.ErrReadOnly
	}
	if key == "" {
		return errors.New("memstore: empty key")
	}
	old, had := t.m.vals[key]
	t.undo = append(t.undo, func() { t.set(key, old, had) })
	t.set(key, v, ok)
	return nil
}

func (t *memTx) Put(key, value []byte) error {
	return t.write(string(key), slices.Clone(value), true)
}

func (t *memTx) Delete(key []byte) error { return t.write(string(key), nil, false) }

func (t *memTx) NextSequence(name string) (uint64, error) {
	if !t.writable {
		return 0, store.ErrReadOnly
	}
	old := t.m.seqs[name]
	t.undo = append(t.undo, func() { t.m.seqs[name] = old })
	t.m.seqs[name] = old + 1
	return old + 1, nil
}

func (t *memTx) OnCommit(fn func()) { t.hooks = append(t.hooks, fn) }

// TestMemStoreConformance holds memStore to pkg/store's conformance suite.
func TestMemStoreConformance(t *testing.T) {
	var mu sync.Mutex
	stores := map[testing.TB]map[string]*memStore{} // a name reopens its store
	storetest.Run(t, func(t testing.TB, name string) store.Store {
		mu.Lock()
		defer mu.Unlock()
		if stores[t] == nil {
			stores[t] = map[string]*memStore{}
		}
		m := stores[t][name]
		if m == nil {
			m = newMemStore()
		} else {
			m = m.reopen()
		}
		stores[t][name] = m
		return m
	})
}
