package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"steward.dev/pkg/authn"
	"steward.dev/services/gateway/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call is one call a fake backend received.
type call struct {
	method string
	md     metadata.MD
	req    proto.Message
}

// fakeBackend is a gRPC server with the standard health service that
// answers every other method: by default it records the call and returns
// an empty response (which every response type decodes from); handle, when
// set, answers instead.
type fakeBackend struct {
	addr   string
	health *health.Server
	srv    *grpc.Server

	mu     sync.Mutex
	calls  []call
	handle func(method string, stream grpc.ServerStream) error
}

func startBackend(t *testing.T) *fakeBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{addr: lis.Addr().String(), health: health.NewServer()}
	b.srv = grpc.NewServer(grpc.UnknownServiceHandler(b.serve))
	healthpb.RegisterHealthServer(b.srv, b.health)
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(b.srv.Stop)
	return b
}

// serve answers any method but health's: it decodes the request as its
// declared input type, records the call, then lets handle answer or sends
// an empty response.
func (b *fakeBackend) serve(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	svc, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc + "." + name))
	if err != nil {
		return err
	}
	req := dynamicpb.NewMessage(d.(protoreflect.MethodDescriptor).Input())
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	b.mu.Lock()
	b.calls = append(b.calls, call{method: method, md: md, req: req})
	handle := b.handle
	b.mu.Unlock()
	if handle != nil {
		return handle(method, stream)
	}
	return stream.SendMsg(&emptypb.Empty{})
}

func (b *fakeBackend) setHandle(h func(method string, stream grpc.ServerStream) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handle = h
}

func (b *fakeBackend) received() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]call(nil), b.calls...)
}

func (b *fakeBackend) lastCall(t *testing.T) call {
	t.Helper()
	calls := b.received()
	if len(calls) == 0 {
		t.Fatal("the backend received no call")
	}
	return calls[len(calls)-1]
}

