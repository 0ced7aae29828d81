package access_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/services/access/catalogue"
)

// rlListRoles lists every role of req, following pages.
func rlListRoles(t *testing.T, c accessv1.AccessServiceClient, ctx context.Context, req *accessv1.ListRolesRequest) []*accessv1.Role {
	t.Helper()
	var out []*accessv1.Role
	for {
		resp, err := c.ListRoles(ctx, req)
		if err != nil {
			t.Fatalf("ListRoles: %v", err)
		}
		out = append(out, resp.GetRoles()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// TestRolesListPermissions covers R11: the catalogue and its filters.
func TestRolesListPermissions(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	ctx := bearer(e.signIn(su.GetOrganization().GetName(), su.GetOwner().GetEmail(), "correct horse battery"))
	count := func(keep func(catalogue.Permission) bool) int {
		n := 0
		for _, p := range catalogue.Permissions() {
			if keep(p) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		req  *accessv1.ListPermissionsRequest
		want int
		each func(*accessv1.Permission) bool
	}{
		{"all", &accessv1.ListPermissionsRequest{}, catalogue.NumPermissions(), func(*accessv1.Permission) bool { return true }},
		{"organization", &accessv1.ListPermissionsRequest{Level: accessv1.Level_LEVEL_ORGANIZATION},
			count(func(p catalogue.Permission) bool { return p.Level == catalogue.LevelOrganization }),
			func(p *accessv1.Permission) bool {
				return p.GetLevel() == accessv1.Level_LEVEL_ORGANIZATION && p.GetServiceType() == ""
			}},
		{"tenant", &accessv1.ListPermissionsRequest{Level: accessv1.Level_LEVEL_TENANT}, 16,
			func(p *accessv1.Permission) bool { return strings.HasPrefix(p.GetName(), "tenant.") }},
		{"orchestrator", &accessv1.ListPermissionsRequest{ServiceType: "orchestrator"}, (12 + 11) * 4,
			func(p *accessv1.Permission) bool { return p.GetServiceType() == "orchestrator" }},
		{"orchestrator folders", &accessv1.ListPermissionsRequest{ServiceType: "orchestrator", Level: accessv1.Level_LEVEL_FOLDER}, 11 * 4,
			func(p *accessv1.Permission) bool { return p.GetLevel() == accessv1.Level_LEVEL_FOLDER }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.a.ListPermissions(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetPermissions()) != tt.want {
				t.Fatalf("got %d permissions, want %d", len(resp.GetPermissions()), tt.want)
			}
			for _, p := range resp.GetPermissions() {
				if !tt.each(p) || p.GetName() != p.GetResource()+"."+p.GetAction() {
					t.Fatalf("unexpected %v", p)
				}
			}
		})
	}
	first, _ := e.a.ListPermissions(ctx, &accessv1.ListPermissionsRequest{})
	if p := first.GetPermissions()[0]; p.GetName() != "dashboard.view" {
		t.Errorf("first permission %v, want dashboard.view (catalogue order)", p)
	}
	_, err := e.a.ListPermissions(ctx, &accessv1.ListPermissionsRequest{ServiceType: "nope"})
	gaWant(t, err, codes.InvalidArgument, "", nil)
}

// TestRolesDelegationPermissions: the permissions the delegation limits of
// R17 are made of exist, and only the owner and the organization's
// administrators hold services.users.edit among the organization roles
// that manage members.
func TestRolesDelegationPermissions(t *testing.T) {
	for _, p := range []string{"users.edit", "services.users.edit", "tenant.users.edit", "orchestrator.users.view", "orchestrator.roles.edit", "orchestrator.folder_users.edit"} {
		if _, ok := catalogue.LookupPermission(p); !ok {
			t.Errorf("%s is not in the catalogue", p)
		}
	}
	for _, id := range []string{catalogue.RoleOwner, catalogue.RoleOrganizationAdministrator} {
		r, _ := catalogue.LookupBuiltInRole(id)
		if !slices.Contains(r.Permissions, "services.users.edit") || !slices.Contains(r.Permissions, "users.edit") {
			t.Errorf("%s lacks services.users.edit or users.edit", id)
		}
	}
	for _, id := range []string{catalogue.RoleUser, catalogue.RoleTenantAdministrator} {
		r, _ := catalogue.LookupBuiltInRole(id)
		if slices.Contains(r.Permissions, "services.users.edit") {
			t.Errorf("%s holds services.users.edit", id)
		}
	}
}

// TestRolesGetRole: built-in roles by "roles/{id}", custom roles of the
// caller's organization.
func TestRolesGetRole(t *testing.T) {
	f := gaSetup(t)
	r, err := f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: "roles/folder-administrator"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := catalogue.LookupBuiltInRole(catalogue.RoleFolderAdministrator)
	if !r.GetBuiltIn() || !r.GetAssignable() || r.GetDisplayName() != want.Name || r.GetLevel() != accessv1.Level_LEVEL_FOLDER || !slices.Equal(r.GetPermissions(), want.Permissions) {
		t.Errorf("folder administrator = %v", r)
	}
	owner, err := f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: "roles/owner"})
	if err != nil || owner.GetAssignable() {
		t.Errorf("owner = %v, %v; want not assignable", owner, err)
	}
	_, err = f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: "roles/nope"})
	gaWant(t, err, codes.NotFound, "", nil)
	custom := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "viewer", Role: &accessv1.Role{DisplayName: "Viewer", Level: accessv1.Level_LEVEL_TENANT, Permissions: []string{"tenant.users.view"}}})
	got, err := f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: custom.GetName()})
	if err != nil || got.GetEtag() != custom.GetEtag() || got.GetBuiltIn() {
		t.Errorf("custom = %v, %v", got, err)
	}
	_, err = f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: f.org + "/roles/nope"})
	gaWant(t, err, codes.NotFound, "", nil)
}

