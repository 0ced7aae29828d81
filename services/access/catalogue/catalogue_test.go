package catalogue

import (
	"errors"
	"slices"
	"sort"
	"testing"
)

// R11: counts per level and service type, as CATALOGUE.md lists them.
func TestPermissionCounts(t *testing.T) {
	type key struct {
		level       Level
		serviceType string
	}
	got := map[key]int{}
	for _, p := range Permissions() {
		got[key{p.Level, p.ServiceType}]++
	}
	want := map[key]int{
		{LevelOrganization, ""}:                  12 * 4,
		{LevelTenant, ""}:                        4 * 4,
		{LevelService, "orchestrator"}:           12 * 4,
		{LevelFolder, "orchestrator"}:            11 * 4,
		{LevelService, "automation-hub"}:         2 * 4,
		{LevelService, "test-manager"}:           2 * 4,
		{LevelService, "document-understanding"}: 2 * 4,
		{LevelService, "action-center"}:          2 * 4,
		{LevelService, "insights"}:               2 * 4,
		{LevelService, "data-service"}:           2 * 4,
	}
	if len(got) != len(want) {
		t.Errorf("got %d (level, type) groups, want %d: %v", len(got), len(want), got)
	}
	total := 0
	for k, n := range want {
		total += n
		if got[k] != n {
			t.Errorf("%s/%q: got %d permissions, want %d", k.level, k.serviceType, got[k], n)
		}
	}
	if NumPermissions() != total || total != 204 {
		t.Errorf("NumPermissions() = %d, want %d (= 204)", NumPermissions(), total)
	}
	for i, p := range Permissions() {
		if p.Index != i || PermissionAt(i).Name != p.Name {
			t.Fatalf("permission %q has Index %d at position %d", p.Name, p.Index, i)
		}
	}
}

// R11: spot checks of wire names, levels and service types.
func TestPermissionSpotChecks(t *testing.T) {
	shouldPass := []struct {
		name        string
		resource    string
		action      Action
		level       Level
		serviceType string
	}{
		{"users.create", "users", ActionCreate, LevelOrganization, ""},
		{"services.usage_trend.view", "services.usage_trend", ActionView, LevelOrganization, ""},
		{"licenses.api_keys.delete", "licenses.api_keys", ActionDelete, LevelOrganization, ""},
		{"account_settings.edit", "account_settings", ActionEdit, LevelOrganization, ""},
		{"tenant.users.edit", "tenant.users", ActionEdit, LevelTenant, ""},
		{"tenant.audit_logs.view", "tenant.audit_logs", ActionView, LevelTenant, ""},
		{"orchestrator.robots.view", "orchestrator.robots", ActionView, LevelService, "orchestrator"},
		{"orchestrator.webhooks.delete", "orchestrator.webhooks", ActionDelete, LevelService, "orchestrator"},
		{"orchestrator.jobs.create", "orchestrator.jobs", ActionCreate, LevelFolder, "orchestrator"},
		{"orchestrator.folder_users.edit", "orchestrator.folder_users", ActionEdit, LevelFolder, "orchestrator"},
		{"orchestrator.storage_buckets.view", "orchestrator.storage_buckets", ActionView, LevelFolder, "orchestrator"},
		{"automation-hub.settings.edit", "automation-hub.settings", ActionEdit, LevelService, "automation-hub"},
		{"test-manager.users.view", "test-manager.users", ActionView, LevelService, "test-manager"},
		{"document-understanding.users.delete", "document-understanding.users", ActionDelete, LevelService, "document-understanding"},
	}
	for _, tc := range shouldPass {
		p, ok := LookupPermission(tc.name)
		if !ok {
			t.Errorf("%q: not in catalogue", tc.name)
			continue
		}
		if p.Resource != tc.resource || p.Action != tc.action || p.Level != tc.level || p.ServiceType != tc.serviceType {
			t.Errorf("%q: got %+v", tc.name, p)
		}
	}
	shouldFail := []string{
		"jobs.create",              // folder permissions are qualified by service type
		"orchestrator.users",       // no action
		"users.manage",             // unknown action
		"users.create.view",        // garbage
		"tenant.users",             // no action
		"automation-hub.jobs.view", // not registered for that type
		"Users.Create",             // names are lowercase
		"",
	}
	for _, name := range shouldFail {
		if _, ok := LookupPermission(name); ok {
			t.Errorf("%q: found, want unknown", name)
		}
		if _, ok := PermissionIndex(name); ok {
			t.Errorf("%q: PermissionIndex found, want unknown", name)
		}
	}
}

