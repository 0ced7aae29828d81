package domain

// Regression tests of the access review's findings, at the domain level:
// commit-hook ordering, orphan assignments, role deletion and edition
// within the delegation limits (R17), robot usage scopes following the
// directory's deletions (R20) and memberships across organizations.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
)

// rvService is the test's service actor: no delegation limits.
var rvService = Actor{Name: "services/test"}

// rvGateStore is a store whose Update, once armed, holds the commit hooks
// of the next transaction after the commit, as bbolt runs them after
// releasing its write lock: between the commit and the hooks another
// transaction may commit and run its own hooks.
type rvGateStore struct {
	store.Store
	armed   atomic.Bool
	reached chan struct{} // receives when the held transaction committed
	release chan struct{} // closed to let its hooks run
}

func (g *rvGateStore) arm() {
	g.reached, g.release = make(chan struct{}, 1), make(chan struct{})
	g.armed.Store(true)
}

func (g *rvGateStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var hooks []func()
	err := g.Store.Update(ctx, func(tx store.Tx) error {
		hooks = nil
		return fn(&rvHookTx{Tx: tx, hooks: &hooks})
	})
	if err != nil {
		return err
	}
	if g.armed.CompareAndSwap(true, false) {
		g.reached <- struct{}{}
		<-g.release
	}
	for _, h := range hooks {
		h()
	}
	return nil
}

// rvHookTx collects the transaction's commit hooks for rvGateStore.
type rvHookTx struct {
	store.Tx
	hooks *[]func()
}

func (t *rvHookTx) OnCommit(fn func()) { *t.hooks = append(*t.hooks, fn) }

