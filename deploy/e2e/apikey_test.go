//go:build e2e

package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestAPIKeyCannotOutgrowItsCreator is issue 9 item 5 against the real
// binaries: an administrator (Organization Administrator through the
// Administrators group) makes an API key for a robot account with modest
// roles; the owner later makes the robot account Tenant Administrator. The
// administrator's own token may not make itself Tenant Administrator, and
// neither may the key, over gRPC or through the gateway: a key holds what
// both its robot account and its creator hold, now (contract C4). When the
// administrator is deleted, the key is revoked and stops working.
//
// No step polls: the directory's checks and access's role-assignment
// changes first catch up with the directory's log (read-your-writes).
func TestAPIKeyCannotOutgrowItsCreator(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	signIn := func(org, email, password string) (context.Context, string) {
		t.Helper()
		resp, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
			Password: &directoryv1.PasswordCredential{Email: email, Password: password}}})
		if err != nil {
			t.Fatalf("SignIn %s: %v", email, err)
		}
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+resp.GetAccessToken()), resp.GetAccessToken()
	}

	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "keys", OrganizationDisplayName: "Keys",
		Nickname: "owner", Email: "owner@keys.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	org := su.GetOrganization().GetName()
	tenant := org + "/tenants/default"
	owner, _ := signIn(org, "owner@keys.example", "owner's long password")

	ada, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "ada",
		User: &directoryv1.User{Nickname: "ada", Email: "ada@keys.example"}, InitialPassword: "ada's long password"})
	if err != nil {
		t.Fatal(err)
	}
	admins := org + "/groups/administrators"
	if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: admins, Member: ada.GetName()}); err != nil {
		t.Fatal(err)
	}
	robot, err := dir.CreateRobot(owner, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "builder",
		Robot: &directoryv1.Robot{DisplayName: "Builder", MachineName: "build-01"}})
	if err != nil {
		t.Fatal(err)
	}
	account := robot.GetRobotAccount()

	adaCtx, _ := signIn(org, "ada@keys.example", "ada's long password")
	k, err := dir.CreateApiKey(adaCtx, &directoryv1.CreateApiKeyRequest{Parent: account, ApiKey: &directoryv1.ApiKey{DisplayName: "ci"}})
	if err != nil {
		t.Fatalf("the administrator making a key for the robot account: %v", err)
	}
	if k.GetApiKey().GetCreator() != ada.GetName() {
		t.Fatalf("key creator = %q, want %s", k.GetApiKey().GetCreator(), ada.GetName())
	}
	keyCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+k.GetSecret())

	// The owner grows the robot account to Tenant Administrator.
	if _, err := acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: account,
		Roles: []string{"roles/tenant-administrator"}, Scope: tenant}); err != nil {
		t.Fatalf("owner making the robot account Tenant Administrator: %v", err)
	}
	makeAdaTenantAdmin := &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: ada.GetName(),
		Roles: []string{"roles/tenant-administrator"}, Scope: tenant}
	if _, err := acc.CreateRoleAssignment(adaCtx, makeAdaTenantAdmin); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the administrator's own token making her Tenant Administrator: %v, want PermissionDenied", err)
	}
	if _, err := acc.CreateRoleAssignment(keyCtx, makeAdaTenantAdmin); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the administrator's key making her Tenant Administrator: %v, want PermissionDenied", err)
	}
	if code := gatewayCall(t, s, http.MethodPost, "/v1/"+org+"/roleAssignments", map[string]any{
		"principal": ada.GetName(), "roles": []string{"roles/tenant-administrator"}, "scope": tenant,
	}, k.GetSecret(), nil); code != http.StatusForbidden {
		t.Fatalf("the key through the gateway making her Tenant Administrator: HTTP %d, want 403", code)
	}

	check := func(principal string) *accessv1.CheckPermissionResponse {
		t.Helper()
		resp, err := acc.CheckPermission(owner, &accessv1.CheckPermissionRequest{Principal: principal, Permission: "tenant.users.edit", Scope: tenant})
		if err != nil {
			t.Fatalf("CheckPermission %s: %v", principal, err)
		}
		return resp
	}
	if !check(account).GetAllowed() {
		t.Fatal("the robot account is not Tenant Administrator")
	}
	if r := check(k.GetApiKey().GetName()); r.GetAllowed() || !strings.Contains(r.GetReason(), ada.GetName()) {
		t.Fatalf("access on the key: %v, want denied because of its creator", r)
	}
	if check(ada.GetName()).GetAllowed() {
		t.Fatal("the administrator became Tenant Administrator")
	}
	// The administrator leaves: the key is revoked, with the record kept.
	if _, err := dir.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: ada.GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.DeleteUser(owner, &directoryv1.DeleteUserRequest{Name: ada.GetName()}); err != nil {
		t.Fatalf("deleting the administrator: %v", err)
	}
	if _, err := dir.GetRobot(keyCtx, &directoryv1.GetRobotRequest{Name: robot.GetName()}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the deleted administrator's key at the directory: %v, want Unauthenticated", err)
	}
	if r := check(k.GetApiKey().GetName()); r.GetAllowed() {
		t.Fatalf("access on the revoked key: %v", r)
	}
	keys, err := dir.ListApiKeys(owner, &directoryv1.ListApiKeysRequest{Parent: account, ShowRevoked: true})
	if err != nil || len(keys.GetApiKeys()) != 1 || keys.GetApiKeys()[0].GetRevokeTime() == nil {
		t.Fatalf("the robot account's keys after the deletion: %v, %v; want the key, revoked", keys, err)
	}
}
