package access_test

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// dfRobotKey creates an API key for the robot account as the owner and
// returns its secret: a principal of the organization that is no user, so
// holds nothing through Everyone.
func dfRobotKey(o *fdOrg, account string) string {
	o.e.t.Helper()
	resp, err := o.e.d.CreateApiKey(o.ctx, &directoryv1.CreateApiKeyRequest{Parent: account, ApiKey: &directoryv1.ApiKey{DisplayName: "key"}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateApiKey: %v", err)
	}
	return resp.GetSecret()
}

// dfUnzip writes the gzipped file from to the file to.
func dfUnzip(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// dfOldShapeEnv starts a directory and an access service (as newEnv) on
// the stores of testdata/oldshape, made by the code before services came
// with a Shared folder; it also returns a client of the directory's log.
func dfOldShapeEnv(t *testing.T) (*env, eventlogv1.EventLogServiceClient) {
	t.Helper()
	e := newEnvOn(t, func(directoryData, accessData string) {
		dfUnzip(t, filepath.Join("testdata", "oldshape", "directory.db.gz"), filepath.Join(directoryData, "directory.db"))
		dfUnzip(t, filepath.Join("testdata", "oldshape", "access.db.gz"), filepath.Join(accessData, "access.db"))
	})
	return e, e.dlog
}

// Issue 9 item 6, upgrade: started on data of the old shape (the
// automation groups' folder roles at the whole service), the directory
// creates the Shared folder of each Orchestrator service lacking one (a
// hand-made folder "shared" becomes it), each with its event, and access
// moves the default groups' folder roles there, removed and made with one
// event each; a folder role an administrator had removed stays removed.
func TestDefaultsUpgradeFromOldShape(t *testing.T) {
	e, dlog := dfOldShapeEnv(t)
	const org = "organizations/acme"
	tenant := org + "/tenants/default"
	legacy, hasShared, tm := tenant+"/services/legacy", tenant+"/services/hasshared", tenant+"/services/tm"
	owner := ""
	users, err := e.d.ListUsers(e.as("", ""), &directoryv1.ListUsersRequest{Parent: org}, e.dirSvc)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	john := org + "/users/john"
	for _, u := range users.GetUsers() {
		if u.GetOwner() {
			owner = u.GetName()
		}
	}
	o := &fdOrg{e: e, org: org, owner: owner, tenant: tenant}
	o.ctx = e.as(owner, org)
	o.sync()

	folders := func(svc string) map[string]string {
		resp, err := e.d.ListFolders(o.ctx, &directoryv1.ListFoldersRequest{Parent: svc}, e.dirSvc)
		if err != nil {
			t.Fatalf("ListFolders %s: %v", svc, err)
		}
		out := map[string]string{}
		for _, f := range resp.GetFolders() {
			out[strings.TrimPrefix(f.GetName(), svc+"/")] = f.GetDisplayName()
		}
		return out
	}
	if got := folders(legacy); got["folders/shared"] != "Shared" || len(got) != 3 {
		t.Errorf("folders of legacy = %v, want a, b and a new Shared", got)
	}
	if got := folders(hasShared); got["folders/shared"] != "Team share" || len(got) != 1 {
		t.Errorf("folders of hasshared = %v, want the hand-made shared kept", got)
	}
	if got := folders(tm); len(got) != 0 {
		t.Errorf("folders of a test-manager service = %v", got)
	}
	var dirEvents []string
	resp, err := e.d.ListFolders(o.ctx, &directoryv1.ListFoldersRequest{Parent: legacy}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := dlog.ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1000}, e.dirSvc)
	if err != nil {
		t.Fatalf("directory ListEvents: %v", err)
	}
	var lastMigration uint64
	for _, ev := range evs.GetEvents() {
		// The directory's own key upkeep may rotate its signing key on its
		// timer meanwhile: not part of the migration.
		if ev.GetAudit().GetActor() == "services/directory" && ev.GetType() != "directory.signing_keys.rotated" {
			dirEvents = append(dirEvents, ev.GetType()+" "+ev.GetResource())
			lastMigration = max(lastMigration, ev.GetSequence())
		}
	}
	fdSameSet(t, "the directory's migration events", dirEvents, []string{
		"directory.folder.created " + legacy + "/folders/shared",
		"directory.folder.updated " + hasShared + "/folders/shared",
	})
	if resp.GetSequence() < lastMigration || resp.GetSequence() > evs.GetHeadSequence() {
		t.Errorf("List sequence %d, want from the migration's last event %d to the head %d", resp.GetSequence(), lastMigration, evs.GetHeadSequence())
	}

	fdSameSet(t, "Automation Users", o.roles(o.group("automation-users")), []string{
		"roles/allow-to-be-automation-user@" + legacy, "roles/automation-user@" + legacy + "/folders/shared",
		"roles/allow-to-be-automation-user@" + hasShared, "roles/automation-user@" + hasShared + "/folders/shared",
	})
	fdSameSet(t, "Automation Developers", o.roles(o.group("automation-developers")), []string{
		"roles/allow-to-be-automation-developer@" + legacy, "roles/automation-developer@" + legacy + "/folders/shared",
		"roles/allow-to-be-automation-developer@" + hasShared,
	})
	var moved []string
	for _, ev := range o.accessEvents(0) {
		a := &accessv1.RoleAssignment{}
		if ev.GetAudit().GetActor() != "services/directory" || ev.GetData().UnmarshalTo(a) != nil {
			continue
		}
		if ev.GetType() == "access.role_assignment.deleted" || strings.HasSuffix(a.GetScope(), "/folders/shared") {
			moved = append(moved, ev.GetType()+" "+a.GetRole()+"@"+a.GetScope())
			if !strings.Contains(ev.GetAudit().GetMessage(), "moved") {
				t.Errorf("event %s: message %q does not say the role moved", ev.GetType(), ev.GetAudit().GetMessage())
			}
		}
	}
	fdSameSet(t, "access's events moving the folder roles", moved, []string{
		"access.role_assignment.deleted roles/automation-developer@" + legacy,
		"access.role_assignment.created roles/automation-developer@" + legacy + "/folders/shared",
		"access.role_assignment.deleted roles/automation-user@" + legacy,
		"access.role_assignment.created roles/automation-user@" + legacy + "/folders/shared",
		"access.role_assignment.deleted roles/automation-user@" + hasShared,
		"access.role_assignment.created roles/automation-user@" + hasShared + "/folders/shared",
	})
	for _, tc := range []struct {
		scope string
		want  bool
	}{
		{legacy + "/folders/a", false},
		{legacy + "/folders/b", false},
		{legacy + "/folders/shared", true},
		{hasShared + "/folders/shared", true},
	} {
		if r := o.check(john, "orchestrator.jobs.create", tc.scope); r.GetAllowed() != tc.want {
			t.Errorf("John jobs.create at %s: %v (%s), want %v", tc.scope, r.GetAllowed(), r.GetReason(), tc.want)
		}
	}
}

// dfFind returns the name of the assignment of role to principal at scope.
func dfFind(o *fdOrg, principal, role, scope string) string {
	o.e.t.Helper()
	for _, a := range o.assignments(principal) {
		if a.GetRole() == role && a.GetScope() == scope {
			return a.GetName()
		}
	}
	o.e.t.Fatalf("%s holds no %s at %s", principal, role, scope)
	return ""
}

// Issue 9 item 6: the Administrators group's Organization Administrator
// and Everyone's User at the organization cannot be removed, whoever asks:
// an organization administrator (who could demote every administrator at
// once), the owner, a service. A caller without the right to manage access
// there is refused that first (item 8). Administrators' Administrator at a
// service is changeable.
func TestDefaultsBuiltInAssignmentsImmutable(t *testing.T) {
	o := fdSignUp(t)
	orch := o.createService(o.tenant, "orch", "orchestrator")
	mia, miaEmail := ckCreateUser(o, "mia", "Mia")
	_, unaEmail := ckCreateUser(o, "una", "Una")
	if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: o.group("administrators"), Member: mia}, o.e.dirSvc); err != nil {
		t.Fatalf("AddGroupMember: %v", err)
	}
	o.sync()
	admin := bearer(o.e.signIn(o.org, miaEmail, ckPassword))
	plain := bearer(o.e.signIn(o.org, unaEmail, ckPassword))
	ownerTok := bearer(o.e.signIn(o.org, "owner@"+strings.TrimPrefix(o.org, "organizations/")+".example", ckPassword))
	admins := dfFind(o, o.group("administrators"), "roles/organization-administrator", o.org)
	everyone := dfFind(o, o.group("everyone"), "roles/user", o.org)
	for _, name := range []string{admins, everyone} {
		for _, tc := range []struct {
			who    string
			ctx    context.Context
			code   codes.Code
			reason string
		}{
			{"a user without users.edit", plain, codes.PermissionDenied, ""},
			{"an organization administrator", admin, codes.FailedPrecondition, "BUILT_IN_ASSIGNMENT_IMMUTABLE"},
			{"the owner", ownerTok, codes.FailedPrecondition, "BUILT_IN_ASSIGNMENT_IMMUTABLE"},
		} {
			_, err := o.e.a.DeleteRoleAssignment(tc.ctx, &accessv1.DeleteRoleAssignmentRequest{Name: name})
			if status.Code(err) != tc.code {
				t.Errorf("%s deleting %s: %v, want %v", tc.who, name, err, tc.code)
				continue
			}
			if tc.reason != "" {
				gaWant(t, err, tc.code, tc.reason, map[string]string{"scope": o.org})
			}
		}
		_, err := o.e.a.DeleteRoleAssignment(o.ctx, &accessv1.DeleteRoleAssignmentRequest{Name: name}, o.e.accSvc)
		gaWant(t, err, codes.FailedPrecondition, "BUILT_IN_ASSIGNMENT_IMMUTABLE", nil)
	}
	if r := o.check(mia, "users.create", o.org); !r.GetAllowed() {
		t.Errorf("the administrator lost users.create: %s", r.GetReason())
	}
	// Changeable: Administrators' Administrator at a service.
	if _, err := o.e.a.DeleteRoleAssignment(admin, &accessv1.DeleteRoleAssignmentRequest{
		Name: dfFind(o, o.group("administrators"), "roles/orchestrator-administrator", orch),
	}); err != nil {
		t.Errorf("delete Administrators' Administrator at the service: %v", err)
	}
}

