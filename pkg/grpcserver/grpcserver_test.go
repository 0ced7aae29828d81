package grpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/grpcclient"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/testpki"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var user = authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}

// fakeEventLog is a minimal EventLogService. ListEvents records who acted
// and under which request ID; page token "panic" panics and "block" blocks
// until release is closed or the call is cancelled.
type fakeEventLog struct {
	eventlogv1.UnimplementedEventLogServiceServer
	started chan struct{}
	release chan struct{}

	mu        sync.Mutex
	actor     string
	requestID string
	addr      string // authn.ClientAddress
}

func newFakeEventLog() *fakeEventLog {
	return &fakeEventLog{started: make(chan struct{}, 1), release: make(chan struct{})}
}

func (f *fakeEventLog) ListEvents(ctx context.Context, req *eventlogv1.ListEventsRequest) (*eventlogv1.ListEventsResponse, error) {
	actor, _ := authn.Actor(ctx)
	f.mu.Lock()
	f.actor, f.requestID, f.addr = actor.Name, authn.RequestID(ctx), authn.ClientAddress(ctx)
	f.mu.Unlock()
	switch req.GetPageToken() {
	case "panic":
		panic("boom")
	case "block":
		f.started <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &eventlogv1.ListEventsResponse{HeadSequence: 42}, nil
}

func (f *fakeEventLog) Watch(req *eventlogv1.WatchRequest, stream eventlogv1.EventLogService_WatchServer) error {
	return stream.Send(&eventlogv1.Event{Sequence: req.GetAfterSequence() + 1})
}

func (f *fakeEventLog) last() (actor, requestID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.actor, f.requestID
}

// lockedBuffer is a bytes.Buffer safe for concurrent use, for logs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeDirectory serves the public GetJwks of DirectoryService, recording
// the client address it sees.
type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer

	mu   sync.Mutex
	addr string
}

func (f *fakeDirectory) GetJwks(ctx context.Context, _ *directoryv1.GetJwksRequest) (*directoryv1.GetJwksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addr = authn.ClientAddress(ctx)
	return &directoryv1.GetJwksResponse{}, nil
}

func (f *fakeDirectory) lastAddress() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

// harness is a running server with EventLogService and DirectoryService
// registered. cred is the credential of the service "access", which may
// call the event log; licensing (licensingCred) may call nothing; gateway
// (gatewayCred) is the proxy.
type harness struct {
	srv           *grpcserver.Server
	log           *fakeEventLog
	dir           *fakeDirectory
	cred          authn.ServiceCredential
	licensingCred authn.ServiceCredential
	gatewayCred   authn.ServiceCredential
	logs          *lockedBuffer
	cancel        context.CancelFunc
	done          chan error
}

func newCredential(t *testing.T) authn.ServiceCredential {
	t.Helper()
	return credentialOf(t, 7)
}

