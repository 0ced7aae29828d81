package bboltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

var ctx = context.Background()

// openTemp opens a store in a temporary directory; cleanup closes it and checks
// the file.
func openTemp(t testing.TB, opts bboltstore.Options) *bboltstore.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := bboltstore.Open(path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkFile(t, path)
	})
	return s
}

// holdWriter starts a lone Update whose fn blocks until release is called,
// and returns once that fn runs: Update calls made meanwhile queue up and
// form the next batch, in the order they were made.
func holdWriter(t *testing.T, s *bboltstore.Store) (release func()) {
	t.Helper()
	running, proceed := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.Update(ctx, func(store.Tx) error {
			close(running)
			<-proceed
			return nil
		})
	}()
	<-running
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(proceed)
			if err := <-errc; err != nil {
				t.Errorf("holding Update: %v", err)
			}
		})
	}
	t.Cleanup(release) // before the store's Close, which would wait for it
	return release
}

// waitQueued waits until n Update calls wait for the committer.
func waitQueued(t *testing.T, s *bboltstore.Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.Queued() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d Update calls queued after 10s, want %d", s.Queued(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// A call is the outcome of an Update made in its own goroutine.
type call struct {
	err       error
	returned  bool // Update returned (rather than panicking or exiting)
	recovered any  // the panic Update raised
	hooksRan  bool // its commit hook had run when Update returned
}

// enqueue calls Update(ctx, fn) in a new goroutine, waits until the call is
// queued, and returns a channel delivering its outcome. hookRan is the
// flag fn's commit hook sets.
func enqueue(t *testing.T, s *bboltstore.Store, ctx context.Context, hookRan *atomic.Bool, fn func(store.Tx) error) <-chan call {
	t.Helper()
	n := s.Queued()
	out := launch(s, ctx, hookRan, fn)
	waitQueued(t, s, n+1)
	return out
}

// launch calls Update(ctx, fn) in a new goroutine and returns a channel
// delivering its outcome.
func launch(s *bboltstore.Store, ctx context.Context, hookRan *atomic.Bool, fn func(store.Tx) error) <-chan call {
	out := make(chan call, 1)
	go func() {
		var c call
		defer func() {
			c.recovered = recover()
			c.hooksRan = hookRan != nil && hookRan.Load()
			out <- c // also after runtime.Goexit, with returned false
		}()
		c.err = s.Update(ctx, fn)
		c.returned = true
	}()
	return out
}

func getKey(t testing.TB, s store.Store, key string) ([]byte, error) {
	t.Helper()
	var v []byte
	err := s.View(ctx, func(tx store.ReadTx) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	})
	return v, err
}

