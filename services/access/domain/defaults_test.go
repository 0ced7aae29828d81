package domain

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/catalogue"
)

// dfEvents returns access's events after seq as "type role principal@scope".
func dfEvents(t *testing.T, s *Service, after uint64) []string {
	t.Helper()
	evs, err := s.log.Read(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		a := &accessv1.RoleAssignment{}
		if err := ev.GetData().UnmarshalTo(a); err != nil {
			t.Fatalf("event %s: %v", ev.GetType(), err)
		}
		if ev.GetAudit().GetMessage() == "" || ev.GetAudit().GetActor() != "services/directory" {
			t.Errorf("event %s of %s: message %q, actor %q", ev.GetType(), a.GetName(), ev.GetAudit().GetMessage(), ev.GetAudit().GetActor())
		}
		out = append(out, ev.GetType()+" "+a.GetRole()+" "+a.GetPrincipal()+"@"+a.GetScope())
	}
	return out
}

func dfHead(t *testing.T, s *Service) uint64 {
	t.Helper()
	head, err := s.log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// dfRoles returns principal's explicit assignments as "role@scope".
func dfRoles(t *testing.T, s *Service, principal string) []string {
	t.Helper()
	resp, err := s.ListPrincipalRoles(context.Background(), Actor{Name: "services/test"}, &accessv1.ListPrincipalRolesRequest{Principal: principal})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range resp.GetRoleAssignments() {
		out = append(out, a.GetRole()+"@"+a.GetScope())
	}
	slices.Sort(out)
	return out
}

func dfSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// Issue 9 item 6 (CATALOGUE.md "Default groups"): a new Orchestrator
// service's automation groups get their "Allow to be" role at the service
// and their folder role at its Shared folder only, so they run jobs in the
// Shared folder and nowhere else; a folder re-created later under the
// Shared folder's name gets nothing.
func TestDefaultsNewServiceSharedFolder(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	dfSameSet(t, "Automation Users", dfRoles(t, s, dtAutoU), []string{
		"roles/allow-to-be-automation-user@" + dtService, "roles/automation-user@" + dtShared,
	})
	dfSameSet(t, "Automation Developers", dfRoles(t, s, dtAutoD), []string{
		"roles/allow-to-be-automation-developer@" + dtService, "roles/automation-developer@" + dtShared,
	})
	dfSameSet(t, "Administrators", dfRoles(t, s, dtAdmins), []string{
		"roles/organization-administrator@" + dtOrg, "roles/orchestrator-administrator@" + dtService,
	})
	for _, tc := range []struct {
		permission, scope string
		want              bool
	}{
		{"orchestrator.jobs.create", dtShared, true},
		{"orchestrator.jobs.create", dtShared + "/folders/sub", true},
		{"orchestrator.jobs.create", dtFolder, false},
		{"orchestrator.jobs.create", dtService, false},
		{"orchestrator.settings.view", dtService, true},
	} {
		if d := s.model.Check(dtJohn, tc.permission, tc.scope); d.Allowed != tc.want {
			t.Errorf("John %s at %s: %v (%s), want %v", tc.permission, tc.scope, d.Allowed, d.Reason(), tc.want)
		}
	}

	// Deleting the Shared folder removes its assignments; a folder made
	// again under its name is a plain folder.
	dtApply(t, st, s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED), dtShared, &directoryv1.Folder{Name: dtShared}))
	head := dfHead(t, s)
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), dtShared, &directoryv1.Folder{Name: dtShared, DisplayName: "Shared"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED), dtShared, &directoryv1.Folder{Name: dtShared, DisplayName: "Shared again"}),
	)
	if got := dfEvents(t, s, head); len(got) != 0 {
		t.Errorf("a re-created Shared folder got assignments: %q", got)
	}
	dfSameSet(t, "Automation Users after", dfRoles(t, s, dtAutoU), []string{"roles/allow-to-be-automation-user@" + dtService})
}

