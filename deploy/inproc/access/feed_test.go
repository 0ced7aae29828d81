package access_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// fdDeadline bounds every wait for the directory feed.
const fdDeadline = 15 * time.Second

// fdOrg is a signed-up organization seen from the tests of the directory
// feed: its owner acts through the trusted "licensing" service.
type fdOrg struct {
	e      *env
	org    string
	owner  string
	tenant string
	// ctx acts as the owner (pass e.dirSvc or e.accSvc).
	ctx context.Context
}

func fdSignUp(t *testing.T) *fdOrg {
	t.Helper()
	e := newEnv(t)
	su := e.signUp()
	o := &fdOrg{e: e, org: su.GetOrganization().GetName(), owner: su.GetOwner().GetName(), tenant: su.GetDefaultTenant().GetName()}
	o.ctx = e.as(o.owner, o.org)
	o.sync()
	return o
}

// dirSeq returns the directory's current head sequence (a List response's
// sequence).
func (o *fdOrg) dirSeq() uint64 {
	o.e.t.Helper()
	resp, err := o.e.d.ListTenants(context.Background(), &directoryv1.ListTenantsRequest{Parent: o.org}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("ListTenants: %v", err)
	}
	return resp.GetSequence()
}

// sync waits until access has applied the directory's log up to its head.
func (o *fdOrg) sync() { o.e.t.Helper(); o.syncTo(o.dirSeq()) }

// syncTo waits until access has applied the directory's log up to seq,
// through CheckPermission's at_least_directory_sequence (retried while it
// answers NOT_YET_CONSISTENT, under the race detector's slowness).
func (o *fdOrg) syncTo(seq uint64) {
	o.e.t.Helper()
	deadline := time.Now().Add(fdDeadline)
	for {
		_, err := o.e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{
			Principal: o.owner, Permission: "dashboard.view", Scope: o.org, AtLeastDirectorySequence: seq,
		}, o.e.accSvc)
		if err == nil {
			return
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			o.e.t.Fatalf("waiting for directory sequence %d: %v", seq, err)
		}
	}
}

// check asks access (as a service) whether principal holds permission at
// scope.
func (o *fdOrg) check(principal, permission, scope string) *accessv1.CheckPermissionResponse {
	o.e.t.Helper()
	resp, err := o.e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{Principal: principal, Permission: permission, Scope: scope}, o.e.accSvc)
	if err != nil {
		o.e.t.Fatalf("CheckPermission(%s, %s, %s): %v", principal, permission, scope, err)
	}
	return resp
}

// roles returns principal's explicit assignments as "role@scope" strings.
func (o *fdOrg) roles(principal string) []string {
	o.e.t.Helper()
	var out []string
	for _, a := range o.assignments(principal) {
		out = append(out, a.GetRole()+"@"+a.GetScope())
	}
	return out
}

func (o *fdOrg) assignments(principal string) []*accessv1.RoleAssignment {
	o.e.t.Helper()
	resp, err := o.e.a.ListPrincipalRoles(o.ctx, &accessv1.ListPrincipalRolesRequest{Principal: principal}, o.e.accSvc)
	if err != nil {
		o.e.t.Fatalf("ListPrincipalRoles(%s): %v", principal, err)
	}
	return resp.GetRoleAssignments()
}

func (o *fdOrg) group(id string) string { return o.org + "/groups/" + id }

