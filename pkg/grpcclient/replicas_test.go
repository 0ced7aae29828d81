package grpcclient_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"steward.dev/pkg/grpcclient"
)

// replica is an in-process gRPC server on a loopback port that counts the
// health Check calls it answers.
type replica struct {
	addr   string
	srv    *grpc.Server
	health *health.Server
	checks atomic.Int64
}

func startReplica(t *testing.T) *replica {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{addr: lis.Addr().String(), health: health.NewServer()}
	r.srv = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthpb.Health_Check_FullMethodName {
			r.checks.Add(1)
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(r.srv, r.health)
	go func() { _ = r.srv.Serve(lis) }()
	t.Cleanup(r.srv.Stop)
	return r
}

// dialReplicas dials the comma-separated addresses of rs.
func dialReplicas(t *testing.T, rs ...*replica) healthpb.HealthClient {
	t.Helper()
	var addrs []string
	for _, r := range rs {
		addrs = append(addrs, r.addr)
	}
	conn, err := grpcclient.Dial(strings.Join(addrs, ","), grpcclient.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// callUntil calls Check until done reports true, failing the test on a
// failed call or after 10 seconds.
func callUntil(t *testing.T, c healthpb.HealthClient, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("Check: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDialReplicasSpreadsCalls: with a list of two replicas both get calls.
func TestDialReplicasSpreadsCalls(t *testing.T) {
	a, b := startReplica(t), startReplica(t)
	c := dialReplicas(t, a, b)
	callUntil(t, c, func() bool { return a.checks.Load() >= 3 && b.checks.Load() >= 3 })
}

// TestDialReplicasSurvivesAStoppedReplica: once one replica is gone, every
// call goes to the other.
func TestDialReplicasSurvivesAStoppedReplica(t *testing.T) {
	a, b := startReplica(t), startReplica(t)
	c := dialReplicas(t, a, b)
	callUntil(t, c, func() bool { return a.checks.Load() > 0 && b.checks.Load() > 0 })
	b.srv.Stop()
	before := a.checks.Load()
	for i := range 20 {
		if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("call %d after stopping a replica: %v", i, err)
		}
	}
	if got := a.checks.Load() - before; got != 20 {
		t.Errorf("the remaining replica answered %d of 20 calls", got)
	}
}

// TestDialReplicasSkipsNotServing: a replica whose health is NOT_SERVING
// gets no calls until it serves again.
func TestDialReplicasSkipsNotServing(t *testing.T) {
	a, b := startReplica(t), startReplica(t)
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	c := dialReplicas(t, a, b)
	callUntil(t, c, func() bool { return a.checks.Load() >= 20 })
	if n := b.checks.Load(); n != 0 {
		t.Errorf("the NOT_SERVING replica answered %d calls", n)
	}
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	callUntil(t, c, func() bool { return b.checks.Load() > 0 })
}