// Issue 9 item 8: a platform role named at a service of its tenant is
// refused only to a caller who may manage access at the tenant, and the
// refusal names the tenant; others get PermissionDenied.
func TestDefaultsPlatformRoleAuthorizedFirst(t *testing.T) {
	o := fdSignUp(t)
	orch := o.createService(o.tenant, "orch", "orchestrator")
	ta, _ := ckCreateUser(o, "tina", "Tina")
	_, unaEmail := ckCreateUser(o, "una", "Una")
	o.sync()
	platform := ckGrant(o, ta, o.tenant, "roles/tenant-administrator").GetRoleAssignments()[0].GetName()
	plain := bearer(o.e.signIn(o.org, unaEmail, ckPassword))
	_, err := o.e.a.DeleteRoleAssignment(plain, &accessv1.DeleteRoleAssignmentRequest{Name: platform, Scope: orch})
	gaWant(t, err, codes.PermissionDenied, "", nil)
	if strings.Contains(status.Convert(err).Message(), "platform") {
		t.Errorf("the refusal to a caller without the right tells about the platform role: %v", err)
	}
	_, err = o.e.a.DeleteRoleAssignment(o.ctx, &accessv1.DeleteRoleAssignmentRequest{Name: platform, Scope: orch}, o.e.accSvc)
	gaWant(t, err, codes.FailedPrecondition, "PLATFORM_ROLE_IMMUTABLE", map[string]string{"scope": o.tenant})
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "remove it at "+o.tenant) {
		t.Errorf("message %q does not name the tenant", msg)
	}
	_, err = o.e.a.DeleteRoleAssignment(o.ctx, &accessv1.DeleteRoleAssignmentRequest{Name: platform, Scope: orch + "/folders/shared"}, o.e.accSvc)
	gaWant(t, err, codes.InvalidArgument, "", nil)
}