func credentialOf(t *testing.T, b byte) authn.ServiceCredential {
	t.Helper()
	cred, err := authn.NewServiceCredential(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// testVerifier accepts the bearer token "user-token" as user.
var testVerifier = authn.VerifierFunc(func(_ context.Context, token string) (authn.Principal, error) {
	if token == "user-token" {
		return user, nil
	}
	return authn.Principal{}, fmt.Errorf("%w: unknown token", authn.ErrUnauthenticated)
})

// eventLogMethods are the methods of the event log, which access and
// audit may call.
var eventLogMethods = []string{eventlogv1.EventLogService_ListEvents_FullMethodName, eventlogv1.EventLogService_Watch_FullMethodName}

func testConfig(t *testing.T, cred authn.ServiceCredential, logs io.Writer) grpcserver.Config {
	t.Helper()
	trusted := authn.TrustedServices{}.
		With("access", cred).
		With("licensing", credentialOf(t, 8)).
		With("gateway", credentialOf(t, 9))
	return grpcserver.Config{
		Name:          "directory",
		Network:       grpcserver.NetworkBufconn,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Authenticator: authn.New(trusted, testVerifier),
		Authorizer:    authz.DenyAll,
		Services: authz.NewServicePolicy(
			authz.Grant{Caller: "access", Callee: "directory", Methods: eventLogMethods},
			authz.Grant{Caller: "audit", Callee: "directory", Methods: eventLogMethods},
			authz.Grant{Caller: "licensing", Callee: "access", Methods: eventLogMethods},
		),
	}
}

// start runs a server configured by testConfig and then mutate, and stops
// it when the test ends, failing unless Run returns nil.
func start(t *testing.T, mutate func(*grpcserver.Config)) *harness {
	t.Helper()
	h := &harness{log: newFakeEventLog(), dir: &fakeDirectory{}, cred: newCredential(t), licensingCred: credentialOf(t, 8),
		gatewayCred: credentialOf(t, 9), logs: &lockedBuffer{}, done: make(chan error, 1)}
	cfg := testConfig(t, h.cred, h.logs)
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	eventlogv1.RegisterEventLogServiceServer(srv.GRPCServer(), h.log)
	directoryv1.RegisterDirectoryServiceServer(srv.GRPCServer(), h.dir)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// stop cancels Run and returns its result; calling it again returns nil.
func (h *harness) stop() error {
	h.cancel()
	err, ok := <-h.done
	if ok {
		close(h.done)
	}
	return err
}

// conn returns a client connection closed when the test ends.
func (h *harness) conn(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := h.srv.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// serviceConn returns a connection authenticating as the service "access"
// with the harness's service credential.
func (h *harness) serviceConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	unary, stream, err := grpcclient.Interceptors(grpcclient.Options{Service: "access", Credential: h.cred})
	if err != nil {
		t.Fatal(err)
	}
	return h.conn(t, grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream))
}

func errorDetails(err error) (*errdetails.ErrorInfo, *errdetails.BadRequest) {
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		}
	}
	return info, br
}

func TestCompleteValidates(t *testing.T) {
	cred := newCredential(t)
	tests := []struct {
		name   string
		mutate func(*grpcserver.Config)
	}{
		{"no name", func(c *grpcserver.Config) { c.Name = "" }},
		{"bad name", func(c *grpcserver.Config) { c.Name = "Directory Service" }},
		{"no authenticator", func(c *grpcserver.Config) { c.Authenticator = nil }},
		{"no authorizer", func(c *grpcserver.Config) { c.Authorizer = nil }},
		{"unknown network", func(c *grpcserver.Config) { c.Network = "udp" }},
		{"tcp without address", func(c *grpcserver.Config) { c.Network = "" }},
		{"bad address", func(c *grpcserver.Config) { c.Network, c.Addr = grpcserver.NetworkTCP, "nonsense" }},
		{"TLS without key", func(c *grpcserver.Config) { c.TLS.CertFile = "cert.pem" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, cred, io.Discard)
			tt.mutate(&cfg)
			if _, err := cfg.Complete(); err == nil {
				t.Fatal("Complete() succeeded")
			}
		})
	}
}

func TestRunRefusesMethodWithoutRule(t *testing.T) {
	cfg := testConfig(t, newCredential(t), io.Discard)
	srv, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	eventlogv1.RegisterEventLogServiceServer(srv.GRPCServer(), newFakeEventLog())
	srv.GRPCServer().RegisterService(&grpc.ServiceDesc{
		ServiceName: "steward.test.Unruled",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Do"}},
	}, struct{}{})
	cleaned := false
	srv.AddCleanup(func() error { cleaned = true; return nil })
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/steward.test.Unruled/Do") {
		t.Fatalf("Run() = %v, want an error naming /steward.test.Unruled/Do", err)
	}
	if strings.Contains(err.Error(), "EventLogService") {
		t.Errorf("Run() names EventLogService: %v", err)
	}
	if !cleaned {
		t.Error("cleanups did not run")
	}
}

