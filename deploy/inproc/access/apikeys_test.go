package access_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestAPIKeyOutgrowsNoCreator (issue 9 item 5, C4): kim, an Organization
// Administrator (who may make keys, licenses.api_keys.create), makes a key
// for a robot account; the owner later makes the account
// Tenant Administrator. Access answers for the key with what the account
// and kim both hold: CheckPermission on the key's name, and the key's own
// calls to access (its authorization and the delegation limits of R17),
// refuse what only the account holds; the account's growth is not kim's.
func TestAPIKeyOutgrowsNoCreator(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	tenant := org + "/tenants/default"
	owner := e.as(su.GetOwner().GetName(), org)
	kim, err := e.d.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "kim", Email: "kim@x.example"}}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: org + "/groups/administrators", Member: kim.GetName()}, e.dirSvc); err != nil {
		t.Fatal(err)
	}
	robot, err := e.d.CreateRobot(owner, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "r1",
		Robot: &directoryv1.Robot{DisplayName: "R1", MachineName: "m1"}}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	account := robot.GetRobotAccount()
	k, err := e.d.CreateApiKey(e.as(kim.GetName(), org), &directoryv1.CreateApiKeyRequest{Parent: account,
		ApiKey: &directoryv1.ApiKey{DisplayName: "kim's"}}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	key, keyCtx := k.GetApiKey().GetName(), bearer(k.GetSecret())
	// CreateRoleAssignment catches up with the directory first.
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: account,
		Roles: []string{"roles/tenant-administrator"}, Scope: tenant}, e.accSvc); err != nil {
		t.Fatal(err)
	}
	check := func(ctx context.Context, principal string) *accessv1.CheckPermissionResponse {
		t.Helper()
		resp, err := e.a.CheckPermission(ctx, &accessv1.CheckPermissionRequest{Principal: principal, Permission: "tenant.users.edit", Scope: tenant}, e.accSvc)
		if err != nil {
			t.Fatalf("CheckPermission %s: %v", principal, err)
		}
		return resp
	}
	if !check(context.Background(), account).GetAllowed() {
		t.Fatal("the robot account is not Tenant Administrator")
	}
	if r := check(context.Background(), key); r.GetAllowed() || !strings.Contains(r.GetReason(), "its creator "+kim.GetName()) {
		t.Fatalf("kim's key holds tenant.users.edit: %v", r)
	}
	// The key asking about itself is allowed to ask, and told no.
	r, err := e.a.CheckPermission(keyCtx, &accessv1.CheckPermissionRequest{Principal: key, Permission: "tenant.users.edit", Scope: tenant})
	if err != nil || r.GetAllowed() {
		t.Fatalf("the key asking about itself: %v, %v", r, err)
	}
	// Acting with the key at access: the Tenant Administrator role the
	// account holds does not let kim's key hand out Tenant Administrator.
	_, err = e.a.CreateRoleAssignment(keyCtx, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: kim.GetName(),
		Roles: []string{"roles/tenant-administrator"}, Scope: tenant})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("kim's key making kim Tenant Administrator: %v, want PermissionDenied", err)
	}
	if check(context.Background(), kim.GetName()).GetAllowed() {
		t.Fatal("kim became Tenant Administrator through her key")
	}
}
