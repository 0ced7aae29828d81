package directory_test

import (
	"context"
	"fmt"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/services/directory/server"
)

// fuzzDirectory is a directory on bufconn with one organization holding a
// few users, groups and a department, and a context acting as its owner.
type fuzzDirectory struct {
	c     directoryv1.DirectoryServiceClient
	svc   grpc.CallOption
	owner context.Context
	org   string
}

func newFuzzDirectory(f *testing.F) *fuzzDirectory {
	f.Helper()
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(f, cfg.Config)
	cfg.Authorizer = members // access stands aside: every member may do everything
	b, err := cfg.Complete()
	if err != nil {
		f.Fatal(err)
	}
	conn := backendtest.Run(f, b)
	d := &fuzzDirectory{c: directoryv1.NewDirectoryServiceClient(conn), svc: backendtest.ServiceCallOption(b, backendtest.HarnessService)}
	su, err := d.c.SignUp(context.Background(), &directoryv1.SignUpRequest{OrganizationId: "fuzz", OrganizationDisplayName: "Fuzz",
		Nickname: "owner", Email: "owner@fuzz.example", Password: "correct horse battery"})
	if err != nil {
		f.Fatal(err)
	}
	d.org = su.GetOrganization().GetName()
	d.owner = metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, su.GetOwner().GetName(), authn.MDActorOrganization, d.org)
	if _, err := d.c.CreateDepartment(d.owner, &directoryv1.CreateDepartmentRequest{Parent: d.org, DepartmentId: "d1",
		Department: &directoryv1.Department{DisplayName: "D1"}}, d.svc); err != nil {
		f.Fatal(err)
	}
	if _, err := d.c.CreateGroup(d.owner, &directoryv1.CreateGroupRequest{Parent: d.org, GroupId: "g1", Group: &directoryv1.Group{DisplayName: "G1"}}, d.svc); err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		if _, err := d.c.CreateUser(d.owner, &directoryv1.CreateUserRequest{Parent: d.org, UserId: fmt.Sprintf("u%d", i),
			User: &directoryv1.User{Nickname: fmt.Sprintf("user%d", i), Email: fmt.Sprintf("u%d@fuzz.example", i), Department: d.org + "/departments/d1"}}, d.svc); err != nil {
			f.Fatal(err)
		}
	}
	return d
}

// wellFormed fails t unless err is nil or one of the codes a caller's bad
// input may cause: never Internal, Unknown or the like.
func wellFormed(t *testing.T, what string, err error) {
	t.Helper()
	switch status.Code(err) {
	case codes.OK, codes.InvalidArgument, codes.NotFound, codes.PermissionDenied, codes.FailedPrecondition:
	default:
		t.Fatalf("%s: %v", what, err)
	}
}

// FuzzListUsersFilters lists users with arbitrary filters, page sizes and
// page tokens: the answer is a page or InvalidArgument/NotFound, and a
// page's next_page_token leads to another page.
func FuzzListUsersFilters(f *testing.F) {
	d := newFuzzDirectory(f)
	first, err := d.c.ListUsers(d.owner, &directoryv1.ListUsersRequest{Parent: d.org, PageSize: 2}, d.svc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("user", first.GetNextPageToken(), int32(2), int32(0), int32(0), "", "")
	f.Add("", "", int32(0), int32(1), int32(1), d.org+"/departments/d1", d.org+"/groups/g1")
	f.Add("\x00%", "not-a-token", int32(-1), int32(99), int32(-3), "organizations/other/departments/d1", "groups/g1")
	f.Add("USER1", first.GetNextPageToken()+"x", int32(1<<30), int32(2), int32(2), d.org+"/departments/nope", d.org+"/groups/everyone")
	f.Fuzz(func(t *testing.T, query, pageToken string, pageSize, state, provisioning int32, department, group string) {
		if !validUTF8(query, pageToken, department, group) {
			return // proto3 strings: not encodable, refused by the client
		}
		req := &directoryv1.ListUsersRequest{Parent: d.org, Query: query, PageToken: pageToken, PageSize: pageSize,
			State: directoryv1.User_State(state), Provisioning: directoryv1.User_Provisioning(provisioning), Department: department, Group: group}
		resp, err := d.c.ListUsers(d.owner, req, d.svc)
		wellFormed(t, "ListUsers", err)
		if err != nil || resp.GetNextPageToken() == "" {
			return
		}
		req.PageToken = resp.GetNextPageToken()
		if _, err := d.c.ListUsers(d.owner, req, d.svc); err != nil {
			t.Fatalf("ListUsers with its own next_page_token: %v", err)
		}
	})
}

// FuzzResourceNames reads arbitrary names through the directory's Get and
// List methods: each answers, or refuses the name as InvalidArgument,
// NotFound or PermissionDenied.
func FuzzResourceNames(f *testing.F) {
	d := newFuzzDirectory(f)
	calls := []func(ctx context.Context, name string) error{
		func(ctx context.Context, n string) error {
			_, err := d.c.GetUser(ctx, &directoryv1.GetUserRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.GetGroup(ctx, &directoryv1.GetGroupRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.GetDepartment(ctx, &directoryv1.GetDepartmentRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.GetFolder(ctx, &directoryv1.GetFolderRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.ListScopeAncestors(ctx, &directoryv1.ListScopeAncestorsRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.ListUserGroups(ctx, &directoryv1.ListUserGroupsRequest{User: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.ListGroupMembers(ctx, &directoryv1.ListGroupMembersRequest{Group: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.ListApiKeys(ctx, &directoryv1.ListApiKeysRequest{Parent: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.GetAccountSystem(ctx, &directoryv1.GetAccountSystemRequest{Name: n}, d.svc)
			return err
		},
		func(ctx context.Context, n string) error {
			_, err := d.c.ListTenants(ctx, &directoryv1.ListTenantsRequest{Parent: n}, d.svc)
			return err
		},
	}
	for i, s := range []string{d.org + "/users/u1", d.org + "/groups/g1", d.org + "/departments/d1", d.org + "/tenants/t/services/s/folders/a/folders/b",
		d.org, "organizations/other/users/u1", "organizations/fuzz/users/", "organizations//users/u1", "organizations/fuzz/users/u1/../u2",
		"organizations/fuzz/accountSystem", "roles/owner", "", "/", "organizations/FUZZ/users/U1", "organizations/fuzz/users/u-"} {
		f.Add(uint8(i), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, name string) {
		if !validUTF8(name) {
			return
		}
		i := int(which) % len(calls)
		wellFormed(t, fmt.Sprintf("call %d with %q", i, name), calls[i](d.owner, name))
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