// newGateway completes a gateway with the default backends (the
// directory's and access's real routes) in front of four fake backends.
func newGateway(t *testing.T, cfg server.Config) (*server.Server, []*fakeBackend) {
	t.Helper()
	var fakes []*fakeBackend
	cfg.Backends = server.DefaultBackends()
	for i := range cfg.Backends {
		f := startBackend(t)
		fakes = append(fakes, f)
		cfg.Backends[i].Addr = f.addr
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.ServiceCredentialFile == "" {
		cfg.ServiceCredentialFile = filepath.Join(t.TempDir(), "service-credential")
	}
	if cfg.TrustedServicesFile == "" {
		cfg.TrustedServicesFile = filepath.Join(t.TempDir(), "services.sha256")
	}
	cfg.HealthTimeout = 500 * time.Millisecond
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, fakes
}

// do serves req with h and returns the response and its body.
func do(t *testing.T, h http.Handler, req *http.Request) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// request builds a request to path with body (none if empty), the JSON
// content type and, if token is not empty, that Authorization header.
func request(method, path, body, authorization string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return req
}

// rpcStatus is the JSON error body of the gateway (a google.rpc.Status).
type rpcStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

// wantStatus fails unless resp is an HTTP code response whose JSON body is a
// google.rpc.Status with rpcCode, and returns it.
func wantStatus(t *testing.T, resp *http.Response, body string, code, rpcCode int) rpcStatus {
	t.Helper()
	if resp.StatusCode != code {
		t.Errorf("HTTP %d %s, want %d", resp.StatusCode, body, code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var st rpcStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("body %q is not a status: %v", body, err)
	}
	if st.Code != rpcCode || st.Message == "" {
		t.Errorf("status %+v, want code %d with a message", st, rpcCode)
	}
	return st
}

const bearer = "Bearer user-token"

func TestHealthz(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	check := func(wantCode int, want map[string]string) {
		t.Helper()
		resp, body := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if resp.StatusCode != wantCode {
			t.Errorf("GET /healthz = %d %s, want %d", resp.StatusCode, body, wantCode)
		}
		if ready, rbody := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/readyz", nil)); ready.StatusCode != wantCode {
			t.Errorf("GET /readyz = %d %s, want %d like /healthz", ready.StatusCode, rbody, wantCode)
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

// TestForwardsCallerHeaders: the backend receives the caller's credential
// and request ID, and the gateway's own metadata: the client's address,
// vouched for by the gateway's service credential (contract C1).
func TestForwardsCallerHeaders(t *testing.T) {
	credFile := filepath.Join(t.TempDir(), "gateway-credential")
	s, fakes := newGateway(t, server.Config{ServiceCredentialFile: credFile})
	cred, err := authn.LoadOrCreateServiceCredential(credFile)
	if err != nil {
		t.Fatal(err)
	}
	req := request(http.MethodGet, "/v1/organizations/o1/users/u1", "", bearer)
	req.RemoteAddr = "198.51.100.7:40000"
	req.Header.Set("X-Request-Id", "req-42")
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // from an untrusted peer: ignored
	resp, body := do(t, s.Handler(), req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET user = %d %s", resp.StatusCode, body)
	}
	md := fakes[0].lastCall(t).md
	for key, want := range map[string]string{
		"authorization":               bearer,
		"x-request-id":                "req-42",
		authn.MDClientAddress:         "198.51.100.7",
		authn.MDProxyAuthorization:    cred.AuthorizationFor("gateway"),
		"x-forwarded-for":             "198.51.100.7",
		"grpcgateway-content-type":    "application/json",
		"x-steward-actor":             "",
		"x-steward-actor-org":         "",
		"grpcgateway-x-forwarded-for": "",
		"grpcgateway-authorization":   "",
		"grpcgateway-x-steward-actor": "",
	} {
		got := md.Get(key)
		if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || got[0] != want) {
			t.Errorf("metadata %s = %q, want %q", key, got, want)
		}
	}

	// Without an Authorization header, the backend sees none: the gateway
	// never lends its own identity (here on a public route).
	resp, _ = do(t, s.Handler(), request(http.MethodGet, "/v1/jwks", "", ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/jwks = %d", resp.StatusCode)
	}
	if got := fakes[0].lastCall(t).md.Get("authorization"); len(got) != 0 {
		t.Errorf("authorization metadata without a caller credential = %q", got)
	}
}

// TestTrustedProxies: X-Forwarded-For names the client only when the peer
// is a trusted proxy, read from the right past other trusted proxies.
func TestTrustedProxies(t *testing.T) {
	proxies, err := server.ParseTrustedProxies("10.0.0.0/8, 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	s, fakes := newGateway(t, server.Config{TrustedProxies: proxies})
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer", "198.51.100.7:1", []string{"203.0.113.9"}, "198.51.100.7"},
		{"trusted peer without header", "10.1.2.3:1", nil, "10.1.2.3"},
		{"trusted peer", "10.1.2.3:1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left entries", "192.0.2.1:1", []string{"1.1.1.1, 203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"several headers", "192.0.2.1:1", []string{"1.1.1.1", "203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"malformed entry", "10.1.2.3:1", []string{"evil, 10.0.0.5"}, "10.0.0.5"},
		{"ipv6", "10.1.2.3:1", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(http.MethodGet, "/v1/jwks", "", "")
			req.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if resp, body := do(t, s.Handler(), req); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /v1/jwks = %d %s", resp.StatusCode, body)
			}
			if got := fakes[0].lastCall(t).md.Get(authn.MDClientAddress); len(got) != 1 || got[0] != tc.want {
				t.Errorf("client address = %q, want %s", got, tc.want)
			}
		})
	}
}

// TestRefusesServiceScheme (issue 9 item 1): the Service scheme is for
// Steward's services; through the gateway it is refused before anything is
// forwarded, on every route, public or not.
func TestRefusesServiceScheme(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	for _, tc := range []struct{ method, path, body, authorization string }{
		{http.MethodGet, "/v1/organizations/o1/users", "", "Service cli:c2VjcmV0"},
		{http.MethodPost, "/v1/organizations/o1/tenants?tenantId=t", `{"displayName":"T"}`, "Service directory:c2VjcmV0"},
		{http.MethodGet, "/v1/jwks", "", "service cli:x"},
		{http.MethodPost, "/v1/organizations:signUp", `{}`, "  SERVICE\tcli:x"},
		{http.MethodGet, "/v1/organizations/o1/roleAssignments:export", "", "Service access:x"},
		{http.MethodGet, "/v1/organizations/o1/auditEvents:export", "", "Service audit:x"},
	} {
		resp, body := do(t, s.Handler(), request(tc.method, tc.path, tc.body, tc.authorization))
		st := wantStatus(t, resp, body, http.StatusUnauthorized, 16)
		if !strings.Contains(st.Message, "Service") {
			t.Errorf("%s %s: message %q does not name the scheme", tc.method, tc.path, st.Message)
		}
	}
	for i, f := range fakes {
		if calls := f.received(); len(calls) != 0 {
			t.Errorf("backend %d received %d calls", i, len(calls))
		}
	}
}

// TestRefusesInternalHeaders (issue 9 item 1): Steward's internal headers
// and grpc-gateway's metadata pass-through are refused from outside.
func TestRefusesInternalHeaders(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	for _, h := range []string{
		"X-Steward-Actor",
		"x-steward-actor-org",
		"X-Steward-Client-Address",
		"X-Steward-Proxy-Authorization",
		"X-Steward-Directory-Sequence",
		"Grpc-Metadata-X-Steward-Actor",
		"Grpc-Metadata-Authorization",
		"grpc-metadata-x-anything",
	} {
		for _, path := range []string{"/v1/jwks", "/v1/organizations/o1/users"} {
			req := request(http.MethodGet, path, "", bearer)
			req.Header.Set(h, "organizations/o1/users/admin")
			resp, body := do(t, s.Handler(), req)
			st := wantStatus(t, resp, body, http.StatusBadRequest, 3)
			if !strings.Contains(strings.ToLower(st.Message), strings.ToLower(h)) {
				t.Errorf("%s: message %q does not name the header", h, st.Message)
			}
		}
	}
	for i, f := range fakes {
		if calls := f.received(); len(calls) != 0 {
			t.Errorf("backend %d received %d calls", i, len(calls))
		}
	}
}

// countingReader is a request body of n bytes (a JSON string that never
// ends) that counts what was read of it.
type countingReader struct {
	mu   sync.Mutex
	n    int64
	read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-r.read)
	for i := range k {
		p[i] = 'a'
		if r.read+i == 0 {
			p[i] = '"'
		}
	}
	r.read += k
	return int(k), nil
}

func (r *countingReader) bytesRead() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read
}

// TestBodyLimit (issue 9 item 3): a body over the limit is answered 413 with
// a JSON status, never forwarded; declared too large it is not read at all,
// streamed (chunked) at most the limit is read; a 100 MiB POST costs the
// gateway no more than that.
func TestBodyLimit(t *testing.T) {
	const limit = 64 << 10
	s, fakes := newGateway(t, server.Config{MaxBodyBytes: limit})
	const huge = 100 << 20
	for _, tc := range []struct {
		name          string
		path          string
		authorization string
		declared      bool // Content-Length sent
		size          int64
		wantCode      int
		wantRead      int64 // most bytes the gateway may read
	}{
		{"declared, public route", "/v1/organizations:signUp", "", true, huge, 413, 0},
		{"declared, authenticated", "/v1/organizations/o1/tenants", bearer, true, huge, 413, 0},
		{"declared one byte over", "/v1/organizations:signUp", "", true, limit + 1, 413, 0},
		{"chunked, public route", "/v1/organizations:signUp", "", false, huge, 413, limit + 1},
		{"chunked, authenticated", "/v1/organizations/o1/tenants", bearer, false, huge, 413, limit + 1},
		{"chunked, no credentials", "/v1/organizations/o1/tenants", "", false, huge, 401, 0},
		{"chunked PATCH (read whole for its field mask)", "/v1/organizations/o1/groups/g", bearer, false, huge, 413, limit + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{n: tc.size}
			method := http.MethodPost
			if strings.Contains(tc.name, "PATCH") {
				method = http.MethodPatch
			}
			req := httptest.NewRequest(method, tc.path, body)
			req.ContentLength = -1
			if tc.declared {
				req.ContentLength = tc.size
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			resp, out := do(t, s.Handler(), req)
			rpcCode := 8
			if tc.wantCode == 401 {
				rpcCode = 16
			}
			wantStatus(t, resp, out, tc.wantCode, rpcCode)
			if resp.Header.Get("Connection") != "close" {
				t.Errorf("Connection = %q, want close (the rest of the body is not read)", resp.Header.Get("Connection"))
			}
			t.Logf("%d-byte body: the gateway read %d bytes", tc.size, body.bytesRead())
			if got := body.bytesRead(); got > tc.wantRead {
				t.Errorf("the gateway read %d bytes of the body, want at most %d", got, tc.wantRead)
			}
		})
	}
	if calls := fakes[0].received(); len(calls) != 0 {
		t.Errorf("the directory received %d calls", len(calls))
	}

	// At the limit, the body is forwarded.
	fill := strings.Repeat("x", limit-len(`{"nickname":""}`))
	resp, out := do(t, s.Handler(), request(http.MethodPost, "/v1/organizations:signUp", `{"nickname":"`+fill+`"}`, ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a body at the limit = %d %s", resp.StatusCode, out)
	}
}

// TestAuthenticatesBeforeBody (issue 9 item 3): every route of a non-public
// RPC answers 401 to a request without credentials before reading its
// body; every public one (derived from the protos, not listed) reads it.
// It also checks that the derived public set is SignUp, SignIn, the JWKS
// of the directory and of licensing, and audit's checkpoint key, and that
// no internal RPC has a route.
func TestAuthenticatesBeforeBody(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	s, fakes := newGateway(t, server.Config{Logger: logger})
	public := map[string]bool{}
	for _, b := range server.DefaultBackends() {
		for _, svc := range b.Services {
			for _, rt := range bindings(t, svc.Name) {
				if rt.public {
					public[rt.rpc] = true
				}
				t.Run(rt.verb+" "+rt.path, func(t *testing.T) {
					body := &countingReader{n: 100}
					req := httptest.NewRequest(rt.verb, rt.sample, body)
					req.Header.Set("Content-Type", "application/json")
					resp, out := do(t, s.Handler(), req)
					if rt.public {
						// Reaches the fake backend (the body, an endless
						// string, fails to decode: 400).
						if resp.StatusCode == http.StatusUnauthorized {
							t.Errorf("public %s = 401 %s", rt.rpc, out)
						}
						return
					}
					wantStatus(t, resp, out, http.StatusUnauthorized, 16)
					if n := body.bytesRead(); n != 0 {
						t.Errorf("%s: %d bytes of the body read before authentication", rt.rpc, n)
					}
				})
			}
		}
	}
	want := map[string]bool{
		"/steward.directory.v1.DirectoryService/SignUp":           true,
		"/steward.directory.v1.DirectoryService/SignIn":           true,
		"/steward.directory.v1.DirectoryService/GetJwks":          true,
		"/steward.directory.v1.DirectoryService/GetSignInOptions": true,
		"/steward.licensing.v1.LicensingService/GetLicensingJwks": true,
		"/steward.audit.v1.AuditService/GetAuditPublicKey":        true,
	}
	if !mapsEqual(public, want) {
		t.Errorf("public RPCs with routes = %v, want %v", public, want)
	}
	for i, f := range fakes {
		for _, c := range f.received() {
			if !public[c.method] {
				t.Errorf("backend %d received %s without credentials", i, c.method)
			}
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "without an RPC descriptor") {
		t.Errorf("a route did not match its descriptor:\n%s", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// TestConcurrencyLimit (issue 9 item 3): past MaxConcurrentRequests calls in
// flight, the gateway answers 503 with Retry-After at once; /healthz still
// answers.
func TestConcurrencyLimit(t *testing.T) {
	s, fakes := newGateway(t, server.Config{MaxConcurrentRequests: 2})
	entered := make(chan struct{})
	release := make(chan struct{})
	fakes[0].setHandle(func(_ string, stream grpc.ServerStream) error {
		entered <- struct{}{}
		<-release
		return stream.SendMsg(&emptypb.Empty{})
	})
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, request(http.MethodGet, "/v1/jwks", "", ""))
			codes <- rec.Code
		})
	}
	<-entered
	<-entered
	resp, body := do(t, s.Handler(), request(http.MethodGet, "/v1/jwks", "", ""))
	wantStatus(t, resp, body, http.StatusServiceUnavailable, 14)
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if resp, _ := do(t, s.Handler(), httptest.NewRequest(http.MethodGet, "/healthz", nil)); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz while full = %d", resp.StatusCode)
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("call in flight = %d, want 200", code)
		}
	}
	fakes[0].setHandle(nil)
	if resp, body := do(t, s.Handler(), request(http.MethodGet, "/v1/jwks", "", "")); resp.StatusCode != http.StatusOK {
		t.Errorf("after the calls ended = %d %s", resp.StatusCode, body)
	}
}

