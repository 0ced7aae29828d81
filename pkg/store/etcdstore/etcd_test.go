package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"steward.dev/pkg/etcdserver/etcdtest"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/etcdstore"
	"steward.dev/pkg/store/storetest"
)

// endpoint is one etcd member shared by the package's tests; each store uses
// a prefix of its own.
var endpoint string

func TestMain(m *testing.M) { os.Exit(etcdtest.Run(m, &endpoint)) }

// open returns a store under a prefix unique to the test and name (R32: the
// same conformance suite as bbolt, against a real etcd).
func open(t testing.TB, name string, opts etcdstore.Options) *etcdstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "/test/" + t.Name() + "/" + name + "/"
	}
	s, err := etcdstore.Dial(context.Background(), []string{endpoint}, 5*time.Second, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t testing.TB, name string) store.Store {
		return open(t, name, etcdstore.Options{})
	})
}

var ctx = context.Background()

func putKV(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte(k), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

// TestReplicasNoLostUpdate: two replicas (two stores on one prefix) increment
// one counter by read-modify-write and take NextSequence concurrently: every
// increment counts and every sequence is taken once, gap-free (R32).
func TestReplicasNoLostUpdate(t *testing.T) {
	a := open(t, "shared", etcdstore.Options{})
	b := open(t, "shared", etcdstore.Options{Prefix: "/test/" + t.Name() + "/shared/"})
	const perWorker, workers = 25, 4
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				var seq uint64
				err := s.Update(ctx, func(tx store.Tx) error {
					n := 0
					if v, err := tx.Get([]byte("counter")); err == nil {
						n, _ = strconv.Atoi(string(v))
					} else if !errors.Is(err, store.ErrNotFound) {
						return err
					}
					var err error
					if seq, err = tx.NextSequence("s"); err != nil {
						return err
					}
					return tx.Put([]byte("counter"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seqs[seq] {
					t.Errorf("sequence %d taken twice", seq)
				}
				seqs[seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var v []byte
	if err := a.View(ctx, func(tx store.ReadTx) error {
		var err error
		v, err = tx.Get([]byte("counter"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(perWorker * workers); string(v) != want {
		t.Errorf("counter = %s, want %s: an increment was lost", v, want)
	}
	for i := uint64(1); i <= perWorker*workers; i++ {
		if !seqs[i] {
			t.Errorf("sequence %d never taken: a gap", i)
		}
	}
}

// TestConflicts: a transaction whose reads another replica changes before it
// commits runs again on a new snapshot: a key it read rewritten or deleted, a
// key inserted into a range it scanned (a phantom), in either scan order; and,
// past the per-key compares, any commit since its snapshot. A commit outside
// what it read is no conflict.
func TestConflicts(t *testing.T) {
	seed := func(s store.Store) {
		for i := range 3 {
			putKV(t, s, fmt.Sprintf("r/%d", i), "v")
		}
	}
	cases := []struct {
		name  string
		read  func(tx store.Tx) error
		other func(tx store.Tx) error
		runs  int // how often fn runs: 2 when other conflicts with read
	}{
		{"get then rewrite", func(tx store.Tx) error { _, err := tx.Get([]byte("r/1")); return err },
			func(tx store.Tx) error { return tx.Put([]byte("r/1"), []byte("w")) }, 2},
		{"get missing then create", func(tx store.Tx) error { _, _ = tx.Get([]byte("r/9")); return nil },
			func(tx store.Tx) error { return tx.Put([]byte("r/9"), []byte("w")) }, 2},
		{"scan then delete", scanAll(false), func(tx store.Tx) error { return tx.Delete([]byte("r/2")) }, 2},
		{"scan then insert", scanAll(false), func(tx store.Tx) error { return tx.Put([]byte("r/15"), []byte("w")) }, 2},
		{"reverse scan then insert", scanAll(true), func(tx store.Tx) error { return tx.Put([]byte("r/05"), []byte("w")) }, 2},
		{"many reads then any commit", func(tx store.Tx) error {
			for i := range 600 {
				_, _ = tx.Get(fmt.Appendf(nil, "many/%d", i))
			}
			return nil
		}, func(tx store.Tx) error { return tx.Put([]byte("elsewhere"), []byte("w")) }, 2},
		{"scan then unrelated commit", scanAll(false), func(tx store.Tx) error { return tx.Put([]byte("s/1"), []byte("w")) }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "/test/" + t.Name() + "/"
			a := open(t, "", etcdstore.Options{Prefix: prefix})
			b := open(t, "", etcdstore.Options{Prefix: prefix})
			seed(a)
			runs := 0
			err := a.Update(ctx, func(tx store.Tx) error {
				runs++
				if err := tc.read(tx); err != nil {
					return err
				}
				if runs == 1 { // another replica commits in between
					if err := b.Update(ctx, tc.other); err != nil {
						return err
					}
				}
				return tx.Put([]byte("out"), []byte("x"))
			})
			if err != nil {
				t.Fatal(err)
			}
			if runs != tc.runs {
				t.Errorf("fn ran %d times, want %d (2: a conflict, 1: none)", runs, tc.runs)
			}
		})
	}
}

func scanAll(reverse bool) func(tx store.Tx) error {
	return func(tx store.Tx) error {
		walk := tx.Scan
		if reverse {
			walk = tx.ScanReverse
		}
		return walk([]byte("r/"), nil, func(_, _ []byte) (bool, error) { return true, nil })
	}
}

// TestTooLarge: a value or a transaction beyond etcd's limits is refused with
// ErrTooLarge before anything is sent, and nothing of it is written.
func TestTooLarge(t *testing.T) {
	s := open(t, "a", etcdstore.Options{MaxTxnOps: 10, MaxRequestBytes: 1 << 10})
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("big"), make([]byte, 2<<10)) })
	if !errors.Is(err, etcdstore.ErrTooLarge) {
		t.Errorf("Put of 2 KiB = %v, want ErrTooLarge", err)
	}
	err = s.Update(ctx, func(tx store.Tx) error {
		for i := range 11 {
			if err := tx.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, etcdstore.ErrTooLarge) {
		t.Errorf("11 writes = %v, want ErrTooLarge", err)
	}
	err = s.View(ctx, func(tx store.ReadTx) error {
		return tx.Scan(nil, nil, func(k, _ []byte) (bool, error) { return false, fmt.Errorf("%q was written", k) })
	})
	if err != nil {
		t.Error(err)
	}
}

// TestChanges: a replica following the store from a revision sees every
// later commit once, whole, in commit order, whichever replica made it, and
// only the keys under its prefix.
func TestChanges(t *testing.T) {
	prefix := "/test/" + t.Name() + "/"
	a := open(t, "", etcdstore.Options{Prefix: prefix})
	b := open(t, "", etcdstore.Options{Prefix: prefix})
	putKV(t, a, "x/before", "0")
	rev, err := a.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	putKV(t, b, "x/1", "1")
	if err := a.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete([]byte("x/before")); err != nil {
			return err
		}
		if err := tx.Put([]byte("y/other"), []byte("-")); err != nil {
			return err
		}
		return tx.Put([]byte("x/2"), []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []string
	err = a.Changes(cctx, []byte("x/"), rev, func(r int64, changes []store.Change) error {
		var commit []string
		for _, c := range changes {
			if c.Deleted {
				commit = append(commit, "-"+string(c.Key))
			} else {
				commit = append(commit, string(c.Key)+"="+string(c.Value))
			}
		}
		got = append(got, fmt.Sprint(commit))
		if len(got) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Changes = %v", err)
	}
	if want := "[[x/1=1] [x/2=2 -x/before]]"; fmt.Sprint(got) != want {
		t.Errorf("commits = %v, want %s", got, want)
	}
}

var errStop = errors.New("stop")

// TestLeadFencing (issue 17 point 3): two replicas campaign for one
// leadership; one leads, and its writes commit. When its leadership is lost
// without it noticing (its key deleted, as a lease expiring during a long
// pause would), the other replica is elected, and the old leader's next
// write fails with ErrNotLeader instead of committing.
func TestLeadFencing(t *testing.T) {
	prefix := "/test/" + t.Name() + "/"
	a := open(t, "", etcdstore.Options{Prefix: prefix})
	b := open(t, "", etcdstore.Options{Prefix: prefix})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type leader struct {
		name string
		ctx  context.Context
	}
	elected := make(chan leader, 2)
	release := make(chan struct{})
	for name, s := range map[string]*etcdstore.Store{"a": a, "b": b} {
		go func() {
			_ = s.Lead(ctx, "sweeper", func(lctx context.Context) error {
				elected <- leader{name, lctx}
				select {
				case <-release:
				case <-lctx.Done():
				}
				return nil
			})
		}()
	}
	first := <-elected
	st := map[string]*etcdstore.Store{"a": a, "b": b}[first.name]
	if err := st.Update(first.ctx, func(tx store.Tx) error { return tx.Put([]byte("swept"), []byte("1")) }); err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	select {
	case l := <-elected:
		t.Fatalf("%s elected while %s leads", l.name, first.name)
	case <-time.After(300 * time.Millisecond):
	}

	// The leader's key (the oldest candidate's) disappears behind its back.
	resp, err := st.Client().Get(ctx, prefix+"elections/sweeper/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("the leader key: %v %v", resp, err)
	}
	if _, err := st.Client().Delete(ctx, string(resp.Kvs[0].Key)); err != nil {
		t.Fatal(err)
	}
	second := <-elected
	if second.name == first.name {
		t.Fatalf("%s elected twice", second.name)
	}
	err = st.Update(first.ctx, func(tx store.Tx) error { return tx.Put([]byte("swept"), []byte("stale")) })
	if !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("the deposed leader's write = %v, want ErrNotLeader", err)
	}
	other := map[string]*etcdstore.Store{"a": a, "b": b}[second.name]
	if err := other.Update(second.ctx, func(tx store.Tx) error { return tx.Put([]byte("swept"), []byte("2")) }); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
	close(release)
}

// TestGroupCommit: concurrent Update calls of one process share etcd
// transactions; a call that fails has its writes and hooks undone and gets
// its own error, and every other call commits, runs its hooks once and sees
// the writes of the calls committed before it.
func TestGroupCommit(t *testing.T) {
	s := open(t, "a", etcdstore.Options{})
	errBoom := errors.New("boom")
	const n = 60
	var hooks sync.Map
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				sum := 0
				if v, err := tx.Get([]byte("sum")); err == nil {
					sum, _ = strconv.Atoi(string(v))
				}
				if err := tx.Put([]byte("sum"), []byte(strconv.Itoa(sum+1))); err != nil {
					return err
				}
				if err := tx.Put(fmt.Appendf(nil, "k/%02d", i), []byte("v")); err != nil {
					return err
				}
				tx.OnCommit(func() {
					if _, dup := hooks.LoadOrStore(i, true); dup {
						t.Errorf("call %d's hook ran twice", i)
					}
				})
				if i%7 == 0 {
					return errBoom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if i%7 == 0 {
			failed++
			if !errors.Is(err, errBoom) {
				t.Errorf("call %d = %v, want its own error", i, err)
			}
			if _, ran := hooks.Load(i); ran {
				t.Errorf("failed call %d's hook ran", i)
			}
			continue
		}
		if err != nil {
			t.Errorf("call %d = %v", i, err)
		}
		if _, ran := hooks.Load(i); !ran {
			t.Errorf("call %d's hook did not run", i)
		}
	}
	var keys []string
	var sum []byte
	if err := s.View(ctx, func(tx store.ReadTx) error {
		var err error
		if sum, err = tx.Get([]byte("sum")); err != nil {
			return err
		}
		return tx.Scan([]byte("k/"), nil, func(k, _ []byte) (bool, error) { keys = append(keys, string(k)); return true, nil })
	}); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(n - failed); string(sum) != want || len(keys) != n-failed {
		t.Errorf("sum %s and %d keys, want %s and %d: a failed call's writes were kept or a good one's lost", sum, len(keys), want, n-failed)
	}
	for _, k := range keys {
		if i, _ := strconv.Atoi(strings.TrimPrefix(k, "k/")); i%7 == 0 {
			t.Errorf("failed call %d's key %s was written", i, k)
		}
	}
}
