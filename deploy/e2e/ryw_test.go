//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// rywTrials is how many add/remove rounds each path runs.
const rywTrials = 10

// TestReadYourWrites is issue 9 item 7 against the real binaries: a user
// joins a group holding a role and leaves it again; RemoveGroupMember
// answers Empty, and the directory's sequence it sends (gRPC header and
// trailer x-steward-directory-sequence; X-Steward-Directory-Sequence
// through the gateway) makes the next Check deny, 10 times out of 10, over
// gRPC and over the gateway's JSON. Before, 8 checks in 10 still allowed.
func TestReadYourWrites(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	o := s.signUpOrg(ctx, "ryw")
	owner := withBearer(ctx, o.token)

	const perm = "users.delete"
	role, err := acc.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: o.org, RoleId: "deleters",
		Role: &accessv1.Role{DisplayName: "Deleters", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", perm}}})
	if err != nil {
		t.Fatal(err)
	}
	group, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: o.org, GroupId: "deleters", Group: &directoryv1.Group{DisplayName: "Deleters"}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "uma", User: &directoryv1.User{Nickname: "uma", Email: "uma@ryw.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: o.org,
		Principal: group.GetName(), Roles: []string{role.GetName()}, Scope: o.org}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}

	t.Run("grpc", func(t *testing.T) {
		sequence := func(what string, header, trailer metadata.MD) uint64 {
			t.Helper()
			h, tr := header.Get("x-steward-directory-sequence"), trailer.Get("x-steward-directory-sequence")
			if len(h) != 1 || len(tr) != 1 || h[0] != tr[0] {
				t.Fatalf("%s: x-steward-directory-sequence header %q, trailer %q; want one equal value", what, h, tr)
			}
			seq, err := strconv.ParseUint(h[0], 10, 64)
			if err != nil || seq == 0 {
				t.Fatalf("%s: x-steward-directory-sequence %q", what, h[0])
			}
			return seq
		}
		check := func(seq uint64) bool {
			t.Helper()
			resp, err := acc.CheckPermission(owner, &accessv1.CheckPermissionRequest{Principal: user.GetName(), Permission: perm, Scope: o.org, AtLeastDirectorySequence: seq})
			if err != nil {
				t.Fatalf("CheckPermission: %v", err)
			}
			return resp.GetAllowed()
		}
		denied := 0
		for range rywTrials {
			var header, trailer metadata.MD
			if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: group.GetName(), Member: user.GetName()},
				grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
				t.Fatal(err)
			}
			if !check(sequence("AddGroupMember", header, trailer)) {
				t.Fatal("Check with AddGroupMember's sequence denied")
			}
			header, trailer = nil, nil
			if _, err := dir.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: group.GetName(), Member: user.GetName()},
				grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
				t.Fatal(err)
			}
			if !check(sequence("RemoveGroupMember", header, trailer)) {
				denied++
			}
		}
		t.Logf("gRPC: Check after RemoveGroupMember denied in %d of %d trials", denied, rywTrials)
		if denied != rywTrials {
			t.Errorf("denied in %d of %d trials, want all", denied, rywTrials)
		}
	})

	// Through the gateway, which forwards the response header as
	// X-Steward-Directory-Sequence (contract C3, the gateway's part).
	t.Run("gateway", func(t *testing.T) {
		auth := "Bearer " + o.token
		call := func(path string, body any) httpResult {
			t.Helper()
			r := s.httpCall(http.MethodPost, "/v1/"+path, body, auth)
			if r.code != http.StatusOK {
				t.Fatalf("POST /v1/%s: HTTP %d %s", path, r.code, r.body)
			}
			return r
		}
		sequence := func(what string, r httpResult) string {
			t.Helper()
			v := r.header.Get("X-Steward-Directory-Sequence")
			if _, err := strconv.ParseUint(v, 10, 64); err != nil {
				t.Fatalf("%s: X-Steward-Directory-Sequence %q: the gateway does not forward the sequence (headers %v)", what, v, r.header)
			}
			return v
		}
		check := func(seq string) bool {
			t.Helper()
			r := call(user.GetName()+":checkPermission", map[string]any{"permission": perm, "scope": o.org, "atLeastDirectorySequence": seq})
			var decision struct{ Allowed bool }
			if err := json.Unmarshal(r.body, &decision); err != nil {
				t.Fatal(err)
			}
			return decision.Allowed
		}
		denied := 0
		for range rywTrials {
			if !check(sequence("addMember", call(group.GetName()+":addMember", map[string]any{"member": user.GetName()}))) {
				t.Fatal("Check with addMember's sequence denied")
			}
			if !check(sequence("removeMember", call(group.GetName()+":removeMember", map[string]any{"member": user.GetName()}))) {
				denied++
			}
		}
		t.Logf("gateway: Check after removeMember denied in %d of %d trials", denied, rywTrials)
		if denied != rywTrials {
			t.Errorf("denied in %d of %d trials, want all", denied, rywTrials)
		}
	})
}