// rvOpen opens a service over a gate store, with the organization of
// dtSetup applied through the feed's store.
func rvOpen(t *testing.T) (*rvGateStore, *Service) {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "access.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	g := &rvGateStore{Store: st}
	log, err := eventlog.New(g, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), g, log, authorizer.New(authorizer.Sizes{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dtSetup(t, s.FeedStore(), s)
	return g, s
}

// rvModelHas reports whether the model holds the assignment id of principal.
func rvModelHas(t *testing.T, s *Service, principal, id string) bool {
	t.Helper()
	grants, err := s.model.ExplicitRoles(principal)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(grants, func(g authorizer.Grant) bool { return g.Assignment == id })
}

// Review finding "commit-hook ordering" (R13, R16): T1 creates an
// assignment and is held between its commit and its hooks; T2 — the
// service deleting it, or the directory feed deleting its scope — commits
// after it. The writer lock keeps T2 waiting until T1's hooks ran, so the
// model ends without the assignment, as the store does.
func TestReviewCommitHookOrdering(t *testing.T) {
	const role = BuiltInRolePrefix + "folder-administrator"
	folderDeleted := dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED), dtFolder, &directoryv1.Folder{Name: dtFolder})
	for _, tc := range []struct {
		name   string
		delete func(s *Service, assignment string) error
	}{
		{"DeleteRoleAssignment", func(s *Service, assignment string) error {
			return s.DeleteRoleAssignment(context.Background(), rvService, &accessv1.DeleteRoleAssignmentRequest{Name: assignment})
		}},
		{"directory feed deletes the scope", func(s *Service, _ string) error {
			return s.FeedStore().Update(context.Background(), func(tx store.Tx) error { return s.ApplyDirectoryEvent(tx, folderDeleted) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, s := rvOpen(t)
			g.arm()
			var wg sync.WaitGroup
			wg.Add(2)
			var createErr, deleteErr error
			go func() {
				defer wg.Done()
				_, createErr = s.CreateRoleAssignment(context.Background(), rvService, &accessv1.CreateRoleAssignmentRequest{
					Parent: dtOrg, Principal: dtJohn, Scope: dtFolder, Roles: []string{role},
				})
			}()
			<-g.reached // T1 committed; its hooks are held
			var name string
			err := g.View(context.Background(), func(tx store.ReadTx) error {
				var err error
				name, err = findAssignment(tx, dtJohn, role, dtFolder)
				return err
			})
			if err != nil || name == "" {
				t.Fatalf("committed assignment not found: %q, %v", name, err)
			}
			deleted := make(chan struct{})
			go func() {
				defer wg.Done()
				defer close(deleted)
				deleteErr = tc.delete(s, name)
			}()
			select {
			case <-deleted: // without the writer lock T2 completes now
			case <-time.After(300 * time.Millisecond):
			}
			close(g.release)
			wg.Wait()
			if createErr != nil || deleteErr != nil {
				t.Fatalf("create: %v, delete: %v", createErr, deleteErr)
			}
			var stored string
			_ = g.View(context.Background(), func(tx store.ReadTx) error {
				stored, err = findAssignment(tx, dtJohn, role, dtFolder)
				return err
			})
			if stored != "" {
				t.Fatalf("assignment %s still stored", stored)
			}
			if rvModelHas(t, s, dtJohn, name) {
				t.Errorf("the model kept the deleted assignment %s (hooks applied out of commit order)", name)
			}
			if d := s.model.Check(dtJohn, "orchestrator.jobs.delete", dtFolder); d.Allowed {
				t.Errorf("John still allowed at the folder: %s", d.Reason())
			}
			head, _ := s.log.Head(context.Background())
			if got := s.applied.get(); got != head {
				t.Errorf("applied sequence %d, log head %d", got, head)
			}
		})
	}
}

// Review finding "orphan assignments" (R13): the Mirror, read before the
// transaction, may not have caught up with a deletion the feed committed;
// CreateRoleAssignment checks the stored directory facts in its
// transaction and refuses with NotFound instead of storing an assignment
// nothing would ever remove.
func TestReviewCreateAssignmentRechecksDirectory(t *testing.T) {
	_, s := rvOpen(t)
	dtApply(t, s.FeedStore(), s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DELETED), dtJohn, &directoryv1.User{Name: dtJohn}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED), dtFolder, &directoryv1.Folder{Name: dtFolder}),
	)
	// The model and the Mirror lagging behind those commits (their hooks not
	// run yet).
	applyFact(s.model, directoryFact{op: factPutPrincipal, principal: MirrorPrincipal{Name: dtJohn, Kind: accessv1.PrincipalKind_PRINCIPAL_KIND_USER, Organization: dtOrg, Active: true}})
	applyFact(s.model, directoryFact{op: factPutScope, scope: MirrorScope{Name: dtFolder, ServiceType: "orchestrator"}})
	for _, tc := range []struct{ principal, scope, role string }{
		{dtJohn, dtOrg, "roles/user"},                     // deleted principal
		{dtOwner, dtFolder, "roles/folder-administrator"}, // deleted scope
	} {
		_, err := s.CreateRoleAssignment(context.Background(), rvService, &accessv1.CreateRoleAssignmentRequest{
			Parent: dtOrg, Principal: tc.principal, Scope: tc.scope, Roles: []string{tc.role},
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("assign %s to %s at %s: %v, want ErrNotFound", tc.role, tc.principal, tc.scope, err)
		}
		var stored string
		_ = s.view(context.Background(), func(tx store.ReadTx) error {
			var err error
			stored, err = findAssignment(tx, tc.principal, tc.role, tc.scope)
			return err
		})
		if stored != "" {
			t.Errorf("orphan assignment %s stored", stored)
		}
	}
}

// Review finding "DeleteRole / UpdateRole bypass delegation" (R17):
// deleting a custom role removes its assignments and changing its
// permissions changes what they grant, so a user must be allowed to manage
// access at every scope the role is assigned at. John (Everyone only) may
// not; renaming stays open; the owner may.
func TestReviewRoleEditsWithinDelegation(t *testing.T) {
	_, s := rvOpen(t)
	ctx := context.Background()
	john := Actor{Name: dtJohn, Organization: dtOrg}
	owner := Actor{Name: dtOwner, Organization: dtOrg}
	r, err := s.CreateRole(ctx, rvService, &accessv1.CreateRoleRequest{Parent: dtOrg, RoleId: "viewer", Role: &accessv1.Role{
		DisplayName: "Viewer", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator",
		Permissions: []string{"orchestrator.jobs.view", "orchestrator.queues.view"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoleAssignment(ctx, rvService, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtIdle, Scope: dtFolder, Roles: []string{r.GetName()},
	}); err != nil {
		t.Fatal(err)
	}
	update := func(a Actor, display string, perms ...string) error {
		_, err := s.UpdateRole(ctx, a, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: r.GetName(), DisplayName: display, Permissions: perms}})
		return err
	}
	wantDenied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrDelegationDenied) || MetadataOf(err)["scope"] != dtFolder {
			t.Errorf("%s: %v (metadata %v), want ErrDelegationDenied naming %s", what, err, MetadataOf(err), dtFolder)
		}
	}
	wantDenied("John removes a permission", update(john, "Viewer", "orchestrator.jobs.view"))
	wantDenied("John deletes the role", s.DeleteRole(ctx, john, &accessv1.DeleteRoleRequest{Name: r.GetName()}))
	if err := update(john, "Job and queue viewer", "orchestrator.jobs.view", "orchestrator.queues.view"); err != nil {
		t.Errorf("John renames the role (permissions unchanged): %v", err)
	}
	if err := update(owner, "Job viewer", "orchestrator.jobs.view"); err != nil {
		t.Errorf("owner removes a permission: %v", err)
	}
	if err := s.DeleteRole(ctx, owner, &accessv1.DeleteRoleRequest{Name: r.GetName()}); err != nil {
		t.Errorf("owner deletes the role: %v", err)
	}
}

