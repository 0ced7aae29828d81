package backend_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/flagenv"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/logging"
	"steward.dev/pkg/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServesHealthAndEventLog(t *testing.T) {
	cfg := backendtest.Config(t, backend.Config{Name: "directory", EventLog: true, Services: backend.SuitePolicy})
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.VerifyRules(b.GRPCServer()); err != nil {
		t.Fatalf("VerifyRules: %v", err)
	}
	conn := backendtest.Run(t, b)
	ctx := context.Background()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health Check = %v, %v; want SERVING", resp, err)
	}
	logs := eventlogv1.NewEventLogServiceClient(conn)
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListEvents without credentials: %v, want Unauthenticated", err)
	}
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}, backendtest.ServiceCallOption(b, "audit")); err != nil {
		t.Errorf("ListEvents as a service: %v", err)
	}
	fi, err := os.Stat(cfg.ServiceCredentialFile)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("credential file mode %#o, want 0600", perm)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "directory.db")); err != nil {
		t.Errorf("store file: %v", err)
	}
}

func TestWithoutEventLog(t *testing.T) {
	b, err := backendtest.Config(t, backend.Config{Name: "audit"}).Complete()
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, b)
	if b.EventLog() != nil {
		t.Error("EventLog() is not nil")
	}
	if got := backendtest.Services(b); slices.Contains(got, "steward.eventlog.v1.EventLogService") {
		t.Errorf("services = %v, want no EventLogService", got)
	}
}

// A tailing Watch must not hold the graceful stop up until its deadline.
func TestShutdownEndsWatch(t *testing.T) {
	cfg := backendtest.Config(t, backend.Config{Name: "licensing", EventLog: true, ShutdownTimeout: 20 * time.Second, Services: backend.SuitePolicy})
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Server().Ready()
	conn, err := b.Server().NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := eventlogv1.NewEventLogServiceClient(conn).Watch(context.Background(), &eventlogv1.WatchRequest{}, backendtest.ServiceCallOption(b, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	// Once an appended event arrives, the Watch handler is tailing the log.
	err = b.Store().Update(context.Background(), func(tx store.Tx) error {
		_, err := b.EventLog().Append(tx, &eventlogv1.Event{Type: "licensing.test.created", Resource: "tests/t1"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := stream.Recv(); err != nil || ev.GetSequence() != 1 {
		t.Fatalf("Watch Recv = %v, %v; want event 1", ev, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run still running 15s after cancellation: Watch holds the graceful stop")
	}
	if _, err := stream.Recv(); err == nil {
		t.Error("Watch stream still open after shutdown")
	}
}

func TestCompleteFailureClosesStore(t *testing.T) {
	cfg := backendtest.Config(t, backend.Config{Name: "access", EventLog: true})
	boom := errors.New("boom")
	cfg.Register = func(*backend.Backend) error { return boom }
	if _, err := cfg.Complete(); !errors.Is(err, boom) {
		t.Fatalf("Complete: %v, want boom", err)
	}
	// The bbolt file lock must have been released: a second Complete would
	// otherwise wait for it and fail.
	cfg.Register = nil
	b, err := cfg.Complete()
	if err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	backendtest.Run(t, b)
}

func TestCompleteValidates(t *testing.T) {
	dir := t.TempDir()
	cred := filepath.Join(dir, "cred")
	if err := os.WriteFile(cred, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(dir, "services.sha256")
	broken := filepath.Join(dir, "broken.sha256")
	if err := os.WriteFile(broken, []byte("not a trusted-services file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]backend.Config{
		"no name":                 {DataDir: dir, ServiceCredentialFile: cred, TrustedServicesFile: trusted},
		"no data dir":             {Name: "audit", ServiceCredentialFile: cred, TrustedServicesFile: trusted},
		"no credential":           {Name: "audit", DataDir: dir, TrustedServicesFile: trusted},
		"no trusted services":     {Name: "audit", DataDir: dir, ServiceCredentialFile: filepath.Join(dir, "c3")},
		"credential too open":     {Name: "audit", DataDir: dir, ServiceCredentialFile: cred, TrustedServicesFile: trusted, Network: "bufconn"},
		"broken trusted services": {Name: "audit", DataDir: dir, ServiceCredentialFile: filepath.Join(dir, "c4"), TrustedServicesFile: broken, Network: "bufconn"},
		"bad log level":           {Name: "audit", DataDir: dir, ServiceCredentialFile: filepath.Join(dir, "c2"), TrustedServicesFile: trusted, Network: "bufconn", Log: logging.Config{Level: "loud"}},
	}
	for name, cfg := range tests {
		if _, err := cfg.Complete(); err == nil {
			t.Errorf("%s: Complete succeeded", name)
		}
	}
}

func TestFlags(t *testing.T) {
	cfg := backend.Config{Name: "directory", Addr: "127.0.0.1:7001", MetricsAddr: "127.0.0.1:9001", DataDir: "data/directory"}
	fs := flag.NewFlagSet("steward-directory", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.AddFlags(fs)
	t.Setenv("STEWARD_DATA_DIR", "/env/dir")
	t.Setenv("STEWARD_ADDR", "127.0.0.1:1")
	t.Setenv("STEWARD_TLS_CLIENT_CA", "/ca.pem")
	t.Setenv("STEWARD_PEER_TLS_CA", "/peer-ca.pem")
	if err := flagenv.Parse(fs, flagenv.Prefix, []string{"-addr", "127.0.0.1:2", "-log-format", "json", "-debug-addr", "127.0.0.1:6060",
		"-peer-tls-cert", "/tls.crt", "-peer-tls-key", "/tls.key", "-peer-tls-server-name", "steward"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:2" || cfg.DataDir != "/env/dir" || cfg.MetricsAddr != "127.0.0.1:9001" || cfg.DebugAddr != "127.0.0.1:6060" ||
		cfg.TLS.ClientCAFile != "/ca.pem" || cfg.Log.Format != "json" ||
		cfg.PeerTLS != (grpcclient.TLSConfig{CAFile: "/peer-ca.pem", CertFile: "/tls.crt", KeyFile: "/tls.key", ServerName: "steward"}) {
		t.Errorf("config = %+v", cfg)
	}
}
