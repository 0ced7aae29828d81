package access_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
)

// gaFixture is an organization for the role and assignment tests: its owner
// (acting with a bearer token), two tenants with an Orchestrator service
// each, a folder in tenant A's service and three users.
type gaFixture struct {
	e     *env
	org   string
	owner string
	// ownerCtx carries the owner's bearer token.
	ownerCtx context.Context
	// tenantA is the default tenant, tenantB a second one.
	tenantA, tenantB string
	// serviceA and serviceB are Orchestrator services of tenantA, tenantB.
	serviceA, serviceB string
	// folderA is a folder of serviceA.
	folderA string
	// alice, bob and carol are users without roles of their own.
	alice, bob, carol string
}

// gaDeadline bounds every wait for the directory feed.
const gaDeadline = 15 * time.Second

// gaEventually polls cond until it holds or the deadline passes.
func gaEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(gaDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gaRetry calls fn until it does not fail with PermissionDenied or
// NotFound (the directory asks access, which learns of the directory's
// changes through its feed), and fails the test on any other error.
func gaRetry[T any](t *testing.T, what string, fn func() (T, error)) T {
	t.Helper()
	var (
		v   T
		err error
	)
	gaEventually(t, what, func() bool {
		v, err = fn()
		c := status.Code(err)
		return c != codes.PermissionDenied && c != codes.NotFound
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// gaSetup signs up an organization and builds its fixture in the
// directory.
func gaSetup(t *testing.T) *gaFixture {
	t.Helper()
	e := newEnv(t)
	su := e.signUp()
	f := &gaFixture{e: e, org: su.GetOrganization().GetName(), owner: su.GetOwner().GetName(), tenantA: su.GetDefaultTenant().GetName()}
	f.ownerCtx = bearer(e.signIn(f.org, su.GetOwner().GetEmail(), "correct horse battery"))
	tb := gaRetry(t, "CreateTenant", func() (*directoryv1.Tenant, error) {
		return e.d.CreateTenant(f.ownerCtx, &directoryv1.CreateTenantRequest{Parent: f.org, TenantId: "tb", Tenant: &directoryv1.Tenant{DisplayName: "Tenant B"}})
	})
	f.tenantB = tb.GetName()
	f.serviceA = f.createService(f.tenantA, "orch-a")
	f.serviceB = f.createService(f.tenantB, "orch-b")
	fo := gaRetry(t, "CreateFolder", func() (*directoryv1.Folder, error) {
		return e.d.CreateFolder(f.ownerCtx, &directoryv1.CreateFolderRequest{Parent: f.serviceA, FolderId: "fa", Folder: &directoryv1.Folder{DisplayName: "Folder A"}})
	})
	f.folderA = fo.GetName()
	f.alice, f.bob, f.carol = f.createUser("alice"), f.createUser("bob"), f.createUser("carol")
	return f
}

func (f *gaFixture) createService(tenant, id string) string {
	f.e.t.Helper()
	s := gaRetry(f.e.t, "CreateService", func() (*directoryv1.Service, error) {
		return f.e.d.CreateService(f.ownerCtx, &directoryv1.CreateServiceRequest{Parent: tenant, ServiceId: id, Service: &directoryv1.Service{DisplayName: id, Type: "orchestrator"}})
	})
	return s.GetName()
}

func (f *gaFixture) createUser(id string) string {
	f.e.t.Helper()
	u := gaRetry(f.e.t, "CreateUser", func() (*directoryv1.User, error) {
		return f.e.d.CreateUser(f.ownerCtx, &directoryv1.CreateUserRequest{Parent: f.org, UserId: id, User: &directoryv1.User{Nickname: id, Email: id + "@" + f.org[len("organizations/"):] + ".example"}})
	})
	return u.GetName()
}

// as returns the context and call option to act as user through a trusted
// service: the permission rules are skipped, the domain's delegation limits
// are not (the actor is still the user).
func (f *gaFixture) as(user string) (context.Context, grpc.CallOption) {
	return f.e.as(user, f.org), f.e.accSvc
}

// grant assigns roles as the owner, waiting for the directory feed to have
// brought the principal and the scope to access.
func (f *gaFixture) grant(principal, scope string, roles ...string) *accessv1.CreateRoleAssignmentResponse {
	f.e.t.Helper()
	return gaCreateEventually(f.e.t, f.e.a, f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: principal, Scope: scope, Roles: roles})
}

// gaCreateEventually retries CreateRoleAssignment while it fails with
// NotFound or PermissionDenied (the feed has not brought the principal, the
// scope or the actor's own assignments yet).
func gaCreateEventually(t *testing.T, c accessv1.AccessServiceClient, ctx context.Context, req *accessv1.CreateRoleAssignmentRequest, opts ...grpc.CallOption) *accessv1.CreateRoleAssignmentResponse {
	t.Helper()
	var (
		resp *accessv1.CreateRoleAssignmentResponse
		err  error
	)
	gaEventually(t, fmt.Sprintf("assignment of %v to %s at %s", req.GetRoles(), req.GetPrincipal(), req.GetScope()), func() bool {
		resp, err = c.CreateRoleAssignment(ctx, req, opts...)
		c := status.Code(err)
		return c != codes.NotFound && c != codes.PermissionDenied
	})
	if err != nil {
		t.Fatalf("CreateRoleAssignment %v to %s at %s: %v", req.GetRoles(), req.GetPrincipal(), req.GetScope(), err)
	}
	return resp
}

// gaCreateRole creates a role, retrying while the caller's rights have not
// arrived through the directory feed (PermissionDenied).
func gaCreateRole(t *testing.T, c accessv1.AccessServiceClient, ctx context.Context, req *accessv1.CreateRoleRequest, opts ...grpc.CallOption) *accessv1.Role {
	t.Helper()
	var (
		r   *accessv1.Role
		err error
	)
	gaEventually(t, "CreateRole "+req.GetRoleId(), func() bool {
		r, err = c.CreateRole(ctx, req, opts...)
		return status.Code(err) != codes.PermissionDenied
	})
	if err != nil {
		t.Fatalf("CreateRole %s: %v", req.GetRoleId(), err)
	}
	return r
}

// gaStatus returns the code, ErrorInfo reason and metadata of err.
func gaStatus(err error) (codes.Code, string, map[string]string) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.GetReason(), info.GetMetadata()
		}
	}
	return st.Code(), "", nil
}