// rvUsageEvents returns the access events of type typ about resource after
// seq.
func rvUsageEvents(t *testing.T, s *Service, after uint64, typ, resource string) []*eventlogv1.Event {
	t.Helper()
	evs, err := s.log.Read(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []*eventlogv1.Event
	for _, ev := range evs {
		if ev.GetType() == typ && ev.GetResource() == resource {
			out = append(out, ev)
		}
	}
	return out
}

// R20: robot usage scopes follow the directory. A deleted robot leaves
// every scope listing it (one TypeRobotUsageScopeSet event per changed
// scope); a deleted account's scope is deleted (TypeRobotUsageScopeDeleted);
// an account that is not active may use no robot.
func TestReviewRobotUsageScopesFollowDirectory(t *testing.T) {
	_, s := rvOpen(t)
	ctx := context.Background()
	const robot2 = dtOrg + "/robots/r2"
	dtApply(t, s.FeedStore(), s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED), robot2, &directoryv1.Robot{Name: robot2, DisplayName: "Robot 2"}))
	set := func(account string, mode accessv1.RobotUsageScope_Mode, robots ...string) {
		t.Helper()
		_, err := s.SetRobotUsageScope(ctx, rvService, &accessv1.SetRobotUsageScopeRequest{RobotUsageScope: &accessv1.RobotUsageScope{
			Name: account + robotUsageSuffix, Mode: mode, Robots: robots,
		}})
		if err != nil {
			t.Fatalf("SetRobotUsageScope %s: %v", account, err)
		}
	}
	get := func(account string) (*accessv1.RobotUsageScope, bool) {
		t.Helper()
		var (
			u      *accessv1.RobotUsageScope
			stored bool
		)
		err := s.view(ctx, func(tx store.ReadTx) error {
			var err error
			u, stored, err = readRobotUsageScope(tx, account+robotUsageSuffix)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return u, stored
	}
	set(dtJohn, accessv1.RobotUsageScope_MODE_SPECIFIED, dtRobot, robot2)
	set(dtAccount, accessv1.RobotUsageScope_MODE_SPECIFIED, robot2)
	set(dtOwner, accessv1.RobotUsageScope_MODE_SPECIFIED, dtRobot)
	before, _ := get(dtJohn)
	head, _ := s.log.Head(ctx)

	// The robot is deleted: John's and the owner's scopes lose it, the robot
	// account's does not change.
	dtApply(t, s.FeedStore(), s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_DELETED), dtRobot, &directoryv1.Robot{Name: dtRobot}))
	if u, _ := get(dtJohn); !slices.Equal(u.GetRobots(), []string{robot2}) || u.GetEtag() == before.GetEtag() {
		t.Errorf("John's scope after the robot's deletion: %v etag %s (before %s)", u.GetRobots(), u.GetEtag(), before.GetEtag())
	}
	if u, _ := get(dtOwner); len(u.GetRobots()) != 0 || u.GetMode() != accessv1.RobotUsageScope_MODE_SPECIFIED {
		t.Errorf("owner's scope after the robot's deletion: %v %v", u.GetMode(), u.GetRobots())
	}
	for _, account := range []string{dtJohn, dtOwner} {
		if evs := rvUsageEvents(t, s, head, TypeRobotUsageScopeSet, account+robotUsageSuffix); len(evs) != 1 {
			t.Errorf("%d set events for %s, want 1", len(evs), account)
		}
	}
	if evs := rvUsageEvents(t, s, head, TypeRobotUsageScopeSet, dtAccount+robotUsageSuffix); len(evs) != 0 {
		t.Errorf("unchanged robot account scope got %d events", len(evs))
	}

	// The accounts are deleted: their stored scopes go, one event each.
	head, _ = s.log.Head(ctx)
	dtApply(t, s.FeedStore(), s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DELETED), dtJohn, &directoryv1.User{Name: dtJohn}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED), dtAccount, &directoryv1.RobotAccount{Name: dtAccount}),
	)
	for _, account := range []string{dtJohn, dtAccount} {
		if _, stored := get(account); stored {
			t.Errorf("robot usage scope of deleted %s still stored", account)
		}
		if evs := rvUsageEvents(t, s, head, TypeRobotUsageScopeDeleted, account+robotUsageSuffix); len(evs) != 1 {
			t.Errorf("%d deleted events for %s, want 1", len(evs), account)
		}
	}

	// A deactivated user may use no robot, and none is listed as usable.
	ru, err := s.CheckRobotUse(ctx, rvService, &accessv1.CheckRobotUseRequest{Account: dtIdle, Robot: robot2, LoggedInRobot: robot2})
	if err != nil || ru.GetAllowed() {
		t.Errorf("CheckRobotUse by a deactivated user: %v, %v", ru, err)
	}
	lr, err := s.ListUsableRobots(ctx, rvService, &accessv1.ListUsableRobotsRequest{Account: dtIdle})
	if err != nil || len(lr.GetRobots()) != 0 {
		t.Errorf("ListUsableRobots of a deactivated user: %v, %v", lr.GetRobots(), err)
	}
	if ru, err := s.CheckRobotUse(ctx, rvService, &accessv1.CheckRobotUseRequest{Account: dtOwner, Robot: robot2, LoggedInRobot: robot2}); err != nil || !ru.GetAllowed() {
		t.Errorf("CheckRobotUse by the active owner on its logged-in robot: %v, %v", ru, err)
	}
}

