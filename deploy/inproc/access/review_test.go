package access_test

// Regression tests of the access review's findings through the real
// server: CheckMembershipChange (R17) and who may see another principal's
// effective permissions (R14, R15, CATALOGUE.md "Check Permissions view").

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// rvCreateGroup creates a group as the owner.
func rvCreateGroup(f *gaFixture, id string) string {
	f.e.t.Helper()
	g := gaRetry(f.e.t, "CreateGroup "+id, func() (*directoryv1.Group, error) {
		return f.e.d.CreateGroup(f.ownerCtx, &directoryv1.CreateGroupRequest{Parent: f.org, GroupId: id, Group: &directoryv1.Group{DisplayName: id}})
	})
	return g.GetName()
}

// R17: CheckMembershipChange. Adding a member grants the group's roles, so
// the end user must pass CreateRoleAssignment's delegation limits at each
// of the group's assignment scopes and hold every permission of the role
// there; removing needs the delegation limits only. Refusals are answers,
// not errors; the owner and a service acting for nobody may always; a group
// of another organization is NotFound; only services may call.
func TestReviewCheckMembershipChange(t *testing.T) {
	f := gaSetup(t)
	ops := rvCreateGroup(f, "ops")
	f.grant(ops, f.serviceA, "roles/orchestrator-administrator")
	// alice manages access at the organization and grants access to
	// services, but holds nothing inside serviceA.
	manager := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "access-manager", Role: &accessv1.Role{
		DisplayName: "Access manager", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", "users.edit", "services.users.edit"},
	}})
	f.grant(f.alice, f.org, manager.GetName())
	// carol is a Tenant Administrator of serviceA's tenant.
	f.grant(f.carol, f.tenantA, "roles/tenant-administrator")

	ask := func(ctx context.Context, group string, add bool) (*accessv1.CheckMembershipChangeResponse, error) {
		return f.e.a.CheckMembershipChange(ctx, &accessv1.CheckMembershipChangeRequest{Group: group, Add: add}, f.e.accSvc)
	}
	for _, tc := range []struct {
		name       string
		actor      string // "" for a service acting for nobody
		add        bool
		reason     string // "" when allowed
		permission string // "*" for any
	}{
		{"R17 owner adds", f.owner, true, "", ""},
		{"R17 owner removes", f.owner, false, "", ""},
		{"R17 tenant administrator adds", f.carol, true, "", ""},
		{"R17 escalation: manager lacks the role's permissions at the service", f.alice, true, "ESCALATION", "*"},
		{"R17 manager removes (delegation only)", f.alice, false, "", ""},
		{"R17 plain user adds", f.bob, true, "DELEGATION_DENIED", ""},
		{"R17 plain user removes", f.bob, false, "DELEGATION_DENIED", ""},
		{"service acting for nobody", "", true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.actor != "" {
				ctx = f.e.as(tc.actor, f.org)
			}
			resp, err := ask(ctx, ops, tc.add)
			if err != nil {
				t.Fatalf("CheckMembershipChange: %v", err)
			}
			if tc.reason == "" {
				if !resp.GetAllowed() {
					t.Fatalf("refused: %v", resp)
				}
				return
			}
			if resp.GetAllowed() || resp.GetReason() != tc.reason || resp.GetScope() != f.serviceA || resp.GetMessage() == "" {
				t.Fatalf("got %v, want refused %s at %s with a message", resp, tc.reason, f.serviceA)
			}
			if got := resp.GetPermission(); (tc.permission == "*") != (got != "") || (got != "" && !strings.HasPrefix(got, "orchestrator.")) {
				t.Fatalf("permission %q, want %q", got, tc.permission)
			}
		})
	}

	// A group without assignments: anyone may change it.
	empty := rvCreateGroup(f, "empty")
	if resp, err := ask(f.e.as(f.bob, f.org), empty, true); err != nil || !resp.GetAllowed() {
		t.Errorf("plain user adds to a group without roles: %v, %v", resp, err)
	}
	// Another organization's group: NotFound.
	other := f.e.signUp()
	_, err := ask(f.e.as(f.alice, f.org), other.GetOrganization().GetName()+"/groups/administrators", true)
	gaWant(t, err, codes.NotFound, "", nil)
	// Internal: a user calling directly is refused.
	_, err = f.e.a.CheckMembershipChange(f.ownerCtx, &accessv1.CheckMembershipChangeRequest{Group: ops, Add: true})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("user calling the internal RPC: %v, want PermissionDenied", err)
	}
}

