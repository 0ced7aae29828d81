package domain

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
)

// dtOpen opens the access store at path with its log and a domain Service
// over a fresh model, as the server does at startup.
func dtOpen(t *testing.T, path string) (*bboltstore.Store, *Service) {
	t.Helper()
	st, err := bboltstore.Open(path, bboltstore.Options{Unordered: UnorderedKeyRanges})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), st, log, authorizer.New(authorizer.Sizes{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, s
}

// dtApply applies directory events to s, each in its own transaction as
// the consumer does.
func dtApply(t *testing.T, st store.Store, s *Service, evs ...*eventlogv1.Event) {
	t.Helper()
	for _, ev := range evs {
		err := st.Update(context.Background(), func(tx store.Tx) error { return s.ApplyDirectoryEvent(tx, ev) })
		if err != nil {
			t.Fatalf("apply %s %s: %v", ev.GetType(), ev.GetResource(), err)
		}
	}
}

func dtEvent(t *testing.T, typ, resource string, data proto.Message) *eventlogv1.Event {
	t.Helper()
	ev := &eventlogv1.Event{Type: typ, Resource: resource}
	if data != nil {
		a, err := anypb.New(data)
		if err != nil {
			t.Fatal(err)
		}
		ev.Data = a
	}
	return ev
}

// dtState is what the tests compare before and after a restart.
type dtState struct {
	decisions []bool
	roles     map[string][]string
	explain   []string
}

const (
	dtOrg     = "organizations/acme"
	dtTenant  = dtOrg + "/tenants/default"
	dtService = dtTenant + "/services/finance"
	dtFolder  = dtService + "/folders/a"
	dtShared  = dtService + "/folders/shared"
	dtOwner   = dtOrg + "/users/owner"
	dtJohn    = dtOrg + "/users/john"
	dtIdle    = dtOrg + "/users/idle"
	dtAdmins  = dtOrg + "/groups/administrators"
	dtAutoU   = dtOrg + "/groups/automation-users"
	dtAutoD   = dtOrg + "/groups/automation-developers"
	dtEvery   = dtOrg + "/groups/everyone"
	dtRobot   = dtOrg + "/robots/r1"
	dtAccount = dtOrg + "/robotAccounts/r1"
)

var dtChecks = []authorizer.CheckItem{
	{Principal: dtOwner, Permission: "users.delete", Scope: dtOrg},
	{Principal: dtOwner, Permission: "orchestrator.settings.edit", Scope: dtService},
	{Principal: dtJohn, Permission: "users.create", Scope: dtOrg},
	{Principal: dtJohn, Permission: "orchestrator.jobs.create", Scope: dtFolder},
	{Principal: dtJohn, Permission: "orchestrator.jobs.create", Scope: dtShared},
	{Principal: dtJohn, Permission: "dashboard.view", Scope: dtOrg},
	{Principal: dtIdle, Permission: "dashboard.view", Scope: dtOrg},
	{Principal: dtAccount, Permission: "orchestrator.jobs.view", Scope: dtFolder},
	{Principal: dtAccount, Permission: "orchestrator.settings.edit", Scope: dtService},
}

func dtSnapshot(t *testing.T, s *Service) dtState {
	t.Helper()
	var st dtState
	for _, d := range s.model.CheckBatch(dtChecks, nil) {
		st.decisions = append(st.decisions, d.Allowed)
	}
	st.roles = make(map[string][]string)
	for _, p := range []string{dtOwner, dtJohn, dtAdmins, dtAutoU, dtAutoD, dtEvery, dtAccount} {
		resp, err := s.ListPrincipalRoles(context.Background(), Actor{Name: "services/test"}, &accessv1.ListPrincipalRolesRequest{Principal: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.GetRoleAssignments() {
			st.roles[p] = append(st.roles[p], a.GetRole()+"@"+a.GetScope())
		}
	}
	ex, err := s.ExplainPermissions(context.Background(), Actor{Name: "services/test"}, &accessv1.ExplainPermissionsRequest{Principal: dtJohn, Scope: dtFolder})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range ex.GetSources() {
		st.explain = append(st.explain, src.GetRoleDisplayName()+"|"+src.GetGroupDisplayName()+"|"+src.GetPosition())
	}
	return st
}

// TestDirectoryRestart applies a sign-up and what follows, then opens the
// same store again (a restart): the model and the Mirror are rebuilt from
// the stored directory facts and assignments, without re-seeding (no new
// access events).
func TestDirectoryRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	st, s := dtOpen(t, path)
	dtSetup(t, st, s)
	before := dtSnapshot(t, s)
	// John, in Automation Users, runs jobs in the Shared folder only
	// (issue 9 item 6), not in folder A.
	wantDecisions := []bool{true, true, false, false, true, true, false, true, false}
	if !slices.Equal(before.decisions, wantDecisions) {
		t.Fatalf("decisions = %v, want %v", before.decisions, wantDecisions)
	}
	wantExplain := []string{
		"User|Everyone|above",
		"Allow to be Automation User|Automation Users|above",
	}
	if !slices.Equal(before.explain, wantExplain) {
		t.Errorf("explain = %q, want %q", before.explain, wantExplain)
	}
	if got := before.roles[dtAccount]; !slices.Equal(got, []string{"roles/robot@" + dtService}) {
		t.Errorf("robot account roles = %q", got)
	}
	head, err := s.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mirrorBefore := dtMirror(t, s)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, s2 := dtOpen(t, path)
	defer st2.Close()
	after := dtSnapshot(t, s2)
	if !slices.Equal(after.decisions, before.decisions) || !slices.Equal(after.explain, before.explain) {
		t.Errorf("after restart: decisions %v explain %q, before %v %q", after.decisions, after.explain, before.decisions, before.explain)
	}
	for p, roles := range before.roles {
		if !slices.Equal(after.roles[p], roles) {
			t.Errorf("roles of %s after restart = %q, before %q", p, after.roles[p], roles)
		}
	}
	if got := dtMirror(t, s2); !slices.Equal(got, mirrorBefore) {
		t.Errorf("mirror after restart:\n %q\nbefore:\n %q", got, mirrorBefore)
	}
	if head2, _ := s2.log.Head(context.Background()); head2 != head {
		t.Errorf("access log head %d after restart, %d before: a restart must not re-seed", head2, head)
	}
}

// TestDirectoryRefusalsIgnored: the directory's records of refused calls
// (directory.call.refused, R27) change nothing in access, even when they
// name a principal or a scope.
func TestDirectoryRefusalsIgnored(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	before := dtSnapshot(t, s)
	mirror := dtMirror(t, s)
	head, err := s.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refused := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_CALL_REFUSED)
	for _, resource := range []string{dtJohn, dtAdmins, dtFolder, dtOrg} {
		ev := dtEvent(t, refused, resource, nil)
		ev.Operation = eventlogv1.Operation_OPERATION_DELETE // even so
		dtApply(t, st, s, ev)
	}
	after := dtSnapshot(t, s)
	if !slices.Equal(after.decisions, before.decisions) || !slices.Equal(after.explain, before.explain) || !slices.Equal(dtMirror(t, s), mirror) {
		t.Errorf("refusals changed access: decisions %v, explain %q; before %v, %q", after.decisions, after.explain, before.decisions, before.explain)
	}
	if head2, _ := s.log.Head(context.Background()); head2 != head {
		t.Errorf("access log head %d after refusals, %d before", head2, head)
	}
}

// dtMirror renders what the Mirror knows of the test's organization, and
// the members of its groups.
func dtMirror(t *testing.T, s *Service) []string {
	m := s.Mirror()
	var out []string
	for _, p := range []string{dtOwner, dtJohn, dtIdle, dtAdmins, dtEvery, dtAccount} {
		mp, ok := m.Principal(p)
		out = append(out, dtSprint(ok, mp.Name, mp.Kind.String(), mp.DisplayName, mp.Email, mp.Organization, mp.Active, mp.Everyone))
	}
	for _, g := range []string{dtAdmins, dtAutoU, dtEvery} {
		out = append(out, dtSprint(g, dtMembers(t, s, g)))
	}
	for _, sc := range []string{dtOrg, dtTenant, dtService, dtFolder} {
		ms, ok := m.Scope(sc)
		out = append(out, dtSprint(ok, ms.Name, ms.DisplayName, ms.ServiceType))
	}
	out = append(out, dtSprint(m.Robots(dtOrg)), m.OrganizationName(dtOrg))
	return out
}

// dtMembers returns the members of group as access holds them: the stored
// facts the export reads (the model, which Check reads, holds each member's
// groups).
func dtMembers(t *testing.T, s *Service, group string) []string {
	t.Helper()
	var out []string
	if err := s.forEachMember(context.Background(), group, func(m string) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func dtSprint(v ...any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// dtSetup applies a sign-up of Acme and what follows: an Orchestrator
// service with a folder made by the owner, a robot, John Smith in
// Automation Users and a deactivated user.
func dtSetup(t *testing.T, st store.Store, s *Service) {
	t.Helper()
	user := func(id, display string, state directoryv1.User_State, owner bool) *directoryv1.User {
		return &directoryv1.User{Name: dtOrg + "/users/" + id, Nickname: id, DisplayName: display, Email: id + "@acme.example", State: state, Owner: owner}
	}
	group := func(name, display string, which directoryv1.Group_DefaultGroup) *directoryv1.Group {
		return &directoryv1.Group{Name: name, DisplayName: display, Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: which}
	}
	active := directoryv1.User_STATE_ACTIVE
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED), dtOrg, &directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), dtTenant, &directoryv1.Tenant{Name: dtTenant, DisplayName: "Default"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtAdmins, group(dtAdmins, "Administrators", directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtAutoU, group(dtAutoU, "Automation Users", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtAutoD, group(dtAutoD, "Automation Developers", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_DEVELOPERS)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtEvery, group(dtEvery, "Everyone", directoryv1.Group_DEFAULT_GROUP_EVERYONE)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), dtOwner, user("owner", "Olivia Owner", active, true)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), dtAdmins, &directoryv1.GroupMembership{Group: dtAdmins, Member: dtOwner}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED), dtRobot, &directoryv1.Robot{Name: dtRobot, DisplayName: "Robot 1", MachineName: "r1.local", RobotAccount: dtAccount}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED), dtAccount, &directoryv1.RobotAccount{Name: dtAccount, DisplayName: "Robot 1", Robot: dtRobot}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED), dtService, &directoryv1.Service{Name: dtService, DisplayName: "Finance", Type: "orchestrator", Creator: dtOwner}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), dtShared, &directoryv1.Folder{Name: dtShared, DisplayName: "Shared"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), dtFolder, &directoryv1.Folder{Name: dtFolder, DisplayName: "Folder A"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), dtJohn, user("john", "John Smith", active, false)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), dtAutoU, &directoryv1.GroupMembership{Group: dtAutoU, Member: dtJohn}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), dtIdle, user("idle", "Idle", active, false)),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED), dtIdle, user("idle", "Idle", directoryv1.User_STATE_INACTIVE, false)),
		dtEvent(t, "directory.something.new", "", nil), // ignored
	)
}

