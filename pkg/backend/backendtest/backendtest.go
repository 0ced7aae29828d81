// Package backendtest runs a backend's real wiring (pkg/backend) in memory,
// over bufconn, for each service's tests: the same Config the service's main
// completes, with a temporary data directory and the suite's credentials
// (one per service, as the launcher makes them, shared by every backend of
// a test).
package backendtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// HarnessService is the service name tests call as (ServiceCallOption) to
// act for any end user (x-steward-actor) on any method of a backend Config
// set up: it is granted every method, and held to the end user's
// permissions like any service. Production policies never grant it.
const HarnessService = "harness"

// Config returns c set up for a test: bufconn instead of TCP, no metrics
// listener, no access management (authz.DenyAll unless the test sets an
// Authorizer), data in t.TempDir(), the test's credentials (see
// ServiceCredential), HarnessService granted every method, and logs
// through t.Log.
func Config(t testing.TB, c backend.Config) backend.Config {
	t.Helper()
	dir := t.TempDir()
	creds := credentialsOf(t)
	c.Network = grpcserver.NetworkBufconn
	c.Addr = ""
	c.MetricsAddr = ""
	// Permission checks go nowhere unless the test wires access in
	// (Config.Authorizer); a test never dials the real suite's ports.
	c.AccessAddr = ""
	c.DataDir = filepath.Join(dir, c.Name)
	c.ServiceCredentialFile = filepath.Join(creds.dir, c.Name)
	c.TrustedServicesFile = filepath.Join(creds.dir, backend.TrustedServicesFileName)
	c.Services = c.Services.With(authz.Grant{Caller: HarnessService, Callee: "*", Methods: []string{"*"}})
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

// credentialSet is the credentials of the services of one test, in dir, as
// the launcher makes them: one secret per service, and the trusted-services
// file.
type credentialSet struct {
	dir   string
	creds map[string]authn.ServiceCredential
}

var (
	setsMu sync.Mutex
	sets   = map[testing.TB]*credentialSet{}
)

// credentialsOf returns the credentials of t's backends, creating them on
// first use: every service of the suite and HarnessService.
func credentialsOf(t testing.TB) *credentialSet {
	t.Helper()
	setsMu.Lock()
	defer setsMu.Unlock()
	if s, ok := sets[t]; ok {
		return s
	}
	s := &credentialSet{dir: filepath.Join(t.TempDir(), backend.CredentialsDir), creds: map[string]authn.ServiceCredential{}}
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var trusted authn.TrustedServices
	for _, name := range append(slices.Clone(backend.ServiceNames), HarnessService) {
		c, err := authn.LoadOrCreateServiceCredential(filepath.Join(s.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s.creds[name] = c
		trusted = trusted.With(name, c)
	}
	if err := authn.WriteTrustedServices(filepath.Join(s.dir, backend.TrustedServicesFileName), trusted); err != nil {
		t.Fatal(err)
	}
	sets[t] = s
	t.Cleanup(func() {
		setsMu.Lock()
		defer setsMu.Unlock()
		delete(sets, t)
	})
	return s
}

// ServiceCredential returns the credential of the service called name in
// the credentials b was configured with (Config): what that service would
// call b with. It panics if b was not configured by Config or name has no
// credential there.
func ServiceCredential(b *backend.Backend, name string) authn.ServiceCredential {
	own := b.ServiceCredential().AuthorizationFor(b.Name())
	setsMu.Lock()
	defer setsMu.Unlock()
	for _, s := range sets {
		if c, ok := s.creds[b.Name()]; ok && c.AuthorizationFor(b.Name()) == own {
			if c, ok := s.creds[name]; ok {
				return c
			}
			panic(fmt.Sprintf("backendtest: no credential for service %q", name))
		}
	}
	panic(fmt.Sprintf("backendtest: backend %s was not configured by backendtest.Config", b.Name()))
}

// ServiceCallOption returns a call option authenticating the call to b as
// the service named name, with that service's own credential (see
// ServiceCredential).
func ServiceCallOption(b *backend.Backend, name string) grpc.CallOption {
	return grpc.PerRPCCredentials(serviceCreds(ServiceCredential(b, name).AuthorizationFor(name)))
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

// VerifyWiring checks a completed backend the way every service's wiring test
// needs: every registered method declares an authorization rule (the server
// would refuse to start otherwise), exactly the services in want are
// registered, the backend serves health for its name, and, when it keeps an
// event log, EventLogService refuses anonymous callers and answers services.
func VerifyWiring(t *testing.T, b *backend.Backend, want []string) {
	t.Helper()
	if err := authz.VerifyRules(b.GRPCServer()); err != nil {
		t.Fatalf("VerifyRules: %v", err)
	}
	if got := Services(b); !slices.Equal(got, want) {
		t.Errorf("registered services = %q, want %q", got, want)
	}
	conn := Run(t, b)
	ctx := context.Background()
	WaitServing(t, conn, b.Name())
	if !slices.Contains(want, eventlogv1.EventLogService_ServiceDesc.ServiceName) {
		return
	}
	logs := eventlogv1.NewEventLogServiceClient(conn)
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListEvents without credentials: %v, want Unauthenticated", err)
	}
	if _, err := logs.ListEvents(ctx, &eventlogv1.ListEventsRequest{}, ServiceCallOption(b, "audit")); err != nil {
		t.Errorf("ListEvents as services/audit: %v", err)
	}
}

// WaitServing waits, at most 10s, until the health of service (a backend's
// name, or "" for the whole server) on conn is SERVING: a backend that
// follows other services' logs is NOT_SERVING until it has caught up.
func WaitServing(t testing.TB, conn grpc.ClientConnInterface, service string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Watch(%q): %v", service, err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("health of %q not SERVING within 10s: %v", service, err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

// EmptyLog returns a connection to an in-memory EventLogService over an
// empty log, standing in for a followed service that has written nothing
// yet (its callers are not authenticated).
func EmptyLog(t testing.TB) grpc.ClientConnInterface {
	t.Helper()
	conn, _, _ := ServeLog(t, "empty")
	return conn
}

// ServeLog serves, over bufconn, an EventLogService over a new log of the
// service named source in a store of its own, standing in for a followed
// service (its callers are not authenticated); it returns a connection to
// it, the store and the log, for the test to append events. All is closed
// at cleanup.
func ServeLog(t testing.TB, source string) (grpc.ClientConnInterface, store.Store, *eventlog.Log) {
	t.Helper()
	return ServeLogWith(t, source, eventlog.Options{})
}

// ServeLogWith is ServeLog with the log's options (retention, clock).
func ServeLogWith(t testing.TB, source string, opts eventlog.Options) (grpc.ClientConnInterface, store.Store, *eventlog.Log) {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), source+".db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.New(st, source, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	eventlog.Register(srv, log)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///"+source+"-log",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		_ = log.Close()
		srv.Stop()
		_ = st.Close()
	})
	return conn, st, log
}
