package directory_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/domain"
)

// TestBatchGroupMembersEscalation (R17, R5, issue 13), against the real
// access management: eve holds users.view and users.edit (a custom
// organization role). A batch adding her to a plain group and to
// Administrators is refused whole as ESCALATION naming the permission and
// the item (requests[1]); the plain group stays empty, and the directory
// asked access once for the batch. A batch of plain-group changes passes,
// with one event per membership; removing from Automation Users is
// DELEGATION_DENIED at its item; duplicates of a removal are
// InvalidArgument on requests[i].member.
func TestBatchGroupMembersEscalation(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken())
	admins, autoUsers := org+"/groups/"+domain.GroupAdministrators, org+"/groups/"+domain.GroupAutomationUsers
	role, err := e.a.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: org, RoleId: "user-editors",
		Role: &accessv1.Role{DisplayName: "User editors", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", "users.edit"}}})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	newUser := func(nick string) string {
		u, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org,
			User: &directoryv1.User{Nickname: nick, Email: nick + "@x.example"}, InitialPassword: nick + "'s long password"})
		if err != nil {
			t.Fatal(err)
		}
		e.awaitAccess(u.GetName(), "users.view", org, true)
		return u.GetName()
	}
	eve, gus, hal := newUser("eve"), newUser("gus"), newUser("hal")
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: eve, Roles: []string{role.GetName()}, Scope: org}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}
	e.awaitAccess(eve, "users.edit", org, true)
	eveCtx := bearer(e.signIn(org, "eve@x.example", "eve's long password", "").GetAccessToken())
	plain, err := e.c.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, Group: &directoryv1.Group{DisplayName: "Plain"}})
	if err != nil {
		t.Fatal(err)
	}
	add := func(group, member string) *directoryv1.AddGroupMemberRequest {
		return &directoryv1.AddGroupMemberRequest{Group: group, Member: member}
	}
	members := func(group string) int {
		resp, err := e.c.ListGroupMembers(owner, &directoryv1.ListGroupMembersRequest{Group: group})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetMemberships())
	}

	asks := e.batchAsks.Load()
	_, err = e.c.BatchAddGroupMembers(eveCtx, &directoryv1.BatchAddGroupMembersRequest{Parent: org, Requests: []*directoryv1.AddGroupMemberRequest{
		add(plain.GetName(), gus), add(admins, eve), add(plain.GetName(), hal), add(admins, hal),
	}})
	mcWant(t, "eve's batch joining Administrators", err, codes.PermissionDenied, "ESCALATION")
	if _, _, md := mcErrorInfo(err); md["permission"] == "" || md["item"] != "requests[1]" {
		t.Fatalf("the refusal's metadata %v, want a permission and item requests[1]", md)
	}
	if n := members(plain.GetName()); n != 0 {
		t.Fatalf("the plain group has %d members after a refused batch", n)
	}
	if got := e.batchAsks.Load() - asks; got != 1 {
		t.Errorf("%d round trips to access for one batch, want 1", got)
	}

	head := e.head()
	resp, err := e.c.BatchAddGroupMembers(eveCtx, &directoryv1.BatchAddGroupMembersRequest{Parent: org, Requests: []*directoryv1.AddGroupMemberRequest{
		add(plain.GetName(), gus), add(plain.GetName(), hal), add(plain.GetName(), eve), add(plain.GetName(), gus),
	}})
	if err != nil {
		t.Fatalf("eve's batch into a group without roles: %v", err)
	}
	if len(resp.GetMemberships()) != 4 || members(plain.GetName()) != 3 {
		t.Errorf("%d memberships returned, %d members; want 4 and 3", len(resp.GetMemberships()), members(plain.GetName()))
	}
	if n := len(e.eventsOfType(head, domain.TypeGroupMemberAdded)); n != 3 {
		t.Errorf("%d events, want one per membership made: 3", n)
	}

	// Automation Users holds roles at every Orchestrator service, where eve
	// may not manage access: removing from it is refused at its item.
	if _, err := e.c.AddGroupMember(owner, add(autoUsers, gus)); err != nil {
		t.Fatal(err)
	}
	orch, err := e.c.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: org + "/tenants/" + domain.DefaultTenant, ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	e.awaitAccess(gus, "orchestrator.settings.view", orch.GetName(), true)
	remove := func(group, member string) *directoryv1.RemoveGroupMemberRequest {
		return &directoryv1.RemoveGroupMemberRequest{Group: group, Member: member}
	}
	err = empty(e.c.BatchRemoveGroupMembers(eveCtx, &directoryv1.BatchRemoveGroupMembersRequest{Parent: org, Requests: []*directoryv1.RemoveGroupMemberRequest{
		remove(plain.GetName(), gus), remove(autoUsers, gus),
	}}))
	mcWant(t, "eve's batch removing gus from Automation Users", err, codes.PermissionDenied, "DELEGATION_DENIED")
	if _, _, md := mcErrorInfo(err); md["item"] != "requests[1]" {
		t.Errorf("the refusal's metadata %v, want item requests[1]", md)
	}
	if n := members(plain.GetName()); n != 3 {
		t.Errorf("the plain group has %d members after a refused removal, want 3", n)
	}
	err = empty(e.c.BatchRemoveGroupMembers(eveCtx, &directoryv1.BatchRemoveGroupMembersRequest{Parent: org, Requests: []*directoryv1.RemoveGroupMemberRequest{
		remove(plain.GetName(), gus), remove(plain.GetName(), gus),
	}}))
	if status.Code(err) != codes.InvalidArgument || !slices.Contains(scopeFieldViolations(err), "requests[1].member") {
		t.Errorf("a repeated removal: %v, want InvalidArgument on requests[1].member", err)
	}
	if err := empty(e.c.BatchRemoveGroupMembers(owner, &directoryv1.BatchRemoveGroupMembersRequest{Parent: org, Requests: []*directoryv1.RemoveGroupMemberRequest{
		remove(plain.GetName(), gus), remove(autoUsers, gus), remove(plain.GetName(), hal),
	}})); err != nil {
		t.Fatalf("the owner's batch removal: %v", err)
	}
	e.awaitAccess(gus, "orchestrator.settings.view", orch.GetName(), false)
	if n := members(plain.GetName()); n != 1 {
		t.Errorf("the plain group has %d members, want eve alone", n)
	}
}

// empty drops a response, keeping the error.
func empty[T any](_ T, err error) error { return err }