// R2: the service-type list is explicit.
func TestServiceTypes(t *testing.T) {
	var names []string
	for _, st := range ServiceTypes() {
		names = append(names, st.Name)
		if !slices.Contains(st.ServiceResources, "settings") || !slices.Contains(st.ServiceResources, "users") {
			t.Errorf("%s: must register at least settings and users", st.Name)
		}
	}
	want := []string{"orchestrator", "automation-hub", "test-manager", "document-understanding", "action-center", "insights", "data-service"}
	if !slices.Equal(names, want) {
		t.Errorf("service types = %v, want %v", names, want)
	}
	if _, ok := LookupServiceType("unknown"); ok {
		t.Error(`LookupServiceType("unknown") found`)
	}
}

// R12: the built-in roles of CATALOGUE.md with stable IDs, levels and flags.
func TestBuiltInRoles(t *testing.T) {
	want := []struct {
		id, name    string
		level       Level
		serviceType string
		assignable  bool
		numPerms    int
	}{
		{"owner", "Owner", LevelOrganization, "", false, 204},
		{"organization-administrator", "Organization Administrator", LevelOrganization, "", true, 48},
		{"console-administrator", "Console Administrator", LevelOrganization, "", true, 45},
		{"user", "User", LevelOrganization, "", true, 6},
		{"tenant-administrator", "Tenant Administrator", LevelTenant, "", true, 204 - 48},
		{"orchestrator-administrator", "Administrator", LevelService, "orchestrator", true, 92},
		{"automation-hub-administrator", "Administrator", LevelService, "automation-hub", true, 8},
		{"test-manager-administrator", "Administrator", LevelService, "test-manager", true, 8},
		{"document-understanding-administrator", "Administrator", LevelService, "document-understanding", true, 8},
		{"action-center-administrator", "Administrator", LevelService, "action-center", true, 8},
		{"insights-administrator", "Administrator", LevelService, "insights", true, 8},
		{"data-service-administrator", "Administrator", LevelService, "data-service", true, 8},
		{"allow-to-be-folder-administrator", "Allow to be Folder Administrator", LevelService, "orchestrator", true, 7},
		{"folder-administrator", "Folder Administrator", LevelFolder, "orchestrator", true, 44},
		{"allow-to-be-automation-user", "Allow to be Automation User", LevelService, "orchestrator", true, 4},
		{"automation-user", "Automation User", LevelFolder, "orchestrator", true, 14},
		{"allow-to-be-automation-developer", "Allow to be Automation Developer", LevelService, "orchestrator", true, 8},
		{"automation-developer", "Automation Developer", LevelFolder, "orchestrator", true, 29},
		{"robot", "Robot", LevelService, "orchestrator", true, 12},
	}
	got := BuiltInRoles()
	if len(got) != len(want) {
		t.Fatalf("got %d built-in roles, want %d", len(got), len(want))
	}
	for i, w := range want {
		r := got[i]
		if r.ID != w.id || r.Name != w.name || r.Level != w.level || r.ServiceType != w.serviceType ||
			r.Assignable != w.assignable || !r.BuiltIn || len(r.Permissions) != w.numPerms || r.Description == "" {
			t.Errorf("role %d: got {%s %q %s %q assignable=%v builtin=%v perms=%d}, want %+v",
				i, r.ID, r.Name, r.Level, r.ServiceType, r.Assignable, r.BuiltIn, len(r.Permissions), w)
		}
		if lr, ok := LookupBuiltInRole(w.id); !ok || lr.Name != w.name {
			t.Errorf("LookupBuiltInRole(%q) = %v, %v", w.id, lr.Name, ok)
		}
	}
	// Copies do not alias the table.
	got[0].Permissions[0] = "mutated"
	if r, _ := LookupBuiltInRole(RoleOwner); r.Permissions[0] == "mutated" {
		t.Error("BuiltInRoles returned an aliased slice")
	}
}

