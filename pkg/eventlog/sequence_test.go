package eventlog_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

func TestSequenceHeader(t *testing.T) {
	for source, want := range map[string]string{
		"directory": "x-steward-directory-sequence",
		"access":    "x-steward-access-sequence",
		"Licensing": "x-steward-licensing-sequence",
	} {
		if got := eventlog.SequenceHeader(source); got != want {
			t.Errorf("SequenceHeader(%q) = %q, want %q", source, got, want)
		}
	}
}

func TestMutating(t *testing.T) {
	tests := []struct {
		method string
		want   bool
	}{
		{"steward.directory.v1.DirectoryService.RemoveGroupMember", true}, // returns Empty
		{"steward.directory.v1.DirectoryService.AddGroupMember", true},
		{"steward.directory.v1.DirectoryService.DeleteUser", true},
		{"steward.directory.v1.DirectoryService.UpdateUser", true},
		{"steward.directory.v1.DirectoryService.CreateTenant", true},
		{"steward.directory.v1.DirectoryService.DeactivateUser", true}, // POST custom method
		{"steward.directory.v1.DirectoryService.RevokeApiKey", true},
		{"steward.directory.v1.DirectoryService.SwitchAccountSystem", true},
		{"steward.directory.v1.DirectoryService.SignUp", true},
		{"steward.directory.v1.DirectoryService.GetUser", false},
		{"steward.directory.v1.DirectoryService.ListUsers", false},
		{"steward.directory.v1.DirectoryService.ListScopeAncestors", false},
		{"steward.directory.v1.DirectoryService.VerifyCredential", false}, // internal, no HTTP binding
		{"steward.access.v1.AccessService.DeleteRoleAssignment", true},
		{"steward.access.v1.AccessService.CreateRoleAssignment", true},
		{"steward.access.v1.AccessService.SetRobotUsageScope", true},
		{"steward.access.v1.AccessService.CheckPermission", false},      // POST, but a read
		{"steward.access.v1.AccessService.BatchCheckPermission", false}, // POST, but a read
		{"steward.access.v1.AccessService.CheckRobotUse", false},
		{"steward.access.v1.AccessService.CheckMembershipChange", false},
		{"steward.access.v1.AccessService.ExplainPermissions", false},
		{"steward.access.v1.AccessService.ExportRoleAssignments", false}, // streaming
		{"steward.eventlog.v1.EventLogService.Watch", false},
		{"steward.eventlog.v1.EventLogService.ListEvents", false},
	}
	for _, tt := range tests {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(tt.method))
		if err != nil {
			t.Fatalf("%s: %v", tt.method, err)
		}
		if got := eventlog.Mutating(d.(protoreflect.MethodDescriptor)); got != tt.want {
			t.Errorf("Mutating(%s) = %v, want %v", tt.method, got, tt.want)
		}
	}
}

// fakeAccess changes its store in DeleteRoleAssignment (one event) and
// refuses DeleteRole after appending nothing; CheckPermission reads.
type fakeAccess struct {
	accessv1.UnimplementedAccessServiceServer
	st  store.Store
	log *eventlog.Log
}

func (f *fakeAccess) DeleteRoleAssignment(ctx context.Context, _ *accessv1.DeleteRoleAssignmentRequest) (*emptypb.Empty, error) {
	err := f.st.Update(ctx, func(tx store.Tx) error {
		_, err := f.log.Append(tx, &eventlogv1.Event{Type: "access.role_assignment.deleted", Resource: "organizations/o/roleAssignments/r"})
		return err
	})
	return &emptypb.Empty{}, err
}

func (f *fakeAccess) DeleteRole(context.Context, *accessv1.DeleteRoleRequest) (*emptypb.Empty, error) {
	return nil, status.Error(codes.FailedPrecondition, "in use")
}

func (f *fakeAccess) CheckPermission(context.Context, *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	return &accessv1.CheckPermissionResponse{}, nil
}

// fakeDirectory's RemoveGroupMember is refused by the server's interceptor
// chain before it runs.
type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer
}

// TestSequenceServer calls services registered through SequenceServer over
// bufconn, with an interceptor chain on the server: a successful mutating
// call returning Empty carries the log's head as header and trailer; reads,
// failed calls and calls the chain refuses carry neither.
func TestSequenceServer(t *testing.T) {
	verifyNoLeaks(t)
	st := openStore(t, "seq")
	l, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, st, l, 3) // the head is not the first sequence

	var chained []string
	refuse := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		chained = append(chained, info.FullMethod)
		if info.FullMethod == directoryv1.DirectoryService_RemoveGroupMember_FullMethodName {
			return nil, status.Error(codes.PermissionDenied, "no")
		}
		return h(ctx, req)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(refuse))
	reg := eventlog.SequenceServer(srv, l)
	accessv1.RegisterAccessServiceServer(reg, &fakeAccess{st: st, log: l})
	directoryv1.RegisterDirectoryServiceServer(reg, fakeDirectory{})
	if _, ok := reg.GetServiceInfo()["steward.access.v1.AccessService"]; !ok {
		t.Fatal("the access service is not registered on the server")
	}
	lis := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	acc := accessv1.NewAccessServiceClient(conn)
	dir := directoryv1.NewDirectoryServiceClient(conn)
	ctx := context.Background()
	key := eventlog.SequenceHeader("access")

	tests := []struct {
		name    string
		call    func(opts ...grpc.CallOption) error
		wantErr codes.Code
		wantSeq bool
	}{
		{"mutating, Empty response", func(opts ...grpc.CallOption) error {
			_, err := acc.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{}, opts...)
			return err
		}, codes.OK, true},
		{"read over POST", func(opts ...grpc.CallOption) error {
			_, err := acc.CheckPermission(ctx, &accessv1.CheckPermissionRequest{}, opts...)
			return err
		}, codes.OK, false},
		{"mutating, failed", func(opts ...grpc.CallOption) error {
			_, err := acc.DeleteRole(ctx, &accessv1.DeleteRoleRequest{}, opts...)
			return err
		}, codes.FailedPrecondition, false},
		{"mutating, refused by the chain", func(opts ...grpc.CallOption) error {
			_, err := dir.RemoveGroupMember(ctx, &directoryv1.RemoveGroupMemberRequest{}, opts...)
			return err
		}, codes.PermissionDenied, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header, trailer metadata.MD
			err := tt.call(grpc.Header(&header), grpc.Trailer(&trailer))
			if status.Code(err) != tt.wantErr {
				t.Fatalf("call: %v, want %v", err, tt.wantErr)
			}
			head, err := l.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.wantSeq {
				want = []string{strconv.FormatUint(head, 10)}
			}
			if got := header.Get(key); !slices.Equal(got, want) {
				t.Errorf("header %s = %q, want %q", key, got, want)
			}
			if got := trailer.Get(key); !slices.Equal(got, want) {
				t.Errorf("trailer %s = %q, want %q", key, got, want)
			}
		})
	}
	if head, _ := l.Head(ctx); head != 4 {
		t.Errorf("head = %d, want 4 (three appended, one deletion)", head)
	}
	if len(chained) != len(tests) {
		t.Errorf("the server's interceptor chain saw %q, want every call", chained)
	}
}

func TestSequenceServerWithoutLog(t *testing.T) {
	srv := grpc.NewServer()
	if reg := eventlog.SequenceServer(srv, nil); reg != eventlog.Registrar(srv) {
		t.Errorf("SequenceServer(srv, nil) = %v, want srv itself", reg)
	}
}
