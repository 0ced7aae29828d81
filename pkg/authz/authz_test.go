package authz_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoregistry"

	authzv1 "steward.dev/gen/steward/authz/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
)

var (
	user = authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/u1", Organization: "organizations/o1"}
	// svc is granted every test method; acting is svc acting for user.
	svc    = authn.Principal{Kind: authn.KindService, Name: "services/access"}
	acting = authn.Principal{Kind: authn.KindService, Name: "services/access", OnBehalfOf: &user}
	// narrow is granted Create only; stranger nothing.
	narrow   = authn.Principal{Kind: authn.KindService, Name: "services/directory"}
	stranger = authn.Principal{Kind: authn.KindService, Name: "services/gateway"}
)

// testPolicy is what services may call of the test service.
func testPolicy() authz.CallerTable {
	var all []string
	for _, m := range testMethods {
		all = append(all, "/"+testService+"/"+m.name)
	}
	return authz.NewServicePolicy(
		authz.Grant{Caller: "access", Callee: "test", Methods: all},
		authz.Grant{Caller: "directory", Callee: "test", Methods: []string{"/" + testService + "/Create"}},
		authz.Grant{Caller: "directory", Callee: "other", Methods: []string{"/" + testService + "/Internal"}},
	).For("test")
}

func testServiceInfo() map[string]grpc.ServiceInfo {
	info := grpc.ServiceInfo{}
	for _, m := range testMethods {
		info.Methods = append(info.Methods, grpc.MethodInfo{Name: m.name, IsServerStream: m.stream})
	}
	return map[string]grpc.ServiceInfo{testService: info}
}

func TestTable(t *testing.T) {
	table := authz.NewTable(testServiceInfo(), testFiles(t))
	err := table.Verify()
	if err == nil {
		t.Fatal("Verify() = nil, want an error naming the methods without a valid rule")
	}
	for _, m := range testMethods {
		full := "/" + testService + "/" + m.name
		invalid := slices.Contains(invalidMethods, m.name)
		if named := strings.Contains(err.Error(), full+":"); named != invalid {
			t.Errorf("Verify() names %s: %v, want %v\n%v", full, named, invalid, err)
		}
		rule, ok := table.RuleFor(full)
		if ok == invalid {
			t.Errorf("RuleFor(%s) reported %v", full, ok)
		}
		if ok && rule.GetPermissions() == nil && !rule.GetPublic() && !rule.GetInternal() && !rule.GetAuthenticated() {
			t.Errorf("RuleFor(%s) = empty rule", full)
		}
	}
	if !strings.Contains(err.Error(), "NoRule: no authorization rule") {
		t.Errorf("Verify() does not say NoRule has no rule:\n%v", err)
	}
}

type eventLog struct {
	eventlogv1.UnimplementedEventLogServiceServer
}

func TestVerifyRules(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := grpc.NewServer()
	eventlogv1.RegisterEventLogServiceServer(s, eventLog{})
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	if err := authz.VerifyRules(s); err != nil {
		t.Fatalf("VerifyRules(EventLogService, health, reflection) = %v", err)
	}
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "steward.authztest.v1.Unruled",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Do", Handler: nil}},
	}, struct{}{})
	err := authz.VerifyRules(s)
	if err == nil || !strings.Contains(err.Error(), "/steward.authztest.v1.Unruled/Do") {
		t.Fatalf("VerifyRules(with Unruled) = %v, want an error naming /steward.authztest.v1.Unruled/Do", err)
	}
	if strings.Contains(err.Error(), "EventLogService") {
		t.Errorf("VerifyRules names EventLogService: %v", err)
	}
}