// rvCreateUser creates a user with a password as the owner and returns its
// name and a bearer context once it can sign in.
func rvCreateUser(f *gaFixture, id string) (string, context.Context) {
	f.e.t.Helper()
	email := id + "@" + strings.TrimPrefix(f.org, "organizations/") + ".example"
	u := gaRetry(f.e.t, "CreateUser "+id, func() (*directoryv1.User, error) {
		return f.e.d.CreateUser(f.ownerCtx, &directoryv1.CreateUserRequest{Parent: f.org, UserId: id, InitialPassword: ckPassword,
			User: &directoryv1.User{Nickname: id, Email: email}})
	})
	return u.GetName(), bearer(f.e.signIn(f.org, email, ckPassword))
}

// R14, R15, CATALOGUE.md "see a user's effective permissions (Check
// Permissions view): users.view and roles.view": at a service or below
// that takes {type}.users.view and {type}.roles.view there. A plain user
// (Everyone's User role: users.view at the organization) cannot explain
// the owner at a service — through ExplainPermissions, nor CheckPermission
// or BatchCheckPermission with explain — but may explain itself, and the
// owner at the organization.
func TestReviewExplainNeedsServicePermissions(t *testing.T) {
	f := gaSetup(t)
	dave, daveCtx := rvCreateUser(f, "dave")
	explain := func(ctx context.Context, principal, scope string) error {
		_, err := f.e.a.ExplainPermissions(ctx, &accessv1.ExplainPermissionsRequest{Principal: principal, Scope: scope})
		return err
	}
	// Itself, once the feed brought dave.
	gaEventually(t, "dave explains himself", func() bool { return explain(daveCtx, dave, f.serviceA) == nil })

	gaWant(t, explain(daveCtx, f.owner, f.serviceA), codes.PermissionDenied, "PERMISSION_DENIED",
		map[string]string{"permission": "orchestrator.users.view,orchestrator.roles.view", "scope": f.serviceA})
	gaWant(t, explain(daveCtx, f.owner, f.folderA), codes.PermissionDenied, "PERMISSION_DENIED", nil)
	_, err := f.e.a.CheckPermission(daveCtx, &accessv1.CheckPermissionRequest{Principal: f.owner, Permission: "orchestrator.jobs.view", Scope: f.serviceA, Explain: true})
	gaWant(t, err, codes.PermissionDenied, "PERMISSION_DENIED", nil)
	_, err = f.e.a.BatchCheckPermission(daveCtx, &accessv1.BatchCheckPermissionRequest{Explain: true, Items: []*accessv1.CheckPermissionRequest{
		{Principal: dave, Permission: "orchestrator.jobs.view", Scope: f.serviceA},
		{Principal: f.owner, Permission: "orchestrator.jobs.view", Scope: f.serviceA},
	}})
	gaWant(t, err, codes.PermissionDenied, "PERMISSION_DENIED", nil)
	// The same through a trusted service acting for dave.
	_, err = f.e.a.ExplainPermissions(f.e.as(dave, f.org), &accessv1.ExplainPermissionsRequest{Principal: f.owner, Scope: f.serviceA}, f.e.accSvc)
	gaWant(t, err, codes.PermissionDenied, "PERMISSION_DENIED", nil)

	// Without explain a plain check stays open (users.view at the
	// organization); at the organization users.view is enough to explain.
	if _, err := f.e.a.CheckPermission(daveCtx, &accessv1.CheckPermissionRequest{Principal: f.owner, Permission: "orchestrator.jobs.view", Scope: f.serviceA}); err != nil {
		t.Errorf("check without explain: %v", err)
	}
	if err := explain(daveCtx, f.owner, f.org); err != nil {
		t.Errorf("explain the owner at the organization: %v", err)
	}
	// A service asks about anyone.
	if _, err := f.e.a.ExplainPermissions(context.Background(), &accessv1.ExplainPermissionsRequest{Principal: f.owner, Scope: f.serviceA}, f.e.accSvc); err != nil {
		t.Errorf("service explains the owner: %v", err)
	}

	// With orchestrator.users.view and orchestrator.roles.view at serviceA,
	// dave sees there and below, not in serviceB.
	viewer := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "access-viewer", Role: &accessv1.Role{
		DisplayName: "Access viewer", Level: accessv1.Level_LEVEL_SERVICE, ServiceType: "orchestrator",
		Permissions: []string{"orchestrator.users.view", "orchestrator.roles.view"},
	}})
	f.grant(dave, f.serviceA, viewer.GetName())
	for _, scope := range []string{f.serviceA, f.folderA} {
		if err := explain(daveCtx, f.owner, scope); err != nil {
			t.Errorf("explain the owner at %s with the service permissions: %v", scope, err)
		}
	}
	gaWant(t, explain(daveCtx, f.owner, f.serviceB), codes.PermissionDenied, "PERMISSION_DENIED", nil)
}