// TestBatchOutcomes queues calls that succeed, fail, panic or exit into one
// batch and checks that each caller gets its own outcome, that only the
// successful calls' writes are kept, in one transaction, and that their
// sequences are gap-free.
func TestBatchOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		calls string // one letter a call, in queue order: o ok, f fails, p panics, x runtime.Goexit
	}{
		{"all commit", "ooo"},
		{"first fails", "foo"},
		{"middle fails", "ofo"},
		{"last fails", "oof"},
		{"several fail", "fofof"},
		{"all fail", "fff"},
		{"panic in the middle", "opo"},
		{"panic and failure", "pfoo"},
		{"goexit in the middle", "oxo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, bboltstore.Options{})
			release := holdWriter(t, s)
			n := len(tc.calls)
			runs := make([]atomic.Int32, n)
			hooks := make([]atomic.Bool, n)
			committed := make([]struct{ seq, txID uint64 }, n)
			outs := make([]<-chan call, n)
			for i, kind := range tc.calls {
				outs[i] = enqueue(t, s, ctx, &hooks[i], func(tx store.Tx) error {
					runs[i].Add(1)
					seq, err := tx.NextSequence("seq")
					if err != nil {
						return err
					}
					if err := tx.Put(fmt.Appendf(nil, "k/%d", i), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
						return err
					}
					id := uint64(bboltstore.TxID(tx))
					tx.OnCommit(func() {
						if hooks[i].Swap(true) {
							t.Errorf("call %d: hook ran twice", i)
						}
						committed[i].seq, committed[i].txID = seq, id
					})
					switch kind {
					case 'f':
						return fmt.Errorf("call %d fails", i)
					case 'p':
						panic(fmt.Sprintf("call %d panics", i))
					case 'x':
						runtime.Goexit()
					}
					return nil
				})
			}
			release()

			okBefore := 0 // successful calls queued before this one
			var seqs []uint64
			txIDs := map[uint64]bool{}
			for i, kind := range tc.calls {
				c := <-outs[i]
				v, getErr := getKey(t, s, fmt.Sprintf("k/%d", i))
				if kind == 'o' {
					if !c.returned || c.err != nil || !c.hooksRan {
						t.Errorf("call %d: %+v, want success with its hook run", i, c)
					}
					if getErr != nil || binary.BigEndian.Uint64(v) != committed[i].seq {
						t.Errorf("call %d: stored %x, %v; want sequence %d", i, v, getErr, committed[i].seq)
					}
					seqs = append(seqs, committed[i].seq)
					txIDs[committed[i].txID] = true
					okBefore++
					continue
				}
				if !errors.Is(getErr, store.ErrNotFound) {
					t.Errorf("call %d (%c): its write was kept: %x, %v", i, kind, v, getErr)
				}
				if c.hooksRan {
					t.Errorf("call %d (%c): hook ran", i, kind)
				}
				switch kind {
				case 'f':
					want := fmt.Sprintf("call %d fails", i)
					if !c.returned || c.err == nil || c.err.Error() != want {
						t.Errorf("call %d: %+v, want error %q", i, c, want)
					}
					// Confirmed alone only when it failed after others' writes.
					wantRuns := int32(1)
					if okBefore > 0 {
						wantRuns = 2
					}
					if got := runs[i].Load(); got != wantRuns {
						t.Errorf("failing call %d ran %d times, want %d", i, got, wantRuns)
					}
				case 'p':
					if want := fmt.Sprintf("call %d panics", i); c.returned || c.recovered != want {
						t.Errorf("call %d: %+v, want panic %q", i, c, want)
					}
				case 'x':
					if c.returned || c.recovered != nil {
						t.Errorf("call %d: %+v, want runtime.Goexit", i, c)
					}
				}
			}
			sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
			for i, seq := range seqs {
				if seq != uint64(i+1) {
					t.Fatalf("committed sequences %v, want 1..%d", seqs, len(seqs))
				}
			}
			if len(txIDs) > 1 {
				t.Errorf("successful calls committed in %d transactions, want 1", len(txIDs))
			}
			// The store keeps working.
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("after"), []byte("x")) }); err != nil {
				t.Fatalf("Update after the batch: %v", err)
			}
		})
	}
}

// TestLoneOutcomes checks a lone Update (run on its caller's goroutine, not
// batched) that succeeds, fails, panics or exits, and that the store keeps
// working after it.
func TestLoneOutcomes(t *testing.T) {
	errFail := errors.New("fails")
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want call
	}{
		{"commits", func(store.Tx) error { return nil }, call{returned: true, hooksRan: true}},
		{"fails", func(store.Tx) error { return errFail }, call{returned: true, err: errFail}},
		{"panics", func(store.Tx) error { panic("lone panic") }, call{recovered: "lone panic"}},
		{"exits", func(store.Tx) error { runtime.Goexit(); return nil }, call{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, bboltstore.Options{})
			var hookRan atomic.Bool
			c := <-launch(s, ctx, &hookRan, func(tx store.Tx) error {
				tx.OnCommit(func() { hookRan.Store(true) })
				if err := tx.Put([]byte("k"), []byte("v")); err != nil {
					return err
				}
				return tc.fn(tx)
			})
			if c != tc.want {
				t.Errorf("Update: %+v, want %+v", c, tc.want)
			}
			if _, err := getKey(t, s, "k"); (err == nil) != tc.want.hooksRan {
				t.Errorf("write kept: %v, want %v", err == nil, tc.want.hooksRan)
			}
			// Lone and batched Updates keep working.
			release := holdWriter(t, s)
			out := enqueue(t, s, ctx, nil, func(tx store.Tx) error { return tx.Put([]byte("after"), nil) })
			release()
			if c := <-out; c.err != nil || !c.returned {
				t.Fatalf("Update after: %+v", c)
			}
		})
	}
}

