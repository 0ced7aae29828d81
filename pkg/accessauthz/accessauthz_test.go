package accessauthz_test

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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/grpcclient"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAccess is an AccessService that allows the permissions in allow (at
// any scope) and records the checks it was asked.
type fakeAccess struct {
	accessv1.UnimplementedAccessServiceServer
	allow []string
	err   error // returned by every call when set

	mu      sync.Mutex
	checks  []*accessv1.CheckPermissionRequest
	batches int
	auth    []string // authorization metadata of each call
	atLeast []uint64 // at_least_directory_sequence of each call
}

func (f *fakeAccess) record(ctx context.Context, reqs ...*accessv1.CheckPermissionRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, reqs...)
	md, _ := metadata.FromIncomingContext(ctx)
	f.auth = append(f.auth, strings.Join(md.Get(authn.MDAuthorization), ","))
}

func (f *fakeAccess) decide(r *accessv1.CheckPermissionRequest) *accessv1.CheckPermissionResponse {
	if slices.Contains(f.allow, r.GetPermission()) {
		return &accessv1.CheckPermissionResponse{Allowed: true, Reason: "allowed: " + r.GetPermission()}
	}
	return &accessv1.CheckPermissionResponse{Reason: "denied: " + r.GetPermission()}
}

func (f *fakeAccess) CheckPermission(ctx context.Context, r *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	f.record(ctx, r)
	f.mu.Lock()
	f.atLeast = append(f.atLeast, r.GetAtLeastDirectorySequence())
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.decide(r), nil
}

func (f *fakeAccess) BatchCheckPermission(ctx context.Context, r *accessv1.BatchCheckPermissionRequest) (*accessv1.BatchCheckPermissionResponse, error) {
	f.record(ctx, r.GetItems()...)
	f.mu.Lock()
	f.batches++
	f.atLeast = append(f.atLeast, r.GetAtLeastDirectorySequence())
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	resp := &accessv1.BatchCheckPermissionResponse{}
	for _, it := range r.GetItems() {
		resp.Results = append(resp.Results, f.decide(it))
	}
	return resp, nil
}

func (f *fakeAccess) reset() ([]*accessv1.CheckPermissionRequest, int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, b, a := f.checks, f.batches, f.auth
	f.checks, f.batches, f.auth = nil, 0, nil
	return c, b, a
}

// start serves fake on bufconn and returns a connection to it carrying the
// "licensing" service credential, as pkg/backend dials access.
func start(t *testing.T, fake *fakeAccess) (grpc.ClientConnInterface, authn.ServiceCredential) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	accessv1.RegisterAccessServiceServer(s, fake)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	cred, err := authn.NewServiceCredential([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	unary, stream, err := grpcclient.Interceptors(grpcclient.Options{Service: "licensing", Credential: cred})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(unary), grpc.WithChainStreamInterceptor(stream))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, cred
}

var (
	alice     = authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/alice", Organization: "organizations/o1", SessionID: "s1"}
	enrolling = authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/bob", Organization: "organizations/o1", SessionID: "enroll-s2"}
	orphan    = authn.Principal{Kind: authn.KindUser, Name: "organizations/o1/users/carl"}
	// robotKey is a robot account calling with one of its API keys.
	robotKey = authn.Principal{Kind: authn.KindRobotAccount, Name: "organizations/o1/robotAccounts/r1", Organization: "organizations/o1",
		SessionID: "organizations/o1/robotAccounts/r1/apiKeys/k1"}
)