// exactRoles lists, per role, its permissions exactly as CATALOGUE.md says
// (R12). Written out, not derived from the table under test.
var exactRoles = map[string][]string{
	RoleRobot: { // R6, R12
		"orchestrator.license.view", "orchestrator.robots.view", "orchestrator.settings.view",
		"orchestrator.assets.view",
		"orchestrator.jobs.view", "orchestrator.jobs.edit",
		"orchestrator.logs.create",
		"orchestrator.processes.view",
		"orchestrator.queues.view",
		"orchestrator.transactions.view", "orchestrator.transactions.edit", "orchestrator.transactions.create",
	},
	RoleAllowToBeFolderAdministrator: {
		"orchestrator.users.view", "orchestrator.roles.view", "orchestrator.folders.view",
		"orchestrator.robots.view", "orchestrator.machines.view", "orchestrator.packages.view",
		"orchestrator.settings.view",
	},
	RoleAllowToBeAutomationUser: {
		"orchestrator.settings.view", "orchestrator.robots.view", "orchestrator.machines.view",
		"orchestrator.license.view",
	},
	RoleAllowToBeAutomationDeveloper: {
		"orchestrator.settings.view", "orchestrator.robots.view", "orchestrator.machines.view",
		"orchestrator.license.view",
		"orchestrator.packages.view", "orchestrator.packages.create",
		"orchestrator.libraries.view", "orchestrator.libraries.create",
	},
	RoleAutomationUser: {
		"orchestrator.processes.view", "orchestrator.assets.view", "orchestrator.queues.view",
		"orchestrator.triggers.view", "orchestrator.storage_buckets.view", "orchestrator.monitoring.view",
		"orchestrator.jobs.view", "orchestrator.jobs.create", "orchestrator.jobs.edit",
		"orchestrator.transactions.view", "orchestrator.transactions.create", "orchestrator.transactions.edit",
		"orchestrator.logs.view", "orchestrator.logs.create",
	},
	RoleUser: {
		"dashboard.view", "services.view", "users.view", "licenses.view", "resource_center.view", "notifications.view",
	},
}

func init() {
	// Automation Developer = Automation User + create/edit/delete on five
	// resources (CATALOGUE.md).
	ad := slices.Clone(exactRoles[RoleAutomationUser])
	for _, r := range []string{"processes", "assets", "queues", "triggers", "storage_buckets"} {
		for _, a := range []string{"create", "edit", "delete"} {
			ad = append(ad, "orchestrator."+r+"."+a)
		}
	}
	exactRoles[RoleAutomationDeveloper] = ad
}

// R12: roles whose permission lists CATALOGUE.md spells out hold exactly those.
func TestRolePermissionsExact(t *testing.T) {
	for id, want := range exactRoles {
		r, ok := LookupBuiltInRole(id)
		if !ok {
			t.Fatalf("%s: missing", id)
		}
		got := slices.Clone(r.Permissions)
		w := slices.Clone(want)
		sort.Strings(got)
		sort.Strings(w)
		if !slices.Equal(got, w) {
			t.Errorf("%s:\n got  %v\n want %v", id, got, w)
		}
	}
}

