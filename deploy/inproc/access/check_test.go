package access_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

const ckPassword = "correct horse battery"

// ckCreateUser creates a user with a password as the owner.
func ckCreateUser(o *fdOrg, id, display string) (name, email string) {
	o.e.t.Helper()
	email = id + "@" + strings.TrimPrefix(o.org, "organizations/") + ".example"
	u, err := o.e.d.CreateUser(o.ctx, &directoryv1.CreateUserRequest{Parent: o.org, UserId: id, InitialPassword: ckPassword,
		User: &directoryv1.User{Nickname: id, DisplayName: display, Email: email}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateUser: %v", err)
	}
	return u.GetName(), email
}

// ckGrant assigns roles as the owner (through the trusted service), after
// the feed brought the principal and the scope.
func ckGrant(o *fdOrg, principal, scope string, roles ...string) *accessv1.CreateRoleAssignmentResponse {
	o.e.t.Helper()
	resp, err := o.e.a.CreateRoleAssignment(o.ctx, &accessv1.CreateRoleAssignmentRequest{Parent: o.org, Principal: principal, Scope: scope, Roles: roles}, o.e.accSvc)
	if err != nil {
		o.e.t.Fatalf("CreateRoleAssignment %v to %s at %s: %v", roles, principal, scope, err)
	}
	return resp
}

// ckCode fails unless err has code (and, if set, the ErrorInfo reason).
func ckCode(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %v", err, code)
	}
	if reason == "" {
		return
	}
	_, got, _ := gaStatus(err)
	if got != reason {
		t.Fatalf("reason %q (%v), want %q", got, err, reason)
	}
}

// R16: who may ask. Services ask about anyone; a user about itself; about
// others only with users.view at the principal's organization; principals
// of another organization are NotFound.
func TestCheckWhoMayAsk(t *testing.T) {
	o := fdSignUp(t)
	u, email := ckCreateUser(o, "una", "Una")
	o.sync()
	una := bearer(o.e.signIn(o.org, email, ckPassword))
	ask := func(ctx context.Context, principal string) error {
		_, err := o.e.a.CheckPermission(ctx, &accessv1.CheckPermissionRequest{Principal: principal, Permission: "dashboard.view", Scope: o.org})
		return err
	}
	if err := ask(una, u); err != nil {
		t.Errorf("user about itself: %v", err)
	}
	// Everyone's User role holds users.view.
	if err := ask(una, o.owner); err != nil {
		t.Errorf("user with users.view about the owner: %v", err)
	}

	// Without users.view only itself. Every user holds it through
	// Everyone's immutable User assignment; a robot account does not.
	_, account := o.createRobot("asker")
	o.sync()
	robot := bearer(dfRobotKey(o, account))
	ckCode(t, ask(robot, o.owner), codes.PermissionDenied, "PERMISSION_DENIED")
	if err := ask(robot, account); err != nil {
		t.Errorf("robot account about itself without users.view: %v", err)
	}
	_, err := o.e.a.BatchCheckPermission(robot, &accessv1.BatchCheckPermissionRequest{Items: []*accessv1.CheckPermissionRequest{
		{Principal: account, Permission: "dashboard.view", Scope: o.org},
		{Principal: o.owner, Permission: "dashboard.view", Scope: o.org},
	}})
	ckCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")

	// Another organization: NotFound, whatever the caller holds there.
	other := o.e.signUp()
	o.sync()
	otherOwner := bearer(o.e.signIn(other.GetOrganization().GetName(), other.GetOwner().GetEmail(), ckPassword))
	ckCode(t, ask(otherOwner, o.owner), codes.NotFound, "")
	_, err = o.e.a.CheckPermission(otherOwner, &accessv1.CheckPermissionRequest{Principal: other.GetOwner().GetName(), Permission: "dashboard.view", Scope: o.org})
	ckCode(t, err, codes.NotFound, "")
	_, err = o.e.a.ExplainPermissions(otherOwner, &accessv1.ExplainPermissionsRequest{Principal: o.owner, Scope: other.GetOrganization().GetName()})
	ckCode(t, err, codes.NotFound, "")
	// A service asks about anyone.
	if err := ask(context.Background(), o.owner); status.Code(err) != codes.Unauthenticated {
		t.Errorf("anonymous: %v, want Unauthenticated", err)
	}
	if _, err := o.e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{Principal: u, Permission: "dashboard.view", Scope: o.org}, o.e.accSvc); err != nil {
		t.Errorf("service: %v", err)
	}
}