func TestScopeOf(t *testing.T) {
	files := testFiles(t)
	tests := []struct {
		path, parent, thing, want string
		wantErr                   bool
	}{
		{path: "parent", parent: "organizations/o1", want: "organizations/o1"},
		{path: "parent", want: ""},
		{path: "thing.name", thing: "organizations/o1/things/t1", want: "organizations/o1/things/t1"},
		{path: "thing.name", want: ""},
		{path: "nope", wantErr: true},
		{path: "tags", wantErr: true},
		{path: "count", wantErr: true},
		{path: "thing", wantErr: true},
		{path: "parent.x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := authz.ScopeOf(newRequest(t, files, tt.parent, tt.thing), tt.path)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ScopeOf(%q) = %q, %v; want %q, error %v", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}

// recorder is an Authorizer that records its requests and allows those
// whose scope is in allow.
type recorder struct {
	mu    sync.Mutex
	allow []string
	err   error
	reqs  []authz.Request
}

func (r *recorder) Authorize(_ context.Context, req authz.Request) (authz.Decision, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	if r.err != nil {
		return authz.Decision{}, r.err
	}
	if slices.Contains(r.allow, req.Scope) {
		return authz.Decision{Allowed: true, Reason: "test"}, nil
	}
	return authz.Decision{Reason: "no role assignment", Missing: req.Permissions[:1]}, nil
}

func (r *recorder) last() (authz.Request, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return authz.Request{}, false
	}
	return r.reqs[len(r.reqs)-1], true
}

// errorInfo returns the ErrorInfo detail of err, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

func TestEnforce(t *testing.T) {
	files := testFiles(t)
	table := authz.NewTable(testServiceInfo(), files)
	tests := []struct {
		name      string
		method    string
		principal *authn.Principal
		parent    string
		thing     string
		authzErr  error
		code      codes.Code
		reason    string
		wantScope string // scope asked of the Authorizer; "" means not asked
		wantMsg   []string
	}{
		{name: "no rule", method: "NoRule", principal: &svc, code: codes.PermissionDenied, reason: authz.ReasonNoAuthorizationRule},
		{name: "empty rule", method: "EmptyRule", principal: &svc, code: codes.PermissionDenied, reason: authz.ReasonNoAuthorizationRule},
		{name: "public, anonymous", method: "Public", code: codes.OK},
		{name: "internal, anonymous", method: "Internal", code: codes.Unauthenticated, reason: authz.ReasonUnauthenticated},
		{name: "internal, user", method: "Internal", principal: &user, code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "internal, service", method: "Internal", principal: &svc, code: codes.OK},
		{name: "internal, service acting for a user", method: "Internal", principal: &acting, code: codes.OK},
		{name: "internal, service granted other methods", method: "Internal", principal: &narrow, code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied,
			wantMsg: []string{"services/directory may not call /" + testService + "/Internal"}},
		{name: "internal, service granted nothing", method: "Internal", principal: &stranger, code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "public, service granted nothing", method: "Public", principal: &stranger, code: codes.OK},
		{name: "authenticated, anonymous", method: "Authenticated", code: codes.Unauthenticated},
		{name: "authenticated, user", method: "Authenticated", principal: &user, code: codes.OK},
		{name: "authenticated, service", method: "Authenticated", principal: &svc, code: codes.OK},
		{name: "authenticated, service granted nothing", method: "Authenticated", principal: &stranger, code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "permission, service", method: "Create", principal: &svc, parent: "organizations/o9", code: codes.OK},
		{name: "permission, narrowly granted service", method: "Create", principal: &narrow, parent: "organizations/o9", code: codes.OK},
		{name: "permission, service granted nothing", method: "Create", principal: &stranger, parent: "organizations/o1", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{name: "permission, service acting for a user, allowed", method: "Create", principal: &acting, parent: "organizations/o1/tenants/t1", code: codes.OK, wantScope: "organizations/o1/tenants/t1"},
		{name: "permission, service acting for a user, denied as the user", method: "Create", principal: &acting, parent: "organizations/o2", code: codes.PermissionDenied,
			reason: authz.ReasonPermissionDenied, wantScope: "organizations/o2", wantMsg: []string{"organizations/o1/users/u1 lacks things.create"}},
		{name: "organization scope, service acting for a user", method: "OrgWide", principal: &acting, code: codes.OK, wantScope: "organizations/o1"},
		{name: "permission, allowed", method: "Create", principal: &user, parent: "organizations/o1/tenants/t1", code: codes.OK, wantScope: "organizations/o1/tenants/t1"},
		{name: "permission, denied", method: "Create", principal: &user, parent: "organizations/o2", code: codes.PermissionDenied,
			reason: authz.ReasonPermissionDenied, wantScope: "organizations/o2", wantMsg: []string{"things.create", `"organizations/o2"`, "no role assignment"}},
		{name: "nested scope, denied", method: "Update", principal: &user, thing: "organizations/o2/things/t1", code: codes.PermissionDenied,
			reason: authz.ReasonPermissionDenied, wantScope: "organizations/o2/things/t1", wantMsg: []string{"things.edit"}},
		{name: "empty scope", method: "Create", principal: &user, code: codes.InvalidArgument, reason: authz.ReasonScopeMissing},
		{name: "organization scope", method: "OrgWide", principal: &user, code: codes.OK, wantScope: "organizations/o1"},
		{name: "authorizer fails", method: "Create", principal: &user, parent: "organizations/o1/tenants/t1", authzErr: errors.New("access down"), code: codes.Internal, wantScope: "organizations/o1/tenants/t1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &recorder{allow: []string{"organizations/o1", "organizations/o1/tenants/t1"}, err: tt.authzErr}
			ctx := context.Background()
			if tt.principal != nil {
				ctx = authn.NewContext(ctx, *tt.principal)
			}
			full := "/" + testService + "/" + tt.method
			rule, _ := table.RuleFor(full)
			err := authz.Enforce(ctx, a, testPolicy(), full, rule, newRequest(t, files, tt.parent, tt.thing))
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.reason != "" && errorInfo(err).GetReason() != tt.reason {
				t.Errorf("reason = %q, want %q", errorInfo(err).GetReason(), tt.reason)
			}
			req, asked := a.last()
			if asked != (tt.wantScope != "") || req.Scope != tt.wantScope {
				t.Errorf("authorizer asked %v with scope %q, want scope %q", asked, req.Scope, tt.wantScope)
			}
			if asked && (req.Method != full || req.Principal.Name != user.Name) {
				t.Errorf("authorizer request = %+v", req)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(status.Convert(err).Message(), s) {
					t.Errorf("message %q does not contain %q", status.Convert(err).Message(), s)
				}
			}
			if tt.code == codes.PermissionDenied && tt.reason == authz.ReasonPermissionDenied && tt.wantScope != "" {
				md := errorInfo(err).GetMetadata()
				if md["scope"] != tt.wantScope || md["permission"] == "" || errorInfo(err).GetDomain() != "steward.dev" {
					t.Errorf("ErrorInfo = %v", errorInfo(err))
				}
			}
		})
	}
}

// Check, inside a handler, holds a service acting for a user to the user's
// permissions, like Enforce.
func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		principal *authn.Principal
		scope     string
		code      codes.Code
		asked     bool
	}{
		{name: "anonymous", code: codes.Unauthenticated},
		{name: "user, allowed", principal: &user, scope: "organizations/o1", code: codes.OK, asked: true},
		{name: "user, denied", principal: &user, scope: "organizations/o2", code: codes.PermissionDenied, asked: true},
		{name: "service on its own account", principal: &svc, scope: "organizations/o2", code: codes.OK},
		{name: "service acting for a user, allowed", principal: &acting, scope: "organizations/o1", code: codes.OK, asked: true},
		{name: "service acting for a user, denied", principal: &acting, scope: "organizations/o2", code: codes.PermissionDenied, asked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &recorder{allow: []string{"organizations/o1"}}
			ctx := context.Background()
			if tt.principal != nil {
				ctx = authn.NewContext(ctx, *tt.principal)
			}
			err := authz.Check(ctx, a, "/test/M", tt.scope, "things.view")
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			req, asked := a.last()
			if asked != tt.asked || (asked && req.Principal.Name != user.Name) {
				t.Errorf("asked = %v (%+v), want %v about the user", asked, req, tt.asked)
			}
		})
	}
}