func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// TestAuthorize (R16, R10): every permission is asked of access at the
// scope (one CheckPermission for one, a batch for several) with the calling
// service's credential; all must be allowed; another organization's scope
// is NotFound and an enrolment-only session is denied, without asking.
func TestAuthorize(t *testing.T) {
	fake := &fakeAccess{allow: []string{"users.view", "users.edit"}}
	conn, cred := start(t, fake)
	a := accessauthz.New(conn)
	ctx := context.Background()

	tests := []struct {
		name        string
		principal   authn.Principal
		permissions []string
		scope       string
		wantCode    codes.Code // of the error; OK means a decision
		allowed     bool
		missing     []string
		wantScope   string // sent to access; "" means access is not asked
		batch       bool
		asked       string // the principal sent to access; "" means principal.Name
	}{
		{name: "API key", principal: robotKey, permissions: []string{"users.view"}, scope: "organizations/o1",
			allowed: true, wantScope: "organizations/o1", asked: robotKey.SessionID},
		{name: "API key, several", principal: robotKey, permissions: []string{"users.view", "users.edit"}, scope: "organizations/o1",
			allowed: true, wantScope: "organizations/o1", batch: true, asked: robotKey.SessionID},
		{name: "one allowed", principal: alice, permissions: []string{"users.view"}, scope: "organizations/o1/users/u2",
			allowed: true, wantScope: "organizations/o1/users/u2"},
		{name: "one denied", principal: alice, permissions: []string{"users.create"}, scope: "organizations/o1",
			missing: []string{"users.create"}, wantScope: "organizations/o1"},
		{name: "several allowed", principal: alice, permissions: []string{"users.view", "users.edit"}, scope: "organizations/o1/tenants/t1",
			allowed: true, wantScope: "organizations/o1/tenants/t1", batch: true},
		{name: "several, one missing", principal: alice, permissions: []string{"users.view", "users.delete", "users.edit"}, scope: "organizations/o1/tenants/t1/services/s1",
			missing: []string{"users.delete"}, wantScope: "organizations/o1/tenants/t1/services/s1", batch: true},
		{name: "singleton scope", principal: alice, permissions: []string{"users.view"}, scope: "organizations/o1/accountSystem",
			allowed: true, wantScope: "organizations/o1"},
		{name: "singleton below a resource", principal: alice, permissions: []string{"users.edit"}, scope: "organizations/o1/robotAccounts/r1/robotUsageScope",
			allowed: true, wantScope: "organizations/o1/robotAccounts/r1"},
		{name: "another organization", principal: alice, permissions: []string{"users.view"}, scope: "organizations/o2/users/u1", wantCode: codes.NotFound},
		{name: "organization prefix only", principal: alice, permissions: []string{"users.view"}, scope: "organizations/o10", wantCode: codes.NotFound},
		{name: "no organization", principal: orphan, permissions: []string{"users.view"}, scope: "organizations/o1", wantCode: codes.NotFound},
		{name: "enrolment-only session", principal: enrolling, permissions: []string{"users.view"}, scope: "organizations/o1",
			missing: []string{"users.view"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := a.Authorize(ctx, authz.Request{Principal: tt.principal, Permissions: tt.permissions, Scope: tt.scope, Method: "/x.v1.X/Do"})
			checks, batches, auth := fake.reset()
			if tt.wantCode != codes.OK {
				if status.Code(err) != tt.wantCode || errorReason(err) != "NOT_FOUND" || !strings.Contains(err.Error(), tt.scope) {
					t.Fatalf("Authorize = %+v, %v; want %v NOT_FOUND naming the scope", d, err, tt.wantCode)
				}
			} else if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d.Allowed != tt.allowed || !slices.Equal(d.Missing, tt.missing) {
				t.Errorf("Authorize = %+v, want allowed %v, missing %q", d, tt.allowed, tt.missing)
			}
			if tt.wantCode == codes.OK && d.Reason == "" {
				t.Error("decision without a reason")
			}
			if tt.wantScope == "" {
				if len(checks) != 0 {
					t.Fatalf("access asked %v, want not asked", checks)
				}
				return
			}
			if len(checks) != len(tt.permissions) {
				t.Fatalf("access asked %d checks, want %d", len(checks), len(tt.permissions))
			}
			asked := tt.asked
			if asked == "" {
				asked = tt.principal.Name
			}
			for i, c := range checks {
				if c.GetPrincipal() != asked || c.GetPermission() != tt.permissions[i] || c.GetScope() != tt.wantScope {
					t.Errorf("check %d = %v, want %s %s at %s", i, c, asked, tt.permissions[i], tt.wantScope)
				}
			}
			if (batches == 1) != tt.batch || (!tt.batch && batches != 0) {
				t.Errorf("%d batches, want batch %v", batches, tt.batch)
			}
			for _, got := range auth {
				if got != cred.AuthorizationFor("licensing") {
					t.Errorf("access saw authorization %q, want the licensing service credential", got)
				}
			}
		})
	}
}

