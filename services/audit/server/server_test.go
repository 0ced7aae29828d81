package server_test

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/goleak"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/services/audit/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWiring builds the service exactly as its main does, over bufconn, and
// checks that every registered method declares an authorization rule, that
// the expected services are registered, and that it serves.
func TestWiring(t *testing.T) {
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.VerifyRules(b.GRPCServer()); err != nil {
		t.Fatalf("VerifyRules: %v", err)
	}
	want := []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
	}
	if got := backendtest.Services(b); !slices.Equal(got, want) {
		t.Errorf("registered services = %q, want %q", got, want)
	}

	conn := backendtest.Run(t, b)
	ctx := context.Background()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: server.Name})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Check(%q) = %v, %v; want SERVING", server.Name, resp, err)
	}
}