// TestRefusesUnknownJSON (issue 9 item 8): an unknown field or enum value in
// a JSON body is refused with 400 naming the field (grpc-gateway's default
// silently drops them); known ones are forwarded.
func TestRefusesUnknownJSON(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	for _, tc := range []struct {
		name, method, path, body string
		field                    string // "" for a body that is not JSON
	}{
		{"unknown field", http.MethodPost, "/v1/organizations:signUp", `{"organizationId":"o","bogus":1}`, "bogus"},
		{"unknown nested field", http.MethodPost, "/v1/organizations/o1/tenants?tenantId=t", `{"displayName":"T","extra":{"a":1}}`, "extra"},
		{"unknown enum value", http.MethodPost, "/v1/organizations/o1/groups?groupId=g", `{"displayName":"G","kind":"KIND_BOGUS"}`, "kind"},
		{"wrong type", http.MethodPost, "/v1/organizations:signUp", `{"organizationId":7}`, "organizationId"},
		{"unknown field in a PATCH", http.MethodPatch, "/v1/organizations/o1/groups/g", `{"displayName":"G","colour":"red"}`, "colour"},
		{"not JSON", http.MethodPost, "/v1/organizations:signUp", `{"organizationId":`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, s.Handler(), request(tc.method, tc.path, tc.body, bearer))
			st := wantStatus(t, resp, body, http.StatusBadRequest, 3)
			if strings.Contains(st.Message, "proto:") || strings.Contains(st.Message, "(line") {
				t.Errorf("message %q shows library internals", st.Message)
			}
			if tc.field == "" {
				return
			}
			if !strings.Contains(st.Message, `"`+tc.field+`"`) {
				t.Errorf("message %q does not name %s", st.Message, tc.field)
			}
			if len(st.Details) != 1 || len(st.Details[0].FieldViolations) != 1 || st.Details[0].FieldViolations[0].Field != tc.field {
				t.Errorf("details %+v, want one field violation for %s", st.Details, tc.field)
			}
		})
	}
	for i, f := range fakes {
		if calls := f.received(); len(calls) != 0 {
			t.Errorf("backend %d received %d calls", i, len(calls))
		}
	}

	resp, body := do(t, s.Handler(), request(http.MethodPost, "/v1/organizations/o1/groups?groupId=g", `{"displayName":"G","kind":"KIND_CUSTOM"}`, bearer))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a valid body = %d %s", resp.StatusCode, body)
	}
	got := fakes[0].lastCall(t).req
	group := got.ProtoReflect().Get(got.ProtoReflect().Descriptor().Fields().ByName("group")).Message()
	if name := group.Get(group.Descriptor().Fields().ByName("display_name")).String(); name != "G" {
		t.Errorf("forwarded display_name = %q", name)
	}
}