// TestRolesBuiltInImmutable covers R12: built-in roles cannot be edited or
// deleted, and their IDs are taken.
func TestRolesBuiltInImmutable(t *testing.T) {
	f := gaSetup(t)
	gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "warmup", Role: &accessv1.Role{DisplayName: "Warm-up", Level: accessv1.Level_LEVEL_ORGANIZATION}})
	for _, id := range []string{catalogue.RoleOwner, catalogue.RoleTenantAdministrator, catalogue.RoleFolderAdministrator} {
		t.Run(id, func(t *testing.T) {
			name := f.org + "/roles/" + id
			_, err := f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: name, DisplayName: "Mine"}})
			gaWant(t, err, codes.FailedPrecondition, "BUILT_IN_ROLE_IMMUTABLE", nil)
			_, err = f.e.a.DeleteRole(f.ownerCtx, &accessv1.DeleteRoleRequest{Name: name})
			gaWant(t, err, codes.FailedPrecondition, "BUILT_IN_ROLE_IMMUTABLE", nil)
			_, err = f.e.a.CreateRole(f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: id, Role: &accessv1.Role{DisplayName: "Mine", Level: accessv1.Level_LEVEL_ORGANIZATION}})
			gaWant(t, err, codes.AlreadyExists, "ALREADY_EXISTS", nil)
		})
	}
}

