package backend_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// producer serves an event log of n events on addr (a loopback address),
// without authentication, until the test ends or stop is called.
func producer(t *testing.T, addr string, n int) (stop func()) {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "producer.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			if _, err := log.Append(tx, &eventlogv1.Event{Type: "directory.user.created", Resource: fmt.Sprintf("organizations/o/users/u%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	eventlog.Register(srv, log)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(lis) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = log.Close()
		srv.Stop()
		<-served
		_ = st.Close()
	}
	t.Cleanup(stop)
	return stop
}

// waitHealth waits until the health of service on conn is want.
func waitHealth(t *testing.T, conn grpc.ClientConnInterface, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("health of %q never became %v: %v", service, want, err)
		}
		if resp.GetStatus() == want {
			return
		}
	}
}

// TestFollowerReadinessInTheWorstStartOrder: a service that follows another's
// log is NOT_SERVING while the source is not up, SERVING once it has applied
// the head it saw on connecting, and NOT_SERVING again when the source comes
// back with another log and the service cannot resync (issue 10, deliver 3).
func TestFollowerReadinessInTheWorstStartOrder(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // the source is not up yet

	var consumer *eventlog.Consumer
	applied := 0
	cfg := backendtest.Config(t, backend.Config{Name: "access", EventLog: true})
	cfg.Register = func(b *backend.Backend) error {
		var err error
		consumer, err = b.Follow(backend.Follow{
			Source: "directory", Addr: addr, Consumer: "access-directory",
			Apply: func(store.Tx, *eventlogv1.Event) error { applied++; return nil },
		})
		return err
	}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	waitHealth(t, conn, "access", healthpb.HealthCheckResponse_NOT_SERVING)

	stop := producer(t, addr, 300) // the source comes up late
	waitHealth(t, conn, "access", healthpb.HealthCheckResponse_SERVING)
	if got := consumer.Cursor(); got < 300 {
		t.Fatalf("SERVING at cursor %d, before the head 300 the consumer saw on connecting", got)
	}

	stop()
	producer(t, addr, 3) // the source comes back with a fresh store
	waitHealth(t, conn, "access", healthpb.HealthCheckResponse_NOT_SERVING)
	if st := consumer.Status(); !st.Stuck {
		t.Errorf("status = %+v, want stuck", st)
	}
	if applied != 300 {
		t.Errorf("applied %d events, want the 300 of the first log only", applied)
	}
}