// TestDownload (issue 9 item 8): a streamed google.api.HttpBody reaches the
// client as the concatenation of its chunks, with no delimiter (a blank line
// in the CSV) after each.
func TestDownload(t *testing.T) {
	s, fakes := newGateway(t, server.Config{})
	fakes[1].setHandle(func(_ string, stream grpc.ServerStream) error {
		if err := stream.SetHeader(metadata.Pairs("content-disposition", `attachment; filename="ra.csv"`)); err != nil {
			return err
		}
		for i, chunk := range []string{"a,b\n1,2\n", "3,4\n", "5,6\n"} {
			msg := &httpbody.HttpBody{Data: []byte(chunk)}
			if i == 0 {
				msg.ContentType = "text/csv; charset=utf-8"
			}
			if err := stream.SendMsg(msg); err != nil {
				return err
			}
		}
		return nil
	})
	resp, body := do(t, s.Handler(), request(http.MethodGet, "/v1/organizations/o1/roleAssignments:export", "", bearer))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export = %d %s", resp.StatusCode, body)
	}
	if body != "a,b\n1,2\n3,4\n5,6\n" {
		t.Errorf("export body = %q, want the chunks concatenated", body)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" || cd != `attachment; filename="ra.csv"` {
		t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
	}

	// An error before the first chunk is still JSON.
	fakes[1].setHandle(func(string, grpc.ServerStream) error { return errors.New("boom") })
	resp, body = do(t, s.Handler(), request(http.MethodGet, "/v1/organizations/o1/roleAssignments:export", "", bearer))
	if resp.StatusCode == http.StatusOK || !strings.Contains(body, `"code"`) {
		t.Errorf("failed export = %d %q, want a JSON status", resp.StatusCode, body)
	}
}

