package server_test

import (
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"steward.dev/pkg/backend/backendtest"
	"steward.dev/services/audit/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWiring builds the service exactly as its main does, over bufconn, and
// checks that every registered method declares an authorization rule, that
// the expected services are registered, and that it serves once it has
// caught up with the three logs it follows.
func TestWiring(t *testing.T) {
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.SourceConns = map[string]grpc.ClientConnInterface{}
	for _, s := range server.Sources {
		cfg.SourceConns[s] = backendtest.EmptyLog(t)
	}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.VerifyWiring(t, b, []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"steward.audit.v1.AuditService",
	})
}

// A zero checkpoint interval is refused.
func TestConfigChecks(t *testing.T) {
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.CheckpointInterval = 0
	if _, err := cfg.Complete(); err == nil {
		t.Error("Complete accepted -checkpoint-interval 0")
	}
}