// gaWant fails unless err has code and (when not empty) reason, and carries
// the metadata in md ("*" for any non-empty value).
func gaWant(t *testing.T, err error, code codes.Code, reason string, md map[string]string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v %s", code, reason)
	}
	gotCode, gotReason, gotMD := gaStatus(err)
	if gotCode != code || (reason != "" && gotReason != reason) {
		t.Fatalf("got %v %s (%v), want %v %s", gotCode, gotReason, err, code, reason)
	}
	for k, v := range md {
		if v == "*" && gotMD[k] != "" {
			continue
		}
		if gotMD[k] != v {
			t.Fatalf("metadata %q = %q, want %q (all: %v)", k, gotMD[k], v, gotMD)
		}
	}
}

// gaEvents returns access's events after seq, but the records of refused
// calls (access.call.refused, R27): they are appended after the refusal
// went back, at no set moment, and change nothing.
func gaEvents(t *testing.T, e *env, after uint64) []*eventlogv1.Event {
	t.Helper()
	var out []*eventlogv1.Event
	token := ""
	for {
		resp, err := e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{AfterSequence: after, PageSize: 1000, PageToken: token}, e.accSvc)
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		out = append(out, changes(resp.GetEvents())...)
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// gaEventsBy returns access's events after seq made by actor.
func gaEventsBy(t *testing.T, e *env, after uint64, actor string) []*eventlogv1.Event {
	t.Helper()
	var out []*eventlogv1.Event
	for _, ev := range gaEvents(t, e, after) {
		if ev.GetAudit().GetActor() == actor {
			out = append(out, ev)
		}
	}
	return out
}

// gaHead returns the sequence of access's newest event.
func gaHead(t *testing.T, e *env) uint64 {
	t.Helper()
	resp, err := e.events.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1}, e.accSvc)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	return resp.GetHeadSequence()
}