// R11, R12, seed 001: the three account-level roles × the 12 account-level
// resources × view/edit/create/delete. Each cell lists the actions held, as
// seed 001 shows them; for User, CATALOGUE.md decides where 001 is
// ambiguous ("read-only access to just a few functionalities"): view on
// dashboard, services, users, licenses, resource center and notifications.
func TestSeed001AccountRoleMatrix(t *testing.T) {
	resources := []string{
		"dashboard", "services", "services.users", "services.usage_trend",
		"services.license_usage", "users", "licenses", "licenses.api_keys",
		"resource_center", "notifications", "audit_logs", "account_settings",
	}
	// Columns: view, edit, create, delete; "VECD" = all four, "V" = view only.
	matrix := map[string][12]string{
		RoleOwner: {
			"VECD", "VECD", "VECD", "VECD", "VECD", "VECD",
			"VECD", "VECD", "VECD", "VECD", "VECD", "VECD",
		},
		RoleOrganizationAdministrator: {
			"VECD", "VECD", "VECD", "VECD", "VECD", "VECD",
			"VECD", "VECD", "VECD", "VECD", "VECD", "VECD",
		},
		RoleUser: {
			"V", "V", "", "", "", "V",
			"V", "", "V", "V", "", "",
		},
		// Not part of 001; CATALOGUE.md's Console Administrator (seed 000):
		// no member management.
		RoleConsoleAdministrator: {
			"VECD", "VECD", "VECD", "VECD", "VECD", "V",
			"VECD", "VECD", "VECD", "VECD", "VECD", "VECD",
		},
	}
	letters := map[Action]byte{ActionView: 'V', ActionEdit: 'E', ActionCreate: 'C', ActionDelete: 'D'}
	for roleID, row := range matrix {
		r, ok := LookupBuiltInRole(roleID)
		if !ok {
			t.Fatalf("%s: missing", roleID)
		}
		held := map[string]bool{}
		for _, p := range r.Permissions {
			held[p] = true
		}
		for i, res := range resources {
			for _, a := range []Action{ActionView, ActionEdit, ActionCreate, ActionDelete} {
				want := slices.Contains([]byte(row[i]), letters[a])
				perm := res + "." + string(a)
				if held[perm] != want {
					t.Errorf("%s × %s: held=%v, want %v", roleID, perm, held[perm], want)
				}
			}
		}
	}
}

// R12: Console Administrator lacks member management; Organization
// Administrator holds nothing below the organization (R13); Tenant
// Administrator nothing at the organization.
func TestRoleLevelSpotChecks(t *testing.T) {
	has := func(roleID, perm string) bool {
		r, _ := LookupBuiltInRole(roleID)
		return slices.Contains(r.Permissions, perm)
	}
	shouldHave := [][2]string{
		{RoleConsoleAdministrator, "users.view"},
		{RoleConsoleAdministrator, "audit_logs.view"},
		{RoleOwner, "orchestrator.jobs.delete"},
		{RoleOwner, "tenant.users.edit"},
		{RoleTenantAdministrator, "tenant.users.edit"},
		{RoleTenantAdministrator, "orchestrator.jobs.delete"},
		{RoleTenantAdministrator, "automation-hub.settings.edit"},
		{AdministratorRoleID("orchestrator"), "orchestrator.folder_users.edit"},
		{AdministratorRoleID("test-manager"), "test-manager.users.delete"},
		{RoleFolderAdministrator, "orchestrator.subfolders.create"},
	}
	shouldLack := [][2]string{
		{RoleConsoleAdministrator, "users.create"},
		{RoleConsoleAdministrator, "users.edit"},
		{RoleConsoleAdministrator, "users.delete"},
		{RoleOrganizationAdministrator, "tenant.users.view"},
		{RoleOrganizationAdministrator, "orchestrator.robots.view"},
		{RoleOrganizationAdministrator, "orchestrator.jobs.view"},
		{RoleTenantAdministrator, "users.view"},
		{RoleTenantAdministrator, "dashboard.view"},
		{AdministratorRoleID("orchestrator"), "tenant.users.view"},
		{AdministratorRoleID("orchestrator"), "automation-hub.settings.view"},
		{RoleFolderAdministrator, "orchestrator.robots.view"},
		{RoleUser, "users.create"},
	}
	for _, c := range shouldHave {
		if !has(c[0], c[1]) {
			t.Errorf("%s should hold %s", c[0], c[1])
		}
	}
	for _, c := range shouldLack {
		if has(c[0], c[1]) {
			t.Errorf("%s should not hold %s", c[0], c[1])
		}
	}
}