func (o *fdOrg) createService(tenant, id, typ string) string {
	o.e.t.Helper()
	s, err := o.e.d.CreateService(o.ctx, &directoryv1.CreateServiceRequest{Parent: tenant, ServiceId: id, Service: &directoryv1.Service{DisplayName: "Service " + id, Type: typ}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateService: %v", err)
	}
	return s.GetName()
}

func (o *fdOrg) createUser(id, display string) string {
	o.e.t.Helper()
	u, err := o.e.d.CreateUser(o.ctx, &directoryv1.CreateUserRequest{Parent: o.org, UserId: id, User: &directoryv1.User{
		Nickname: id, DisplayName: display, Email: id + "@" + strings.TrimPrefix(o.org, "organizations/") + ".example",
	}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateUser: %v", err)
	}
	return u.GetName()
}

func (o *fdOrg) createRobot(id string) (robot, account string) {
	o.e.t.Helper()
	r, err := o.e.d.CreateRobot(o.ctx, &directoryv1.CreateRobotRequest{Parent: o.org, RobotId: id, Robot: &directoryv1.Robot{DisplayName: "Robot " + id, MachineName: id + ".local"}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateRobot: %v", err)
	}
	return r.GetName(), r.GetRobotAccount()
}

// accessHead returns the sequence of access's newest event.
func (o *fdOrg) accessHead() uint64 {
	o.e.t.Helper()
	resp, err := o.e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1}, o.e.accSvc)
	if err != nil {
		o.e.t.Fatalf("ListEvents: %v", err)
	}
	return resp.GetHeadSequence()
}

// accessEvents returns access's events after seq, but the records of
// refused calls (see changes).
func (o *fdOrg) accessEvents(after uint64) []*eventlogv1.Event {
	o.e.t.Helper()
	var out []*eventlogv1.Event
	token := ""
	for {
		resp, err := o.e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{AfterSequence: after, PageSize: 1000, PageToken: token}, o.e.accSvc)
		if err != nil {
			o.e.t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, changes(resp.GetEvents())...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func fdSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// R1, R5: sign-up binds Owner to the owner and gives the default groups
// their organization assignments (CATALOGUE.md "Default groups"), all
// built-in, made by the system; the owner's explicit roles are Owner only.
func TestFeedSignUpSeedsBuiltInAssignments(t *testing.T) {
	o := fdSignUp(t)
	for _, tc := range []struct {
		principal string
		want      []string
	}{
		{o.owner, []string{"roles/owner@" + o.org}},
		{o.group("administrators"), []string{"roles/organization-administrator@" + o.org}},
		{o.group("everyone"), []string{"roles/user@" + o.org}},
		{o.group("automation-users"), nil},
		{o.group("automation-developers"), nil},
	} {
		fdSameSet(t, "explicit roles of "+tc.principal, o.roles(tc.principal), tc.want)
		for _, a := range o.assignments(tc.principal) {
			if !a.GetBuiltIn() || a.GetCreator() != "" || !strings.HasPrefix(a.GetName(), o.org+"/roleAssignments/") {
				t.Errorf("assignment %v: want built-in, creator \"\", named under the organization", a)
			}
		}
	}
	// The owner holds everything, and Explain shows the owner's roles with
	// their provenance: Owner explicit, Organization Administrator through
	// Administrators, User through Everyone (R15).
	if r := o.check(o.owner, "users.delete", o.org); !r.GetAllowed() {
		t.Errorf("owner denied users.delete: %s", r.GetReason())
	}
	ex, err := o.e.a.ExplainPermissions(o.ctx, &accessv1.ExplainPermissionsRequest{Principal: o.owner, Scope: o.org}, o.e.accSvc)
	if err != nil {
		t.Fatalf("ExplainPermissions: %v", err)
	}
	var got []string
	for _, s := range ex.GetSources() {
		got = append(got, s.GetRoleDisplayName()+"|"+s.GetGroupDisplayName()+"|"+s.GetPosition())
	}
	want := []string{"Owner||at", "Organization Administrator|Administrators|at", "User|Everyone|at"}
	if !slices.Equal(got, want) {
		t.Errorf("Explain sources = %q, want %q", got, want)
	}
}

// R13, R5, R6: creating an Orchestrator service makes its creator its
// Administrator, gives the default groups their service assignments and
// every robot account the Robot role; another type only makes the creator
// its Administrator. A robot created afterwards gets Robot at every
// Orchestrator service.
func TestFeedServiceCreationSeeds(t *testing.T) {
	o := fdSignUp(t)
	_, early := o.createRobot("early")
	orch := o.createService(o.tenant, "orch", "orchestrator")
	tm := o.createService(o.tenant, "tm", "test-manager")
	_, late := o.createRobot("late")
	o.sync()

	fdSameSet(t, "owner", o.roles(o.owner), []string{
		"roles/owner@" + o.org, "roles/orchestrator-administrator@" + orch, "roles/test-manager-administrator@" + tm,
	})
	fdSameSet(t, "administrators", o.roles(o.group("administrators")), []string{
		"roles/organization-administrator@" + o.org, "roles/orchestrator-administrator@" + orch,
	})
	// Issue 9 item 6: the automation groups' folder roles are at the
	// service's Shared folder, not at the whole service.
	shared := orch + "/folders/shared"
	fdSameSet(t, "automation developers", o.roles(o.group("automation-developers")), []string{
		"roles/allow-to-be-automation-developer@" + orch, "roles/automation-developer@" + shared,
	})
	fdSameSet(t, "automation users", o.roles(o.group("automation-users")), []string{
		"roles/allow-to-be-automation-user@" + orch, "roles/automation-user@" + shared,
	})
	fdSameSet(t, "everyone", o.roles(o.group("everyone")), []string{"roles/user@" + o.org})
	fdSameSet(t, "robot account created before", o.roles(early), []string{"roles/robot@" + orch})
	fdSameSet(t, "robot account created after", o.roles(late), []string{"roles/robot@" + orch})

	// The rights follow (R13: they hold in the subtree).
	for _, tc := range []struct {
		principal, permission, scope string
		want                         bool
	}{
		{o.owner, "orchestrator.settings.edit", orch, true},
		{late, "orchestrator.jobs.view", orch + "/folders/any", true},
		{late, "orchestrator.jobs.view", tm, false},
		{late, "orchestrator.settings.edit", orch, false},
	} {
		if r := o.check(tc.principal, tc.permission, tc.scope); r.GetAllowed() != tc.want {
			t.Errorf("Check(%s, %s, %s) = %v (%s), want %v", tc.principal, tc.permission, tc.scope, r.GetAllowed(), r.GetReason(), tc.want)
		}
	}
}

// R6, R13: deleting a robot (and its robot account) removes the account's
// assignments, one access event each.
func TestFeedPrincipalDeletionRemovesAssignments(t *testing.T) {
	o := fdSignUp(t)
	orch1 := o.createService(o.tenant, "o1", "orchestrator")
	orch2 := o.createService(o.tenant, "o2", "orchestrator")
	robot, account := o.createRobot("r1")
	o.sync()
	before := o.assignments(account)
	if len(before) != 2 {
		t.Fatalf("robot account roles = %v, want Robot at %s and %s", before, orch1, orch2)
	}
	head := o.accessHead()
	if _, err := o.e.d.DeleteRobot(o.ctx, &directoryv1.DeleteRobotRequest{Name: robot}, o.e.dirSvc); err != nil {
		t.Fatalf("DeleteRobot: %v", err)
	}
	o.sync()
	if got := o.assignments(account); len(got) != 0 {
		t.Errorf("robot account still holds %v", got)
	}
	var deleted []string
	for _, ev := range o.accessEvents(head) {
		if ev.GetType() != "access.role_assignment.deleted" {
			t.Errorf("unexpected event %s %s", ev.GetType(), ev.GetResource())
			continue
		}
		deleted = append(deleted, ev.GetResource())
	}
	var want []string
	for _, a := range before {
		want = append(want, a.GetName())
	}
	fdSameSet(t, "deleted assignments", deleted, want)
	if r := o.check(account, "orchestrator.jobs.view", orch1); r.GetAllowed() {
		t.Errorf("deleted robot account allowed: %s", r.GetReason())
	}
}

// R2, R13: deleting a tenant (force) removes every assignment under it,
// one access event each, and keeps those elsewhere.
func TestFeedScopeDeletionRemovesAssignments(t *testing.T) {
	o := fdSignUp(t)
	tn, err := o.e.d.CreateTenant(o.ctx, &directoryv1.CreateTenantRequest{Parent: o.org, TenantId: "gone", Tenant: &directoryv1.Tenant{DisplayName: "Gone"}}, o.e.dirSvc)
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	svc := o.createService(tn.GetName(), "orch", "orchestrator")
	if _, err := o.e.d.CreateFolder(o.ctx, &directoryv1.CreateFolderRequest{Parent: svc, FolderId: "f1", Folder: &directoryv1.Folder{DisplayName: "F1"}}, o.e.dirSvc); err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	kept := o.createService(o.tenant, "kept", "orchestrator")
	o.sync()

	// Every assignment of the organization's principals at or under scope.
	list := func(scope string) []string {
		var out []string
		for _, p := range []string{o.owner, o.group("administrators"), o.group("automation-users"), o.group("automation-developers"), o.group("everyone")} {
			for _, a := range o.assignments(p) {
				if a.GetScope() == scope || strings.HasPrefix(a.GetScope(), scope+"/") {
					out = append(out, a.GetName())
				}
			}
		}
		return out
	}
	under := list(tn.GetName())
	// Owner's Administrator + 5 default-group assignments.
	if len(under) != 6 {
		t.Fatalf("assignments under the tenant = %v, want 6", under)
	}
	keptBefore := list(kept)
	head := o.accessHead()
	if _, err := o.e.d.DeleteTenant(o.ctx, &directoryv1.DeleteTenantRequest{Name: tn.GetName(), Force: true}, o.e.dirSvc); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	o.sync()
	if got := list(tn.GetName()); len(got) != 0 {
		t.Errorf("assignments left under the deleted tenant: %v", got)
	}
	fdSameSet(t, "assignments of the other service", list(kept), keptBefore)
	var deleted []string
	for _, ev := range o.accessEvents(head) {
		if ev.GetType() == "access.role_assignment.deleted" {
			deleted = append(deleted, ev.GetResource())
		}
	}
	fdSameSet(t, "one deleted event per assignment", deleted, under)
	if len(deleted) != len(under) {
		t.Errorf("%d deleted events for %d assignments", len(deleted), len(under))
	}
	if r := o.check(o.group("administrators"), "orchestrator.settings.edit", svc); r.GetAllowed() {
		t.Errorf("Administrators still hold rights at the deleted service: %s", r.GetReason())
	}
}

// R14, R9: adding a user to Administrators gives it the organization
// administrator's permissions at once, removing it takes them away; the
// directory's List sequence makes the next Check consistent.
func TestFeedMembershipChangesRights(t *testing.T) {
	o := fdSignUp(t)
	u := o.createUser("mia", "Mia")
	o.sync()
	admins := o.group("administrators")
	checkAt := func(seq uint64) *accessv1.CheckPermissionResponse {
		t.Helper()
		resp, err := o.e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{
			Principal: u, Permission: "users.create", Scope: o.org, AtLeastDirectorySequence: seq,
		}, o.e.accSvc)
		if err != nil {
			t.Fatalf("CheckPermission: %v", err)
		}
		if resp.GetDirectorySequence() < seq {
			t.Errorf("directory_sequence %d < %d", resp.GetDirectorySequence(), seq)
		}
		return resp
	}
	if r := checkAt(0); r.GetAllowed() {
		t.Fatalf("plain user allowed users.create: %s", r.GetReason())
	}
	membersSeq := func() uint64 {
		resp, err := o.e.d.ListGroupMembers(o.ctx, &directoryv1.ListGroupMembersRequest{Group: admins}, o.e.dirSvc)
		if err != nil {
			t.Fatalf("ListGroupMembers: %v", err)
		}
		return resp.GetSequence()
	}
	for round := range 3 {
		if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: admins, Member: u}, o.e.dirSvc); err != nil {
			t.Fatalf("AddGroupMember: %v", err)
		}
		r := checkAt(membersSeq())
		if !r.GetAllowed() || !strings.Contains(r.GetReason(), admins) {
			t.Fatalf("round %d: member of Administrators: allowed=%v (%s), want allowed through %s", round, r.GetAllowed(), r.GetReason(), admins)
		}
		if _, err := o.e.d.RemoveGroupMember(o.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: u}, o.e.dirSvc); err != nil {
			t.Fatalf("RemoveGroupMember: %v", err)
		}
		if r := checkAt(membersSeq()); r.GetAllowed() {
			t.Fatalf("round %d: removed from Administrators, still allowed: %s", round, r.GetReason())
		}
	}
	// Explicit roles are untouched by memberships (R14, R15).
	if got := o.roles(u); len(got) != 0 {
		t.Errorf("user's explicit roles = %v, want none", got)
	}
}