// TestRolesCustomValidation covers R11 and R12: a custom role holds
// permissions of its level and below, of its one service type.
func TestRolesCustomValidation(t *testing.T) {
	f := gaSetup(t)
	gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "warmup", Role: &accessv1.Role{DisplayName: "Warm-up", Level: accessv1.Level_LEVEL_ORGANIZATION}})
	const (
		org     = accessv1.Level_LEVEL_ORGANIZATION
		tenant  = accessv1.Level_LEVEL_TENANT
		service = accessv1.Level_LEVEL_SERVICE
		folder  = accessv1.Level_LEVEL_FOLDER
	)
	tests := []struct {
		name        string
		level       accessv1.Level
		serviceType string
		perms       []string
		code        codes.Code
		permission  string // ErrorInfo metadata of PERMISSION_LEVEL_MISMATCH
	}{
		{"organization role with every level", org, "", []string{"users.create", "tenant.users.view", "orchestrator.jobs.view"}, codes.OK, ""},
		{"tenant role with lower levels", tenant, "", []string{"tenant.users.edit", "orchestrator.robots.view", "automation-hub.settings.view"}, codes.OK, ""},
		{"folder role", folder, "orchestrator", []string{"orchestrator.jobs.create"}, codes.OK, ""},
		{"empty service role", service, "test-manager", nil, codes.OK, ""},
		{"tenant role with an organization permission", tenant, "", []string{"tenant.users.view", "users.create"}, codes.InvalidArgument, "users.create"},
		{"folder role with a service permission", folder, "orchestrator", []string{"orchestrator.robots.view"}, codes.InvalidArgument, "orchestrator.robots.view"},
		{"service role of another type's permission", service, "orchestrator", []string{"automation-hub.settings.view"}, codes.InvalidArgument, "automation-hub.settings.view"},
		{"unknown permission", org, "", []string{"users.fly"}, codes.InvalidArgument, "users.fly"},
		{"service role without a type", service, "", []string{"orchestrator.robots.view"}, codes.InvalidArgument, ""},
		{"tenant role with a type", tenant, "orchestrator", nil, codes.InvalidArgument, ""},
		{"unknown service type", service, "nope", nil, codes.InvalidArgument, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := f.e.a.CreateRole(f.ownerCtx, &accessv1.CreateRoleRequest{
				Parent: f.org, RoleId: "r" + string(rune('a'+i)),
				Role: &accessv1.Role{DisplayName: tt.name, Level: tt.level, ServiceType: tt.serviceType, Permissions: tt.perms},
			})
			switch {
			case tt.code == codes.OK:
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if r.GetBuiltIn() || !r.GetAssignable() || r.GetEtag() == "" || r.GetCreateTime() == nil {
					t.Errorf("role = %v", r)
				}
			case tt.permission != "":
				gaWant(t, err, tt.code, "PERMISSION_LEVEL_MISMATCH", map[string]string{"permission": tt.permission})
			default:
				gaWant(t, err, tt.code, "", nil)
			}
		})
	}
}

