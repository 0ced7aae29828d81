package directory_test

import (
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
)

// TestReadYourWritesAfterEmpty is issue 9 item 7 on bufconn: a mutation
// that answers Empty (RemoveGroupMember) carries the directory's sequence
// as header and trailer, and a Check given it as
// at_least_directory_sequence never sees the membership it removed. Before
// the header existed, a Check right after the removal still allowed.
func TestReadYourWritesAfterEmpty(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken())
	const perm = "users.delete"
	role, err := e.a.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: org, RoleId: "deleters",
		Role: &accessv1.Role{DisplayName: "Deleters", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", perm}}})
	if err != nil {
		t.Fatal(err)
	}
	group, err := e.c.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, Group: &directoryv1.Group{DisplayName: "Deleters"}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: "ryw", Email: "ryw@x.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
		Principal: group.GetName(), Roles: []string{role.GetName()}, Scope: org}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}
	key := eventlog.SequenceHeader("directory")
	sequence := func(what string, header, trailer metadata.MD) uint64 {
		t.Helper()
		h, tr := header.Get(key), trailer.Get(key)
		if len(h) != 1 || len(tr) != 1 || h[0] != tr[0] {
			t.Fatalf("%s: header %s = %q, trailer %q; want one equal value in both", what, key, h, tr)
		}
		seq, err := strconv.ParseUint(h[0], 10, 64)
		if err != nil || seq == 0 {
			t.Fatalf("%s: %s = %q", what, key, h[0])
		}
		return seq
	}
	check := func(seq uint64) bool {
		t.Helper()
		resp, err := e.a.CheckPermission(owner, &accessv1.CheckPermissionRequest{Principal: user.GetName(), Permission: perm, Scope: org, AtLeastDirectorySequence: seq})
		if err != nil {
			t.Fatalf("CheckPermission(at_least_directory_sequence %d): %v", seq, err)
		}
		return resp.GetAllowed()
	}
	for trial := range 10 {
		var header, trailer metadata.MD
		if _, err := e.c.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: group.GetName(), Member: user.GetName()},
			grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
			t.Fatal(err)
		}
		if !check(sequence("AddGroupMember", header, trailer)) {
			t.Fatalf("trial %d: Check after AddGroupMember denied", trial)
		}
		header, trailer = nil, nil
		if _, err := e.c.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: group.GetName(), Member: user.GetName()},
			grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
			t.Fatal(err)
		}
		if check(sequence("RemoveGroupMember", header, trailer)) {
			t.Fatalf("trial %d: Check with RemoveGroupMember's sequence still allowed", trial)
		}
	}
	// Reads carry no sequence.
	var header, trailer metadata.MD
	if _, err := e.c.GetGroup(owner, &directoryv1.GetGroupRequest{Name: group.GetName()}, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if header.Get(key) != nil || trailer.Get(key) != nil {
		t.Errorf("GetGroup carries %s: %q %q", key, header.Get(key), trailer.Get(key))
	}
}