func TestInternalMethods(t *testing.T) {
	h := start(t, nil)
	other := credentialOf(t, 6)
	tests := []struct {
		name          string
		authorization string
		code          codes.Code
		reason        string
	}{
		{name: "anonymous", code: codes.Unauthenticated, reason: authz.ReasonUnauthenticated},
		{name: "user", authorization: "Bearer user-token", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "bad token", authorization: "Bearer forged", code: codes.Unauthenticated},
		{name: "wrong service secret", authorization: other.AuthorizationFor("access"), code: codes.Unauthenticated},
		{name: "service", authorization: h.cred.AuthorizationFor("access"), code: codes.OK},
		{name: "a service's secret as another service", authorization: h.licensingCred.AuthorizationFor("access"), code: codes.Unauthenticated},
		{name: "a service's secret as a service it does not belong to", authorization: h.cred.AuthorizationFor("audit"), code: codes.Unauthenticated},
		{name: "service not granted the method", authorization: h.licensingCred.AuthorizationFor("licensing"), code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "the gateway, granted nothing", authorization: h.gatewayCred.AuthorizationFor("gateway"), code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
	}
	client := eventlogv1.NewEventLogServiceClient(h.conn(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.authorization != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.authorization)
			}
			_, err := client.ListEvents(ctx, &eventlogv1.ListEventsRequest{})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("ListEvents: code = %v (%v), want %v", got, err, tt.code)
			}
			if info, _ := errorDetails(err); tt.reason != "" && info.GetReason() != tt.reason {
				t.Errorf("ListEvents: reason = %q, want %q", info.GetReason(), tt.reason)
			}
			stream, err := client.Watch(ctx, &eventlogv1.WatchRequest{AfterSequence: 1})
			if err == nil {
				_, err = stream.Recv()
			}
			if got := status.Code(err); got != tt.code {
				t.Fatalf("Watch: code = %v (%v), want %v", got, err, tt.code)
			}
		})
	}
}

func TestServiceCallPropagatesActorAndRequestID(t *testing.T) {
	h := start(t, nil)
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))

	// A service serving a user's call with request ID req-1 calls on.
	ctx := authn.NewContext(authn.WithRequestID(context.Background(), "req-1"), user)
	if _, err := client.ListEvents(ctx, &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	if actor, id := h.log.last(); actor != user.Name || id != "req-1" {
		t.Errorf("handler saw actor %q, request ID %q; want %q, req-1", actor, id, user.Name)
	}

	// A service acting on its own account.
	if _, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	if actor, _ := h.log.last(); actor != "services/access" {
		t.Errorf("handler saw actor %q, want services/access", actor)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testpki.New(t)
	serverCert, serverKey := pki.Service(t, "directory")
	h := start(t, func(c *grpcserver.Config) {
		c.Network, c.Addr = grpcserver.NetworkTCP, ":0"
		c.TLS = grpcserver.TLSConfig{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: pki.CAFile}
	})
	if !strings.HasPrefix(h.srv.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want loopback", h.srv.Addr())
	}
	auditCert, auditKey := pki.Service(t, "audit")
	strangerCert, strangerKey := pki.Issue(t, "mallory")
	tests := []struct {
		name              string
		certFile, keyFile string
		code              codes.Code
	}{
		{name: "service certificate", certFile: auditCert, keyFile: auditKey, code: codes.OK},
		{name: "no certificate", code: codes.Unauthenticated},
		{name: "stranger's certificate", certFile: strangerCert, keyFile: strangerKey, code: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := grpcclient.Dial(h.srv.Addr(), grpcclient.Options{
				TLS: grpcclient.TLSConfig{CAFile: pki.CAFile, CertFile: tt.certFile, KeyFile: tt.keyFile},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = eventlogv1.NewEventLogServiceClient(conn).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.code == codes.OK {
				if actor, _ := h.log.last(); actor != "services/audit" {
					t.Errorf("actor = %q, want services/audit", actor)
				}
			}
		})
	}
}

func TestRecovery(t *testing.T) {
	h := start(t, nil)
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))
	_, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageToken: "panic"})
	if got := status.Code(err); got != codes.Internal || status.Convert(err).Message() != "internal error" {
		t.Fatalf("panicking call: %v, want Internal \"internal error\"", err)
	}
	if _, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatalf("call after panic: %v", err)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "panic=boom") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic not logged with stack:\n%s", logs)
	}
}