// gaTypes returns the types of events.
func gaTypes(events []*eventlogv1.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.GetType()
	}
	return out
}

// gaList lists every assignment matching req, following pages.
func gaList(t *testing.T, c accessv1.AccessServiceClient, ctx context.Context, req *accessv1.ListRoleAssignmentsRequest, opts ...grpc.CallOption) []*accessv1.RoleAssignment {
	t.Helper()
	var out []*accessv1.RoleAssignment
	for {
		resp, err := c.ListRoleAssignments(ctx, req, opts...)
		if err != nil {
			t.Fatalf("ListRoleAssignments: %v", err)
		}
		out = append(out, resp.GetRoleAssignments()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

var gaAssignmentName = regexp.MustCompile(`^organizations/[a-z0-9-]+/roleAssignments/a[0-9a-z]{21}$`)

// TestGrantsCreateSeveralRoles covers R13: several roles at once, one
// assignment and one event each, made by the owner; a repeat returns the
// existing assignments without events; request_id makes it idempotent.
func TestGrantsCreateSeveralRoles(t *testing.T) {
	f := gaSetup(t)
	before := gaHead(t, f.e)
	req := &accessv1.CreateRoleAssignmentRequest{
		Parent: f.org, Principal: f.alice, Scope: f.serviceA,
		Roles: []string{"roles/allow-to-be-folder-administrator", "roles/folder-administrator"},
	}
	resp := gaCreateEventually(t, f.e.a, f.ownerCtx, req)
	if len(resp.GetRoleAssignments()) != 2 {
		t.Fatalf("got %d assignments, want 2", len(resp.GetRoleAssignments()))
	}
	for i, a := range resp.GetRoleAssignments() {
		if !gaAssignmentName.MatchString(a.GetName()) || a.GetRole() != req.Roles[i] || a.GetScope() != f.serviceA ||
			a.GetPrincipal() != f.alice || a.GetBuiltIn() || a.GetCreator() != f.owner ||
			a.GetPrincipalKind() != accessv1.PrincipalKind_PRINCIPAL_KIND_USER || a.GetCreateTime() == nil {
			t.Errorf("assignment %d = %v", i, a)
		}
	}
	events := gaEventsBy(t, f.e, before, f.owner)
	if got := gaTypes(events); !slices.Equal(got, []string{"access.role_assignment.created", "access.role_assignment.created"}) {
		t.Fatalf("events = %v", got)
	}
	if resp.GetSequence() != events[1].GetSequence() {
		t.Errorf("sequence = %d, want %d", resp.GetSequence(), events[1].GetSequence())
	}

	// Already held: the same assignments, no new event.
	head := gaHead(t, f.e)
	again, err := f.e.a.CreateRoleAssignment(f.ownerCtx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range again.GetRoleAssignments() {
		if a.GetName() != resp.GetRoleAssignments()[i].GetName() {
			t.Errorf("repeat %d = %s, want %s", i, a.GetName(), resp.GetRoleAssignments()[i].GetName())
		}
	}
	if n := len(gaEventsBy(t, f.e, head, f.owner)); n != 0 {
		t.Errorf("repeat made %d events", n)
	}

	// request_id: a replay answers the same; another request with it is refused.
	idem := &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: f.bob, Scope: f.tenantA, Roles: []string{"roles/tenant-administrator"}, RequestId: "0b9c5f4e-3f0e-4d6b-9a55-2d1f3c4b5a60"}
	first := gaCreateEventually(t, f.e.a, f.ownerCtx, idem)
	head = gaHead(t, f.e)
	replay, err := f.e.a.CreateRoleAssignment(f.ownerCtx, idem)
	if err != nil {
		t.Fatal(err)
	}
	if replay.GetRoleAssignments()[0].GetName() != first.GetRoleAssignments()[0].GetName() || replay.GetSequence() != first.GetSequence() {
		t.Errorf("replay = %v, want %v", replay, first)
	}
	if n := len(gaEventsBy(t, f.e, head, f.owner)); n != 0 {
		t.Errorf("replay made %d events", n)
	}
	idem.Scope = f.tenantB
	_, err = f.e.a.CreateRoleAssignment(f.ownerCtx, idem)
	gaWant(t, err, codes.Aborted, "REQUEST_ID_REUSED", nil)
}

// TestGrantsPlacement covers R12 and R13: Owner is never assignable; a
// role goes on a scope of its level (a folder role also on a service) and of
// its service type; unknown principals, scopes and roles are NotFound; a
// refused role assigns none of the request's roles.
func TestGrantsPlacement(t *testing.T) {
	f := gaSetup(t)
	f.grant(f.alice, f.org, "roles/user") // waits for the feed
	gaCreateEventually(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: f.alice, Scope: f.folderA, Roles: []string{"roles/automation-user"}})
	tests := []struct {
		name      string
		principal string
		scope     string
		roles     []string
		code      codes.Code
		reason    string
	}{
		{"owner at the organization", f.alice, f.org, []string{"roles/owner"}, codes.FailedPrecondition, "OWNER_NOT_ASSIGNABLE"},
		{"owner among others", f.alice, f.org, []string{"roles/user", "roles/owner"}, codes.FailedPrecondition, "OWNER_NOT_ASSIGNABLE"},
		{"tenant role at a service", f.alice, f.serviceA, []string{"roles/tenant-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"organization role at a tenant", f.alice, f.tenantA, []string{"roles/organization-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"folder role at a tenant", f.alice, f.tenantA, []string{"roles/folder-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"service role at a folder", f.alice, f.folderA, []string{"roles/orchestrator-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"other service type", f.alice, f.serviceA, []string{"roles/automation-hub-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"one bad role refuses all", f.alice, f.serviceA, []string{"roles/robot", "roles/tenant-administrator"}, codes.FailedPrecondition, "ROLE_LEVEL_MISMATCH"},
		{"unknown role", f.alice, f.org, []string{"roles/nope"}, codes.NotFound, ""},
		{"unknown custom role", f.alice, f.org, []string{f.org + "/roles/nope"}, codes.NotFound, ""},
		{"unknown principal", f.org + "/users/nobody", f.org, []string{"roles/user"}, codes.NotFound, ""},
		{"unknown scope", f.alice, f.tenantA + "/services/nope", []string{"roles/robot"}, codes.NotFound, ""},
		{"malformed scope", f.alice, f.org + "/tenants/x/robots/y", []string{"roles/robot"}, codes.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := gaHead(t, f.e)
			_, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: tt.principal, Scope: tt.scope, Roles: tt.roles})
			gaWant(t, err, tt.code, tt.reason, nil)
			if n := len(gaEventsBy(t, f.e, head, f.owner)); n != 0 {
				t.Errorf("refused request made %d events", n)
			}
		})
	}
	// Allowed placements.
	for _, ok := range []struct{ scope, role string }{
		{f.org, "roles/console-administrator"},
		{f.tenantA, "roles/tenant-administrator"},
		{f.serviceA, "roles/robot"},
		{f.serviceA, "roles/automation-developer"},
		{f.folderA, "roles/folder-administrator"},
	} {
		if _, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: f.bob, Scope: ok.scope, Roles: []string{ok.role}}); err != nil {
			t.Errorf("%s at %s: %v", ok.role, ok.scope, err)
		}
	}
}

// TestGrantsDelegationLimits covers R17: a user with a custom role holding
// users.edit at the organization cannot grant Organization Administrator;
// a tenant administrator of tenant A manages access inside A only: not in
// tenant B, not at a service of B, not at the organization; inside a folder,
// orchestrator.folder_users.edit, or orchestrator.users.view with
// orchestrator.roles.edit, suffice, but not at the service; nobody grants a
// permission they lack, not even by editing an assigned role.
func TestGrantsDelegationLimits(t *testing.T) {
	f := gaSetup(t)
	// bob: a custom organization role with users.edit only.
	editor := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "user-editor", Role: &accessv1.Role{DisplayName: "User editor", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.edit"}}})
	f.grant(f.bob, f.org, editor.GetName())
	// alice: Tenant Administrator of tenant A.
	f.grant(f.alice, f.tenantA, "roles/tenant-administrator")
	f.grant(f.carol, f.org, "roles/user")
	// An assignment in tenant B, made by the owner, for the delete cases.
	inB := f.grant(f.carol, f.serviceB, "roles/robot").GetRoleAssignments()[0].GetName()
	// erin: orchestrator.folder_users.edit in folder A (seed 003's access
	// inside a folder); frank: users.view and roles.edit at service A, which
	// hold in its folders.
	erin, frank := f.createUser("erin"), f.createUser("frank")
	folderManager := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "folder-manager", Role: &accessv1.Role{DisplayName: "Folder manager", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator", Permissions: []string{"orchestrator.folder_users.edit", "orchestrator.jobs.view"}}})
	serviceManager := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "service-manager", Role: &accessv1.Role{DisplayName: "Service manager", Level: accessv1.Level_LEVEL_SERVICE, ServiceType: "orchestrator", Permissions: []string{"orchestrator.users.view", "orchestrator.roles.edit", "orchestrator.jobs.view"}}})
	jobViewer := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "job-viewer", Role: &accessv1.Role{DisplayName: "Job viewer", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator", Permissions: []string{"orchestrator.jobs.view"}}})
	f.grant(erin, f.folderA, folderManager.GetName())
	f.grant(frank, f.serviceA, serviceManager.GetName())

	type tc struct {
		name   string
		actor  string
		scope  string
		roles  []string
		code   codes.Code
		reason string
		md     map[string]string
		// principal is carol when empty.
		principal string
	}
	tests := []tc{
		{"users.edit cannot grant organization administrator", f.bob, f.org, []string{"roles/organization-administrator"}, codes.PermissionDenied, "ESCALATION", map[string]string{"permission": "*"}, ""},
		{"users.edit cannot grant tenant administrator", f.bob, f.tenantA, []string{"roles/tenant-administrator"}, codes.PermissionDenied, "ESCALATION", nil, ""},
		{"users.edit cannot grant access to a service", f.bob, f.serviceA, []string{"roles/robot"}, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.serviceA}, ""},
		{"tenant admin of A not in tenant B", f.alice, f.tenantB, []string{"roles/tenant-administrator"}, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.tenantB}, ""},
		{"tenant admin of A not at a service of B", f.alice, f.serviceB, []string{"roles/orchestrator-administrator"}, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.serviceB}, ""},
		{"tenant admin of A not at the organization", f.alice, f.org, []string{"roles/user"}, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.org}, ""},
		{"plain user not at a folder", f.carol, f.folderA, []string{"roles/automation-user"}, codes.PermissionDenied, "DELEGATION_DENIED", nil, ""},
		{"folder_users.edit not at the service", erin, f.serviceA, []string{jobViewer.GetName()}, codes.PermissionDenied, "DELEGATION_DENIED", nil, ""},
		{"folder_users.edit cannot grant more than it holds", erin, f.folderA, []string{"roles/automation-user"}, codes.PermissionDenied, "ESCALATION", nil, ""},
		{"users.view and roles.edit not at the service", frank, f.serviceA, []string{jobViewer.GetName()}, codes.PermissionDenied, "DELEGATION_DENIED", nil, ""},
		{"users.view and roles.edit cannot grant more than they hold", frank, f.folderA, []string{"roles/folder-administrator"}, codes.PermissionDenied, "ESCALATION", nil, ""},
		{"folder_users.edit inside the folder", erin, f.folderA, []string{jobViewer.GetName()}, codes.OK, "", nil, ""},
		{"users.view and roles.edit in a folder", frank, f.folderA, []string{jobViewer.GetName()}, codes.OK, "", nil, f.bob},
		{"users.edit grants what it holds", f.bob, f.org, []string{editor.GetName()}, codes.OK, "", nil, ""},
		{"tenant admin inside A: tenant", f.alice, f.tenantA, []string{"roles/tenant-administrator"}, codes.OK, "", nil, ""},
		{"tenant admin inside A: service", f.alice, f.serviceA, []string{"roles/orchestrator-administrator", "roles/folder-administrator"}, codes.OK, "", nil, ""},
		{"tenant admin inside A: folder", f.alice, f.folderA, []string{"roles/automation-developer"}, codes.OK, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, opt := f.as(tt.actor)
			principal := tt.principal
			if principal == "" {
				principal = f.carol
			}
			resp, err := f.e.a.CreateRoleAssignment(ctx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: principal, Scope: tt.scope, Roles: tt.roles}, opt)
			if tt.code == codes.OK {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if c := resp.GetRoleAssignments()[0].GetCreator(); c != tt.actor {
					t.Errorf("creator = %s, want %s", c, tt.actor)
				}
				return
			}
			gaWant(t, err, tt.code, tt.reason, tt.md)
		})
	}

	// Editing an assigned role grants what it adds: bob cannot add to his
	// own role a permission he does not hold.
	ctx, opt := f.as(f.bob)
	_, err := f.e.a.UpdateRole(ctx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: editor.GetName(), Permissions: []string{"users.edit", "users.delete"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}}}, opt)
	gaWant(t, err, codes.PermissionDenied, "ESCALATION", map[string]string{"permission": "users.delete"})

	// Deleting follows the same limits.
	ctx, opt = f.as(f.alice)
	_, err = f.e.a.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: inB}, opt)
	gaWant(t, err, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.serviceB})
	inA := f.grant(f.carol, f.serviceA, "roles/robot").GetRoleAssignments()[0].GetName()
	if _, err := f.e.a.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: inA}, opt); err != nil {
		t.Errorf("tenant admin deleting inside A: %v", err)
	}
	ctx, opt = f.as(f.carol)
	_, err = f.e.a.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: inB}, opt)
	gaWant(t, err, codes.PermissionDenied, "DELEGATION_DENIED", nil)
	// The owner may do it.
	if _, err := f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: inB}); err != nil {
		t.Errorf("owner deleting: %v", err)
	}
	_, err = f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: inB})
	gaWant(t, err, codes.NotFound, "", nil)
}