// Seed 003 (CATALOGUE.md "Default groups": its example is the rule), John
// Smith in Automation Users and Administrators, through both services: the
// groups' service-level roles make him eligible, folder rights come from
// folder-level assignments only.
func TestDefaultsSeed003(t *testing.T) {
	o := fdSignUp(t)
	finance := o.createService(o.tenant, "finance", "orchestrator")
	hr := o.createService(o.tenant, "hr", "orchestrator")
	folder := func(parent, id string) string {
		t.Helper()
		f, err := o.e.d.CreateFolder(o.ctx, &directoryv1.CreateFolderRequest{Parent: parent, FolderId: id, Folder: &directoryv1.Folder{DisplayName: "Folder " + strings.ToUpper(id)}}, o.e.dirSvc)
		if err != nil {
			t.Fatalf("CreateFolder: %v", err)
		}
		return f.GetName()
	}
	a, b, c := folder(finance, "a"), folder(finance, "b"), folder(finance, "c")
	d, e, f, g := folder(hr, "d"), folder(hr, "e"), folder(hr, "f"), folder(hr, "g")
	john := o.createUser("john", "John Smith")
	for _, grp := range []string{"automation-users", "administrators"} {
		if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: o.group(grp), Member: john}, o.e.dirSvc); err != nil {
			t.Fatalf("AddGroupMember: %v", err)
		}
	}
	o.sync()
	// Seed 003's groups exist in one service each: Automation Users in
	// Finance, Administrators in HR. An administrator removes the other
	// default assignments (they are changeable).
	for _, rm := range []struct{ group, role, scope string }{
		{"administrators", "roles/orchestrator-administrator", finance},
		{"administrators", "roles/orchestrator-administrator", hr},
		{"automation-users", "roles/allow-to-be-automation-user", hr},
		{"automation-users", "roles/automation-user", hr + "/folders/shared"},
	} {
		if _, err := o.e.a.DeleteRoleAssignment(o.ctx, &accessv1.DeleteRoleAssignmentRequest{Name: dfFind(o, o.group(rm.group), rm.role, rm.scope)}, o.e.accSvc); err != nil {
			t.Fatalf("DeleteRoleAssignment: %v", err)
		}
	}
	// Finance: Automation Users hold Automation User on folders A and B;
	// John explicitly Allow to be Folder Administrator and Folder
	// Administrator on A.
	ckGrant(o, o.group("automation-users"), a, "roles/automation-user")
	ckGrant(o, o.group("automation-users"), b, "roles/automation-user")
	ckGrant(o, john, finance, "roles/allow-to-be-folder-administrator")
	ckGrant(o, john, a, "roles/folder-administrator")
	// HR: the Administrators group holds Allow to be Folder Administrator
	// and Folder Administrator on D and E; John explicitly Folder
	// Administrator on F.
	ckGrant(o, o.group("administrators"), hr, "roles/allow-to-be-folder-administrator")
	ckGrant(o, o.group("administrators"), d, "roles/folder-administrator")
	ckGrant(o, o.group("administrators"), e, "roles/folder-administrator")
	ckGrant(o, john, hr, "roles/allow-to-be-folder-administrator")
	ckGrant(o, john, f, "roles/folder-administrator")

	for _, tc := range []struct {
		permission, scope string
		want              bool
	}{
		// Finance, overall: Allow to be Automation User, Allow to be Folder
		// Administrator; Automation User on A, B (and Shared, the default);
		// Folder Administrator on A.
		{"orchestrator.license.view", finance, true},
		{"orchestrator.folders.view", finance, true},
		{"orchestrator.jobs.create", a, true},
		{"orchestrator.jobs.create", b, true},
		{"orchestrator.jobs.create", finance + "/folders/shared", true},
		{"orchestrator.jobs.create", c, false},
		{"orchestrator.folder_users.edit", a, true},
		{"orchestrator.folder_users.edit", b, false},
		{"orchestrator.settings.edit", finance, false},
		// HR, overall: Allow to be Folder Administrator; Folder
		// Administrator on D, E, F; nothing in G.
		{"orchestrator.folders.view", hr, true},
		{"orchestrator.settings.edit", hr, false},
		{"orchestrator.folder_users.edit", d, true},
		{"orchestrator.folder_users.edit", e, true},
		{"orchestrator.folder_users.edit", f, true},
		{"orchestrator.folder_users.edit", g, false},
		{"orchestrator.jobs.create", g, false},
		{"orchestrator.jobs.create", hr + "/folders/shared", false},
		{"orchestrator.license.view", hr, false},
	} {
		if r := o.check(john, tc.permission, tc.scope); r.GetAllowed() != tc.want {
			t.Errorf("John %s at %s: %v (%s), want %v", tc.permission, strings.TrimPrefix(tc.scope, o.tenant), r.GetAllowed(), r.GetReason(), tc.want)
		}
	}
}

