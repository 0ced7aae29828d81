// Package storetest is the conformance suite every pkg/store backend passes. A
// backend's test file calls Run with one constructor; every change to store
// behaviour gets a case here, so the backends cannot drift apart.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"steward.dev/pkg/store"
)

// Factory opens the store called name. Opening the same name again after Close
// must show the data committed before (durability); distinct names are
// independent stores. The factory registers its own cleanup.
type Factory func(t testing.TB, name string) store.Store

// Run runs the whole conformance suite against the backend built by open.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetDelete", testPutGetDelete},
		{"RollbackOnError", testRollbackOnError},
		{"ReadOnlyView", testReadOnlyView},
		{"ScanPrefixOrder", testScanPrefixOrder},
		{"ScanStartAndStop", testScanStartAndStop},
		{"ScanReverse", testScanReverse},
		{"ValuesOutliveTransaction", testValuesOutliveTransaction},
		{"SequenceGapFreeOnRollback", testSequenceGapFreeOnRollback},
		{"ConcurrentSequences", testConcurrentSequences},
		{"OnCommit", testOnCommit},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"Durability", testDurability},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var ctx = context.Background()

func put(t testing.TB, s store.Store, kv ...string) {
	t.Helper()
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
}

func get(t testing.TB, s store.Store, key string) (string, error) {
	t.Helper()
	var v []byte
	err := s.View(ctx, func(tx store.ReadTx) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	})
	return string(v), err
}