func TestServicePolicyFor(t *testing.T) {
	p := authz.NewServicePolicy(
		authz.Grant{Caller: "audit", Callee: "directory", Methods: []string{"/a/Watch"}},
		authz.Grant{Caller: "audit", Callee: "access", Methods: []string{"/a/Watch", "/a/Check"}},
		authz.Grant{Caller: "harness", Callee: "*", Methods: []string{"*"}},
	)
	dir := p.For("directory")
	audit := authn.Principal{Kind: authn.KindService, Name: "services/audit"}
	harness := authn.Principal{Kind: authn.KindService, Name: "services/harness"}
	for _, tt := range []struct {
		table  authz.CallerTable
		p      authn.Principal
		method string
		want   bool
	}{
		{dir, audit, "/a/Watch", true},
		{dir, audit, "/a/Check", false},
		{p.For("access"), audit, "/a/Check", true},
		{p.For("licensing"), audit, "/a/Watch", false},
		{dir, harness, "/any/Thing", true},
		{dir, user, "/a/Watch", false},
		{dir, authn.Principal{Kind: authn.KindService, Name: "audit"}, "/a/Watch", false},
	} {
		if got := tt.table.Allows(tt.p, tt.method); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.p.Name, tt.method, got, tt.want)
		}
	}
	if got := len(p.With(authz.Grant{Caller: "x", Callee: "y"}).Grants()); got != 4 {
		t.Errorf("With: %d grants, want 4", got)
	}
}

func TestDenyAll(t *testing.T) {
	d, err := authz.DenyAll.Authorize(context.Background(), authz.Request{Principal: user, Permissions: []string{"a.b"}, Scope: "organizations/o1"})
	if err != nil || d.Allowed || d.Reason != "access management not configured" {
		t.Fatalf("DenyAll = %+v, %v", d, err)
	}
	if (authz.Decision{}).Allowed {
		t.Fatal("zero Decision allows")
	}
}

