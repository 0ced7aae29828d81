package access_test

import (
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// arFolder creates folder id under svc and returns its name.
func arFolder(o *fdOrg, svc, id string) string {
	o.e.t.Helper()
	f, err := o.e.d.CreateFolder(o.ctx, &directoryv1.CreateFolderRequest{Parent: svc, FolderId: id, Folder: &directoryv1.Folder{DisplayName: "Folder " + strings.ToUpper(id)}}, o.e.dirSvc)
	if err != nil {
		o.e.t.Fatalf("CreateFolder %s: %v", id, err)
	}
	return f.GetName()
}

// arHolders returns every page of ListPermissionHolders, holders and
// inactive principals by name with their sources rendered.
func arHolders(o *fdOrg, permission, scope string, asOf *accessv1.AsOf, pageSize int32) (holders, inactive map[string][]string) {
	o.e.t.Helper()
	holders, inactive = map[string][]string{}, map[string][]string{}
	render := func(ph *accessv1.PermissionHolder) []string {
		var out []string
		for _, s := range ph.GetSources() {
			via := "explicit"
			if s.GetGroup() != "" {
				via = "group " + strings.TrimPrefix(s.GetGroup(), o.org+"/groups/")
			}
			out = append(out, s.GetRoleDisplayName()+" ("+via+") at "+strings.TrimPrefix(s.GetScope(), o.org))
		}
		return out
	}
	token := ""
	for pages := 0; ; pages++ {
		resp, err := o.e.a.ListPermissionHolders(o.ctx, &accessv1.ListPermissionHoldersRequest{
			Scope: scope, Permission: permission, AsOf: asOf, PageSize: pageSize, PageToken: token}, o.e.accSvc)
		if err != nil {
			o.e.t.Fatalf("ListPermissionHolders(%s at %s): %v", permission, scope, err)
		}
		for _, h := range resp.GetHolders() {
			holders[h.GetPrincipal()] = render(h)
		}
		for _, h := range resp.GetInactive() {
			inactive[h.GetPrincipal()] = render(h)
		}
		if token = resp.GetNextPageToken(); token == "" {
			return holders, inactive
		}
		if pages > 100 {
			o.e.t.Fatal("ListPermissionHolders pages without end")
		}
	}
}

// arScopes returns ListPermittedScopes' scopes, relative to the
// organization.
func arScopes(o *fdOrg, principal, permission, root string, asOf *accessv1.AsOf) []string {
	o.e.t.Helper()
	resp, err := o.e.a.ListPermittedScopes(o.ctx, &accessv1.ListPermittedScopesRequest{
		Principal: principal, Permission: permission, Scope: root, AsOf: asOf, PageSize: 1000}, o.e.accSvc)
	if err != nil {
		o.e.t.Fatalf("ListPermittedScopes: %v", err)
	}
	var out []string
	for _, s := range resp.GetScopes() {
		out = append(out, strings.TrimPrefix(s.GetScope(), o.org))
	}
	return out
}

// Issue 14, questions 1, 2 and 4 on seed 003's John Smith (R13-R16): who
// holds orchestrator.folder_users.edit at HR's folder D — John through the
// Administrators group, a deactivated member apart — and where John holds
// it; after John leaves Administrators he no longer does, and asked as of
// the moment before (by time and by sequence), every answer is the old
// one. Every answer equals Check for every principal of the organization.
func TestReviewJohnSmith(t *testing.T) {
	o := fdSignUp(t)
	finance := o.createService(o.tenant, "finance", "orchestrator")
	hr := o.createService(o.tenant, "hr", "orchestrator")
	a, b := arFolder(o, finance, "a"), arFolder(o, finance, "b")
	d, e, f := arFolder(o, hr, "d"), arFolder(o, hr, "e"), arFolder(o, hr, "f")
	john := o.createUser("john", "John Smith")
	bob := o.createUser("bob", "Bob Jones")
	mary := o.createUser("mary", "Mary Major")
	admins, autoUsers := o.group("administrators"), o.group("automation-users")
	for _, m := range [][2]string{{autoUsers, john}, {admins, john}, {admins, bob}} {
		if _, err := o.e.d.AddGroupMember(o.ctx, &directoryv1.AddGroupMemberRequest{Group: m[0], Member: m[1]}, o.e.dirSvc); err != nil {
			t.Fatalf("AddGroupMember: %v", err)
		}
	}
	if _, err := o.e.d.DeactivateUser(o.ctx, &directoryv1.DeactivateUserRequest{Name: bob}, o.e.dirSvc); err != nil {
		t.Fatalf("DeactivateUser: %v", err)
	}
	o.sync()
	// Seed 003's assignments.
	ckGrant(o, autoUsers, finance, "roles/allow-to-be-automation-user")
	ckGrant(o, autoUsers, a, "roles/automation-user")
	ckGrant(o, autoUsers, b, "roles/automation-user")
	ckGrant(o, john, finance, "roles/allow-to-be-folder-administrator")
	ckGrant(o, john, a, "roles/folder-administrator")
	ckGrant(o, admins, hr, "roles/allow-to-be-folder-administrator")
	ckGrant(o, admins, d, "roles/folder-administrator")
	ckGrant(o, admins, e, "roles/folder-administrator")
	last := ckGrant(o, john, f, "roles/folder-administrator")
	const perm = "orchestrator.folder_users.edit"
	everyone := []string{o.owner, john, bob, mary}

	// agree holds the holders at scope to Check for every principal.
	agree := func(what string, holders map[string][]string, scope string, asOf *accessv1.AsOf) {
		t.Helper()
		for _, p := range everyone {
			r, err := o.e.a.CheckPermission(o.ctx, &accessv1.CheckPermissionRequest{Principal: p, Permission: perm, Scope: scope, AsOf: asOf}, o.e.accSvc)
			if err != nil {
				t.Fatalf("%s: CheckPermission(%s): %v", what, p, err)
			}
			if _, held := holders[p]; held != r.GetAllowed() {
				t.Errorf("%s: %s listed as holder %v, Check allowed %v (%s)", what, p, held, r.GetAllowed(), r.GetReason())
			}
		}
	}

	before, inactive := arHolders(o, perm, d, nil, 1)
	hrRel := strings.TrimPrefix(hr, o.org)
	if got, want := before[john], []string{
		"Folder Administrator (group administrators) at " + hrRel + "/folders/d",
		"Administrator (group administrators) at " + hrRel,
	}; !slices.Equal(got, want) {
		t.Errorf("John's sources at D:\n got  %q\n want %q", got, want)
	}
	if _, ok := before[bob]; ok {
		t.Error("deactivated Bob listed as a holder")
	}
	if len(inactive[bob]) == 0 {
		t.Errorf("deactivated Bob not listed apart: %v", inactive)
	}
	if _, ok := before[mary]; ok {
		t.Error("Mary holds nothing in HR, yet is listed")
	}
	agree("before", before, d, nil)
	// Administrators hold Administrator at every Orchestrator service
	// created after the group (CATALOGUE.md): both services, whole.
	fiRel := strings.TrimPrefix(finance, o.org)
	if got, want := arScopes(o, john, perm, o.tenant, nil), []string{
		fiRel, fiRel + "/folders/a", fiRel + "/folders/b", fiRel + "/folders/shared",
		hrRel, hrRel + "/folders/d", hrRel + "/folders/e", hrRel + "/folders/f", hrRel + "/folders/shared",
	}; !slices.Equal(got, want) {
		t.Errorf("where John holds %s, before:\n got  %q\n want %q", perm, got, want)
	}
	moment := time.Now()

	// John leaves Administrators.
	if _, err := o.e.d.RemoveGroupMember(o.ctx, &directoryv1.RemoveGroupMemberRequest{Group: admins, Member: john}, o.e.dirSvc); err != nil {
		t.Fatalf("RemoveGroupMember: %v", err)
	}
	o.sync()
	after, _ := arHolders(o, perm, d, nil, 0)
	if _, ok := after[john]; ok {
		t.Errorf("John still holds %s at D after leaving Administrators: %q", perm, after[john])
	}
	agree("after", after, d, nil)
	if got, want := arScopes(o, john, perm, o.tenant, nil), []string{strings.TrimPrefix(a, o.org), hrRel + "/folders/f"}; !slices.Equal(got, want) {
		t.Errorf("where John holds %s, after:\n got  %q\n want %q", perm, got, want)
	}

	// Question 4: as of the moment before, by time and by sequence.
	for _, asOf := range []*accessv1.AsOf{
		{Point: &accessv1.AsOf_Time{Time: timestamppb.New(moment)}},
		{Point: &accessv1.AsOf_Sequence{Sequence: last.GetSequence()}},
	} {
		then, thenInactive := arHolders(o, perm, d, asOf, 2)
		if !arMapsEqual(then, before) || !arMapsEqual(thenInactive, inactive) {
			t.Errorf("as of %v:\n got  %q %q\n want %q %q", asOf, then, thenInactive, before, inactive)
		}
		agree("as of", then, d, asOf)
		ex, err := o.e.a.ExplainPermissions(o.ctx, &accessv1.ExplainPermissionsRequest{Principal: john, Scope: d, AsOf: asOf}, o.e.accSvc)
		if err != nil {
			t.Fatalf("ExplainPermissions as of: %v", err)
		}
		found := false
		for _, s := range ex.GetSources() {
			found = found || s.GetGroup() == admins
		}
		if !found {
			t.Errorf("ExplainPermissions as of %v lists no role through Administrators: %v", asOf, ex.GetSources())
		}
	}

	// Question 3: why not, and who may grant it. Nobody is granted anything.
	// A custom folder role holding just the permission comes first at D.
	custom := gaCreateRole(t, o.e.a, o.ctx, &accessv1.CreateRoleRequest{Parent: o.org, RoleId: "folder-user-manager", Role: &accessv1.Role{
		DisplayName: "Folder user manager", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator", Permissions: []string{perm}}}, o.e.accSvc)
	r, err := o.e.a.CheckPermission(o.ctx, &accessv1.CheckPermissionRequest{Principal: john, Permission: perm, Scope: d, Explain: true}, o.e.accSvc)
	if err != nil || r.GetAllowed() {
		t.Fatalf("John at D now: %v, %v", r, err)
	}
	pg := r.GetPossibleGrants()
	if len(pg) == 0 || pg[0].GetScope() != d {
		t.Fatalf("possible grants start at %v, want D first", pg)
	}
	if first := pg[0].GetRoles()[0]; first.GetRole() != custom.GetName() || first.GetPermissionCount() != 1 || first.GetBuiltIn() {
		t.Errorf("first role at D = %v, want the custom %s", first, custom.GetName())
	}
	// Up the tree: the service, the tenant and the organization follow,
	// each with what may be assigned there.
	var up []string
	for _, g := range pg {
		up = append(up, strings.TrimPrefix(g.GetScope(), o.org))
	}
	if want := []string{strings.TrimPrefix(d, o.org), hrRel}; !slices.Equal(up[:min(2, len(up))], want) {
		t.Errorf("possible grants at %q, want %q first", up, want)
	}
	var fa *accessv1.GrantableRole
	for _, gr := range pg[0].GetRoles() {
		if gr.GetRole() == "roles/folder-administrator" {
			fa = gr
		}
		if gr.GetPermissionCount() < pg[0].GetRoles()[0].GetPermissionCount() {
			t.Errorf("roles at D are not fewest permissions first: %v", pg[0].GetRoles())
		}
	}
	if fa == nil || !slices.Contains(fa.GetGrantors(), o.owner) || slices.Contains(fa.GetGrantors(), john) || slices.Contains(fa.GetGrantors(), bob) {
		t.Errorf("Folder Administrator at D: %v; want the owner among its grantors, not John or Bob", fa)
	}
	if again := o.check(john, perm, d); again.GetAllowed() {
		t.Error("asking why not granted something")
	}

	// The CSV download holds the same holders.
	stream, err := o.e.a.ExportPermissionHolders(o.ctx, &accessv1.ExportPermissionHoldersRequest{Scope: d, Permission: perm}, o.e.accSvc)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		body = append(body, msg.GetData()...)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "Principal ID" {
		t.Fatalf("export CSV: %v %q", err, body)
	}
	exported := map[string]string{}
	for _, row := range rows[1:] {
		exported[row[0]] = row[4]
	}
	for p := range after {
		if exported[p] != "active" {
			t.Errorf("export: %s is %q, want active", p, exported[p])
		}
	}
	if exported[bob] != "inactive" || exported[john] != "" {
		t.Errorf("export: Bob %q (want inactive), John %q (want absent)", exported[bob], exported[john])
	}

	// Bad questions are refused with the field, and the future with it.
	for _, tc := range []struct {
		req  *accessv1.ListPermissionHoldersRequest
		code codes.Code
	}{
		{&accessv1.ListPermissionHoldersRequest{Scope: d, Permission: "no.such.permission"}, codes.InvalidArgument},
		{&accessv1.ListPermissionHoldersRequest{Scope: d, Permission: perm, PageToken: "bogus"}, codes.InvalidArgument},
		{&accessv1.ListPermissionHoldersRequest{Scope: d, Permission: perm, AsOf: &accessv1.AsOf{Point: &accessv1.AsOf_Time{Time: timestamppb.New(time.Now().Add(time.Hour))}}}, codes.InvalidArgument},
	} {
		_, err := o.e.a.ListPermissionHolders(o.ctx, tc.req, o.e.accSvc)
		ckCode(t, err, tc.code, "")
	}
}

// arMapsEqual reports whether two rendered answers are equal.
func arMapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}