// Directory review: a membership across organizations never grants
// anything. ApplyDirectoryEvent does not follow it, and should one reach
// the model anyway, Check denies across organizations.
func TestReviewCrossOrganizationMembership(t *testing.T) {
	_, s := rvOpen(t)
	ctx := context.Background()
	const (
		evil = "organizations/evil"
		eve  = evil + "/users/eve"
	)
	dtApply(t, s.FeedStore(), s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED), evil, &directoryv1.Organization{Name: evil, DisplayName: "Evil"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), eve, &directoryv1.User{Name: eve, Nickname: "eve", State: directoryv1.User_STATE_ACTIVE}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), dtAdmins, &directoryv1.GroupMembership{Group: dtAdmins, Member: eve}),
	)
	check := func(when string) {
		t.Helper()
		resp, err := s.Check(ctx, rvService, &accessv1.CheckPermissionRequest{Principal: eve, Permission: "users.edit", Scope: dtOrg})
		if err != nil || resp.GetAllowed() {
			t.Errorf("%s: Check eve users.edit in acme = %v, %v; want denied", when, resp, err)
		}
		batch, err := s.BatchCheck(ctx, rvService, &accessv1.BatchCheckPermissionRequest{Items: []*accessv1.CheckPermissionRequest{
			{Principal: eve, Permission: "users.edit", Scope: dtOrg},
			{Principal: dtOwner, Permission: "users.edit", Scope: dtOrg},
		}})
		if err != nil || batch.GetResults()[0].GetAllowed() || !batch.GetResults()[1].GetAllowed() {
			t.Errorf("%s: BatchCheck = %v, %v; want eve denied, the owner allowed", when, batch.GetResults(), err)
		}
		ex, err := s.ExplainPermissions(ctx, rvService, &accessv1.ExplainPermissionsRequest{Principal: eve, Scope: dtOrg})
		if err != nil || len(ex.GetSources()) != 0 || len(ex.GetPermissions()) != 0 {
			t.Errorf("%s: Explain eve in acme = %v, %v; want nothing", when, ex, err)
		}
	}
	if got := dtMembers(t, s, dtAdmins); slices.Contains(got, eve) {
		t.Errorf("Administrators of acme in the mirror: %q", got)
	}
	var keys []string
	_ = s.view(ctx, func(tx store.ReadTx) error {
		var err error
		keys, err = keysUnder(tx, dirMemberPrefix+dtAdmins+"|")
		return err
	})
	if slices.Contains(keys, dirMemberPrefix+dtAdmins+"|"+eve) {
		t.Errorf("the cross-organization membership was stored")
	}
	check("membership ignored")

	// Should it reach the model anyway, Check still denies.
	if err := s.model.UpsertMembership(authorizer.Membership{Group: dtAdmins, Member: eve}); err != nil {
		t.Fatal(err)
	}
	check("membership in the model")
}