func scan(t testing.TB, s store.Store, reverse bool, prefix, start string, limit int) []string {
	t.Helper()
	var keys []string
	var startKey []byte
	if start != "" {
		startKey = []byte(start)
	}
	err := s.View(ctx, func(tx store.ReadTx) error {
		walk := tx.Scan
		if reverse {
			walk = tx.ScanReverse
		}
		return walk([]byte(prefix), startKey, func(k, v []byte) (bool, error) {
			keys = append(keys, string(k)+"="+string(v))
			return limit <= 0 || len(keys) < limit, nil
		})
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return keys
}

func equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func testGetMissing(t *testing.T, open Factory) {
	s := open(t, "a")
	if _, err := get(t, s, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func testPutGetDelete(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "k", "v1")
	put(t, s, "k", "v2")
	if v, err := get(t, s, "k"); err != nil || v != "v2" {
		t.Fatalf("Get = %q, %v; want v2", v, err)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete([]byte("k")); err != nil {
			return err
		}
		return tx.Delete([]byte("never-there"))
	})
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := get(t, s, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(nil, []byte("x")) }); err == nil {
		t.Fatal("Put with empty key succeeded")
	}
}

func testRollbackOnError(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "keep", "1")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		_ = tx.Put([]byte("keep"), []byte("changed"))
		_ = tx.Put([]byte("new"), []byte("x"))
		_ = tx.Delete([]byte("keep"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want the fn's error", err)
	}
	if v, err := get(t, s, "keep"); err != nil || v != "1" {
		t.Fatalf("rolled-back write visible: %q %v", v, err)
	}
	if _, err := get(t, s, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back insert visible: %v", err)
	}
}

func testReadOnlyView(t *testing.T, open Factory) {
	s := open(t, "a")
	err := s.View(ctx, func(tx store.ReadTx) error {
		w, ok := tx.(store.Tx)
		if !ok {
			return nil // the backend does not even expose writes: fine
		}
		if err := w.Put([]byte("k"), []byte("v")); !errors.Is(err, store.ErrReadOnly) {
			return fmt.Errorf("Put in View = %v, want ErrReadOnly", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testScanPrefixOrder(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "b/2", "x", "a/1", "1", "a/3", "3", "a/2", "2", "a", "root", "a0", "no", "a/\xff", "ff")
	equal(t, "scan a/", scan(t, s, false, "a/", "", 0), []string{"a/1=1", "a/2=2", "a/3=3", "a/\xff=ff"})
	equal(t, "scan everything", scan(t, s, false, "", "", 0), []string{"a=root", "a/1=1", "a/2=2", "a/3=3", "a/\xff=ff", "a0=no", "b/2=x"})
	equal(t, "scan none", scan(t, s, false, "c/", "", 0), nil)
}

func testScanStartAndStop(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "p/1", "1", "p/2", "2", "p/3", "3", "p/4", "4")
	equal(t, "from p/3", scan(t, s, false, "p/", "p/3", 0), []string{"p/3=3", "p/4=4"})
	equal(t, "from p/25", scan(t, s, false, "p/", "p/25", 0), []string{"p/3=3", "p/4=4"})
	equal(t, "start before prefix", scan(t, s, false, "p/", "a", 0), []string{"p/1=1", "p/2=2", "p/3=3", "p/4=4"})
	equal(t, "stop after 2", scan(t, s, false, "p/", "", 2), []string{"p/1=1", "p/2=2"})
	stop := errors.New("stop")
	err := s.View(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte("p/"), nil, func(k, v []byte) (bool, error) { return true, stop })
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Scan callback error = %v, want it returned", err)
	}
}

func testScanReverse(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "o/1", "x", "p/1", "1", "p/2", "2", "p/3", "3", "q/1", "y", "\xff\xff", "z")
	equal(t, "reverse p/", scan(t, s, true, "p/", "", 0), []string{"p/3=3", "p/2=2", "p/1=1"})
	equal(t, "reverse from p/2", scan(t, s, true, "p/", "p/2", 0), []string{"p/2=2", "p/1=1"})
	equal(t, "reverse from p/25", scan(t, s, true, "p/", "p/25", 0), []string{"p/2=2", "p/1=1"})
	equal(t, "reverse start beyond", scan(t, s, true, "p/", "z", 0), []string{"p/3=3", "p/2=2", "p/1=1"})
	equal(t, "reverse limit", scan(t, s, true, "p/", "", 1), []string{"p/3=3"})
	equal(t, "reverse all", scan(t, s, true, "", "", 2), []string{"\xff\xff=z", "q/1=y"})
	equal(t, "reverse 0xff prefix", scan(t, s, true, "\xff", "", 0), []string{"\xff\xff=z"})
}

func testValuesOutliveTransaction(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "k", "value")
	var v []byte
	_ = s.View(ctx, func(tx store.ReadTx) error {
		v, _ = tx.Get([]byte("k"))
		return nil
	})
	put(t, s, "k", "other", "filler", string(bytes.Repeat([]byte("x"), 8192)))
	if string(v) != "value" {
		t.Fatalf("value read in a finished transaction changed to %q", v)
	}
}

func testSequenceGapFreeOnRollback(t *testing.T, open Factory) {
	s := open(t, "a")
	next := func(fail bool) uint64 {
		var n uint64
		_ = s.Update(ctx, func(tx store.Tx) error {
			var err error
			if n, err = tx.NextSequence("events"); err != nil {
				t.Fatalf("NextSequence: %v", err)
			}
			if fail {
				return errors.New("rollback")
			}
			return nil
		})
		return n
	}
	if n := next(false); n != 1 {
		t.Fatalf("first sequence = %d, want 1", n)
	}
	next(true)
	if n := next(false); n != 2 {
		t.Fatalf("sequence after rollback = %d, want 2", n)
	}
	var other uint64
	_ = s.Update(ctx, func(tx store.Tx) error { other, _ = tx.NextSequence("other"); return nil })
	if other != 1 {
		t.Fatalf("independent counter = %d, want 1", other)
	}
}

func testConcurrentSequences(t *testing.T, open Factory) {
	s := open(t, "a")
	const workers, each = 8, 25
	var mu sync.Mutex
	var got []uint64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.Update(ctx, func(tx store.Tx) error {
					n, err := tx.NextSequence("seq")
					if err != nil {
						return err
					}
					tx.OnCommit(func() { mu.Lock(); got = append(got, n); mu.Unlock() })
					return tx.Put(fmt.Appendf(nil, "rec/%08d", n), []byte("x"))
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if len(got) != workers*each {
		t.Fatalf("%d commits acknowledged, want %d", len(got), workers*each)
	}
	for i, n := range got {
		if n != uint64(i+1) {
			t.Fatalf("sequences not gap-free and unique: position %d holds %d", i, n)
		}
	}
	if n := len(scan(t, s, false, "rec/", "", 0)); n != workers*each {
		t.Fatalf("%d records stored, want %d", n, workers*each)
	}
}

func testOnCommit(t *testing.T, open Factory) {
	s := open(t, "a")
	var calls []string
	_ = s.Update(ctx, func(tx store.Tx) error {
		tx.OnCommit(func() {
			// The write must already be visible to others when the hook runs.
			if _, err := get(t, s, "k"); err != nil {
				t.Errorf("hook ran before commit was visible: %v", err)
			}
			calls = append(calls, "first")
		})
		tx.OnCommit(func() { calls = append(calls, "second") })
		return tx.Put([]byte("k"), []byte("v"))
	})
	_ = s.Update(ctx, func(tx store.Tx) error {
		tx.OnCommit(func() { calls = append(calls, "rolled back") })
		return errors.New("no")
	})
	equal(t, "hooks", calls, []string{"first", "second"})
}

func testSnapshotIsolation(t *testing.T, open Factory) {
	s := open(t, "a")
	put(t, s, "k", "before")
	inView, written := make(chan struct{}), make(chan struct{})
	go func() {
		<-inView
		put(t, s, "k", "after", "k2", "new")
		close(written)
	}()
	err := s.View(ctx, func(tx store.ReadTx) error {
		// A snapshot is taken at the latest by the transaction's first read
		// (etcd's is the revision that read saw), so read before the write.
		if v, err := tx.Get([]byte("k")); err != nil || string(v) != "before" {
			return fmt.Errorf("view's first read saw %q %v", v, err)
		}
		close(inView)
		// bbolt's writer may wait for open readers when it must grow its
		// memory map, so do not insist that the write finishes first: either
		// way this snapshot must not see it.
		select {
		case <-written:
		case <-time.After(time.Second):
		}
		v, err := tx.Get([]byte("k"))
		if err != nil || string(v) != "before" {
			return fmt.Errorf("view saw %q %v, want its snapshot's value", v, err)
		}
		if _, err := tx.Get([]byte("k2")); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("view saw a key written after it began: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-written
}

func testDurability(t *testing.T, open Factory) {
	s := open(t, "durable")
	put(t, s, "k", "v")
	var seq uint64
	_ = s.Update(ctx, func(tx store.Tx) error { seq, _ = tx.NextSequence("s"); return nil })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, "durable")
	if v, err := get(t, s, "k"); err != nil || v != "v" {
		t.Fatalf("after reopen Get = %q, %v", v, err)
	}
	_ = s.Update(ctx, func(tx store.Tx) error {
		n, _ := tx.NextSequence("s")
		if n != seq+1 {
			t.Errorf("sequence after reopen = %d, want %d", n, seq+1)
		}
		return nil
	})
}

func testClosed(t *testing.T, open Factory) {
	s := open(t, "a")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.View(ctx, func(store.ReadTx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("View after Close = %v, want ErrClosed", err)
	}
	if err := s.Update(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update after Close = %v, want ErrClosed", err)
	}
}
