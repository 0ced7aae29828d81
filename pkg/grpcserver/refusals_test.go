package grpcserver_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/grpcserver"
)

func TestMutatingMethod(t *testing.T) {
	tests := []struct {
		method string
		want   bool
	}{
		{"/steward.directory.v1.DirectoryService/CreateUser", true},
		{"/steward.directory.v1.DirectoryService/UpdateUser", true},
		{"/steward.directory.v1.DirectoryService/DeleteUser", true},
		{"/steward.directory.v1.DirectoryService/ActivateUser", true},
		{"/steward.directory.v1.DirectoryService/AddGroupMember", true},
		{"/steward.directory.v1.DirectoryService/RemoveGroupMember", true},
		{"/steward.directory.v1.DirectoryService/RevokeApiKey", true},
		{"/steward.directory.v1.DirectoryService/SwitchAccountSystem", true},
		{"/steward.directory.v1.DirectoryService/RotateSigningKeys", true},
		{"/steward.directory.v1.DirectoryService/EnrollTotp", true},
		{"/steward.access.v1.AccessService/CreateRoleAssignment", true},
		{"/steward.access.v1.AccessService/SetRobotUsageScope", true},
		{"/steward.licensing.v1.LicensingService/AssignLicense", true},
		{"/steward.licensing.v1.LicensingService/BatchAssignLicenses", true},
		{"/steward.licensing.v1.LicensingService/AcquireLease", true},
		{"/steward.licensing.v1.LicensingService/FulfillLicenseRequest", true},

		{"/steward.directory.v1.DirectoryService/GetUser", false},
		{"/steward.directory.v1.DirectoryService/ListUsers", false},
		{"/steward.directory.v1.DirectoryService/VerifyCredential", false},
		{"/steward.directory.v1.DirectoryService/ExportSnapshot", false},
		{"/steward.directory.v1.DirectoryService/SignIn", false}, // directory.sign_in.failed
		{"/steward.directory.v1.DirectoryService/SignUp", false},
		{"/steward.access.v1.AccessService/CheckPermission", false},
		{"/steward.access.v1.AccessService/BatchCheckPermission", false},
		{"/steward.access.v1.AccessService/ExplainPermissions", false},
		{"/steward.audit.v1.AuditService/SearchAuditEvents", false},
		{"/steward.audit.v1.AuditService/BatchGetThings", false},
		{"/steward.audit.v1.AuditService/AcknowledgeThing", false},
		{"/steward.audit.v1.AuditService/WatchThings", false},
		{"/steward.eventlog.v1.EventLogService/AcknowledgeEvents", false},
		{"/steward.eventlog.v1.EventLogService/DeleteEverything", false}, // the event log is internal
		{"/grpc.health.v1.Health/Check", false},
		{"/grpc.health.v1.Health/SetServingStatus", false},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", false},
		{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", false},
		{"", false},
		{"/steward.directory.v1.DirectoryService/", false},
	}
	for _, tt := range tests {
		if got := grpcserver.MutatingMethod(tt.method); got != tt.want {
			t.Errorf("MutatingMethod(%q) = %v, want %v", tt.method, got, tt.want)
		}
	}
}

// The fakeDirectory's user methods for the refusal tests: ActivateUser
// refuses users/locked (FailedPrecondition) and does not find users/missing;
// DeactivateUser and GetUser succeed; DeleteUser is never reached (its
// permission is refused).
func (f *fakeDirectory) ActivateUser(_ context.Context, req *directoryv1.ActivateUserRequest) (*directoryv1.User, error) {
	switch req.GetName() {
	case "organizations/o1/users/locked":
		return nil, status.Error(codes.FailedPrecondition, "the user is locked")
	case "organizations/o1/users/missing":
		return nil, status.Error(codes.NotFound, "no such user")
	}
	return &directoryv1.User{Name: req.GetName()}, nil
}

func (f *fakeDirectory) DeactivateUser(_ context.Context, req *directoryv1.DeactivateUserRequest) (*directoryv1.User, error) {
	return &directoryv1.User{Name: req.GetName()}, nil
}

func (f *fakeDirectory) GetUser(_ context.Context, req *directoryv1.GetUserRequest) (*directoryv1.User, error) {
	return &directoryv1.User{Name: req.GetName()}, nil
}

func (f *fakeDirectory) DeleteUser(context.Context, *directoryv1.DeleteUserRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// recorded is one call of Config.RecordRefusal, with what its context
// carried.
type recorded struct {
	grpcserver.Refusal
	actor, requestID, addr string
}

// TestRecordRefusal: a PermissionDenied (authorization) or
// FailedPrecondition (handler) of a mutating method is told to
// RecordRefusal before the caller gets it, with the method, the target
// resource, the status, and the caller in its context; reads, successes,
// other errors and unauthenticated calls are not.
func TestRecordRefusal(t *testing.T) {
	var mu sync.Mutex
	var got []recorded
	h := start(t, func(c *grpcserver.Config) {
		c.Authorizer = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
			switch req.Permissions[0] {
			case "users.delete", "users.view":
				return authz.Decision{Reason: "not an administrator (test)"}, nil
			}
			return authz.Decision{Allowed: true}, nil
		})
		c.RecordRefusal = func(ctx context.Context, r grpcserver.Refusal) {
			actor, _ := authn.Actor(ctx)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, recorded{Refusal: r, actor: actor.Name, requestID: authn.RequestID(ctx), addr: authn.ClientAddress(ctx)})
		}
	})
	client := directoryv1.NewDirectoryServiceClient(h.conn(t))
	asUser := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer user-token", authn.MDRequestID, "req-1")
	take := func() []recorded {
		mu.Lock()
		defer mu.Unlock()
		r := got
		got = nil
		return r
	}

	tests := []struct {
		name     string
		call     func(ctx context.Context) error
		code     codes.Code
		method   string // recorded method, "" when nothing is recorded
		resource string
	}{
		{"refused by authorization", func(ctx context.Context) error {
			_, err := client.DeleteUser(ctx, &directoryv1.DeleteUserRequest{Name: "organizations/o1/users/x"})
			return err
		}, codes.PermissionDenied, "DeleteUser", "organizations/o1/users/x"},
		{"refused by the handler", func(ctx context.Context) error {
			_, err := client.ActivateUser(ctx, &directoryv1.ActivateUserRequest{Name: "organizations/o1/users/locked"})
			return err
		}, codes.FailedPrecondition, "ActivateUser", "organizations/o1/users/locked"},
		{"a read refused", func(ctx context.Context) error {
			_, err := client.GetUser(ctx, &directoryv1.GetUserRequest{Name: "organizations/o1/users/x"})
			return err
		}, codes.PermissionDenied, "", ""},
		{"a success", func(ctx context.Context) error {
			_, err := client.DeactivateUser(ctx, &directoryv1.DeactivateUserRequest{Name: "organizations/o1/users/x"})
			return err
		}, codes.OK, "", ""},
		{"another error", func(ctx context.Context) error {
			_, err := client.ActivateUser(ctx, &directoryv1.ActivateUserRequest{Name: "organizations/o1/users/missing"})
			return err
		}, codes.NotFound, "", ""},
		{"invalid", func(ctx context.Context) error {
			_, err := client.DeleteUser(ctx, &directoryv1.DeleteUserRequest{Name: "nonsense"})
			return err
		}, codes.InvalidArgument, "", ""},
		{"unauthenticated", func(context.Context) error {
			_, err := client.DeleteUser(context.Background(), &directoryv1.DeleteUserRequest{Name: "organizations/o1/users/x"})
			return err
		}, codes.Unauthenticated, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(asUser)
			if status.Code(err) != tt.code {
				t.Fatalf("call: %v, want %v", err, tt.code)
			}
			// RecordRefusal runs before the refusal goes back: nothing to
			// wait for.
			rs := take()
			if tt.method == "" {
				if len(rs) != 0 {
					t.Fatalf("recorded %+v, want nothing", rs)
				}
				return
			}
			if len(rs) != 1 {
				t.Fatalf("recorded %+v, want one refusal", rs)
			}
			r := rs[0]
			if r.Method != tt.method || r.FullMethod != "/steward.directory.v1.DirectoryService/"+tt.method || r.Resource != tt.resource {
				t.Errorf("recorded %s (%s) on %q, want %s on %q", r.Method, r.FullMethod, r.Resource, tt.method, tt.resource)
			}
			if r.Status.Code() != tt.code || r.Status.Message() != status.Convert(err).Message() {
				t.Errorf("recorded status %v, want the caller's %v", r.Status, err)
			}
			if r.actor != user.Name || r.requestID != "req-1" || r.addr == "" {
				t.Errorf("context carried actor %q, request ID %q, address %q; want %q, req-1 and an address", r.actor, r.requestID, r.addr, user.Name)
			}
		})
	}
}