// TestDirectoryMirrorAndDeletions checks the Mirror's view, then that the
// deletion events remove assignments (one access event each), memberships
// and mirror entries, durably.
func TestDirectoryMirrorAndDeletions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	st, s := dtOpen(t, path)
	dtSetup(t, st, s)
	m := s.Mirror()
	if got := dtMembers(t, s, dtEvery); !slices.Equal(got, []string{dtIdle, dtJohn, dtOwner}) {
		t.Errorf("Everyone members = %q", got)
	}
	if got := dtMembers(t, s, dtAutoU); !slices.Equal(got, []string{dtJohn}) {
		t.Errorf("Automation Users members = %q", got)
	}
	if p, ok := m.Principal(dtJohn); !ok || p.DisplayName != "John Smith" || p.Email != "john@acme.example" || !p.Active ||
		p.Kind != accessv1.PrincipalKind_PRINCIPAL_KIND_USER || p.Organization != dtOrg {
		t.Errorf("John = %+v, %v", p, ok)
	}
	if p, _ := m.Principal(dtIdle); p.Active {
		t.Errorf("deactivated user active in the mirror")
	}
	if sc, ok := m.Scope(dtFolder); !ok || sc.ServiceType != "orchestrator" || sc.DisplayName != "Folder A" {
		t.Errorf("folder = %+v, %v", sc, ok)
	}
	if got := m.Robots(dtOrg); len(got) != 1 || got[0] != (MirrorRobot{Name: dtRobot, DisplayName: "Robot 1", MachineName: "r1.local"}) {
		t.Errorf("robots = %+v", got)
	}
	if got := m.OrganizationName(dtOrg); got != "Acme" {
		t.Errorf("organization name = %q", got)
	}

	head, _ := s.log.Head(context.Background())
	under := func() []string {
		var out []string
		_ = st.View(context.Background(), func(tx store.ReadTx) error {
			as, err := assignmentsUnder(tx, dtService)
			for _, a := range as {
				out = append(out, a.GetName())
			}
			return err
		})
		return out
	}
	before := under()
	if len(before) != 7 { // owner, Administrators, 2+2 automation groups, robot account
		t.Fatalf("assignments at the service = %d, want 7", len(before))
	}
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED), dtFolder, &directoryv1.Folder{Name: dtFolder}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_DELETED), dtService, &directoryv1.Service{Name: dtService}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED), dtAutoU, &directoryv1.GroupMembership{Group: dtAutoU, Member: dtJohn}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DELETED), dtJohn, &directoryv1.User{Name: dtJohn}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_DELETED), dtRobot, &directoryv1.Robot{Name: dtRobot}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED), dtAccount, &directoryv1.RobotAccount{Name: dtAccount}),
	)
	if got := under(); len(got) != 0 {
		t.Errorf("assignments left at the deleted service: %q", got)
	}
	evs, err := s.log.Read(context.Background(), head, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, ev := range evs {
		if ev.GetType() != TypeRoleAssignmentDeleted || ev.GetAudit().GetActor() != "services/directory" {
			t.Errorf("unexpected event %s by %s", ev.GetType(), ev.GetAudit().GetActor())
		}
		deleted = append(deleted, ev.GetResource())
	}
	slices.Sort(deleted)
	slices.Sort(before)
	if !slices.Equal(deleted, before) {
		t.Errorf("deleted events for %q, want one for each of %q", deleted, before)
	}
	check := func(s *Service, when string) {
		m := s.Mirror()
		if _, ok := m.Scope(dtService); ok {
			t.Errorf("%s: deleted service in the mirror", when)
		}
		if _, ok := m.Scope(dtFolder); ok {
			t.Errorf("%s: deleted folder in the mirror", when)
		}
		if _, ok := m.Principal(dtJohn); ok {
			t.Errorf("%s: deleted user in the mirror", when)
		}
		if got := dtMembers(t, s, dtEvery); !slices.Equal(got, []string{dtIdle, dtOwner}) {
			t.Errorf("%s: Everyone = %q", when, got)
		}
		if got := dtMembers(t, s, dtAutoU); len(got) != 0 {
			t.Errorf("%s: Automation Users = %q", when, got)
		}
		if got := m.Robots(dtOrg); len(got) != 0 {
			t.Errorf("%s: robots = %q", when, got)
		}
		if _, _, ok := s.model.LookupScope(dtService); ok {
			t.Errorf("%s: deleted service in the model", when)
		}
		if d := s.model.Check(dtJohn, "dashboard.view", dtOrg); d.Allowed {
			t.Errorf("%s: deleted user allowed", when)
		}
		if d := s.model.Check(dtOwner, "users.delete", dtOrg); !d.Allowed {
			t.Errorf("%s: owner denied: %s", when, d.Reason())
		}
	}
	check(s, "before restart")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, s2 := dtOpen(t, path)
	defer st2.Close()
	check(s2, "after restart")
}
