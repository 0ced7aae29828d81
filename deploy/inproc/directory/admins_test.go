package directory_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestDeleteAdministrator (R4): a user who holds an Administrator role —
// assigned explicitly in access management, or through the Administrators
// group — cannot be deleted; the refusal names the role, and once the
// role is gone the deletion goes through.
func TestDeleteAdministrator(t *testing.T) {
	e := newAccessEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	ownerTok := e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken()
	owner := bearer(ownerTok)
	newUser := func(nick string) *directoryv1.User {
		u, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: nick, Email: nick + "@x.example"}})
		if err != nil {
			t.Fatal(err)
		}
		e.awaitAccess(u.GetName(), "users.view", org, true)
		return u
	}

	// Explicit: Tenant Administrator of the default tenant.
	tina := newUser("tina")
	tenant := org + "/tenants/default"
	ra, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
		Principal: tina.GetName(), Roles: []string{"roles/tenant-administrator"}, Scope: tenant})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: tina.GetName()})
	wantError(t, err, codes.FailedPrecondition, "USER_HOLDS_ADMINISTRATOR_ROLE")
	if msg := err.Error(); !strings.Contains(msg, "Tenant Administrator") || !strings.Contains(msg, tenant) {
		t.Errorf("refusal %q does not name the role and its scope", msg)
	}
	if _, err := e.a.DeleteRoleAssignment(owner, &accessv1.DeleteRoleAssignmentRequest{Name: ra.GetRoleAssignments()[0].GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: tina.GetName()}); err != nil {
		t.Fatalf("deleting tina once the role is gone: %v", err)
	}

	// Through a group: the Administrators group holds Organization
	// Administrator.
	gus := newUser("gus")
	admins := org + "/groups/administrators"
	if _, err := e.c.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: admins, Member: gus.GetName()}); err != nil {
		t.Fatal(err)
	}
	e.awaitAccess(gus.GetName(), "users.delete", org, true)
	_, err = e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: gus.GetName()})
	wantError(t, err, codes.FailedPrecondition, "USER_HOLDS_ADMINISTRATOR_ROLE")
	if _, err := e.c.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: gus.GetName()}); err != nil {
		t.Fatal(err)
	}
	e.awaitAccess(gus.GetName(), "users.delete", org, false)
	if _, err := e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: gus.GetName()}); err != nil {
		t.Fatalf("deleting gus once out of Administrators: %v", err)
	}

	// The owner keeps its own refusal.
	_, err = e.c.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: su.GetOwner().GetName()})
	wantError(t, err, codes.FailedPrecondition, "OWNER_IMMUTABLE")
}