// Issue 9 item 8 (R19): names and descriptions people chose that begin
// like a formula reach the CSV export with a leading single quote; no cell
// of the export begins with "=", "+", "-", "@", a tab or a carriage return.
func TestDefaultsExportNeutralizesFormulas(t *testing.T) {
	o := fdSignUp(t)
	svc, err := o.e.d.CreateService(o.ctx, &directoryv1.CreateServiceRequest{Parent: o.tenant, ServiceId: "evil", Service: &directoryv1.Service{DisplayName: "-2+3+cmd|' /C calc'!A0", Type: "orchestrator"}}, o.e.dirSvc)
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	fo, err := o.e.d.CreateFolder(o.ctx, &directoryv1.CreateFolderRequest{Parent: svc.GetName(), FolderId: "f", Folder: &directoryv1.Folder{DisplayName: "@SUM(1+1)*cmd|' /C calc'!A0"}}, o.e.dirSvc)
	if err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	u, err := o.e.d.CreateUser(o.ctx, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "mallory", User: &directoryv1.User{
		Nickname: "mallory", DisplayName: "=HYPERLINK(\"http://evil.example\",\"x\")", Email: "mallory@" + strings.TrimPrefix(o.org, "organizations/") + ".example",
	}}, o.e.dirSvc)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	o.sync()
	role, err := o.e.a.CreateRole(o.ctx, &accessv1.CreateRoleRequest{Parent: o.org, Role: &accessv1.Role{
		DisplayName: "+cmd|' /C calc'!A0", Description: "\t=1+1", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator",
		Permissions: []string{"orchestrator.jobs.view"},
	}}, o.e.accSvc)
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	ckGrant(o, u.GetName(), fo.GetName(), role.GetName())
	x, err := o.e.xrRunExport(context.Background(), o.org, o.e.accSvc)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var row []string
	for _, r := range x.records[1:] {
		for i, c := range r {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("column %s begins like a formula: %q", xrExportHeader[i], c)
			}
		}
		// mallory's row of the custom role at the folder (she also holds
		// Everyone's User role at the organization).
		if r[xrColPrincipal] == u.GetName() && strings.HasSuffix(r[xrColRoleName], "calc'!A0") {
			row = r
		}
	}
	if row == nil {
		t.Fatal("no row of mallory's assignment")
	}
	for col, want := range map[int]string{
		xrColRoleName:         "'+cmd|' /C calc'!A0",
		xrColRoleDescription:  "'\t=1+1",
		xrColServiceName:      "'-2+3+cmd|' /C calc'!A0",
		xrColFolderName:       "'@SUM(1+1)*cmd|' /C calc'!A0",
		xrColPrincipalDisplay: "'=HYPERLINK(\"http://evil.example\",\"x\")",
	} {
		if row[col] != want {
			t.Errorf("%s = %q, want %q", xrExportHeader[col], row[col], want)
		}
	}
}