// testServer serves testService over bufconn through the authz
// interceptors, with the principal named by the x-test-principal metadata
// ("user" or "service").
func testServer(t *testing.T, files *protoregistry.Files, a authz.Authorizer) *grpc.ClientConn {
	t.Helper()
	principal := func(ctx context.Context) context.Context {
		md, _ := metadata.FromIncomingContext(ctx)
		switch v := md.Get("x-test-principal"); {
		case slices.Contains(v, "user"):
			return authn.NewContext(ctx, user)
		case slices.Contains(v, "service"):
			return authn.NewContext(ctx, svc)
		case slices.Contains(v, "acting"):
			return authn.NewContext(ctx, acting)
		case slices.Contains(v, "stranger"):
			return authn.NewContext(ctx, stranger)
		}
		return ctx
	}
	rules := &lazyRules{} // filled in once the service is registered, before serving
	s := grpc.NewServer(
		grpc.ChainUnaryInterceptor(
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				return h(principal(ctx), req)
			},
			authz.UnaryServerInterceptor(rules, a, testPolicy()),
		),
		grpc.ChainStreamInterceptor(
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				return h(srv, ctxStream{ss, principal(ss.Context())})
			},
			authz.StreamServerInterceptor(rules, a, testPolicy()),
		),
	)
	desc := &grpc.ServiceDesc{ServiceName: testService, HandlerType: (*any)(nil)}
	for _, m := range testMethods {
		full := "/" + testService + "/" + m.name
		if m.stream {
			desc.Streams = append(desc.Streams, grpc.StreamDesc{
				StreamName:    m.name,
				ServerStreams: true,
				Handler: func(_ any, stream grpc.ServerStream) error {
					if err := stream.RecvMsg(newRequest(t, files, "", "")); err != nil {
						return err
					}
					return stream.SendMsg(newThing(t, files))
				},
			})
			continue
		}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: m.name,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := newRequest(t, files, "", "")
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(context.Context, any) (any, error) { return newThing(t, files), nil }
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, handler)
			},
		})
	}
	s.RegisterService(desc, struct{}{})
	rules.table = authz.NewTable(s.GetServiceInfo(), files)

	lis := bufconn.Listen(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		s.Stop()
		<-done
	})
	return conn
}

// lazyRules is an authz.RuleSource whose table is set after the
// interceptors were built.
type lazyRules struct{ table *authz.Table }

func (r *lazyRules) RuleFor(m string) (*authzv1.Rule, bool) { return r.table.RuleFor(m) }

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

func TestInterceptorsOverBufconn(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs after testServer's cleanup
	files := testFiles(t)
	a := &recorder{allow: []string{"organizations/o1"}}
	conn := testServer(t, files, a)

	tests := []struct {
		method    string
		principal string
		parent    string
		code      codes.Code
		reason    string
	}{
		{method: "NoRule", principal: "service", code: codes.PermissionDenied, reason: authz.ReasonNoAuthorizationRule},
		{method: "NoRule", code: codes.PermissionDenied, reason: authz.ReasonNoAuthorizationRule},
		{method: "Public", code: codes.OK},
		{method: "Internal", code: codes.Unauthenticated},
		{method: "Internal", principal: "user", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{method: "Internal", principal: "service", code: codes.OK},
		{method: "Create", principal: "user", parent: "organizations/o1", code: codes.OK},
		{method: "Create", principal: "user", parent: "organizations/o2", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{method: "WatchThings", principal: "user", parent: "organizations/o1", code: codes.OK},
		{method: "WatchThings", principal: "user", parent: "organizations/o2", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{method: "WatchThings", principal: "service", parent: "organizations/o2", code: codes.OK},
		{method: "WatchThings", principal: "acting", parent: "organizations/o1", code: codes.OK},
		{method: "WatchThings", principal: "acting", parent: "organizations/o2", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{method: "WatchThings", principal: "stranger", parent: "organizations/o1", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
		{method: "Internal", principal: "stranger", code: codes.PermissionDenied, reason: authz.ReasonPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.method+"/"+tt.principal+"/"+tt.parent, func(t *testing.T) {
			ctx := context.Background()
			if tt.principal != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-test-principal", tt.principal)
			}
			full := "/" + testService + "/" + tt.method
			req := newRequest(t, files, tt.parent, "")
			var err error
			if tt.method == "WatchThings" {
				var stream grpc.ClientStream
				stream, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, full)
				if err == nil {
					if err = stream.SendMsg(req); err == nil {
						if err = stream.CloseSend(); err == nil {
							err = stream.RecvMsg(newThing(t, files))
						}
					}
				}
			} else {
				err = conn.Invoke(ctx, full, req, newThing(t, files))
			}
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.reason != "" && errorInfo(err).GetReason() != tt.reason {
				t.Errorf("reason = %q, want %q", errorInfo(err).GetReason(), tt.reason)
			}
			if tt.code == codes.PermissionDenied && tt.parent != "" && tt.principal != "stranger" {
				if msg := status.Convert(err).Message(); !strings.Contains(msg, "things.") || !strings.Contains(msg, tt.parent) {
					t.Errorf("message %q names neither permission nor scope", msg)
				}
			}
		})
	}
}