// TestAuthorizeAccessErrors: when access cannot answer, the call fails; it
// is never allowed. Unavailability keeps its code (clients retry); a
// refusal of the service's own credential is an internal error, not the end
// user's.
func TestAuthorizeAccessErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		perms []string
		want  codes.Code
	}{
		{name: "unavailable", err: status.Error(codes.Unavailable, "access: not ready"), perms: []string{"users.view"}, want: codes.Unavailable},
		{name: "unavailable batch", err: status.Error(codes.Unavailable, "access: not ready"), perms: []string{"users.view", "users.edit"}, want: codes.Unavailable},
		{name: "credential refused", err: status.Error(codes.Unauthenticated, "bad service credential"), perms: []string{"users.view"}, want: codes.Internal},
		{name: "internal method", err: status.Error(codes.PermissionDenied, "no"), perms: []string{"users.view"}, want: codes.Internal},
		{name: "invalid scope", err: status.Error(codes.InvalidArgument, "scope: invalid"), perms: []string{"users.view"}, want: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, _ := start(t, &fakeAccess{allow: []string{"users.view", "users.edit"}, err: tt.err})
			a := accessauthz.New(conn)
			d, err := a.Authorize(context.Background(), authz.Request{Principal: alice, Permissions: tt.perms, Scope: "organizations/o1"})
			if d.Allowed || status.Code(err) != tt.want || !errors.Is(err, accessauthz.ErrCheckFailed) {
				t.Fatalf("Authorize = %+v, %v; want a %v error matching ErrCheckFailed", d, err, tt.want)
			}
			// Through authz.Check, as a handler would: the call fails with it.
			ctx := authn.NewContext(context.Background(), alice)
			if err := authz.Check(ctx, a, "/x.v1.X/Do", "organizations/o1", tt.perms...); status.Code(err) != tt.want {
				t.Fatalf("authz.Check = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestAuthorizeThroughCheck: a denial becomes PermissionDenied naming the
// missing permission, as every service's callers see it.
func TestAuthorizeThroughCheck(t *testing.T) {
	conn, _ := start(t, &fakeAccess{allow: []string{"users.view"}})
	a := accessauthz.New(conn)
	ctx := authn.NewContext(context.Background(), alice)
	if err := authz.Check(ctx, a, "/x.v1.X/Do", "organizations/o1", "users.view"); err != nil {
		t.Fatalf("allowed check: %v", err)
	}
	err := authz.Check(ctx, a, "/x.v1.X/Do", "organizations/o1", "users.view", "users.create")
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "users.create") ||
		strings.Contains(status.Convert(err).Message(), "users.view,") {
		t.Fatalf("denied check: %v, want PermissionDenied naming users.create only", err)
	}
}

// A Deferred authorizer fails (Unavailable) until it is given the one to ask.
func TestDeferred(t *testing.T) {
	var d accessauthz.Deferred
	req := authz.Request{Principal: alice, Permissions: []string{"users.view"}, Scope: "organizations/o1"}
	if dec, err := d.Authorize(context.Background(), req); dec.Allowed || status.Code(err) != codes.Unavailable || !errors.Is(err, accessauthz.ErrCheckFailed) {
		t.Fatalf("Deferred before Set = %+v, %v; want Unavailable", dec, err)
	}
	conn, _ := start(t, &fakeAccess{allow: []string{"users.view"}})
	d.Set(accessauthz.New(conn))
	if dec, err := d.Authorize(context.Background(), req); err != nil || !dec.Allowed {
		t.Fatalf("Deferred after Set = %+v, %v; want allowed", dec, err)
	}
}

// WithDirectorySequence (read-your-writes for the directory): every call
// carries the directory's head as at_least_directory_sequence; access not
// catching up in time is Unavailable (retry), and a failure to read the head
// fails the check.
func TestDirectorySequence(t *testing.T) {
	fake := &fakeAccess{allow: []string{"users.view", "users.edit"}}
	conn, _ := start(t, fake)
	var head uint64 = 41
	var headErr error
	a := accessauthz.New(conn, accessauthz.WithDirectorySequence(func(context.Context) (uint64, error) {
		head++
		return head, headErr
	}))
	ctx := context.Background()
	for _, perms := range [][]string{{"users.view"}, {"users.view", "users.edit"}} {
		d, err := a.Authorize(ctx, authz.Request{Principal: alice, Permissions: perms, Scope: "organizations/o1"})
		if err != nil || !d.Allowed {
			t.Fatalf("Authorize(%v) = %+v, %v", perms, d, err)
		}
	}
	fake.mu.Lock()
	got := fake.atLeast
	fake.mu.Unlock()
	if !slices.Equal(got, []uint64{42, 43}) {
		t.Fatalf("at_least_directory_sequence sent = %v, want [42 43] (one per call)", got)
	}

	headErr = errors.New("store closed")
	if d, err := a.Authorize(ctx, authz.Request{Principal: alice, Permissions: []string{"users.view"}, Scope: "organizations/o1"}); err == nil || d.Allowed {
		t.Fatalf("Authorize with an unreadable head = %+v, %v; want an error", d, err)
	}

	notYet := apierr.New(codes.FailedPrecondition, "NOT_YET_CONSISTENT", "access.steward.dev", "access has not applied directory sequence 44", nil).GRPCStatus().Err()
	conn2, _ := start(t, &fakeAccess{err: notYet})
	a2 := accessauthz.New(conn2, accessauthz.WithDirectorySequence(func(context.Context) (uint64, error) { return 44, nil }))
	_, err := a2.Authorize(ctx, authz.Request{Principal: alice, Permissions: []string{"users.view"}, Scope: "organizations/o1"})
	if status.Code(err) != codes.Unavailable || !errors.Is(err, accessauthz.ErrCheckFailed) {
		t.Fatalf("NOT_YET_CONSISTENT: %v, want Unavailable", err)
	}
	other := apierr.New(codes.FailedPrecondition, "SOMETHING_ELSE", "access.steward.dev", "no", nil).GRPCStatus().Err()
	conn3, _ := start(t, &fakeAccess{err: other})
	if _, err := accessauthz.New(conn3).Authorize(ctx, authz.Request{Principal: alice, Permissions: []string{"users.view"}, Scope: "organizations/o1"}); status.Code(err) != codes.Internal {
		t.Fatalf("another FailedPrecondition: %v, want Internal", err)
	}
}

// TestAPIKeyOf (C4): only a robot account's or external app's own key, as
// the directory names it in SessionID, is a key; anything else checks the
// principal itself.
func TestAPIKeyOf(t *testing.T) {
	const org = "organizations/o1"
	for _, tt := range []struct {
		name string
		p    authn.Principal
		want string
	}{
		{"robot account key", robotKey, robotKey.SessionID},
		{"external app key", authn.Principal{Kind: authn.KindExternalApp, Name: org + "/externalApps/a1", SessionID: org + "/externalApps/a1/apiKeys/k9"}, org + "/externalApps/a1/apiKeys/k9"},
		{"user session", alice, ""},
		{"user whose session looks like a key", authn.Principal{Kind: authn.KindUser, Name: org + "/users/u1", SessionID: org + "/users/u1/apiKeys/k1"}, ""},
		{"another account's key", authn.Principal{Kind: authn.KindRobotAccount, Name: org + "/robotAccounts/r2", SessionID: robotKey.SessionID}, ""},
		{"a longer name", authn.Principal{Kind: authn.KindRobotAccount, Name: robotKey.Name, SessionID: robotKey.SessionID + "/x/y"}, ""},
		{"a bad key ID", authn.Principal{Kind: authn.KindRobotAccount, Name: robotKey.Name, SessionID: robotKey.Name + "/apiKeys/K_1"}, ""},
		{"no session", authn.Principal{Kind: authn.KindRobotAccount, Name: robotKey.Name}, ""},
		{"service", authn.Principal{Kind: authn.KindService, Name: "services/directory"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := accessauthz.APIKeyOf(tt.p); got != tt.want {
				t.Errorf("APIKeyOf = %q, want %q", got, tt.want)
			}
			want := tt.want
			if want == "" {
				want = tt.p.Name
			}
			if got := accessauthz.CheckPrincipal(tt.p); got != want {
				t.Errorf("CheckPrincipal = %q, want %q", got, want)
			}
		})
	}
}
