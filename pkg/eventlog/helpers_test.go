package eventlog_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/etcdserver/etcdtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/store/etcdstore"
)

// verifyNoLeaks registers a goroutine leak check that runs after every cleanup
// registered later; call it first.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// etcdEndpoint is the etcd member TestMain starts for the tests on etcd.
var etcdEndpoint string

// TestMain starts one etcd member for the package: the cross-replica tests
// always use it, and with STEWARD_TEST_STORE=etcd every test's store is on it
// (make test-unit runs the package both ways, R32).
func TestMain(m *testing.M) { os.Exit(etcdtest.Run(m, &etcdEndpoint)) }

// stores numbers the etcd stores opened, so that each is a store of its own,
// as each bbolt file in its own temporary directory is.
var stores atomic.Int64

// openStore opens a new, empty store, on bbolt in t.TempDir(), or on etcd
// under a prefix of its own when STEWARD_TEST_STORE=etcd, and checks and
// closes it on cleanup.
func openStore(t *testing.T, name string) store.Store {
	t.Helper()
	if os.Getenv("STEWARD_TEST_STORE") == "etcd" {
		return openEtcd(t, fmt.Sprintf("/test/%s/%s/%d/", t.Name(), name, stores.Add(1)))
	}
	s, err := bboltstore.Open(filepath.Join(t.TempDir(), name+".db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("bbolt check: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// openEtcd opens a store on the package's etcd under prefix, closed on
// cleanup; two calls with one prefix are two replicas of one store.
func openEtcd(t testing.TB, prefix string) store.Store {
	t.Helper()
	s, err := etcdstore.Dial(context.Background(), []string{etcdEndpoint}, 5*time.Second, etcdstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func newLog(t testing.TB, s store.Store, opts eventlog.Options) *eventlog.Log {
	t.Helper()
	l, err := eventlog.New(s, "directory", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func testEvent(i int) *eventlogv1.Event {
	return &eventlogv1.Event{
		Type:      "directory.user.created",
		Resource:  fmt.Sprintf("organizations/o1/users/u%d", i),
		Operation: eventlogv1.Operation_OPERATION_CREATE,
		Audit:     &eventlogv1.AuditEnvelope{Actor: "services/test", Action: "CreateUser", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS},
	}
}

// tryAppend appends one event in its own transaction and returns its sequence.
func tryAppend(s store.Store, l *eventlog.Log, i int) (uint64, error) {
	var seq uint64
	err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		seq, err = l.Append(tx, testEvent(i))
		return err
	})
	return seq, err
}

// appendOne is tryAppend failing the test on error; call it only from the test
// goroutine.
func appendOne(t testing.TB, s store.Store, l *eventlog.Log, i int) uint64 {
	t.Helper()
	seq, err := tryAppend(s, l, i)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return seq
}

// appendInBackground appends n events, each in its own transaction, from
// another goroutine; the returned function waits for it.
func appendInBackground(t *testing.T, s store.Store, l *eventlog.Log, n int) (wait func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if _, err := tryAppend(s, l, i); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	}()
	return func() { <-done }
}

func appendN(t testing.TB, s store.Store, l *eventlog.Log, n int) {
	t.Helper()
	for i := range n {
		appendOne(t, s, l, i)
	}
}

// readAll reads the whole retained log after after.
func readAll(t *testing.T, l *eventlog.Log, after uint64) []uint64 {
	t.Helper()
	var seqs []uint64
	for {
		evs, err := l.Read(context.Background(), after, 64)
		if err != nil {
			t.Fatalf("read after %d: %v", after, err)
		}
		for _, ev := range evs {
			seqs = append(seqs, ev.GetSequence())
			after = ev.GetSequence()
		}
		if len(evs) < 64 {
			return seqs
		}
	}
}

// checkGapFree fails unless seqs is exactly from..to.
func checkGapFree(t *testing.T, seqs []uint64, from, to uint64) {
	t.Helper()
	if uint64(len(seqs)) != to-from+1 {
		t.Fatalf("got %d sequences, want %d (%d..%d)", len(seqs), to-from+1, from, to)
	}
	for i, s := range seqs {
		if s != from+uint64(i) {
			t.Fatalf("sequence #%d = %d, want %d", i, s, from+uint64(i))
		}
	}
}

// countingStore counts the read transactions run on the store it wraps.
type countingStore struct {
	store.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(store.ReadTx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

// serve serves l's EventLogService over bufconn and returns a client; both are
// stopped on cleanup.
func serve(t *testing.T, l *eventlog.Log) eventlogv1.EventLogServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	eventlog.Register(srv, l)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return eventlogv1.NewEventLogServiceClient(conn)
}

// eventually polls cond (test helper only) until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
