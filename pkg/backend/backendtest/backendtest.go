// Package backendtest runs a backend's real wiring (pkg/backend) in memory,
// over bufconn, for each service's tests: the same Config the service's main
// completes, with a temporary data directory and service credential.
package backendtest

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/grpcserver"
)

// Config returns c set up for a test: bufconn instead of TCP, no metrics
// listener, data and service credential in t.TempDir(), and logs through
// t.Log.
func Config(t testing.TB, c backend.Config) backend.Config {
	t.Helper()
	dir := t.TempDir()
	c.Network = grpcserver.NetworkBufconn
	c.Addr = ""
	c.MetricsAddr = ""
	c.DataDir = filepath.Join(dir, c.Name)
	c.ServiceCredentialFile = filepath.Join(dir, backend.CredentialFileName)
	c.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return c
}

// Run runs b until the test ends and returns a client connection to it
// without credentials. At cleanup it cancels Run and fails the test if Run
// returns an error or takes more than 10s to stop.
func Run(t testing.TB, b *backend.Backend) *grpc.ClientConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancellation")
		}
	})
	select {
	case <-b.Server().Ready():
	case err := <-done:
		t.Fatalf("Run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready within 10s")
	}
	conn, err := b.Server().NewClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ServiceCallOption returns a call option authenticating the call as the
// service named name with b's service credential.
func ServiceCallOption(b *backend.Backend, name string) grpc.CallOption {
	return grpc.PerRPCCredentials(serviceCreds(b.ServiceCredential().AuthorizationFor(name)))
}

// Services returns the sorted names of the gRPC services registered on b.
func Services(b *backend.Backend) []string {
	var names []string
	for name := range b.GRPCServer().GetServiceInfo() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// serviceCreds sets the authorization metadata of every call.
type serviceCreds string

func (c serviceCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authn.MDAuthorization: string(c)}, nil
}

func (serviceCreds) RequireTransportSecurity() bool { return false }

// tWriter writes to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