// TestRolesCRUD covers R12: create (idempotent), list (built-in first, then
// custom by name, filters, paging), update with etag, delete removing every
// assignment of the role, with one event per change.
func TestRolesCRUD(t *testing.T) {
	f := gaSetup(t)
	before := gaHead(t, f.e)
	req := &accessv1.CreateRoleRequest{
		Parent: f.org, RoleId: "support", RequestId: "6f1d2c3b-4a5e-4f60-8b7a-9c0d1e2f3a4b",
		Role: &accessv1.Role{DisplayName: "Support", Description: "Reads users", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view", "dashboard.view"}},
	}
	support := gaCreateRole(t, f.e.a, f.ownerCtx, req)
	if support.GetName() != f.org+"/roles/support" || !slices.Equal(support.GetPermissions(), []string{"dashboard.view", "users.view"}) {
		t.Fatalf("created %v", support)
	}
	replay, err := f.e.a.CreateRole(f.ownerCtx, req)
	if err != nil || replay.GetEtag() != support.GetEtag() {
		t.Fatalf("replay = %v, %v", replay, err)
	}
	_, err = f.e.a.CreateRole(f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "support", Role: &accessv1.Role{DisplayName: "Again", Level: accessv1.Level_LEVEL_ORGANIZATION}})
	gaWant(t, err, codes.AlreadyExists, "ALREADY_EXISTS", nil)
	auto, err := f.e.a.CreateRole(f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, Role: &accessv1.Role{DisplayName: "Auditor", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator", Permissions: []string{"orchestrator.logs.view"}}})
	if err != nil || !strings.HasPrefix(auto.GetName(), f.org+"/roles/") {
		t.Fatalf("server-chosen ID: %v, %v", auto, err)
	}

	// List: built-in first in catalogue order, then custom by name.
	all := rlListRoles(t, f.e.a, f.ownerCtx, &accessv1.ListRolesRequest{Parent: f.org, PageSize: 3})
	builtIn := catalogue.BuiltInRoles()
	if len(all) != len(builtIn)+2 {
		t.Fatalf("listed %d roles, want %d", len(all), len(builtIn)+2)
	}
	for i, r := range builtIn {
		if all[i].GetName() != "roles/"+r.ID {
			t.Fatalf("role %d = %s, want roles/%s", i, all[i].GetName(), r.ID)
		}
	}
	custom := []string{all[len(builtIn)].GetName(), all[len(builtIn)+1].GetName()}
	if !slices.IsSorted(custom) || !slices.Contains(custom, support.GetName()) || !slices.Contains(custom, auto.GetName()) {
		t.Fatalf("custom roles listed %v", custom)
	}
	folderRoles := rlListRoles(t, f.e.a, f.ownerCtx, &accessv1.ListRolesRequest{Parent: f.org, Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator"})
	for _, r := range folderRoles {
		if r.GetLevel() != accessv1.Level_LEVEL_FOLDER {
			t.Errorf("folder filter listed %v", r)
		}
	}
	if last := folderRoles[len(folderRoles)-1]; last.GetName() != auto.GetName() {
		t.Errorf("last folder role = %s, want %s", last.GetName(), auto.GetName())
	}

	// Update: etag, mask, immutable level.
	_, err = f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName(), DisplayName: "X", Etag: "stale"}})
	gaWant(t, err, codes.Aborted, "ETAG_MISMATCH", nil)
	_, err = f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName(), Level: accessv1.Level_LEVEL_TENANT}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
	gaWant(t, err, codes.InvalidArgument, "", nil)
	_, err = f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"level"}}})
	gaWant(t, err, codes.InvalidArgument, "", nil)
	_, err = f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName(), Permissions: []string{"orchestrator.jobs.view", "users.view"}, Etag: support.GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}}})
	if err != nil {
		t.Fatal(err)
	}
	updated, err := f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName(), DisplayName: "Support desk"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetDisplayName() != "Support desk" || updated.GetDescription() != "Reads users" || updated.GetEtag() == support.GetEtag() ||
		!slices.Equal(updated.GetPermissions(), []string{"users.view", "orchestrator.jobs.view"}) {
		t.Fatalf("updated = %v", updated)
	}
	_, err = f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: support.GetName(), Permissions: []string{"users.delete.now"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}}})
	gaWant(t, err, codes.InvalidArgument, "PERMISSION_LEVEL_MISMATCH", map[string]string{"permission": "users.delete.now"})

	// Delete: the role's assignments go first, one event each.
	a1 := f.grant(f.alice, f.org, support.GetName()).GetRoleAssignments()[0].GetName()
	a2 := f.grant(f.bob, f.org, support.GetName()).GetRoleAssignments()[0].GetName()
	keep := f.grant(f.bob, f.org, "roles/user").GetRoleAssignments()[0].GetName()
	_, err = f.e.a.DeleteRole(f.ownerCtx, &accessv1.DeleteRoleRequest{Name: support.GetName(), Etag: "stale"})
	gaWant(t, err, codes.Aborted, "ETAG_MISMATCH", nil)
	head := gaHead(t, f.e)
	if _, err := f.e.a.DeleteRole(f.ownerCtx, &accessv1.DeleteRoleRequest{Name: support.GetName(), Etag: updated.GetEtag()}); err != nil {
		t.Fatal(err)
	}
	deleted := gaEventsBy(t, f.e, head, f.owner)
	if got := gaTypes(deleted); !slices.Equal(got, []string{"access.role_assignment.deleted", "access.role_assignment.deleted", "access.role.deleted"}) {
		t.Fatalf("delete events = %v", got)
	}
	if gone := []string{deleted[0].GetResource(), deleted[1].GetResource()}; !slices.Contains(gone, a1) || !slices.Contains(gone, a2) {
		t.Errorf("deleted assignments %v, want %s and %s", gone, a1, a2)
	}
	left := map[string]bool{}
	for _, a := range gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org}) {
		left[a.GetName()] = true
	}
	if left[a1] || left[a2] || !left[keep] {
		t.Errorf("after delete: %v", left)
	}
	_, err = f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: support.GetName()})
	gaWant(t, err, codes.NotFound, "", nil)

	// The owner's events of the whole test: one per change.
	var types []string
	for _, ev := range gaEventsBy(t, f.e, before, f.owner) {
		if strings.HasPrefix(ev.GetType(), "access.role.") {
			types = append(types, ev.GetType())
		}
	}
	want := []string{"access.role.created", "access.role.created", "access.role.updated", "access.role.updated", "access.role.deleted"}
	if !slices.Equal(types, want) {
		t.Errorf("role events = %v, want %v", types, want)
	}
}