// R16, R3: a deactivated user is denied everything, and allowed again once
// activated; a deleted user is denied.
func TestFeedDeactivatedUserDenied(t *testing.T) {
	o := fdSignUp(t)
	u := o.createUser("ivy", "Ivy")
	o.sync()
	if r := o.check(u, "dashboard.view", o.org); !r.GetAllowed() {
		t.Fatalf("active user denied dashboard.view (Everyone's User role): %s", r.GetReason())
	}
	if _, err := o.e.d.DeactivateUser(o.ctx, &directoryv1.DeactivateUserRequest{Name: u}, o.e.dirSvc); err != nil {
		t.Fatalf("DeactivateUser: %v", err)
	}
	o.sync()
	r := o.check(u, "dashboard.view", o.org)
	if r.GetAllowed() || !strings.Contains(r.GetReason(), "not active") {
		t.Errorf("deactivated user: allowed=%v (%s), want denied as not active", r.GetAllowed(), r.GetReason())
	}
	if _, err := o.e.d.ActivateUser(o.ctx, &directoryv1.ActivateUserRequest{Name: u}, o.e.dirSvc); err != nil {
		t.Fatalf("ActivateUser: %v", err)
	}
	o.sync()
	if r := o.check(u, "dashboard.view", o.org); !r.GetAllowed() {
		t.Errorf("reactivated user denied: %s", r.GetReason())
	}
	if _, err := o.e.d.DeleteUser(o.ctx, &directoryv1.DeleteUserRequest{Name: u}, o.e.dirSvc); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	o.sync()
	if r := o.check(u, "dashboard.view", o.org); r.GetAllowed() {
		t.Errorf("deleted user allowed: %s", r.GetReason())
	}
}