// R5, R12: the default groups' assignments as data.
func TestDefaultGroups(t *testing.T) {
	type row struct {
		group, role string
		when        Trigger
		serviceType string
		immutable   bool
	}
	// CATALOGUE.md "Default groups" (corrected, issue 9 item 6): the two
	// organization assignments are immutable; the automation groups' folder
	// roles are made at the service's Shared folder, not at the service.
	want := []row{
		{"administrators", "organization-administrator", OnOrganizationCreated, "", true},
		{"administrators", "orchestrator-administrator", OnServiceCreated, "orchestrator", false},
		{"automation-developers", "allow-to-be-automation-developer", OnServiceCreated, "orchestrator", false},
		{"automation-developers", "automation-developer", OnSharedFolderCreated, "orchestrator", false},
		{"automation-users", "allow-to-be-automation-user", OnServiceCreated, "orchestrator", false},
		{"automation-users", "automation-user", OnSharedFolderCreated, "orchestrator", false},
		{"everyone", "user", OnOrganizationCreated, "", true},
	}
	var got []row
	names := map[string]string{}
	for _, g := range DefaultGroups() {
		names[g.ID] = g.Name
		if g.Implicit != (g.ID == GroupEveryone) {
			t.Errorf("%s: Implicit = %v", g.ID, g.Implicit)
		}
		for _, a := range g.Assignments {
			got = append(got, row{g.ID, a.Role, a.When, a.ServiceType, a.Immutable})
			r, ok := LookupBuiltInRole(a.Role)
			if !ok {
				t.Errorf("%s: unknown role %s", g.ID, a.Role)
				continue
			}
			// Each default assignment must itself be a valid placement.
			lvl := LevelOrganization
			switch a.When {
			case OnServiceCreated:
				lvl = LevelService
			case OnSharedFolderCreated:
				lvl = LevelFolder
			}
			if err := ValidatePlacement(r, lvl, a.ServiceType); err != nil {
				t.Errorf("%s: %v", g.ID, err)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("default assignments:\n got  %v\n want %v", got, want)
	}
	wantNames := map[string]string{
		"administrators": "Administrators", "automation-developers": "Automation Developers",
		"automation-users": "Automation Users", "everyone": "Everyone",
	}
	for id, n := range wantNames {
		if names[id] != n {
			t.Errorf("group %s named %q, want %q", id, names[id], n)
		}
	}
}

// R11, R12: custom roles hold permissions of their level and below only,
// service and folder roles of one service type; unknown permissions are
// refused with an error naming them.
func TestValidateCustomRole(t *testing.T) {
	shouldPass := []Role{
		{ID: "r1", Name: "Auditor", Level: LevelOrganization, Permissions: []string{"audit_logs.view", "users.view"}},
		{ID: "r2", Name: "Org wide jobs", Level: LevelOrganization, Permissions: []string{"users.view", "tenant.users.view", "orchestrator.jobs.view"}},
		{ID: "r3", Name: "Tenant helper", Level: LevelTenant, Permissions: []string{"tenant.users.view", "orchestrator.robots.view", "automation-hub.settings.view"}},
		{ID: "r4", Name: "Svc", Level: LevelService, ServiceType: "orchestrator", Permissions: []string{"orchestrator.robots.edit", "orchestrator.jobs.view"}},
		{ID: "r5", Name: "Hub", Level: LevelService, ServiceType: "automation-hub", Permissions: []string{"automation-hub.users.view"}},
		{ID: "r6", Name: "Fld", Level: LevelFolder, ServiceType: "orchestrator", Permissions: []string{"orchestrator.jobs.view"}},
		{ID: "r7", Name: "Empty", Level: LevelTenant},
	}
	for _, r := range shouldPass {
		if err := ValidateCustomRole(r); err != nil {
			t.Errorf("%s: unexpected error %v", r.ID, err)
		}
	}
	var (
		unknown  *UnknownPermissionError
		levelErr *PermissionLevelError
		typeErr  *ServiceTypeMismatchError
		dupErr   *DuplicatePermissionError
		stErr    *UnknownServiceTypeError
	)
	shouldFail := []struct {
		role   Role
		target any
		is     error
		msg    string
	}{
		{Role{ID: "x", Name: "x", Level: LevelTenant, Permissions: []string{"users.create"}}, &levelErr, nil,
			`catalogue: permission "users.create" is organization-level and cannot be held by a tenant-level role`},
		{Role{ID: "x", Name: "x", Level: LevelService, ServiceType: "orchestrator", Permissions: []string{"tenant.users.view"}}, &levelErr, nil, ""},
		{Role{ID: "x", Name: "x", Level: LevelFolder, ServiceType: "orchestrator", Permissions: []string{"orchestrator.robots.view"}}, &levelErr, nil, ""},
		{Role{ID: "x", Name: "x", Level: LevelTenant, Permissions: []string{"orchestrator.jobs.launch"}}, &unknown, nil,
			`catalogue: unknown permission "orchestrator.jobs.launch"`},
		{Role{ID: "x", Name: "x", Level: LevelFolder, ServiceType: "orchestrator", Permissions: []string{"jobs.view"}}, &unknown, nil, ""},
		{Role{ID: "x", Name: "x", Level: LevelService, ServiceType: "automation-hub", Permissions: []string{"orchestrator.users.view"}}, &typeErr, nil,
			`catalogue: permission "orchestrator.users.view" belongs to service type "orchestrator", not "automation-hub"`},
		{Role{ID: "x", Name: "x", Level: LevelService, ServiceType: "orchestrator", Permissions: []string{"orchestrator.users.view", "orchestrator.users.view"}}, &dupErr, nil, ""},
		{Role{ID: "x", Name: "x", Level: LevelService, ServiceType: "nope"}, &stErr, nil, ""},
		{Role{ID: "x", Name: "x", Level: LevelService, Permissions: []string{"orchestrator.users.view"}}, nil, ErrServiceTypeRequired, ""},
		{Role{ID: "x", Name: "x", Level: LevelTenant, ServiceType: "orchestrator"}, nil, ErrServiceTypeNotAllowed, ""},
		{Role{ID: "x", Name: "x", Level: LevelUnspecified}, nil, ErrInvalidLevel, ""},
		{Role{ID: "owner", Name: "Owner", Level: LevelOrganization}, nil, ErrBuiltInRole, ""},
		{Role{ID: "x", Name: "x", BuiltIn: true, Level: LevelOrganization}, nil, ErrBuiltInRole, ""},
		{Role{ID: "", Name: "x", Level: LevelOrganization}, nil, ErrMissingID, ""},
	}
	for i, tc := range shouldFail {
		err := ValidateCustomRole(tc.role)
		if err == nil {
			t.Errorf("case %d (%+v): no error", i, tc.role)
			continue
		}
		if tc.target != nil && !errors.As(err, tc.target) {
			t.Errorf("case %d: error %v (%T) is not %T", i, err, err, tc.target)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("case %d: error %v is not %v", i, err, tc.is)
		}
		if tc.msg != "" && err.Error() != tc.msg {
			t.Errorf("case %d: error %q, want %q", i, err, tc.msg)
		}
	}
	// Every problem is reported, each naming its permission.
	err := ValidateRolePermissions(LevelTenant, "", []string{"users.view", "bogus.view", "tenant.users.view"})
	want := "catalogue: permission \"users.view\" is organization-level and cannot be held by a tenant-level role\n" +
		"catalogue: unknown permission \"bogus.view\""
	if err == nil || err.Error() != want {
		t.Errorf("joined error = %v, want %q", err, want)
	}
}

// R12, R13: where a role may be assigned.
func TestValidatePlacement(t *testing.T) {
	role := func(id string) Role {
		r, ok := LookupBuiltInRole(id)
		if !ok {
			t.Fatalf("missing %s", id)
		}
		return r
	}
	custom := Role{ID: "c", Name: "c", Level: LevelFolder, ServiceType: "orchestrator"}
	type placement struct {
		role        Role
		level       Level
		serviceType string
	}
	shouldPass := []placement{
		{role(RoleOrganizationAdministrator), LevelOrganization, ""},
		{role(RoleUser), LevelOrganization, ""},
		{role(RoleTenantAdministrator), LevelTenant, ""},
		{role(AdministratorRoleID("orchestrator")), LevelService, "orchestrator"},
		{role(AdministratorRoleID("test-manager")), LevelService, "test-manager"},
		{role(RoleFolderAdministrator), LevelFolder, "orchestrator"},
		{role(RoleFolderAdministrator), LevelService, "orchestrator"}, // folder role at a service
		{role(RoleAutomationUser), LevelService, "orchestrator"},
		{role(RoleRobot), LevelService, "orchestrator"},
		{custom, LevelFolder, "orchestrator"},
	}
	for _, p := range shouldPass {
		if err := ValidatePlacement(p.role, p.level, p.serviceType); err != nil {
			t.Errorf("%s at %s/%q: %v", p.role.ID, p.level, p.serviceType, err)
		}
	}
	var pe *PlacementError
	var te *ServiceTypeMismatchError
	shouldFail := []struct {
		placement
		target any
		is     error
	}{
		{placement{role(RoleOwner), LevelOrganization, ""}, nil, ErrNotAssignable},
		{placement{role(RoleOrganizationAdministrator), LevelTenant, ""}, &pe, nil},
		{placement{role(RoleTenantAdministrator), LevelOrganization, ""}, &pe, nil},
		{placement{role(RoleTenantAdministrator), LevelService, "orchestrator"}, &pe, nil},
		{placement{role(AdministratorRoleID("orchestrator")), LevelFolder, "orchestrator"}, &pe, nil},
		{placement{role(AdministratorRoleID("orchestrator")), LevelTenant, ""}, &pe, nil},
		{placement{role(AdministratorRoleID("orchestrator")), LevelService, "test-manager"}, &te, nil},
		{placement{role(RoleFolderAdministrator), LevelTenant, ""}, &pe, nil},
		{placement{role(RoleRobot), LevelFolder, "orchestrator"}, &pe, nil},
		{placement{custom, LevelService, "automation-hub"}, &te, nil},
		{placement{role(RoleUser), LevelUnspecified, ""}, nil, ErrInvalidLevel},
	}
	for _, tc := range shouldFail {
		err := ValidatePlacement(tc.role, tc.level, tc.serviceType)
		if err == nil {
			t.Errorf("%s at %s/%q: no error", tc.role.ID, tc.level, tc.serviceType)
			continue
		}
		if tc.target != nil && !errors.As(err, tc.target) {
			t.Errorf("%s at %s: error %v is not %T", tc.role.ID, tc.level, err, tc.target)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s at %s: error %v is not %v", tc.role.ID, tc.level, err, tc.is)
		}
	}
}

func TestLevel(t *testing.T) {
	for _, l := range []Level{LevelOrganization, LevelTenant, LevelService, LevelFolder} {
		if got, ok := ParseLevel(l.String()); !ok || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l, got, ok)
		}
	}
	if _, ok := ParseLevel("unspecified"); ok {
		t.Error("ParseLevel(unspecified) ok")
	}
	if !LevelTenant.Holds(LevelFolder) || LevelTenant.Holds(LevelOrganization) || !LevelFolder.Holds(LevelFolder) {
		t.Error("Holds")
	}
}