func TestRequestID(t *testing.T) {
	h := start(t, nil)
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))
	tests := []struct {
		name, sent string
		generated  bool
	}{
		{name: "absent", generated: true},
		{name: "present", sent: "req-42"},
		{name: "malformed", sent: strings.Repeat("x", 200), generated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.sent != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", tt.sent)
			}
			var header metadata.MD
			if _, err := client.ListEvents(ctx, &eventlogv1.ListEventsRequest{}, grpc.Header(&header)); err != nil {
				t.Fatal(err)
			}
			got := header.Get("x-request-id")
			if len(got) != 1 {
				t.Fatalf("x-request-id header = %v, want one value", got)
			}
			if tt.generated && (got[0] == tt.sent || len(got[0]) != 36) {
				t.Errorf("x-request-id = %q, want a new UUID", got[0])
			}
			if !tt.generated && got[0] != tt.sent {
				t.Errorf("x-request-id = %q, want %q", got[0], tt.sent)
			}
			if _, id := h.log.last(); id != got[0] {
				t.Errorf("handler saw request ID %q, header says %q", id, got[0])
			}
		})
	}
	if !strings.Contains(h.logs.String(), "request_id=req-42") {
		t.Errorf("call log lacks request_id:\n%s", h.logs.String())
	}
}

func TestHealthChecksAreNotLogged(t *testing.T) {
	h := start(t, nil)
	conn := h.serviceConn(t)
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eventlogv1.NewEventLogServiceClient(conn).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "ListEvents") {
		t.Errorf("the ListEvents call was not logged:\n%s", logs)
	}
	if strings.Contains(logs, "grpc.health.v1") {
		t.Errorf("a health check was logged:\n%s", logs)
	}
}

// TestQuietMethods: a successful call of a quiet method is logged at debug
// level (issue 13: the hot read paths), a failed one as any call's.
func TestQuietMethods(t *testing.T) {
	h := start(t, func(c *grpcserver.Config) {
		c.QuietMethods = []string{eventlogv1.EventLogService_ListEvents_FullMethodName}
	})
	if _, err := eventlogv1.NewEventLogServiceClient(h.serviceConn(t)).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := eventlogv1.NewEventLogServiceClient(h.conn(t)).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListEvents without credentials: %v", err)
	}
	var ok, failed string
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if !strings.Contains(line, "finished call") || !strings.Contains(line, "ListEvents") {
			continue
		}
		if strings.Contains(line, "grpc.code=OK") {
			ok = line
		} else {
			failed = line
		}
	}
	if !strings.Contains(ok, "level=DEBUG") {
		t.Errorf("the successful quiet call was not logged at debug: %q\n%s", ok, h.logs.String())
	}
	if !strings.Contains(failed, "level=INFO") || !strings.Contains(failed, "Unauthenticated") {
		t.Errorf("the failed quiet call was not logged at info: %q\n%s", failed, h.logs.String())
	}
}

func TestGracefulShutdown(t *testing.T) {
	h := start(t, nil)
	conn := h.serviceConn(t)
	client := eventlogv1.NewEventLogServiceClient(conn)

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", resp.GetStatus(), err)
	}

	inFlight := make(chan error, 1)
	go func() {
		_, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageToken: "block"})
		inFlight <- err
	}()
	<-h.log.started

	h.cancel()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after cancel = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	stopWatch()

	select {
	case err := <-h.done:
		t.Fatalf("Run returned %v with a call in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(h.log.release)
	if err := <-inFlight; err != nil {
		t.Errorf("in-flight call: %v", err)
	}
	if err := h.stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

func TestShutdownTimeoutStopsStuckCalls(t *testing.T) {
	h := start(t, func(c *grpcserver.Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))
	inFlight := make(chan error, 1)
	go func() {
		_, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageToken: "block"})
		inFlight <- err
	}()
	<-h.log.started
	if err := h.stop(); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
	if err := <-inFlight; status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Errorf("stuck call: %v, want Unavailable or Canceled", err)
	}
}

func TestHealth(t *testing.T) {
	h := start(t, nil)
	client := healthpb.NewHealthClient(h.conn(t)) // no credentials: health is public
	check := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != want {
			t.Errorf("Check(%q) = %v, %v; want %v", service, resp.GetStatus(), err, want)
		}
	}
	for _, svc := range []string{"", "directory", "steward.eventlog.v1.EventLogService"} {
		check(svc, healthpb.HealthCheckResponse_SERVING)
	}
	h.srv.SetReady(false)
	check("", healthpb.HealthCheckResponse_NOT_SERVING)
	check("directory", healthpb.HealthCheckResponse_NOT_SERVING)
	h.srv.SetReady(true)
	check("", healthpb.HealthCheckResponse_SERVING)
}