// Issue 9 item 8: request IDs are the caller's own. Another member
// sending the same request_id (and request) does not receive the first
// caller's stored response, and is not refused either; each caller's own
// retry still returns its first response.
func TestDefaultsRequestIDsPerCaller(t *testing.T) {
	o := fdSignUp(t)
	mia, miaEmail := ckCreateUser(o, "mia", "Mia")
	if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: o.group("administrators"), Member: mia}, o.e.dirSvc); err != nil {
		t.Fatalf("AddGroupMember: %v", err)
	}
	o.sync()
	ownerTok := bearer(o.e.signIn(o.org, "owner@"+strings.TrimPrefix(o.org, "organizations/")+".example", ckPassword))
	miaTok := bearer(o.e.signIn(o.org, miaEmail, ckPassword))
	const requestID = "5f0c6b8e-8d7a-4c3e-9b1a-2f4e6d8c0a1b"
	create := func(ctx context.Context, display string) *accessv1.Role {
		t.Helper()
		r, err := o.e.a.CreateRole(ctx, &accessv1.CreateRoleRequest{Parent: o.org, RequestId: requestID, Role: &accessv1.Role{
			DisplayName: display, Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"},
		}})
		if err != nil {
			t.Fatalf("CreateRole %s: %v", display, err)
		}
		return r
	}
	first := create(ownerTok, "Viewers")
	if again := create(ownerTok, "Viewers"); again.GetName() != first.GetName() {
		t.Errorf("the owner's retry made %s, want %s", again.GetName(), first.GetName())
	}
	theirs := create(miaTok, "Viewers")
	if theirs.GetName() == first.GetName() {
		t.Fatalf("another member's request with the same request_id got the owner's role %s", first.GetName())
	}
	if other := create(miaTok, "Viewers"); other.GetName() != theirs.GetName() {
		t.Errorf("mia's retry made %s, want %s", other.GetName(), theirs.GetName())
	}
	// The caller's own request_id with another request is still a reuse.
	_, err := o.e.a.CreateRole(miaTok, &accessv1.CreateRoleRequest{Parent: o.org, RequestId: requestID, Role: &accessv1.Role{
		DisplayName: "Other", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"},
	}})
	gaWant(t, err, codes.Aborted, "REQUEST_ID_REUSED", nil)
}

