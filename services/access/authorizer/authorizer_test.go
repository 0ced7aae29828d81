package authorizer

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// fixture builds a Model from static slices, like Kubernetes'
// NewTestRuleResolver.
type fixture struct {
	scopes      []Scope
	principals  []Principal
	memberships []Membership
	roles       []catalogue.Role
	assignments []Assignment
}

func (f fixture) build(t testing.TB) *Model {
	t.Helper()
	m := New(Sizes{})
	for _, s := range f.scopes {
		if err := m.UpsertScope(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range f.principals {
		if err := m.UpsertPrincipal(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, ms := range f.memberships {
		if err := m.UpsertMembership(ms); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.roles {
		if err := m.UpsertRole(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range f.assignments {
		if err := m.UpsertAssignment(a); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

const (
	o1      = "organizations/o1"
	t1      = o1 + "/tenants/t1"
	t10     = o1 + "/tenants/t10"
	s1      = t1 + "/services/s1"
	s1f1    = s1 + "/folders/f1"
	s1f1f2  = s1f1 + "/folders/f2"
	s1f3    = s1 + "/folders/f3"
	t10s1   = t10 + "/services/s1"
	t10s1f1 = t10s1 + "/folders/f1"
	o2      = "organizations/o2"
)

func user(id string) Principal {
	return Principal{ID: id, Kind: KindUser, Status: StatusActive, Organization: o1}
}

func group(id string) Principal {
	return Principal{ID: id, Kind: KindGroup, Status: StatusActive, Organization: o1}
}

func baseFixture() fixture {
	return fixture{
		scopes: []Scope{
			{Name: o1}, {Name: t1}, {Name: t10},
			{Name: s1, ServiceType: "orchestrator"}, {Name: s1f1}, {Name: s1f1f2}, {Name: s1f3},
			{Name: t10s1, ServiceType: "orchestrator"}, {Name: t10s1f1},
			{Name: o2},
		},
		principals: []Principal{
			user("alice"), user("bob"), user("carol"), user("frank"), user("gina"),
			{ID: "dave", Kind: KindUser, Status: StatusInactive, Organization: o1},
			{ID: "erin", Kind: KindUser, Status: StatusDeleted, Organization: o1},
			{ID: "r1", Kind: KindRobot, Status: StatusActive, Organization: o1},
			{ID: "x1", Kind: KindExternalApp, Status: StatusActive, Organization: o1},
			{ID: "zoe", Kind: KindUser, Status: StatusActive, Organization: o2},
			group("g-au"), group("g-admins"),
			{ID: "g-everyone", Kind: KindGroup, Status: StatusActive, Organization: o1, Everyone: true, DisplayName: "Everyone"},
			{ID: "g-off", Kind: KindGroup, Status: StatusInactive, Organization: o1},
		},
		memberships: []Membership{
			{Group: "g-au", Member: "carol"},
			{Group: "g-admins", Member: "gina"},
			{Group: "g-off", Member: "gina"},
		},
		roles: []catalogue.Role{
			{ID: "jobs-viewer", Name: "Jobs Viewer", Level: catalogue.LevelFolder, ServiceType: "orchestrator",
				Permissions: []string{"orchestrator.jobs.view"}},
		},
		assignments: []Assignment{
			{ID: "a-alice", Principal: "alice", Role: catalogue.RoleOrganizationAdministrator, Scope: o1},
			{ID: "a-bob", Principal: "bob", Role: catalogue.RoleFolderAdministrator, Scope: s1f1},
			{ID: "a-au", Principal: "g-au", Role: catalogue.RoleAutomationUser, Scope: s1, BuiltIn: true},
			{ID: "a-dave", Principal: "dave", Role: catalogue.RoleOrganizationAdministrator, Scope: o1},
			{ID: "a-erin", Principal: "erin", Role: catalogue.RoleOrganizationAdministrator, Scope: o1},
			{ID: "a-every", Principal: "g-everyone", Role: catalogue.RoleUser, Scope: o1, BuiltIn: true},
			{ID: "a-r1", Principal: "r1", Role: catalogue.RoleRobot, Scope: s1, BuiltIn: true},
			{ID: "a-x1", Principal: "x1", Role: "jobs-viewer", Scope: s1f3},
			{ID: "a-frank", Principal: "frank", Role: catalogue.RoleTenantAdministrator, Scope: t1},
			{ID: "a-admins", Principal: "g-admins", Role: catalogue.AdministratorRoleID("orchestrator"), Scope: t10s1},
			{ID: "a-off", Principal: "g-off", Role: catalogue.RoleTenantAdministrator, Scope: t1},
		},
	}
}

type check struct {
	principal, permission, scope string
	// For shouldPass: the assignment that must allow and the group it comes
	// through ("" = explicit). For shouldFail: the denial reason.
	assignment, group string
	denial            DenyReason
	why               string
}

func TestCheck(t *testing.T) {
	m := baseFixture().build(t)
	shouldPass := []check{
		// R13: an organization role holds at the organization and below.
		{principal: "alice", permission: "users.create", scope: o1, assignment: "a-alice", why: "R13 org admin at org"},
		{principal: "alice", permission: "audit_logs.view", scope: s1f1f2, assignment: "a-alice", why: "R13 org permission holds in whole subtree"},
		// R13: inheritance down the subtree, nested folders included.
		{principal: "bob", permission: "orchestrator.jobs.create", scope: s1f1, assignment: "a-bob", why: "R13 at folder"},
		{principal: "bob", permission: "orchestrator.jobs.create", scope: s1f1f2, assignment: "a-bob", why: "R13 nested folder"},
		{principal: "bob", permission: "orchestrator.jobs.create", scope: s1f1f2 + "/jobs/j9", assignment: "a-bob", why: "R16 resource below a known scope"},
		// R14: inherited through a group; folder role assigned at a service.
		{principal: "carol", permission: "orchestrator.jobs.view", scope: s1f1f2, assignment: "a-au", group: "g-au", why: "R14 via group"},
		{principal: "carol", permission: "orchestrator.logs.create", scope: s1f3, assignment: "a-au", group: "g-au", why: "R14 via group"},
		// R5: every active user is implicitly in Everyone.
		{principal: "bob", permission: "dashboard.view", scope: o1, assignment: "a-every", group: "g-everyone", why: "R5 Everyone"},
		{principal: "carol", permission: "users.view", scope: s1f1, assignment: "a-every", group: "g-everyone", why: "R5 Everyone, below org"},
		// R6: robots and external apps are principals.
		{principal: "r1", permission: "orchestrator.jobs.edit", scope: s1f1, assignment: "a-r1", why: "R6 robot"},
		{principal: "x1", permission: "orchestrator.jobs.view", scope: s1f3, assignment: "a-x1", why: "R6 external app, custom role"},
		// R12: tenant administrator holds tenant, service and folder permissions in its tenant.
		{principal: "frank", permission: "tenant.users.edit", scope: t1, assignment: "a-frank", why: "R12 tenant admin"},
		{principal: "frank", permission: "orchestrator.jobs.delete", scope: s1f1f2, assignment: "a-frank", why: "R12 tenant admin below"},
		{principal: "gina", permission: "orchestrator.robots.edit", scope: t10s1f1, assignment: "a-admins", group: "g-admins", why: "R14 service admin via group"},
	}
	shouldFail := []check{
		// R13: organization administrator holds nothing inside a service.
		{principal: "alice", permission: "orchestrator.jobs.view", scope: s1f1, why: "R13 org admin not in service"},
		{principal: "alice", permission: "orchestrator.robots.view", scope: s1, why: "R13 org admin not in service"},
		{principal: "alice", permission: "tenant.users.view", scope: t1, why: "R13 org admin not in tenant"},
		// R13: rights flow down, never up or sideways.
		{principal: "bob", permission: "orchestrator.jobs.create", scope: s1, why: "R13 not upwards"},
		{principal: "bob", permission: "orchestrator.jobs.create", scope: s1f3, why: "R13 not sideways"},
		{principal: "bob", permission: "orchestrator.robots.view", scope: s1f1, why: "R12 folder admin has no service permission"},
		{principal: "bob", permission: "users.create", scope: o1, why: "Everyone's User lacks users.create"},
		{principal: "carol", permission: "orchestrator.jobs.delete", scope: s1f1, why: "R12 automation user cannot delete jobs"},
		// "tenants/t1" is not an ancestor of "tenants/t10".
		{principal: "frank", permission: "tenant.users.edit", scope: t10, why: "t1 is not an ancestor of t10"},
		{principal: "frank", permission: "orchestrator.jobs.view", scope: t10s1f1, why: "t1 is not an ancestor of t10"},
		{principal: "gina", permission: "orchestrator.robots.edit", scope: s1, why: "admins only at t10/s1"},
		// R16: inactive or deleted principals are denied.
		{principal: "dave", permission: "users.view", scope: o1, denial: DenyInactivePrincipal, why: "R16 inactive"},
		{principal: "erin", permission: "users.view", scope: o1, denial: DenyInactivePrincipal, why: "R16 deleted status"},
		{principal: "nobody", permission: "users.view", scope: o1, denial: DenyUnknownPrincipal, why: "R16 unknown"},
		// An inactive group passes nothing on.
		{principal: "gina", permission: "tenant.users.view", scope: t1, why: "inactive group"},
		// Robots and external apps are not in Everyone.
		{principal: "r1", permission: "dashboard.view", scope: o1, why: "robot not in Everyone"},
		{principal: "x1", permission: "dashboard.view", scope: o1, why: "app not in Everyone"},
		// Another organization's Everyone does not apply.
		{principal: "zoe", permission: "dashboard.view", scope: o1, denial: DenyOtherOrganization, why: "other org"},
		{principal: "zoe", permission: "dashboard.view", scope: o2, why: "o2 has no Everyone assignment"},
		// Malformed input.
		{principal: "alice", permission: "users.launch", scope: o1, denial: DenyUnknownPermission},
		{principal: "alice", permission: "users.view", scope: "organizations/o1/tenants", denial: DenyInvalidScope},
		{principal: "alice", permission: "users.view", scope: "organizations/o1//t1/x", denial: DenyInvalidScope},
		{principal: "alice", permission: "users.view", scope: "tenants/t1", denial: DenyInvalidScope},
		{principal: "alice", permission: "users.view", scope: "", denial: DenyInvalidScope},
		{principal: "alice", permission: "users.view", scope: "organizations/o1x", denial: DenyOtherOrganization, why: "o1 is not an ancestor of o1x"},
	}
	for _, c := range shouldPass {
		d := m.Check(c.principal, c.permission, c.scope)
		if !d.Allowed || d.AssignmentID() != c.assignment || d.Group != c.group {
			t.Errorf("shouldPass %s %s %s (%s): got %+v; %s", c.principal, c.permission, c.scope, c.why, d, d.Reason())
		}
	}
	for _, c := range shouldFail {
		d := m.Check(c.principal, c.permission, c.scope)
		if d.Allowed || d.Denial != c.denial {
			t.Errorf("shouldFail %s %s %s (%s): got %+v; %s", c.principal, c.permission, c.scope, c.why, d, d.Reason())
		}
	}
}

// R16: Decision's zero value denies; Reason names the assignment.
func TestDecisionReason(t *testing.T) {
	var zero Decision
	if zero.Allowed {
		t.Fatal("zero Decision allows")
	}
	m := baseFixture().build(t)
	tests := []struct {
		principal, permission, scope, want string
	}{
		{"carol", "orchestrator.jobs.view", s1f1,
			"allowed by role assignment a-au (role Automation User) at organizations/o1/tenants/t1/services/s1 through group g-au"},
		{"alice", "users.create", t1, "allowed by role assignment a-alice (role Organization Administrator) at organizations/o1"},
		{"alice", "orchestrator.jobs.view", s1f1, "denied: no role assignment grants orchestrator.jobs.view at " + s1f1 + " to alice"},
		{"dave", "users.view", o1, `denied: principal "dave" is not active`},
		{"who", "users.view", o1, `denied: unknown principal "who"`},
		{"alice", "nope.view", o1, `denied: unknown permission "nope.view"`},
	}
	for _, tc := range tests {
		if got := m.Check(tc.principal, tc.permission, tc.scope).Reason(); got != tc.want {
			t.Errorf("%s %s %s:\n got  %s\n want %s", tc.principal, tc.permission, tc.scope, got, tc.want)
		}
	}
}

// R14: inherited rights disappear when the user leaves the group or the
// group's assignment is removed; explicit ones persist.
func TestInheritedRightsFollowMembership(t *testing.T) {
	m := baseFixture().build(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.UpsertAssignment(Assignment{ID: "a-carol", Principal: "carol", Role: "jobs-viewer", Scope: s1f1}))
	steps := []struct {
		name                 string
		apply                func()
		jobsViewF1, logsF1   bool // jobs.view at f1 (explicit or inherited), logs.create at f1 (inherited only)
		jobsViewF3           bool // inherited only
		explicitAssignmentID string
	}{
		{"both", func() {}, true, true, true, "a-carol"},
		{"user leaves group", func() { m.DeleteMembership(Membership{Group: "g-au", Member: "carol"}) }, true, false, false, "a-carol"},
		{"user rejoins", func() { must(m.UpsertMembership(Membership{Group: "g-au", Member: "carol"})) }, true, true, true, "a-carol"},
		{"group assignment removed", func() {
			if !m.DeleteAssignment("a-au") {
				t.Fatal("a-au missing")
			}
		}, true, false, false, "a-carol"},
		{"group assignment back", func() {
			must(m.UpsertAssignment(Assignment{ID: "a-au", Principal: "g-au", Role: catalogue.RoleAutomationUser, Scope: s1}))
		}, true, true, true, "a-carol"},
		{"group deleted", func() {
			if got := m.DeletePrincipal("g-au"); !slices.Equal(got, []string{"a-au"}) {
				t.Fatalf("DeletePrincipal removed %v", got)
			}
		}, true, false, false, "a-carol"},
		{"explicit removed", func() { m.DeleteAssignment("a-carol") }, false, false, false, ""},
	}
	for _, s := range steps {
		s.apply()
		if got := m.Check("carol", "orchestrator.jobs.view", s1f1).Allowed; got != s.jobsViewF1 {
			t.Errorf("%s: jobs.view at f1 = %v, want %v", s.name, got, s.jobsViewF1)
		}
		if got := m.Check("carol", "orchestrator.logs.create", s1f1).Allowed; got != s.logsF1 {
			t.Errorf("%s: logs.create at f1 = %v, want %v", s.name, got, s.logsF1)
		}
		if got := m.Check("carol", "orchestrator.jobs.view", s1f3).Allowed; got != s.jobsViewF3 {
			t.Errorf("%s: jobs.view at f3 = %v, want %v", s.name, got, s.jobsViewF3)
		}
		roles, err := m.ExplicitRoles("carol")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, g := range roles {
			ids = append(ids, g.Assignment)
		}
		want := []string(nil)
		if s.explicitAssignmentID != "" {
			want = []string{s.explicitAssignmentID}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: ExplicitRoles = %v, want %v (R15: explicit only)", s.name, ids, want)
		}
	}
}

// R16: status changes take effect at once; deletion removes assignments.
func TestPrincipalStatus(t *testing.T) {
	m := baseFixture().build(t)
	steps := []struct {
		status Status
		want   bool
		denial DenyReason
	}{
		{StatusActive, true, 0},
		{StatusInactive, false, DenyInactivePrincipal},
		{StatusActive, true, 0},
		{StatusDeleted, false, DenyInactivePrincipal},
		{StatusUnspecified, false, DenyInactivePrincipal},
	}
	for _, s := range steps {
		p := user("alice")
		p.Status = s.status
		if err := m.UpsertPrincipal(p); err != nil {
			t.Fatal(err)
		}
		d := m.Check("alice", "users.create", o1)
		if d.Allowed != s.want || d.Denial != s.denial {
			t.Errorf("status %s: got %+v", s.status, d)
		}
	}
	if got := m.DeletePrincipal("alice"); !slices.Equal(got, []string{"a-alice"}) {
		t.Errorf("DeletePrincipal removed %v", got)
	}
	if d := m.Check("alice", "users.view", o1); d.Allowed || d.Denial != DenyUnknownPrincipal {
		t.Errorf("deleted: %+v", d)
	}
	// Re-created, the user holds only what Everyone gives.
	if err := m.UpsertPrincipal(user("alice")); err != nil {
		t.Fatal(err)
	}
	if m.Check("alice", "users.create", o1).Allowed || !m.Check("alice", "users.view", o1).Allowed {
		t.Error("re-created alice: want only Everyone's rights")
	}
	if _, err := m.Explain("ghost", o1, false); !errors.Is(err, ErrUnknownPrincipal) {
		t.Errorf("Explain unknown: %v", err)
	}
	if _, err := m.ExplicitRoles("ghost"); !errors.Is(err, ErrUnknownPrincipal) {
		t.Errorf("ExplicitRoles unknown: %v", err)
	}
}

// R5: Everyone is implicit for active users and follows the group's state.
func TestEveryone(t *testing.T) {
	m := baseFixture().build(t)
	if err := m.UpsertPrincipal(user("newbie")); err != nil {
		t.Fatal(err)
	}
	if d := m.Check("newbie", "notifications.view", o1); !d.Allowed || d.Group != "g-everyone" {
		t.Fatalf("newbie: %+v", d)
	}
	ev := Principal{ID: "g-everyone", Kind: KindGroup, Status: StatusInactive, Organization: o1, Everyone: true, DisplayName: "Everyone"}
	if err := m.UpsertPrincipal(ev); err != nil {
		t.Fatal(err)
	}
	if m.Check("newbie", "notifications.view", o1).Allowed {
		t.Error("inactive Everyone still grants")
	}
	ev.Status, ev.Everyone = StatusActive, false
	if err := m.UpsertPrincipal(ev); err != nil {
		t.Fatal(err)
	}
	if m.Check("newbie", "notifications.view", o1).Allowed {
		t.Error("group no longer Everyone still grants implicitly")
	}
	ev.Everyone = true
	if err := m.UpsertPrincipal(ev); err != nil {
		t.Fatal(err)
	}
	if !m.Check("newbie", "notifications.view", o1).Allowed {
		t.Error("Everyone restored: want allowed")
	}
	// An explicit membership in Everyone changes nothing.
	if err := m.UpsertMembership(Membership{Group: "g-everyone", Member: "newbie"}); err != nil {
		t.Fatal(err)
	}
	ex, err := m.Explain("newbie", o1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Roles) != 1 || ex.Roles[0].Group != "g-everyone" || ex.Roles[0].GroupName != "Everyone" {
		t.Errorf("Explain newbie: %+v", ex.Roles)
	}
}

// R13: deleting a scope removes the assignments in its subtree.
func TestDeleteScope(t *testing.T) {
	m := baseFixture().build(t)
	got := m.DeleteScope(s1)
	slices.Sort(got)
	if want := []string{"a-au", "a-bob", "a-r1", "a-x1"}; !slices.Equal(got, want) {
		t.Errorf("DeleteScope removed %v, want %v", got, want)
	}
	if m.Check("bob", "orchestrator.jobs.view", s1f1).Allowed {
		t.Error("bob still allowed in deleted folder")
	}
	if !m.Check("frank", "tenant.users.edit", t1).Allowed {
		t.Error("frank lost rights above the deleted scope")
	}
	if _, _, ok := m.LookupScope(s1f1); ok {
		t.Error("deleted scope still known")
	}
	if sc, lvl, ok := m.LookupScope(t10s1); !ok || lvl != catalogue.LevelService || sc.ServiceType != "orchestrator" {
		t.Errorf("LookupScope(t10s1) = %+v %v %v", sc, lvl, ok)
	}
	if st := m.Stats(); st.Assignments != 11-4 {
		t.Errorf("Stats.Assignments = %d", st.Assignments)
	}
}

func TestMutatorErrors(t *testing.T) {
	m := New(Sizes{})
	var unknown *catalogue.UnknownPermissionError
	tests := []struct {
		name   string
		err    error
		is     error
		target any
	}{
		{"scope", m.UpsertScope(Scope{Name: "tenants/t1"}), ErrInvalidScope, nil},
		{"principal id", m.UpsertPrincipal(Principal{}), ErrMissingField, nil},
		{"principal org", m.UpsertPrincipal(Principal{ID: "u", Organization: t1}), ErrInvalidScope, nil},
		{"membership", m.UpsertMembership(Membership{Group: "g"}), ErrMissingField, nil},
		{"assignment", m.UpsertAssignment(Assignment{ID: "a", Principal: "u", Role: "r", Scope: "x"}), ErrInvalidScope, nil},
		{"assignment id", m.UpsertAssignment(Assignment{Principal: "u", Role: "r", Scope: o1}), ErrMissingField, nil},
		{"built-in upsert", m.UpsertRole(catalogue.Role{ID: catalogue.RoleOwner, Name: "Owner", Level: catalogue.LevelOrganization}), ErrBuiltInRole, nil},
		{"built-in delete", m.DeleteRole(catalogue.RoleUser), ErrBuiltInRole, nil},
		{"unknown permission", m.UpsertRole(catalogue.Role{ID: "c", Name: "c", Level: catalogue.LevelTenant, Permissions: []string{"tenant.users.fly"}}), nil, &unknown},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(tc.err, tc.is) {
			t.Errorf("%s: %v is not %v", tc.name, tc.err, tc.is)
		}
		if tc.target != nil && !errors.As(tc.err, tc.target) {
			t.Errorf("%s: %v is not %T", tc.name, tc.err, tc.target)
		}
	}
	if unknown == nil || unknown.Permission != "tenant.users.fly" {
		t.Errorf("UnknownPermissionError = %+v", unknown)
	}
}

// Events may arrive in any order: references create placeholders that grant
// nothing until upserted; replacing an assignment moves it.
func TestOrderIndependenceAndReplace(t *testing.T) {
	m := New(Sizes{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.UpsertAssignment(Assignment{ID: "a1", Principal: "g", Role: "custom", Scope: s1f1}))
	must(m.UpsertMembership(Membership{Group: "g", Member: "u"}))
	must(m.UpsertPrincipal(user("u")))
	if m.Check("u", "orchestrator.jobs.view", s1f1).Allowed {
		t.Fatal("allowed before group and role exist")
	}
	must(m.UpsertPrincipal(group("g")))
	if m.Check("u", "orchestrator.jobs.view", s1f1).Allowed {
		t.Fatal("allowed before role exists")
	}
	must(m.UpsertRole(catalogue.Role{ID: "custom", Name: "Custom", Level: catalogue.LevelFolder, ServiceType: "orchestrator", Permissions: []string{"orchestrator.jobs.view"}}))
	if !m.Check("u", "orchestrator.jobs.view", s1f1).Allowed {
		t.Fatal("denied once everything exists")
	}
	// Replace a1 to point elsewhere.
	must(m.UpsertAssignment(Assignment{ID: "a1", Principal: "g", Role: "custom", Scope: s1f3}))
	if m.Check("u", "orchestrator.jobs.view", s1f1).Allowed || !m.Check("u", "orchestrator.jobs.view", s1f3).Allowed {
		t.Fatal("replace did not move the assignment")
	}
	// Several assignments at one (subject, scope); delete the middle one.
	for i := range 3 {
		must(m.UpsertAssignment(Assignment{ID: fmt.Sprint("b", i), Principal: "u", Role: catalogue.RoleFolderAdministrator, Scope: s1f1}))
	}
	m.DeleteAssignment("b1")
	if d := m.Check("u", "orchestrator.jobs.delete", s1f1); !d.Allowed || d.AssignmentID() == "b1" {
		t.Fatalf("after deleting b1: %+v", d)
	}
	m.DeleteAssignment("b2")
	m.DeleteAssignment("b0")
	if m.Check("u", "orchestrator.jobs.delete", s1f1).Allowed {
		t.Fatal("allowed after deleting all")
	}
	// Custom role removed: its assignments grant nothing.
	must(m.DeleteRole("custom"))
	if m.Check("u", "orchestrator.jobs.view", s1f3).Allowed {
		t.Fatal("deleted role still grants")
	}
	if m.Stats().Assignments != 1 {
		t.Fatalf("stats: %+v", m.Stats())
	}
}

// R16: batch form.
func TestCheckBatch(t *testing.T) {
	m := baseFixture().build(t)
	items := []CheckItem{
		{"alice", "users.create", o1},
		{"alice", "orchestrator.jobs.view", s1f1},
		{"carol", "orchestrator.jobs.view", s1f1},
	}
	got := m.CheckBatch(items, nil)
	want := []bool{true, false, true}
	if len(got) != len(want) {
		t.Fatalf("got %d decisions", len(got))
	}
	for i := range want {
		if got[i].Allowed != want[i] || got[i].Principal != items[i].Principal {
			t.Errorf("item %d: %+v", i, got[i])
		}
	}
}

// R16: the hot path does not allocate.
func TestCheckDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := baseFixture().build(t)
	dst := make([]Decision, 0, 4)
	items := []CheckItem{{"carol", "orchestrator.jobs.view", s1f1f2}, {"alice", "orchestrator.jobs.view", s1f1}}
	allocs := testing.AllocsPerRun(1000, func() {
		_ = m.Check("carol", "orchestrator.jobs.view", s1f1f2+"/jobs/j1")
		_ = m.Check("alice", "orchestrator.jobs.view", s1f1f2)
		_ = m.Check("bob", "dashboard.view", s1f1f2)
		_ = m.Check("dave", "dashboard.view", o1)
		dst = m.CheckBatch(items, dst[:0])
	})
	if allocs != 0 {
		t.Errorf("Check allocates %v times per run, want 0", allocs)
	}
}

// R16: many readers, one writer.
func TestConcurrentReadersAndWriter(t *testing.T) {
	m := baseFixture().build(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				// alice's explicit org admin is never touched: always allowed.
				if !m.Check("alice", "users.create", s1f1).Allowed {
					t.Error("alice denied during writes")
					return
				}
				m.Check("carol", "orchestrator.jobs.view", s1f1)
				if _, err := m.Explain("carol", s1, true); err != nil {
					t.Error(err)
					return
				}
				// The access review (issue 14) reads under the same lock.
				if h, _, err := m.Holders("users.create", s1f1, "", 1); err != nil || len(h) != 1 || h[0].Principal.ID != "alice" {
					t.Errorf("Holders during writes: %v, %v", h, err)
					return
				}
				if _, _, err := m.PermittedScopes("carol", "orchestrator.jobs.view", o1, "", 2); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 2000 {
		id := fmt.Sprint("w", i)
		_ = m.UpsertAssignment(Assignment{ID: id, Principal: "carol", Role: catalogue.RoleFolderAdministrator, Scope: s1f1})
		if i%2 == 0 {
			m.DeleteMembership(Membership{Group: "g-au", Member: "carol"})
		} else {
			_ = m.UpsertMembership(Membership{Group: "g-au", Member: "carol"})
		}
		m.DeleteAssignment(id)
	}
	close(stop)
	wg.Wait()
}

func TestScopeHelpers(t *testing.T) {
	valid := []string{o1, t1, s1f1f2, "organizations/o1/tenants/t1/services/s1/projects/p1"}
	invalid := []string{"", "organizations", "organizations/", "organizations/o1/", "organizations/o1/tenants", "/organizations/o1", "tenants/t1/services/s1", "organizations//tenants/t1"}
	for _, s := range valid {
		if !validScope(s) {
			t.Errorf("validScope(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if validScope(s) {
			t.Errorf("validScope(%q) = true", s)
		}
	}
	if resourcename.IsAncestorOrSelf(t1, t10) || !resourcename.IsAncestorOrSelf(t1, s1) || !resourcename.IsAncestorOrSelf(t1, t1) {
		t.Error("IsAncestorOrSelf")
	}
	if p, ok := resourcename.Parent(s1f1); !ok || p != s1 {
		t.Errorf("Parent = %q", p)
	}
	if _, ok := resourcename.Parent(o1); ok {
		t.Error("organization has a parent")
	}
	levels := map[string]catalogue.Level{o1: catalogue.LevelOrganization, t1: catalogue.LevelTenant, s1: catalogue.LevelService, s1f1f2: catalogue.LevelFolder, s1f1 + "/jobs/j": catalogue.LevelUnspecified}
	for s, l := range levels {
		if levelOf(s) != l {
			t.Errorf("levelOf(%q) = %v, want %v", s, levelOf(s), l)
		}
	}
}

// R14, R16 (directory review): a membership across organizations must never
// grant anything. zoe (o2) is put in o1's Administrators-like group, which
// is an Organization Administrator of o1: Check and Explain still give her
// nothing in o1, and her own organization is unaffected.
func TestCheckCrossOrganizationMembership(t *testing.T) {
	m := baseFixture().build(t)
	if err := m.UpsertMembership(Membership{Group: "g-admins", Member: "zoe"}); err != nil {
		t.Fatal(err)
	}
	if err := m.UpsertAssignment(Assignment{ID: "a-admins-org", Principal: "g-admins", Role: catalogue.RoleOrganizationAdministrator, Scope: o1}); err != nil {
		t.Fatal(err)
	}
	if d := m.Check("gina", "users.view", o1); !d.Allowed {
		t.Fatalf("member of o1 denied: %s", d.Reason())
	}
	for _, scope := range []string{o1, t1, t10s1f1} {
		d := m.Check("zoe", "users.view", scope)
		if d.Allowed || d.Denial != DenyOtherOrganization {
			t.Errorf("zoe users.view at %s: %+v (%s), want DenyOtherOrganization", scope, d, d.Reason())
		}
	}
	ds := m.CheckBatch([]CheckItem{{Principal: "zoe", Permission: "users.view", Scope: o1}}, nil)
	if ds[0].Allowed {
		t.Errorf("CheckBatch allowed zoe in o1: %s", ds[0].Reason())
	}
	ex, err := m.Explain("zoe", o1, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Roles) != 0 || len(ex.Permissions) != 0 {
		t.Errorf("Explain of zoe in o1 lists %d roles, %d permissions; want none", len(ex.Roles), len(ex.Permissions))
	}
}