// TestSequenceHeaders (contract C3): x-steward-<service>-sequence response
// metadata reaches HTTP clients under the same name, exposed by CORS.
func TestSequenceHeaders(t *testing.T) {
	s, fakes := newGateway(t, server.Config{CORSOrigins: []string{"http://ui.example"}})
	fakes[0].setHandle(func(_ string, stream grpc.ServerStream) error {
		if err := stream.SetHeader(metadata.Pairs("x-steward-directory-sequence", "42")); err != nil {
			return err
		}
		return stream.SendMsg(&emptypb.Empty{})
	})
	req := request(http.MethodDelete, "/v1/organizations/o1/groups/g", "", bearer)
	req.Header.Set("Origin", "http://ui.example")
	resp, body := do(t, s.Handler(), req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE group = %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Steward-Directory-Sequence"); got != "42" {
		t.Errorf("X-Steward-Directory-Sequence = %q, want 42 (headers %v)", got, resp.Header)
	}
	exposed := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"X-Steward-Directory-Sequence", "X-Steward-Access-Sequence", "X-Request-Id"} {
		if !strings.Contains(strings.ToLower(exposed), strings.ToLower(h)) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
		}
	}
}

func TestCORS(t *testing.T) {
	preflight := func(origin string) *http.Request {
		r := httptest.NewRequest(http.MethodOptions, "/v1/jwks", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		return r
	}
	off, _ := newGateway(t, server.Config{})
	if resp, _ := do(t, off.Handler(), preflight("http://ui.example")); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS answered although no origin is configured")
	}

	on, _ := newGateway(t, server.Config{CORSOrigins: []string{"http://ui.example"}})
	resp, _ := do(t, on.Handler(), preflight("http://ui.example"))
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://ui.example" {
		t.Errorf("preflight Allow-Origin = %q, want http://ui.example", got)
	}
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") {
		t.Errorf("preflight Allow-Headers = %q, want authorization", got)
	}
	if resp, _ := do(t, on.Handler(), preflight("http://evil.example")); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an origin that is not configured")
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/jwks", nil)
	req.Header.Set("Origin", "http://ui.example")
	if resp, _ := do(t, on.Handler(), req); resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
		t.Errorf("GET Allow-Origin = %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Refusals carry CORS headers too, so that a browser can read them.
	req = request(http.MethodGet, "/v1/organizations/o1/users", "", "Service cli:x")
	req.Header.Set("Origin", "http://ui.example")
	if resp, _ := do(t, on.Handler(), req); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.example" {
		t.Errorf("refusal = %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// run runs s until the test ends and returns its address.
func run(t *testing.T, s *server.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancellation")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Addr() == "" {
		t.Fatal("the gateway did not listen")
	}
	return s.Addr()
}

func TestRun(t *testing.T) {
	s, _ := newGateway(t, server.Config{})
	addr := run(t, s)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := client.Get("http://" + addr + path)
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
}

// TestTrickledBodyIsCut (issue 9 item 3): a body trickled under a large
// Content-Length is answered 408 and its connection closed once the read
// timeout has passed, on a real connection. (It waits for the timeout; the
// time taken is logged, not asserted.)
func TestTrickledBodyIsCut(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s, fakes := newGateway(t, server.Config{ReadTimeout: readTimeout})
	addr := run(t, s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/organizations:signUp HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"nickname\":\""); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(readTimeout / 10)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	// The bound of this test, not of the gateway: today's main held such a
	// connection for over a minute.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	close(stop)
	<-trickled
	if err != nil {
		t.Fatalf("reading the response: %v (after %v)", err, elapsed)
	}
	t.Logf("trickled body cut after %v (read timeout %v)", elapsed, readTimeout)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 408 ") {
		t.Errorf("response %q, want 408", resp)
	}
	if !strings.Contains(string(resp), `"code":4`) {
		t.Errorf("response %q, want a DEADLINE_EXCEEDED status", resp)
	}
	if calls := fakes[0].received(); len(calls) != 0 {
		t.Errorf("the directory received %d calls", len(calls))
	}
}