// dfFieldViolations returns the fields of err's BadRequest field
// violations.
func dfFieldViolations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// Issue 9 item 8: a custom role's display name refuses NUL, C0 and C1
// control characters and bidirectional formatting characters; its
// description allows tab and line breaks but not the others. Refusals are
// InvalidArgument naming the field, on create and on update; other
// scripts and symbols are welcome.
func TestDefaultsRoleNamesRefuseControls(t *testing.T) {
	o := fdSignUp(t)
	create := func(display, description string) (*accessv1.Role, error) {
		return o.e.a.CreateRole(o.ctx, &accessv1.CreateRoleRequest{Parent: o.org, Role: &accessv1.Role{
			DisplayName: display, Description: description, Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"},
		}}, o.e.accSvc)
	}
	bad := []rune{0x00, 0x01, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F, 0x80, 0x85, 0x9F,
		0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}
	role, err := create("Plain", "")
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	for _, r := range bad {
		name := "Admin" + string(r) + "gpj.exe"
		_, err := create(name, "")
		if status.Code(err) != codes.InvalidArgument || !slices.Contains(dfFieldViolations(err), "role.display_name") {
			t.Errorf("display name with %U: %v (fields %v), want InvalidArgument on role.display_name", r, err, dfFieldViolations(err))
		}
		_, err = o.e.a.UpdateRole(o.ctx, &accessv1.UpdateRoleRequest{Role: &accessv1.Role{Name: role.GetName(), DisplayName: name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}, o.e.accSvc)
		if status.Code(err) != codes.InvalidArgument || !slices.Contains(dfFieldViolations(err), "role.display_name") {
			t.Errorf("update to a display name with %U: %v, want InvalidArgument on role.display_name", r, err)
		}
		_, err = create("Described", "line one"+string(r)+"line two")
		if allowed := r == '\t' || r == '\n' || r == '\r'; allowed != (err == nil) {
			t.Errorf("description with %U: %v", r, err)
		} else if !allowed && !slices.Contains(dfFieldViolations(err), "role.description") {
			t.Errorf("description with %U: fields %v", r, dfFieldViolations(err))
		}
	}
	for _, ok := range []string{"Финансы", "مدير المالية", "経理 ✓", "O'Brien & Co. — 2024", "🤖 Robots"} {
		if _, err := create(ok, "Line one\n\tLine two"); err != nil {
			t.Errorf("display name %q refused: %v", ok, err)
		}
	}
}