// TestConcurrentUpdates runs many concurrent Updates, some failing, and
// checks that each successful one is stored, with its hook run before Update
// returned, and that the committed sequences are gap-free.
func TestConcurrentUpdates(t *testing.T) {
	for _, maxBatch := range []int{1, 8, 0} {
		t.Run(fmt.Sprintf("MaxBatch=%d", maxBatch), func(t *testing.T) {
			s := openTemp(t, bboltstore.Options{MaxBatch: maxBatch})
			const callers = 300
			errFail := errors.New("every third call fails")
			var mu sync.Mutex
			var seqs []uint64
			txIDs := map[int]bool{}
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					var hookRan bool
					err := s.Update(ctx, func(tx store.Tx) error {
						seq, err := tx.NextSequence("seq")
						if err != nil {
							return err
						}
						if err := tx.Put(fmt.Appendf(nil, "rec/%08d", seq), fmt.Appendf(nil, "%d", i)); err != nil {
							return err
						}
						if i%3 == 0 {
							return errFail
						}
						id := bboltstore.TxID(tx)
						tx.OnCommit(func() {
							hookRan = true
							mu.Lock()
							seqs = append(seqs, seq)
							txIDs[id] = true
							mu.Unlock()
						})
						return nil
					})
					switch {
					case i%3 == 0 && !errors.Is(err, errFail):
						t.Errorf("failing call %d returned %v", i, err)
					case i%3 != 0 && (err != nil || !hookRan):
						t.Errorf("call %d returned %v, hook run: %v", i, err, hookRan)
					}
				})
			}
			wg.Wait()
			want := callers - (callers+2)/3
			sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
			if len(seqs) != want {
				t.Fatalf("%d commits acknowledged, want %d", len(seqs), want)
			}
			for i, seq := range seqs {
				if seq != uint64(i+1) {
					t.Fatalf("sequences not gap-free: position %d holds %d", i, seq)
				}
			}
			var stored int
			err := s.View(ctx, func(tx store.ReadTx) error {
				return tx.Scan([]byte("rec/"), nil, func(k, v []byte) (bool, error) {
					stored++
					return true, nil
				})
			})
			if err != nil || stored != want {
				t.Fatalf("%d records stored (%v), want %d", stored, err, want)
			}
			t.Logf("%d successful Updates in %d transactions", want, len(txIDs))
		})
	}
}

// TestSeatRace has many callers race for a few seats, most failing, and
// checks that it ends with exactly the seats taken, without running fns an
// unbounded number of times.
func TestSeatRace(t *testing.T) {
	s := openTemp(t, bboltstore.Options{})
	const callers, seats = 1000, 5
	errFull := errors.New("no seat left")
	var runs atomic.Int64
	var won atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.Tx) error {
				runs.Add(1)
				var taken uint64
				if v, err := tx.Get([]byte("taken")); err == nil {
					taken = binary.BigEndian.Uint64(v)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if taken == seats {
					return errFull
				}
				if err := tx.Put([]byte("taken"), binary.BigEndian.AppendUint64(nil, taken+1)); err != nil {
					return err
				}
				return tx.Put(fmt.Appendf(nil, "holder/%04d", i), nil)
			})
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, errFull):
				t.Errorf("caller %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	v, err := getKey(t, s, "taken")
	if err != nil || binary.BigEndian.Uint64(v) != seats || won.Load() != seats {
		t.Fatalf("taken = %x (%v), %d callers won; want %d", v, err, won.Load(), seats)
	}
	var holders int
	_ = s.View(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte("holder/"), nil, func(k, v []byte) (bool, error) { holders++; return true, nil })
	})
	if holders != seats {
		t.Fatalf("%d holders stored, want %d", holders, seats)
	}
	if n := runs.Load(); n > 2*callers {
		t.Errorf("fns ran %d times for %d callers", n, callers)
	}
	t.Logf("fns ran %d times for %d callers", runs.Load(), callers)
}

// errCtx is a context whose Err is set by the test and whose Done never fires,
// so that only the committer notices it.
type errCtx struct {
	context.Context
	err atomic.Pointer[error]
}