func TestMetrics(t *testing.T) {
	h := start(t, func(c *grpcserver.Config) { c.MetricsAddr = ":0" })
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))
	if _, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.srv.MetricsAddr(), "127.0.0.1:") {
		t.Fatalf("MetricsAddr() = %q, want loopback", h.srv.MetricsAddr())
	}
	_, body := httpGet(t, "http://"+h.srv.MetricsAddr()+"/metrics")
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="ListEvents",grpc_service="steward.eventlog.v1.EventLogService",grpc_type="unary"} 1`,
		// The handling-time histogram, with a bound at issue 13's 150 µs.
		`grpc_server_handling_seconds_bucket{grpc_method="ListEvents",grpc_service="steward.eventlog.v1.EventLogService",grpc_type="unary",le="0.00015"} `,
		`grpc_server_handling_seconds_count{grpc_method="ListEvents",grpc_service="steward.eventlog.v1.EventLogService",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// GET /healthz on the metrics listener answers the server's overall health
// in plain HTTP, whatever TLS the gRPC port uses (Kubernetes' httpGet
// probes).
func TestHealthz(t *testing.T) {
	pki := testpki.New(t)
	serverCert, serverKey := pki.Service(t, "directory")
	h := start(t, func(c *grpcserver.Config) {
		c.Network, c.Addr, c.MetricsAddr = grpcserver.NetworkTCP, ":0", ":0"
		c.TLS = grpcserver.TLSConfig{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: pki.CAFile}
	})
	url := "http://" + h.srv.MetricsAddr() + "/healthz"
	check := func(wantCode int, wantBody string) {
		t.Helper()
		if code, body := httpGet(t, url); code != wantCode || body != wantBody+"\n" {
			t.Errorf("GET /healthz = %d %q, want %d %q", code, body, wantCode, wantBody)
		}
	}
	check(http.StatusOK, "SERVING")
	h.srv.SetReady(false)
	check(http.StatusServiceUnavailable, "NOT_SERVING")
	h.srv.SetReady(true)
	check(http.StatusOK, "SERVING")

	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestDebugListener(t *testing.T) {
	if h := start(t, nil); h.srv.DebugAddr() != "" {
		t.Fatalf("DebugAddr() = %q by default, want it off", h.srv.DebugAddr())
	}
	h := start(t, func(c *grpcserver.Config) { c.DebugAddr = ":0" })
	if !strings.HasPrefix(h.srv.DebugAddr(), "127.0.0.1:") {
		t.Fatalf("DebugAddr() = %q, want loopback", h.srv.DebugAddr())
	}
	code, body := httpGet(t, "http://"+h.srv.DebugAddr()+"/debug/pprof/allocs?debug=1")
	if code != http.StatusOK || !strings.Contains(body, "heap profile") {
		t.Errorf("GET /debug/pprof/allocs = %d %.80q, want the allocation profile", code, body)
	}
}

// httpGet GETs url without keep-alives and returns the status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestValidation(t *testing.T) {
	h := start(t, nil)
	client := eventlogv1.NewEventLogServiceClient(h.serviceConn(t))
	_, err := client.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 5000})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("ListEvents(page_size 5000) = %v, want InvalidArgument", err)
	}
	info, br := errorDetails(err)
	if info.GetReason() != grpcserver.ReasonInvalidArgument {
		t.Errorf("reason = %q, want %q", info.GetReason(), grpcserver.ReasonInvalidArgument)
	}
	if len(br.GetFieldViolations()) != 1 || br.GetFieldViolations()[0].GetField() != "page_size" {
		t.Errorf("field violations = %v, want one for page_size", br.GetFieldViolations())
	}
}

func TestCleanupsRunLIFO(t *testing.T) {
	var order []int
	h := start(t, nil)
	for i := range 3 {
		h.srv.AddCleanup(func() error { order = append(order, i); return nil })
	}
	h.srv.AddCleanup(func() error { return errors.New("close failed") })
	if err := h.stop(); err == nil || !strings.Contains(err.Error(), "close failed") {
		t.Errorf("Run() = %v, want the cleanup error", err)
	}
	if fmt.Sprint(order) != "[2 1 0]" {
		t.Errorf("cleanup order = %v, want [2 1 0]", order)
	}
}