// R14, R15 (seed 003, John Smith): Explain lists every effective role with
// where it comes from — explicit, or through group G at scope S, at or above
// the scope (and below it with subtree) — and the permissions with their
// sources; ListPrincipalRoles lists the explicit ones only.
func TestCheckExplainProvenance(t *testing.T) {
	o := fdSignUp(t)
	finance := o.createService(o.tenant, "finance", "orchestrator")
	var folders []string
	for _, id := range []string{"a", "b"} {
		f, err := o.e.d.CreateFolder(o.ctx, &directoryv1.CreateFolderRequest{Parent: finance, FolderId: id, Folder: &directoryv1.Folder{DisplayName: "Folder " + strings.ToUpper(id)}}, o.e.dirSvc)
		if err != nil {
			t.Fatalf("CreateFolder: %v", err)
		}
		folders = append(folders, f.GetName())
	}
	john := o.createUser("john", "John Smith")
	if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: o.group("automation-users"), Member: john}, o.e.dirSvc); err != nil {
		t.Fatalf("AddGroupMember: %v", err)
	}
	o.sync()
	// Seed 003: the Automation Users group holds Automation User on folders
	// A and B (its default folder role is at the Shared folder only).
	for _, f := range folders {
		ckGrant(o, o.group("automation-users"), f, "roles/automation-user")
	}
	ckGrant(o, john, finance, "roles/allow-to-be-folder-administrator")
	ckGrant(o, john, folders[0], "roles/folder-administrator")

	explain := func(scope string, subtree bool) *accessv1.Explanation {
		t.Helper()
		ex, err := o.e.a.ExplainPermissions(o.ctx, &accessv1.ExplainPermissionsRequest{Principal: john, Scope: scope, Subtree: subtree}, o.e.accSvc)
		if err != nil {
			t.Fatalf("ExplainPermissions: %v", err)
		}
		return ex
	}
	render := func(ex *accessv1.Explanation) []string {
		var out []string
		for _, s := range ex.GetSources() {
			from := "explicit"
			if s.GetGroup() != "" {
				from = "group " + s.GetGroupDisplayName()
			}
			out = append(out, fmt.Sprintf("%s (%s) %s %s", s.GetRoleDisplayName(), from, s.GetPosition(), strings.TrimPrefix(s.GetScope(), o.org)))
		}
		return out
	}
	svc := strings.TrimPrefix(finance, o.org)
	for _, tc := range []struct {
		name    string
		scope   string
		subtree bool
		want    []string
	}{
		{"folder A", folders[0], false, []string{
			"User (group Everyone) above ",
			"Allow to be Folder Administrator (explicit) above " + svc,
			"Allow to be Automation User (group Automation Users) above " + svc,
			"Folder Administrator (explicit) at " + svc + "/folders/a",
			"Automation User (group Automation Users) at " + svc + "/folders/a",
		}},
		{"folder B", folders[1], false, []string{
			"User (group Everyone) above ",
			"Allow to be Folder Administrator (explicit) above " + svc,
			"Allow to be Automation User (group Automation Users) above " + svc,
			"Automation User (group Automation Users) at " + svc + "/folders/b",
		}},
		{"service with subtree", finance, true, []string{
			"User (group Everyone) above ",
			"Allow to be Folder Administrator (explicit) at " + svc,
			"Allow to be Automation User (group Automation Users) at " + svc,
			"Folder Administrator (explicit) below " + svc + "/folders/a",
			"Automation User (group Automation Users) below " + svc + "/folders/a",
			"Automation User (group Automation Users) below " + svc + "/folders/b",
			"Automation User (group Automation Users) below " + svc + "/folders/shared",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := explain(tc.scope, tc.subtree)
			if got := render(ex); !slices.Equal(got, tc.want) {
				t.Errorf("sources:\n got  %q\n want %q", got, tc.want)
			}
			// Every permission's sources are roles at or above the scope.
			for _, p := range ex.GetPermissions() {
				for _, i := range p.GetSources() {
					if pos := ex.GetSources()[i].GetPosition(); pos == "below" {
						t.Errorf("%s sourced from a role below the scope", p.GetPermission())
					}
				}
			}
		})
	}
	// orchestrator.folder_users.edit at folder A comes from Folder
	// Administrator only; jobs.create from both folder roles.
	ex := explain(folders[0], false)
	sourcesOf := func(perm string) []string {
		for _, p := range ex.GetPermissions() {
			if p.GetPermission() == perm {
				var out []string
				for _, i := range p.GetSources() {
					out = append(out, ex.GetSources()[i].GetRoleDisplayName())
				}
				return out
			}
		}
		return nil
	}
	if got := sourcesOf("orchestrator.folder_users.edit"); !slices.Equal(got, []string{"Folder Administrator"}) {
		t.Errorf("folder_users.edit sources = %q", got)
	}
	if got := sourcesOf("orchestrator.jobs.create"); !slices.Equal(got, []string{"Folder Administrator", "Automation User"}) {
		t.Errorf("jobs.create sources = %q", got)
	}
	// Check with explain: the same explanation, and the reason names the
	// granting assignment and the group.
	r, err := o.e.a.CheckPermission(o.ctx, &accessv1.CheckPermissionRequest{Principal: john, Permission: "orchestrator.jobs.create", Scope: folders[1] + "/jobs/j1", Explain: true}, o.e.accSvc)
	if err != nil {
		t.Fatalf("CheckPermission: %v", err)
	}
	if !r.GetAllowed() || !strings.Contains(r.GetReason(), o.group("automation-users")) {
		t.Errorf("jobs.create at folder B: allowed=%v (%s), want allowed through Automation Users", r.GetAllowed(), r.GetReason())
	}
	if got := render(r.GetExplanation()); len(got) != 4 || r.GetExplanation().GetScope() != folders[1] {
		t.Errorf("Check explanation at %s: %q", r.GetExplanation().GetScope(), got)
	}
	// R15: explicit roles only, by scope then role.
	if got, want := o.roles(john), []string{
		"roles/allow-to-be-folder-administrator@" + finance, "roles/folder-administrator@" + folders[0],
	}; !slices.Equal(got, want) {
		t.Errorf("ListPrincipalRoles = %q, want %q", got, want)
	}
	// Unknown and inactive principals hold nothing and say why.
	ex2, err := o.e.a.ExplainPermissions(o.ctx, &accessv1.ExplainPermissionsRequest{Principal: o.org + "/users/nobody", Scope: o.org}, o.e.accSvc)
	if err != nil || ex2.GetStatus() == "" || len(ex2.GetSources()) != 0 {
		t.Errorf("unknown principal: %v, %v", ex2, err)
	}
}

