package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"steward.dev/services/gateway/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBackend is a gRPC server with the standard health service that records
// the metadata of the calls it receives.
type fakeBackend struct {
	addr   string
	health *health.Server
	srv    *grpc.Server

	mu sync.Mutex
	md []metadata.MD
}

func startBackend(t *testing.T) *fakeBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{addr: lis.Addr().String(), health: health.NewServer()}
	b.srv = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		b.mu.Lock()
		b.md = append(b.md, md)
		b.mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(b.srv, b.health)
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(b.srv.Stop)
	return b
}

func (b *fakeBackend) lastMD() metadata.MD {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.md) == 0 {
		return nil
	}
	return b.md[len(b.md)-1]
}

// newGateway completes a gateway in front of four fake backends; handlers,
// if any, are registered for the first one.
func newGateway(t *testing.T, cfg server.Config, handlers ...server.HandlerRegistrar) (*server.Server, []*fakeBackend) {
	t.Helper()
	var fakes []*fakeBackend
	cfg.Backends = server.DefaultBackends()
	for i := range cfg.Backends {
		f := startBackend(t)
		fakes = append(fakes, f)
		cfg.Backends[i].Addr = f.addr
	}
	cfg.Backends[0].Handlers = handlers
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.HealthTimeout = 500 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, fakes
}

func get(t *testing.T, h http.Handler, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestHealthz(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	check := func(wantCode int, want map[string]string) {
		t.Helper()
		resp, body := get(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if resp.StatusCode != wantCode {
			t.Errorf("GET /healthz = %d %s, want %d", resp.StatusCode, body, wantCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var got server.HealthReport
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		wantStatus := "SERVING"
		if wantCode != http.StatusOK {
			wantStatus = "NOT_SERVING"
		}
		if got.Status != wantStatus {
			t.Errorf("status = %q, want %q", got.Status, wantStatus)
		}
		for name, st := range want {
			if got.Backends[name] != st {
				t.Errorf("backends[%s] = %q, want %q (body %s)", name, got.Backends[name], st, body)
			}
		}
		if len(got.Backends) != 4 {
			t.Errorf("backends = %v, want four", got.Backends)
		}
	}
	check(http.StatusOK, map[string]string{"directory": "SERVING", "access": "SERVING", "licensing": "SERVING", "audit": "SERVING"})

	fakes[1].health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	check(http.StatusServiceUnavailable, map[string]string{"directory": "SERVING", "access": "NOT_SERVING"})

	fakes[1].health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	fakes[3].srv.Stop()
	check(http.StatusServiceUnavailable, map[string]string{"access": "SERVING", "audit": "UNREACHABLE"})
}

// probe stands in for a generated Register<Service>Handler: GET /v1/probe
// calls the backend's health Check the way generated handlers call their
// methods.
func probe(_ context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return mux.HandlePath(http.MethodGet, "/v1/probe", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, "/grpc.health.v1.Health/Check", runtime.WithHTTPPathPattern("/v1/probe"))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, &runtime.JSONPb{}, w, r, err)
			return
		}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			runtime.HTTPError(ctx, mux, &runtime.JSONPb{}, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, &runtime.JSONPb{}, w, r, resp)
	})
}

func TestForwardsCallerHeaders(t *testing.T) {
	s, fakes := newGateway(t, server.Config{}, probe)
	req := httptest.NewRequest(http.MethodGet, "/v1/probe", nil)
	req.Header.Set("Authorization", "Bearer user-token")
	req.Header.Set("X-Request-Id", "req-42")
	req.Header.Set("X-Steward-Actor", "organizations/o1/users/admin")
	req.Header.Set("Grpc-Metadata-Authorization", "Service directory:forged")
	resp, body := get(t, s.Handler(), req)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "SERVING") {
		t.Fatalf("GET /v1/probe = %d %s", resp.StatusCode, body)
	}
	md := fakes[0].lastMD()
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer user-token" {
		t.Errorf("authorization metadata = %q, want exactly the caller's", got)
	}
	if got := md.Get("x-request-id"); len(got) != 1 || got[0] != "req-42" {
		t.Errorf("x-request-id metadata = %q, want [req-42]", got)
	}
	if got := md.Get("x-steward-actor"); len(got) != 0 {
		t.Errorf("x-steward-actor forwarded from HTTP: %q", got)
	}

	// Without an Authorization header, the backend sees none: the gateway
	// never lends its own identity.
	resp, _ = get(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/v1/probe", nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/probe = %d", resp.StatusCode)
	}
	if got := fakes[0].lastMD().Get("authorization"); len(got) != 0 {
		t.Errorf("authorization metadata without a caller credential = %q", got)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(origin string) *http.Request {
		r := httptest.NewRequest(http.MethodOptions, "/v1/probe", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		return r
	}
	off, _ := newGateway(t, server.Config{})
	if resp, _ := get(t, off.Handler(), preflight("http://ui.example")); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS answered although no origin is configured")
	}

	on, _ := newGateway(t, server.Config{CORSOrigins: []string{"http://ui.example"}}, probe)
	resp, _ := get(t, on.Handler(), preflight("http://ui.example"))
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://ui.example" {
		t.Errorf("preflight Allow-Origin = %q, want http://ui.example", got)
	}
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") {
		t.Errorf("preflight Allow-Headers = %q, want authorization", got)
	}
	if resp, _ := get(t, on.Handler(), preflight("http://evil.example")); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an origin that is not configured")
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/probe", nil)
	req.Header.Set("Origin", "http://ui.example")
	if resp, _ := get(t, on.Handler(), req); resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
		t.Errorf("GET Allow-Origin = %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestRun(t *testing.T) {
	s, _ := newGateway(t, server.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "steward_gateway_http_requests_total") {
			t.Errorf("/metrics lacks the request counter")
		}
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestCompleteValidates(t *testing.T) {
	dup := server.NewConfig()
	dup.Backends = append(dup.Backends, dup.Backends[0])
	noAddr := server.NewConfig()
	noAddr.Backends[2].Addr = ""
	remote := server.NewConfig()
	remote.Backends[0].Addr = "directory.example.com:7001" // plaintext off loopback
	for name, cfg := range map[string]server.Config{"duplicate": dup, "no backend address": noAddr, "plaintext remote": remote, "no addr": {}} {
		if _, err := cfg.Complete(); err == nil {
			t.Errorf("%s: Complete succeeded", name)
		}
	}
}
