package authorizer

import (
	"slices"
	"strings"
	"testing"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// Seed 003's example, John Smith: member of Automation Users and
// Administrators; Finance and HR are Orchestrator services (R14, R15).
const (
	jsOrg     = "organizations/acme"
	jsTenant  = jsOrg + "/tenants/default"
	finance   = jsTenant + "/services/finance"
	hr        = jsTenant + "/services/hr"
	gAutoUser = "automation-users"
	gAdmins   = "administrators"
	gEveryone = "everyone"
)

func johnSmith(t *testing.T) *Model {
	t.Helper()
	folder := func(svc, f string) Scope { return Scope{Name: svc + "/folders/" + f, DisplayName: "Folder " + f} }
	return fixture{
		scopes: []Scope{
			{Name: jsOrg}, {Name: jsTenant},
			{Name: finance, ServiceType: "orchestrator", DisplayName: "Finance"},
			{Name: hr, ServiceType: "orchestrator", DisplayName: "HR"},
			folder(finance, "A"), folder(finance, "B"), folder(finance, "C"),
			folder(hr, "D"), folder(hr, "E"), folder(hr, "F"),
		},
		principals: []Principal{
			{ID: "john", Kind: KindUser, Status: StatusActive, Organization: jsOrg, DisplayName: "John Smith"},
			{ID: gAutoUser, Kind: KindGroup, Status: StatusActive, Organization: jsOrg, DisplayName: "Automation Users"},
			{ID: gAdmins, Kind: KindGroup, Status: StatusActive, Organization: jsOrg, DisplayName: "Administrators"},
			{ID: gEveryone, Kind: KindGroup, Status: StatusActive, Organization: jsOrg, DisplayName: "Everyone", Everyone: true},
		},
		memberships: []Membership{{Group: gAutoUser, Member: "john"}, {Group: gAdmins, Member: "john"}},
		assignments: []Assignment{
			// Default groups at the organization (CATALOGUE.md).
			{ID: "d-admins", Principal: gAdmins, Role: catalogue.RoleOrganizationAdministrator, Scope: jsOrg, BuiltIn: true},
			{ID: "d-everyone", Principal: gEveryone, Role: catalogue.RoleUser, Scope: jsOrg, BuiltIn: true},
			// Finance: the Automation Users group.
			{ID: "f-au-svc", Principal: gAutoUser, Role: catalogue.RoleAllowToBeAutomationUser, Scope: finance},
			{ID: "f-au-A", Principal: gAutoUser, Role: catalogue.RoleAutomationUser, Scope: finance + "/folders/A"},
			{ID: "f-au-B", Principal: gAutoUser, Role: catalogue.RoleAutomationUser, Scope: finance + "/folders/B"},
			// Finance: John explicitly.
			{ID: "f-john-svc", Principal: "john", Role: catalogue.RoleAllowToBeFolderAdministrator, Scope: finance},
			{ID: "f-john-A", Principal: "john", Role: catalogue.RoleFolderAdministrator, Scope: finance + "/folders/A"},
			// HR: the Administrators group.
			{ID: "h-adm-svc", Principal: gAdmins, Role: catalogue.RoleAllowToBeFolderAdministrator, Scope: hr},
			{ID: "h-adm-D", Principal: gAdmins, Role: catalogue.RoleFolderAdministrator, Scope: hr + "/folders/D"},
			{ID: "h-adm-E", Principal: gAdmins, Role: catalogue.RoleFolderAdministrator, Scope: hr + "/folders/E"},
			// HR: John explicitly.
			{ID: "h-john-F", Principal: "john", Role: catalogue.RoleFolderAdministrator, Scope: hr + "/folders/F"},
		},
	}.build(t)
}

// label renders a role as the seed's table does: "Role" at the service,
// "Role on Folder X" below it.
func label(svc string, p Grant) string {
	if p.Scope == svc {
		return p.RoleName
	}
	return p.RoleName + " on Folder " + strings.TrimPrefix(p.Scope, svc+"/folders/")
}

// R14, R15: seed 003's table, row by row. Columns: the group's roles in the
// service, John's inherited roles (with the group they come through), his
// explicit roles, and the overall union.
func TestSeed003JohnSmith(t *testing.T) {
	m := johnSmith(t)
	rows := []struct {
		service   string
		group     string
		inherited []string // "role[ on Folder X] via group"
		explicit  []string
		overall   []string
	}{
		{
			service: finance, group: gAutoUser,
			inherited: []string{
				"Allow to be Automation User via automation-users",
				"Automation User on Folder A via automation-users",
				"Automation User on Folder B via automation-users",
			},
			explicit: []string{"Allow to be Folder Administrator", "Folder Administrator on Folder A"},
			overall: []string{
				"Allow to be Automation User", "Allow to be Folder Administrator",
				"Automation User on Folder A", "Automation User on Folder B", "Folder Administrator on Folder A",
			},
		},
		{
			service: hr, group: gAdmins,
			inherited: []string{
				"Allow to be Folder Administrator via administrators",
				"Folder Administrator on Folder D via administrators",
				"Folder Administrator on Folder E via administrators",
			},
			explicit: []string{"Folder Administrator on Folder F"},
			overall: []string{
				"Allow to be Folder Administrator",
				"Folder Administrator on Folder D", "Folder Administrator on Folder E", "Folder Administrator on Folder F",
			},
		},
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return slices.Compact(s) }
	for _, row := range rows {
		// "User Groups" column: the group's own roles in the service.
		gx, err := m.Explain(row.group, row.service, true)
		if err != nil {
			t.Fatal(err)
		}
		var groupRoles []string
		for _, p := range gx.Roles {
			if p.Position != PositionAbove {
				groupRoles = append(groupRoles, label(row.service, p.Grant))
			}
		}
		var wantGroup []string
		for _, s := range row.inherited {
			wantGroup = append(wantGroup, strings.TrimSuffix(s, " via "+row.group))
		}
		if !slices.Equal(sorted(groupRoles), sorted(wantGroup)) {
			t.Errorf("%s group %s: got %v, want %v", row.service, row.group, groupRoles, wantGroup)
		}

		// John's "Check Permissions" view of the service (R15).
		ex, err := m.Explain("john", row.service, true)
		if err != nil {
			t.Fatal(err)
		}
		var inherited, explicit, overall []string
		for _, p := range ex.Roles {
			if p.Position == PositionAbove {
				continue // organization-level roles; checked below
			}
			l := label(row.service, p.Grant)
			overall = append(overall, l)
			if p.Explicit() {
				explicit = append(explicit, l)
			} else {
				inherited = append(inherited, l+" via "+p.Group)
			}
		}
		if !slices.Equal(sorted(inherited), sorted(row.inherited)) {
			t.Errorf("%s inherited:\n got  %v\n want %v", row.service, inherited, row.inherited)
		}
		if !slices.Equal(sorted(explicit), sorted(row.explicit)) {
			t.Errorf("%s explicit:\n got  %v\n want %v", row.service, explicit, row.explicit)
		}
		if !slices.Equal(sorted(overall), sorted(row.overall)) {
			t.Errorf("%s overall:\n got  %v\n want %v", row.service, overall, row.overall)
		}

		// ExplicitRoles (GetRoles) lists the explicit column only.
		grants, err := m.ExplicitRoles("john")
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, g := range grants {
			if resourcename.IsAncestorOrSelf(row.service, g.Scope) {
				listed = append(listed, label(row.service, g))
			}
		}
		if !slices.Equal(sorted(listed), sorted(row.explicit)) {
			t.Errorf("%s ExplicitRoles: got %v, want %v", row.service, listed, row.explicit)
		}
	}

	// Above the services John holds the default groups' organization roles,
	// inherited; ExplicitRoles lists none of them.
	ex, err := m.Explain("john", finance, false)
	if err != nil {
		t.Fatal(err)
	}
	var above []string
	for _, p := range ex.Roles {
		if p.Position == PositionAbove {
			above = append(above, p.RoleName+" at "+p.Scope+" via "+p.GroupName)
		}
		if p.Position == PositionBelow {
			t.Errorf("subtree=false listed %+v", p)
		}
	}
	wantAbove := []string{"Organization Administrator at " + jsOrg + " via Administrators", "User at " + jsOrg + " via Everyone"}
	if !slices.Equal(sorted(above), wantAbove) {
		t.Errorf("above: got %v, want %v", above, wantAbove)
	}
	grants, _ := m.ExplicitRoles("john")
	if len(grants) != 3 {
		t.Errorf("ExplicitRoles: %d grants, want 3: %+v", len(grants), grants)
	}

	// Effective permissions at Finance carry their sources (R15):
	// orchestrator.robots.view comes from both service-level roles, one
	// explicit and one through Automation Users.
	var robots *EffectivePermission
	for i := range ex.Permissions {
		if ex.Permissions[i].Permission == "orchestrator.robots.view" {
			robots = &ex.Permissions[i]
		}
		if ex.Permissions[i].Permission == "orchestrator.jobs.view" {
			t.Error("folder-level permission effective at the service itself")
		}
	}
	if robots == nil || len(robots.Sources) != 2 {
		t.Fatalf("orchestrator.robots.view sources: %+v", robots)
	}
	var src []string
	for _, i := range robots.Sources {
		p := ex.Roles[i]
		src = append(src, p.Assignment+"/"+p.Group)
	}
	if want := []string{"f-john-svc/", "f-au-svc/automation-users"}; !slices.Equal(src, want) {
		t.Errorf("robots.view sources = %v, want %v (explicit first)", src, want)
	}

	// Check agrees with the table (R16): the nearest assignment wins,
	// explicit before inherited at the same scope.
	checks := []struct {
		perm, scope, assignment, group string
		allowed                        bool
	}{
		{"orchestrator.jobs.create", finance + "/folders/A", "f-john-A", "", true},
		{"orchestrator.jobs.create", finance + "/folders/B", "f-au-B", gAutoUser, true},
		{"orchestrator.jobs.delete", finance + "/folders/B", "", "", false}, // Automation User cannot delete
		{"orchestrator.jobs.view", finance + "/folders/C", "", "", false},   // no folder role on C
		{"orchestrator.license.view", finance, "f-au-svc", gAutoUser, true}, // only Allow to be Automation User has it
		{"orchestrator.jobs.delete", hr + "/folders/D", "h-adm-D", gAdmins, true},
		{"orchestrator.jobs.delete", hr + "/folders/F", "h-john-F", "", true},
		{"orchestrator.license.view", hr, "", "", false},
		{"users.create", hr, "d-admins", gAdmins, true}, // organization permission, held below
	}
	for _, c := range checks {
		d := m.Check("john", c.perm, c.scope)
		if d.Allowed != c.allowed || d.AssignmentID() != c.assignment || d.Group != c.group {
			t.Errorf("Check john %s %s: %s", c.perm, c.scope, d.Reason())
		}
	}

	// R14: John leaves Automation Users: Finance's inherited rows vanish, the
	// explicit ones stay.
	m.DeleteMembership(Membership{Group: gAutoUser, Member: "john"})
	ex, _ = m.Explain("john", finance, true)
	var left []string
	for _, p := range ex.Roles {
		if p.Position != PositionAbove {
			left = append(left, label(finance, p.Grant))
		}
	}
	if want := []string{"Allow to be Folder Administrator", "Folder Administrator on Folder A"}; !slices.Equal(sorted(left), want) {
		t.Errorf("after leaving Automation Users: %v, want %v", left, want)
	}
	if m.Check("john", "orchestrator.jobs.create", finance+"/folders/B").Allowed {
		t.Error("Folder B still allowed after leaving the group")
	}
}

// R15: an inactive principal's explanation is empty; its explicit roles
// are still listed.
func TestExplainInactive(t *testing.T) {
	m := johnSmith(t)
	if err := m.UpsertPrincipal(Principal{ID: "john", Kind: KindUser, Status: StatusInactive, Organization: jsOrg}); err != nil {
		t.Fatal(err)
	}
	ex, err := m.Explain("john", finance, true)
	if err != nil || ex.Status != StatusInactive || len(ex.Roles) != 0 || len(ex.Permissions) != 0 {
		t.Errorf("Explain inactive: %+v, %v", ex, err)
	}
	if g, _ := m.ExplicitRoles("john"); len(g) != 3 {
		t.Errorf("ExplicitRoles inactive: %v", g)
	}
}