// R16: a batch of 1,000 checks answers each item as CheckPermission does,
// in order; more than 1,000 is refused.
func TestCheckBatch1000(t *testing.T) {
	o := fdSignUp(t)
	svc := o.createService(o.tenant, "orch", "orchestrator")
	_, robot := o.createRobot("r1")
	u := o.createUser("plain", "Plain")
	o.sync()
	principals := []string{o.owner, robot, u, o.group("administrators"), o.org + "/users/unknown"}
	perms := []string{"dashboard.view", "users.create", "orchestrator.jobs.view", "orchestrator.settings.edit", "no.such.permission"}
	scopes := []string{o.org, svc, svc + "/folders/f1", o.tenant}
	var items []*accessv1.CheckPermissionRequest
	for i := 0; len(items) < 1000; i++ {
		items = append(items, &accessv1.CheckPermissionRequest{
			Principal: principals[i%len(principals)], Permission: perms[(i/len(principals))%len(perms)], Scope: scopes[(i/7)%len(scopes)],
		})
	}
	resp, err := o.e.a.BatchCheckPermission(o.ctx, &accessv1.BatchCheckPermissionRequest{Items: items}, o.e.accSvc)
	if err != nil {
		t.Fatalf("BatchCheckPermission: %v", err)
	}
	if len(resp.GetResults()) != len(items) {
		t.Fatalf("%d results for %d items", len(resp.GetResults()), len(items))
	}
	allowed := 0
	for i, it := range items {
		single := o.check(it.GetPrincipal(), it.GetPermission(), it.GetScope())
		got := resp.GetResults()[i]
		if got.GetAllowed() != single.GetAllowed() || got.GetReason() != single.GetReason() {
			t.Fatalf("item %d (%v): batch %v %q, single %v %q", i, it, got.GetAllowed(), got.GetReason(), single.GetAllowed(), single.GetReason())
		}
		if got.GetExplanation() != nil {
			t.Fatalf("item %d explained without explain", i)
		}
		if got.GetAllowed() {
			allowed++
		}
	}
	if allowed == 0 || allowed == len(items) {
		t.Errorf("%d of %d allowed: the batch should mix decisions", allowed, len(items))
	}
	// Explain in the batch.
	ex, err := o.e.a.BatchCheckPermission(o.ctx, &accessv1.BatchCheckPermissionRequest{Items: items[:3], Explain: true}, o.e.accSvc)
	if err != nil {
		t.Fatalf("BatchCheckPermission explain: %v", err)
	}
	for i, r := range ex.GetResults() {
		if r.GetExplanation().GetPrincipal() != items[i].GetPrincipal() {
			t.Errorf("item %d explanation for %q", i, r.GetExplanation().GetPrincipal())
		}
	}
	_, err = o.e.a.BatchCheckPermission(o.ctx, &accessv1.BatchCheckPermissionRequest{Items: append(items, items[0])}, o.e.accSvc)
	ckCode(t, err, codes.InvalidArgument, "")
}