// TestSlowCallsOutliveTimeouts: the body's read deadline ends with the body
// (a slow call after it is not cancelled), and a streamed download may last
// longer than the write timeout as long as each write is prompt. (The fake
// backends wait past the timeouts; nothing is timed.)
func TestSlowCallsOutliveTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	t.Run("read timeout", func(t *testing.T) {
		s, fakes := newGateway(t, server.Config{ReadTimeout: timeout})
		addr := run(t, s)
		fakes[0].setHandle(func(_ string, stream grpc.ServerStream) error {
			select {
			case <-time.After(3 * timeout):
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
			return stream.SendMsg(&emptypb.Empty{})
		})
		resp, err := client.Post("http://"+addr+"/v1/organizations:signUp", "application/json", strings.NewReader(`{"nickname":"n"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("slow sign-up = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("write timeout", func(t *testing.T) {
		s, fakes := newGateway(t, server.Config{WriteTimeout: timeout})
		addr := run(t, s)
		fakes[1].setHandle(func(_ string, stream grpc.ServerStream) error {
			for i := range 3 {
				if i > 0 {
					time.Sleep(2 * timeout)
				}
				if err := stream.SendMsg(&httpbody.HttpBody{ContentType: "text/csv", Data: []byte("row\n")}); err != nil {
					return err
				}
			}
			return nil
		})
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/organizations/o1/roleAssignments:export", nil)
		req.Header.Set("Authorization", bearer)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "row\nrow\nrow\n" {
			t.Errorf("slow export = %q, %v; want three rows", body, err)
		}
	})
}

func TestCompleteValidates(t *testing.T) {
	cred := filepath.Join(t.TempDir(), "cred")
	trusted := filepath.Join(t.TempDir(), "credentials", "services.sha256")
	valid := func() server.Config {
		c := server.NewConfig()
		c.ServiceCredentialFile = cred
		c.TrustedServicesFile = trusted
		return c
	}
	dup := valid()
	dup.Backends = append(dup.Backends, dup.Backends[0])
	noAddr := valid()
	noAddr.Backends[2].Addr = ""
	remote := valid()
	remote.Backends[0].Addr = "directory.example.com:7001" // plaintext off loopback
	noCred := valid()
	noCred.ServiceCredentialFile = ""
	openCred := valid()
	openCred.ServiceCredentialFile = filepath.Join(t.TempDir(), "open")
	if err := os.WriteFile(openCred.ServiceCredentialFile, []byte("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := valid()
	unknown.Backends[2].Services = []server.Service{{Name: "steward.nothing.v1.NoService", Register: unknown.Backends[0].Services[0].Register}}
	for name, cfg := range map[string]server.Config{
		"duplicate": dup, "no backend address": noAddr, "plaintext remote": remote, "no addr": {ServiceCredentialFile: cred},
		"no credential file": noCred, "credential readable by others": openCred, "unknown service": unknown,
	} {
		if s, err := cfg.Complete(); err == nil {
			s.Close()
			t.Errorf("%s: Complete succeeded", name)
		}
	}
	s, err := valid().Complete()
	if err != nil {
		t.Fatalf("default config: %v", err)
	}
	s.Close()
	// The gateway adds its own line to the trusted-services file, so that
	// backends believe the client addresses it vouches for.
	c, err := authn.LoadOrCreateServiceCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := authn.EnsureTrustedService(trusted, "gateway", c); err != nil || changed {
		t.Errorf("EnsureTrustedService after Complete = %v, %v; want the gateway listed already", changed, err)
	}
}