// TestGrantsPlatformRole covers R18: a tenant's Tenant Administrator is
// listed at each of its services with the platform-role label, cannot be
// removed there (the error points to the tenant) and is removed at the
// tenant.
func TestGrantsPlatformRole(t *testing.T) {
	f := gaSetup(t)
	ta := f.grant(f.alice, f.tenantA, "roles/tenant-administrator").GetRoleAssignments()[0]
	robot := f.grant(f.bob, f.serviceA, "roles/robot").GetRoleAssignments()[0]

	atService := gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Scope: f.serviceA, PageSize: 1})
	byName := map[string]*accessv1.RoleAssignment{}
	for _, a := range atService {
		byName[a.GetName()] = a
	}
	if a := byName[ta.GetName()]; a == nil || a.GetPlatformRoleLabel() != "Platform role" || a.GetScope() != f.tenantA {
		t.Fatalf("tenant administrator at the service = %v (all: %v)", a, atService)
	}
	if a := byName[robot.GetName()]; a == nil || a.GetPlatformRoleLabel() != "" {
		t.Fatalf("robot at the service = %v", a)
	}
	// Not at another tenant's service.
	for _, a := range gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Scope: f.serviceB}) {
		if a.GetName() == ta.GetName() {
			t.Fatalf("tenant A's administrator listed at %s", f.serviceB)
		}
	}
	// At the tenant, without label.
	found := false
	for _, a := range gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Scope: f.tenantA}) {
		if a.GetName() == ta.GetName() {
			found = a.GetPlatformRoleLabel() == ""
		}
	}
	if !found {
		t.Fatal("tenant administrator not listed (unlabelled) at its tenant")
	}

	_, err := f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: ta.GetName(), Scope: f.serviceA})
	gaWant(t, err, codes.FailedPrecondition, "PLATFORM_ROLE_IMMUTABLE", map[string]string{"scope": f.tenantA})
	if _, err := f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: ta.GetName(), Scope: f.tenantA}); err != nil {
		t.Fatalf("delete at the tenant: %v", err)
	}
	for _, a := range gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Scope: f.serviceA}) {
		if a.GetName() == ta.GetName() {
			t.Fatal("deleted tenant administrator still listed at the service")
		}
	}
}