// dfOldService applies the creation of the Orchestrator service svc as
// access did before services came with a Shared folder: the default
// groups' folder roles at the whole service, and no Shared-folder state.
func dfOldService(t *testing.T, st store.Store, s *Service, svc, display string) {
	t.Helper()
	dtApply(t, st, s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED), svc, &directoryv1.Service{Name: svc, DisplayName: display, Type: "orchestrator", Creator: dtOwner}))
	err := st.Update(context.Background(), func(tx store.Tx) error {
		tx2 := s.begin(tx, directoryActor)
		if err := tx2.Delete([]byte(dirSharedPrefix + svc)); err != nil {
			return err
		}
		for group, role := range map[string]string{dtAutoU: catalogue.RoleAutomationUser, dtAutoD: catalogue.RoleAutomationDeveloper} {
			if err := tx2.seed(group, role, svc, "Role was assigned at new service (old shape)."); err != nil {
				return err
			}
		}
		tx2.noteCommit()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 9 item 6, upgrade: a service made before services came with a
// Shared folder has its default groups' folder roles at the whole service.
// When its Shared folder appears (the directory's migration), each moves
// there, removed and made with one event each, exactly once; a folder role
// an administrator removed stays removed, other assignments stay, and a
// restart changes nothing.
func TestDefaultsUpgradeMovesFolderRoles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	st, s := dtOpen(t, path)
	dtSetup(t, st, s)
	const (
		old      = dtTenant + "/services/legacy"
		oldA     = old + "/folders/a"
		oldShare = old + "/folders/shared"
		trimmed  = dtTenant + "/services/trimmed"
	)
	dfOldService(t, st, s, old, "Legacy")
	dfOldService(t, st, s, trimmed, "Trimmed")
	dtApply(t, st, s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), oldA, &directoryv1.Folder{Name: oldA, DisplayName: "A"}))
	if d := s.model.Check(dtJohn, "orchestrator.jobs.create", oldA); !d.Allowed {
		t.Fatalf("old shape: John denied in every folder: %s", d.Reason())
	}
	// An administrator took Automation Developer away from Trimmed.
	err := st.Update(context.Background(), func(tx store.Tx) error {
		tx2 := s.begin(tx, directoryActor)
		name, err := findAssignment(tx2, dtAutoD, BuiltInRolePrefix+catalogue.RoleAutomationDeveloper, trimmed)
		if err != nil {
			return err
		}
		a, err := getAssignment(tx2, name)
		if err != nil {
			return err
		}
		return tx2.removeAssignment(a, "removed by an administrator")
	})
	if err != nil {
		t.Fatal(err)
	}

	head := dfHead(t, s)
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), oldShare, &directoryv1.Folder{Name: oldShare, DisplayName: "Shared"}),
		// A folder that was there already and was named the Shared folder.
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED), trimmed+"/folders/shared", &directoryv1.Folder{Name: trimmed + "/folders/shared", DisplayName: "shared"}),
	)
	want := []string{
		TypeRoleAssignmentDeleted + " roles/automation-developer " + dtAutoD + "@" + old,
		TypeRoleAssignmentCreated + " roles/automation-developer " + dtAutoD + "@" + oldShare,
		TypeRoleAssignmentDeleted + " roles/automation-user " + dtAutoU + "@" + old,
		TypeRoleAssignmentCreated + " roles/automation-user " + dtAutoU + "@" + oldShare,
		TypeRoleAssignmentDeleted + " roles/automation-user " + dtAutoU + "@" + trimmed,
		TypeRoleAssignmentCreated + " roles/automation-user " + dtAutoU + "@" + trimmed + "/folders/shared",
	}
	if got := dfEvents(t, s, head); !slices.Equal(got, want) {
		t.Errorf("migration events:\n got  %q\n want %q", got, want)
	}
	check := func(s *Service, when string) {
		t.Helper()
		dfSameSet(t, when+": Automation Developers", dfRoles(t, s, dtAutoD), []string{
			"roles/allow-to-be-automation-developer@" + dtService, "roles/automation-developer@" + dtShared,
			"roles/allow-to-be-automation-developer@" + old, "roles/automation-developer@" + oldShare,
			"roles/allow-to-be-automation-developer@" + trimmed,
		})
		if d := s.model.Check(dtJohn, "orchestrator.jobs.create", oldA); d.Allowed {
			t.Errorf("%s: John still runs jobs in every folder: %s", when, d.Reason())
		}
		if d := s.model.Check(dtJohn, "orchestrator.jobs.create", oldShare); !d.Allowed {
			t.Errorf("%s: John denied in the Shared folder: %s", when, d.Reason())
		}
	}
	check(s, "after the move")

	// Exactly once: the folder's later events, and an administrator giving
	// the group the folder role at the service again, move nothing.
	head = dfHead(t, s)
	if _, err := s.CreateRoleAssignment(context.Background(), Actor{Name: "services/test"}, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtAutoU, Scope: old, Roles: []string{"roles/automation-user"},
	}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED), oldShare, &directoryv1.Folder{Name: oldShare, DisplayName: "Shared!"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), oldShare, &directoryv1.Folder{Name: oldShare, DisplayName: "Shared"}),
	)
	evs, err := s.log.Read(context.Background(), head, 1000)
	if err != nil || len(evs) != 1 {
		t.Errorf("events after the move: %d (%v), want the administrator's one", len(evs), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, s2 := dtOpen(t, path)
	defer st2.Close()
	head = dfHead(t, s2)
	dtApply(t, st2, s2, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_UPDATED), oldShare, &directoryv1.Folder{Name: oldShare, DisplayName: "Shared"}))
	if got := dfEvents(t, s2, head); len(got) != 0 {
		t.Errorf("after a restart: %q", got)
	}
}

