package server_test

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/services/licensing/server"
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
		"steward.eventlog.v1.EventLogService",
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
	logs := eventlogv1.NewEventLogServiceClient(conn)
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListEvents without credentials: %v, want Unauthenticated", err)
	}
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}, backendtest.ServiceCallOption(b, "audit")); err != nil {
		t.Errorf("ListEvents as services/audit: %v", err)
	}
}