// TestGrantsOwnerBinding covers R1 and R12: the owner's Owner assignment
// (made from the directory's sign-up) is never removed.
func TestGrantsOwnerBinding(t *testing.T) {
	f := gaSetup(t)
	var owner *accessv1.RoleAssignment
	gaEventually(t, "the owner's Owner assignment", func() bool {
		for _, a := range gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Principal: f.owner}) {
			if a.GetRole() == "roles/owner" {
				owner = a
				return true
			}
		}
		return false
	})
	_, err := f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: owner.GetName()})
	gaWant(t, err, codes.FailedPrecondition, "OWNER_NOT_ASSIGNABLE", nil)
}

// TestGrantsListing covers the three listings (by scope, by principal, the
// whole organization) and their paging.
func TestGrantsListing(t *testing.T) {
	f := gaSetup(t)
	mine := map[string]bool{}
	for _, a := range f.grant(f.alice, f.serviceA, "roles/robot", "roles/automation-user").GetRoleAssignments() {
		mine[a.GetName()] = true
	}
	for _, a := range f.grant(f.alice, f.folderA, "roles/folder-administrator").GetRoleAssignments() {
		mine[a.GetName()] = true
	}
	other := f.grant(f.bob, f.serviceA, "roles/robot").GetRoleAssignments()[0].GetName()

	byPrincipal := gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Principal: f.alice, PageSize: 2})
	got := map[string]bool{}
	for _, a := range byPrincipal {
		if a.GetPrincipal() != f.alice {
			t.Errorf("listed by principal: %v", a)
		}
		got[a.GetName()] = true
	}
	for n := range mine {
		if !got[n] {
			t.Errorf("%s missing from alice's assignments", n)
		}
	}
	both := gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Principal: f.alice, Scope: f.serviceA})
	if len(both) != 2 {
		t.Errorf("alice at the service: %v", both)
	}
	all := gaList(t, f.e.a, f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, PageSize: 1})
	seen := map[string]bool{}
	for _, a := range all {
		if seen[a.GetName()] {
			t.Errorf("%s listed twice", a.GetName())
		}
		seen[a.GetName()] = true
	}
	for n := range mine {
		if !seen[n] {
			t.Errorf("%s missing from the organization's assignments", n)
		}
	}
	if !seen[other] {
		t.Errorf("%s missing from the organization's assignments", other)
	}
	// A page token is tied to its request.
	resp, err := f.e.a.ListRoleAssignments(f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, PageSize: 1})
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", resp, err)
	}
	_, err = f.e.a.ListRoleAssignments(f.ownerCtx, &accessv1.ListRoleAssignmentsRequest{Parent: f.org, Principal: f.alice, PageToken: resp.GetNextPageToken()})
	gaWant(t, err, codes.InvalidArgument, "", nil)
}

