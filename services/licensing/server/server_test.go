package server_test

import (
	"testing"

	"go.uber.org/goleak"

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
	cfg.DirectoryConn = backendtest.EmptyLog(t)
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.VerifyWiring(t, b, []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"steward.eventlog.v1.EventLogService",
		"steward.licensing.v1.LicensingService",
	})
}