// R16: consistency tokens. A CreateRoleAssignment's sequence as
// at_least_sequence makes the next Check see it; a token access has not
// reached fails with NOT_YET_CONSISTENT after about a second.
func TestCheckConsistencyTokens(t *testing.T) {
	o := fdSignUp(t)
	svc := o.createService(o.tenant, "orch", "orchestrator")
	u := o.createUser("tok", "Tok")
	o.sync()
	created := ckGrant(o, u, svc, "roles/allow-to-be-automation-user")
	r, err := o.e.a.CheckPermission(o.ctx, &accessv1.CheckPermissionRequest{
		Principal: u, Permission: "orchestrator.robots.view", Scope: svc, AtLeastSequence: created.GetSequence(),
	}, o.e.accSvc)
	if err != nil {
		t.Fatalf("CheckPermission: %v", err)
	}
	if !r.GetAllowed() || r.GetSequence() < created.GetSequence() || r.GetDirectorySequence() == 0 {
		t.Errorf("after the assignment: allowed=%v (%s), sequence %d (want ≥ %d), directory_sequence %d",
			r.GetAllowed(), r.GetReason(), r.GetSequence(), created.GetSequence(), r.GetDirectorySequence())
	}
	for _, tc := range []struct {
		name string
		req  *accessv1.CheckPermissionRequest
	}{
		{"access", &accessv1.CheckPermissionRequest{AtLeastSequence: r.GetSequence() + 1000}},
		{"directory", &accessv1.CheckPermissionRequest{AtLeastDirectorySequence: r.GetDirectorySequence() + 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Principal, tc.req.Permission, tc.req.Scope = u, "dashboard.view", o.org
			start := time.Now()
			_, err := o.e.a.CheckPermission(o.ctx, tc.req, o.e.accSvc)
			ckCode(t, err, codes.FailedPrecondition, "NOT_YET_CONSISTENT")
			// It waited for the token (about a second) before refusing:
			// not a latency bound, the refusal must not come at once.
			if d := time.Since(start); d < 900*time.Millisecond {
				t.Errorf("refused after %v, before waiting for the token", d)
			}
		})
	}
}
