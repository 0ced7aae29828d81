package access_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// azEventually polls cond (the access feed is asynchronous) and fails the
// test if it does not hold within 5s.
func azEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// azErrorInfo returns the ErrorInfo reason and metadata of err.
func azErrorInfo(err error) (string, map[string]string) {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason(), info.GetMetadata()
		}
	}
	return "", nil
}

// azDenied reports whether err is the permission rule's refusal.
func azDenied(err error) bool {
	r, _ := azErrorInfo(err)
	return status.Code(err) == codes.PermissionDenied && r == "PERMISSION_DENIED"
}

// azCreateUser creates a user with a password in the directory, as the
// owner.
func (e *env) azCreateUser(su *directoryv1.SignUpResponse, id string, mfa bool) *directoryv1.User {
	e.t.Helper()
	org := su.GetOrganization().GetName()
	u, err := e.d.CreateUser(e.as(su.GetOwner().GetName(), org), &directoryv1.CreateUserRequest{Parent: org, UserId: id,
		User: &directoryv1.User{Nickname: id, Email: id + "@x.example", MfaRequired: mfa}, InitialPassword: id + "'s long password"}, e.dirSvc)
	if err != nil {
		e.t.Fatalf("CreateUser %s: %v", id, err)
	}
	return u
}

// TestOwnAuthorization (issue 5 item 9; R10, R13, R16): access answers its
// own permission rules from its model. The owner may read and create roles;
// a plain member (Everyone → User: users.view) may read but not create, and
// is told the missing permission and why; once in Administrators
// (Organization Administrator) they may; another organization's objects are
// NotFound, never PermissionDenied; and an enrolment-only token is good for
// nothing here.
func TestOwnAuthorization(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	other := e.signUp()
	org := su.GetOrganization().GetName()
	ownerCtx := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery"))

	listRoles := func(ctx context.Context, parent string) error {
		_, err := e.a.ListRoles(ctx, &accessv1.ListRolesRequest{Parent: parent})
		return err
	}
	azEventually(t, "the owner lists roles", func() bool { return listRoles(ownerCtx, org) == nil })
	if _, err := e.a.CreateRole(ownerCtx, &accessv1.CreateRoleRequest{Parent: org, RoleId: "auditors",
		Role: &accessv1.Role{DisplayName: "Auditors", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"audit_logs.view"}}}); azDenied(err) {
		t.Fatalf("owner creating a role: %v", err)
	}

	dan := e.azCreateUser(su, "dan", false)
	danCtx := bearer(e.signIn(org, "dan@x.example", "dan's long password"))
	azEventually(t, "dan (Everyone → User) lists roles", func() bool { return listRoles(danCtx, org) == nil })
	createRole := func(id string) error {
		_, err := e.a.CreateRole(danCtx, &accessv1.CreateRoleRequest{Parent: org, RoleId: id,
			Role: &accessv1.Role{DisplayName: "Readers " + id, Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}})
		return err
	}
	err := createRole("readers")
	_, md := azErrorInfo(err)
	if !azDenied(err) || md["permission"] != "users.edit" || md["scope"] != org ||
		!strings.Contains(status.Convert(err).Message(), "no role assignment grants users.edit") {
		t.Fatalf("member creating a role: %v (%v); want PermissionDenied naming users.edit at %s and why", err, md, org)
	}

	otherOrg := other.GetOrganization().GetName()
	for name, call := range map[string]func() error{
		"ListRoles":       func() error { return listRoles(danCtx, otherOrg) },
		"owner ListRoles": func() error { return listRoles(ownerCtx, otherOrg) },
		"ListPrincipalRoles": func() error {
			_, err := e.a.ListPrincipalRoles(danCtx, &accessv1.ListPrincipalRolesRequest{Principal: other.GetOwner().GetName()})
			return err
		},
		"CreateRole": func() error {
			_, err := e.a.CreateRole(ownerCtx, &accessv1.CreateRoleRequest{Parent: otherOrg,
				Role: &accessv1.Role{DisplayName: "X", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}})
			return err
		},
	} {
		err := call()
		if r, _ := azErrorInfo(err); status.Code(err) != codes.NotFound || r != "NOT_FOUND" {
			t.Errorf("%s in another organization: %v (%s), want NotFound NOT_FOUND", name, err, r)
		}
	}

	if _, err := e.d.AddGroupMember(e.as(su.GetOwner().GetName(), org), &directoryv1.AddGroupMemberRequest{
		Group: org + "/groups/administrators", Member: dan.GetName()}, e.dirSvc); err != nil {
		t.Fatal(err)
	}
	azEventually(t, "dan in Administrators creates a role", func() bool {
		err := createRole("readers")
		return !azDenied(err)
	})

	// The directory refuses to vouch for an enrolment-only token anywhere
	// but in itself; access would deny it everything anyway.
	e.azCreateUser(su, "erin", true)
	enrol, err := e.d.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: org,
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{Email: "erin@x.example", Password: "erin's long password"}}})
	if err != nil || !enrol.GetTotpEnrollmentRequired() {
		t.Fatalf("sign-in of an unenrolled MFA user = %v, %v", enrol, err)
	}
	if err := listRoles(bearer(enrol.GetAccessToken()), org); status.Code(err) != codes.Unauthenticated && !azDenied(err) {
		t.Fatalf("enrolment-only token at access: %v, want Unauthenticated or PermissionDenied", err)
	}
}