// TestGrantsCrossOrganization: objects of another organization are
// NotFound for a user of this one.
func TestGrantsCrossOrganization(t *testing.T) {
	f := gaSetup(t)
	su2 := f.e.signUp()
	org2, owner2 := su2.GetOrganization().GetName(), su2.GetOwner().GetName()
	owner2Ctx := bearer(f.e.signIn(org2, su2.GetOwner().GetEmail(), "correct horse battery"))
	custom2 := gaCreateRole(t, f.e.a, owner2Ctx, &accessv1.CreateRoleRequest{Parent: org2, RoleId: "viewer", Role: &accessv1.Role{DisplayName: "Viewer", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}})
	u2 := gaRetry(t, "CreateUser in org2", func() (*directoryv1.User, error) {
		return f.e.d.CreateUser(owner2Ctx, &directoryv1.CreateUserRequest{Parent: org2, UserId: "dan", User: &directoryv1.User{Nickname: "dan", Email: "dan@org2.example"}})
	})
	a2 := gaCreateEventually(t, f.e.a, owner2Ctx, &accessv1.CreateRoleAssignmentRequest{Parent: org2, Principal: u2.GetName(), Scope: org2, Roles: []string{custom2.GetName()}}).GetRoleAssignments()[0]
	f.grant(f.alice, f.org, "roles/user")

	calls := map[string]func() error{
		"GetRole": func() error {
			_, err := f.e.a.GetRole(f.ownerCtx, &accessv1.GetRoleRequest{Name: custom2.GetName()})
			return err
		},
		"CreateRoleAssignment in org2": func() error {
			_, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: org2, Principal: owner2, Scope: org2, Roles: []string{"roles/user"}})
			return err
		},
		"CreateRoleAssignment of org2's principal": func() error {
			_, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: owner2, Scope: f.org, Roles: []string{"roles/user"}})
			return err
		},
		"CreateRoleAssignment of org2's role": func() error {
			_, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: f.alice, Scope: f.org, Roles: []string{custom2.GetName()}})
			return err
		},
		"CreateRoleAssignment at org2's scope": func() error {
			_, err := f.e.a.CreateRoleAssignment(f.ownerCtx, &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: f.alice, Scope: org2, Roles: []string{"roles/user"}})
			return err
		},
		"DeleteRoleAssignment": func() error {
			_, err := f.e.a.DeleteRoleAssignment(f.ownerCtx, &accessv1.DeleteRoleAssignmentRequest{Name: a2.GetName()})
			return err
		},
		"DeleteRoleAssignment as a user through a service": func() error {
			ctx, opt := f.as(f.alice)
			_, err := f.e.a.DeleteRoleAssignment(ctx, &accessv1.DeleteRoleAssignmentRequest{Name: a2.GetName()}, opt)
			return err
		},
		"ListRoleAssignments": func() error {
			ctx, opt := f.as(f.alice)
			_, err := f.e.a.ListRoleAssignments(ctx, &accessv1.ListRoleAssignmentsRequest{Parent: org2}, opt)
			return err
		},
		"UpdateRole": func() error {
			_, err := f.e.a.UpdateRole(f.ownerCtx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: custom2.GetName(), DisplayName: "Mine"}})
			return err
		},
		"DeleteRole": func() error {
			_, err := f.e.a.DeleteRole(f.ownerCtx, &accessv1.DeleteRoleRequest{Name: custom2.GetName()})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); status.Code(err) != codes.NotFound {
				t.Fatalf("got %v, want NotFound", err)
			}
		})
	}
	// Still there for org2.
	if _, err := f.e.a.GetRole(owner2Ctx, &accessv1.GetRoleRequest{Name: custom2.GetName()}); err != nil {
		t.Fatalf("org2's own role: %v", err)
	}
}

// changes returns events without the records of refused calls
// (access.call.refused, R27).
func changes(events []*eventlogv1.Event) []*eventlogv1.Event {
	refused := eventlog.TypeName(accessv1.EventType_EVENT_TYPE_CALL_REFUSED)
	var out []*eventlogv1.Event
	for _, ev := range events {
		if ev.GetType() != refused {
			out = append(out, ev)
		}
	}
	return out
}