// Issue 9 items 6 and 8: DeleteRoleAssignment authorizes first, at the
// assignment's scope, then refuses: the default groups' two organization
// assignments and the owner's Owner whoever asks, a platform role named at
// a service of its tenant with the tenant's scope, an assignment named at
// an unrelated scope with its own.
func TestDefaultsDeleteRoleAssignment(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	ctx := context.Background()
	owner := Actor{Name: dtOwner, DisplayName: "Olivia Owner", Organization: dtOrg}
	john := Actor{Name: dtJohn, DisplayName: "John Smith", Organization: dtOrg}
	service := Actor{Name: "services/licensing"}
	find := func(principal, role, scope string) string {
		t.Helper()
		var name string
		_ = st.View(ctx, func(tx store.ReadTx) error {
			var err error
			name, err = findAssignment(tx, principal, role, scope)
			return err
		})
		if name == "" {
			t.Fatalf("no assignment of %s to %s at %s", role, principal, scope)
		}
		return name
	}
	resp, err := s.CreateRoleAssignment(ctx, owner, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtIdle, Scope: dtTenant, Roles: []string{"roles/tenant-administrator"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tenantAdmin := resp.GetRoleAssignments()[0].GetName()
	adminsOrg := find(dtAdmins, "roles/organization-administrator", dtOrg)
	everyone := find(dtEvery, "roles/user", dtOrg)
	ownerRole := find(dtOwner, "roles/owner", dtOrg)
	robot := find(dtAccount, "roles/robot", dtService)
	adminsSvc := find(dtAdmins, "roles/orchestrator-administrator", dtService)

	for _, tc := range []struct {
		name     string
		actor    Actor
		req      *accessv1.DeleteRoleAssignmentRequest
		want     error
		field    string
		metadata map[string]string
	}{
		{"Administrators' Organization Administrator, by the owner", owner, &accessv1.DeleteRoleAssignmentRequest{Name: adminsOrg}, ErrBuiltInAssignmentImmutable, "", map[string]string{"scope": dtOrg, "role": "roles/organization-administrator", "principal": dtAdmins}},
		{"Administrators' Organization Administrator, by a service", service, &accessv1.DeleteRoleAssignmentRequest{Name: adminsOrg}, ErrBuiltInAssignmentImmutable, "", nil},
		{"Administrators' Organization Administrator, without the right", john, &accessv1.DeleteRoleAssignmentRequest{Name: adminsOrg}, ErrDelegationDenied, "", nil},
		{"Everyone's User, by the owner", owner, &accessv1.DeleteRoleAssignmentRequest{Name: everyone}, ErrBuiltInAssignmentImmutable, "", nil},
		{"Everyone's User, by a service", service, &accessv1.DeleteRoleAssignmentRequest{Name: everyone}, ErrBuiltInAssignmentImmutable, "", nil},
		{"Everyone's User, without the right", john, &accessv1.DeleteRoleAssignmentRequest{Name: everyone}, ErrDelegationDenied, "", nil},
		{"the owner's Owner, without the right", john, &accessv1.DeleteRoleAssignmentRequest{Name: ownerRole}, ErrDelegationDenied, "", nil},
		{"the owner's Owner", owner, &accessv1.DeleteRoleAssignmentRequest{Name: ownerRole}, ErrOwnerNotAssignable, "", nil},
		{"platform role at a service, without the right", john, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: dtService}, ErrDelegationDenied, "", map[string]string{"scope": dtTenant}},
		{"platform role at a service", owner, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: dtService}, ErrPlatformRoleImmutable, "", map[string]string{"scope": dtTenant}},
		{"platform role at a folder", owner, &accessv1.DeleteRoleAssignmentRequest{Name: tenantAdmin, Scope: dtFolder}, nil, "scope", nil},
		{"service role at a folder", owner, &accessv1.DeleteRoleAssignmentRequest{Name: robot, Scope: dtFolder}, nil, "scope", nil},
		{"service role at another tenant's service", owner, &accessv1.DeleteRoleAssignmentRequest{Name: robot, Scope: dtOrg + "/tenants/other/services/x"}, nil, "scope", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.DeleteRoleAssignment(ctx, tc.actor, tc.req)
			if tc.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("got %v, want a field error on %s", err, tc.field)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for k, v := range tc.metadata {
				if got := MetadataOf(err)[k]; got != v {
					t.Errorf("metadata %s = %q, want %q (error %v)", k, got, v, err)
				}
			}
		})
	}
	// The refusals changed nothing; changeable assignments go.
	for _, name := range []string{adminsOrg, everyone, ownerRole, tenantAdmin, robot} {
		_ = st.View(ctx, func(tx store.ReadTx) error {
			if _, err := getAssignment(tx, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			return nil
		})
	}
	for _, name := range []string{adminsSvc, tenantAdmin} {
		if err := s.DeleteRoleAssignment(ctx, owner, &accessv1.DeleteRoleAssignmentRequest{Name: name}); err != nil {
			t.Errorf("delete %s: %v", name, err)
		}
	}
}

// The immutable assignments are found by principal, role and scope,
// however they were made.
func TestDefaultsIsImmutableAssignment(t *testing.T) {
	for _, tc := range []struct {
		principal, role, scope string
		want                   bool
	}{
		{dtAdmins, "roles/organization-administrator", dtOrg, true},
		{dtEvery, "roles/user", dtOrg, true},
		{dtAdmins, "roles/organization-administrator", dtTenant, false},
		{dtAdmins, "roles/user", dtOrg, false},
		{dtAdmins, "roles/orchestrator-administrator", dtService, false},
		{dtAutoU, "roles/automation-user", dtShared, false},
		{dtOrg + "/groups/admins", "roles/organization-administrator", dtOrg, false},
		{dtJohn, "roles/organization-administrator", dtOrg, false},
		{dtAdmins, "roles/organization-administrator", "organizations/other", false},
	} {
		a := &accessv1.RoleAssignment{Principal: tc.principal, Role: tc.role, Scope: tc.scope}
		if got := isImmutableAssignment(a); got != tc.want {
			t.Errorf("isImmutableAssignment(%s %s %s) = %v, want %v", tc.principal, tc.role, tc.scope, got, tc.want)
		}
	}
}