func (c *errCtx) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// TestContext checks that a call whose ctx ends before its fn starts returns
// ctx.Err() without running it, and that one whose fn started completes.
func TestContext(t *testing.T) {
	errGone := errors.New("caller gone")
	tests := []struct {
		name string
		// run makes an Update with a context it ends at some point, while
		// a lone Update holds the writer (release lets it go); fn sets ran.
		run     func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call
		wantErr error
		wantRan bool
	}{
		{"done before Update", func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return call{err: s.Update(c, fn)}
		}, context.Canceled, false},
		{"cancelled while queued", func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call {
			c, cancel := context.WithCancel(ctx)
			out := enqueue(t, s, c, nil, fn)
			cancel()
			r := <-out // returns while the writer is still held
			release()
			return r
		}, context.Canceled, false},
		{"ended while queued, seen by the committer", func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call {
			c := &errCtx{Context: ctx}
			out := enqueue(t, s, c, nil, fn)
			c.err.Store(&errGone)
			release()
			return <-out
		}, errGone, false},
		{"cancelled once fn started, in a batch", func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			out := enqueue(t, s, c, nil, func(tx store.Tx) error {
				cancel()
				return fn(tx)
			})
			release()
			return <-out
		}, nil, true},
		{"cancelled once a lone fn started", func(t *testing.T, s *bboltstore.Store, release func(), fn func(store.Tx) error) call {
			release()
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			return call{err: s.Update(c, func(tx store.Tx) error {
				cancel()
				return fn(tx)
			})}
		}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, bboltstore.Options{})
			release := holdWriter(t, s)
			var ran atomic.Bool
			c := tc.run(t, s, release, func(tx store.Tx) error {
				ran.Store(true)
				return tx.Put([]byte("k"), []byte("v"))
			})
			release()
			if !errors.Is(c.err, tc.wantErr) {
				t.Errorf("Update = %v, want %v", c.err, tc.wantErr)
			}
			if ran.Load() != tc.wantRan {
				t.Errorf("fn ran: %v, want %v", ran.Load(), tc.wantRan)
			}
			if _, err := getKey(t, s, "k"); (err == nil) != tc.wantRan {
				t.Errorf("write kept: %v, want %v", err == nil, tc.wantRan)
			}
		})
	}
}

// TestCloseDrains closes the store while Updates are queued: they commit,
// and Updates after Close return ErrClosed.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	const queued = 10
	outs := make([]<-chan call, queued)
	for i := range outs {
		outs[i] = enqueue(t, s, ctx, nil, func(tx store.Tx) error {
			return tx.Put(fmt.Appendf(nil, "k/%d", i), []byte("v"))
		})
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for s.View(ctx, func(store.ReadTx) error { return nil }) == nil {
		time.Sleep(100 * time.Microsecond) // until Close has begun
	}
	if err := s.Update(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update during Close = %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, out := range outs {
		if c := <-out; c.err != nil {
			t.Errorf("queued call %d: %v", i, c.err)
		}
	}
	s, err = bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range queued {
		if _, err := getKey(t, s, fmt.Sprintf("k/%d", i)); err != nil {
			t.Errorf("queued write %d lost: %v", i, err)
		}
	}
}

// TestHookMayUpdate checks that hooks run on the caller's goroutine, outside
// the committer, so that one may call Update.
func TestHookMayUpdate(t *testing.T) {
	s := openTemp(t, bboltstore.Options{})
	err := s.Update(ctx, func(tx store.Tx) error {
		tx.OnCommit(func() {
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("from hook"), nil) }); err != nil {
				t.Errorf("Update in hook: %v", err)
			}
		})
		return tx.Put([]byte("k"), nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(t, s, "from hook"); err != nil {
		t.Fatalf("hook's write: %v", err)
	}
}

// smallUpdate is the benchmarks' Update: a NextSequence and a Put of value
// under a key made of the sequence.
func smallUpdate(s *bboltstore.Store, value []byte) error {
	return s.Update(ctx, func(tx store.Tx) error {
		seq, err := tx.NextSequence("bench")
		if err != nil {
			return err
		}
		return tx.Put(binary.BigEndian.AppendUint64([]byte("rec/"), seq), value)
	})
}

// BenchmarkUpdateParallel measures concurrent small Updates (a Put and a
// NextSequence each) with fsync on, with group commit (the default MaxBatch)
// and without (MaxBatch=1), for few and many concurrent callers.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, maxBatch := range []int{1, bboltstore.DefaultMaxBatch} {
		for _, parallelism := range []int{1, 32} {
			name := fmt.Sprintf("MaxBatch=%d/callers=%d", maxBatch, parallelism*runtime.GOMAXPROCS(0))
			b.Run(name, func(b *testing.B) {
				s, err := bboltstore.Open(filepath.Join(b.TempDir(), "bench.db"), bboltstore.Options{MaxBatch: maxBatch})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				value := make([]byte, 100)
				b.SetParallelism(parallelism)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := smallUpdate(s, value); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			})
		}
	}
}

// BenchmarkUpdateLone measures one caller's small Updates (a Put and a
// NextSequence each), which group commit must not slow down: with fsync, and
// without it to show the CPU cost alone.
func BenchmarkUpdateLone(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s, err := bboltstore.Open(filepath.Join(b.TempDir(), "bench.db"), bboltstore.Options{NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := make([]byte, 100)
			for b.Loop() {
				if err := smallUpdate(s, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
