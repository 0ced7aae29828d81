package access_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/access/domain"
)

// xrEventually polls cond every 20 ms until it holds, failing the test
// after 15 s: the directory feed reaches access asynchronously.
func xrEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// xrCreateUser creates a user in org through the directory, as a service.
func (e *env) xrCreateUser(org, id, nickname string) *directoryv1.User {
	e.t.Helper()
	u, err := e.d.CreateUser(context.Background(), &directoryv1.CreateUserRequest{
		Parent: org,
		UserId: id,
		User:   &directoryv1.User{Nickname: nickname, Email: id + "@" + strings.TrimPrefix(org, "organizations/") + ".example", DisplayName: nickname},
	}, e.dirSvc)
	if err != nil {
		e.t.Fatalf("CreateUser %s: %v", id, err)
	}
	return u
}

// xrExport is one export read back: its messages and CSV records.
type xrExport struct {
	messages     int
	contentTypes []string
	header       metadata.MD
	records      [][]string
}

// xrRunExport reads the export of org with ctx and opts.
func (e *env) xrRunExport(ctx context.Context, org string, opts ...grpc.CallOption) (*xrExport, error) {
	stream, err := e.a.ExportRoleAssignments(ctx, &accessv1.ExportRoleAssignmentsRequest{Parent: org}, opts...)
	if err != nil {
		return nil, err
	}
	x := &xrExport{}
	var body bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		x.messages++
		x.contentTypes = append(x.contentTypes, msg.GetContentType())
		body.Write(msg.GetData())
	}
	x.header, _ = stream.Header()
	r := csv.NewReader(&body)
	r.FieldsPerRecord = len(xrExportHeader)
	x.records, err = r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parsing the export: %w", err)
	}
	return x, nil
}

// xrExportHeader is the header of the export (R19, seed 002's 25 fields).
var xrExportHeader = []string{
	"ID", "Role Name", "Role ID", "Role Description", "Role Type",
	"Role Assignment Type", "Scope", "Scope with Display Name", "ServiceName",
	"Security Principal ID", "Security Principal Type", "Security Principal Email",
	"Security Principal Display Name", "Inherited From Group Name", "Inherited From Group ID",
	"Tenant Name", "Organization Name", "Organization ID", "Tenant ID", "CreatedBy",
	"Created By: Display Name", "Creation Date", "Folder Name", "FolderKey", "ProjectId",
}

// Column indexes of xrExportHeader.
const (
	xrColID = iota
	xrColRoleName
	xrColRoleID
	xrColRoleDescription
	xrColRoleType
	xrColAssignmentType
	xrColScope
	xrColScopeDisplay
	xrColServiceName
	xrColPrincipal
	xrColPrincipalType
	xrColPrincipalEmail
	xrColPrincipalDisplay
	xrColGroupName
	xrColGroupID
	xrColTenantName
	xrColOrgName
	xrColOrgID
	xrColTenantID
	xrColCreatedBy
	xrColCreatedByDisplay
	xrColCreated
	xrColFolderName
	xrColFolderKey
	xrColProjectID
)

// xrRows returns the data rows of assignment id.
func (x *xrExport) xrRows(id string) [][]string {
	var out [][]string
	for _, r := range x.records[1:] {
		if r[xrColID] == id {
			out = append(out, r)
		}
	}
	return out
}

// TestExportRoleAssignments: R19 — the CSV has seed 002's 25 columns, one
// row per explicit assignment and, for a group's assignment, one inherited
// row per member naming the group.
func TestExportRoleAssignments(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := su.GetOwner().GetName()
	tenant := su.GetDefaultTenant().GetName()
	alice := e.xrCreateUser(org, "alice", "alice").GetName()
	bob := e.xrCreateUser(org, "bob", "bob").GetName()
	carol := e.xrCreateUser(org, "carol", "carol").GetName()
	g, err := e.d.CreateGroup(context.Background(), &directoryv1.CreateGroupRequest{
		Parent: org, GroupId: "auditors", Group: &directoryv1.Group{DisplayName: "Auditors"},
	}, e.dirSvc)
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	group := g.GetName()
	for _, m := range []string{alice, bob} {
		if _, err := e.d.AddGroupMember(context.Background(), &directoryv1.AddGroupMemberRequest{Group: group, Member: m}, e.dirSvc); err != nil {
			t.Fatalf("AddGroupMember %s: %v", m, err)
		}
	}

	// The owner assigns, through a trusted service acting for them.
	asOwner := e.as(owner, org)
	assign := func(principal, role, scope string) string {
		t.Helper()
		var name string
		xrEventually(t, "the directory feed to know "+principal, func() bool {
			resp, err := e.a.CreateRoleAssignment(asOwner, &accessv1.CreateRoleAssignmentRequest{
				Parent: org, Principal: principal, Roles: []string{role}, Scope: scope,
			}, e.accSvc)
			if status.Code(err) == codes.NotFound || status.Code(err) == codes.PermissionDenied {
				return false
			}
			if err != nil {
				t.Fatalf("CreateRoleAssignment %s %s %s: %v", principal, role, scope, err)
			}
			name = resp.GetRoleAssignments()[0].GetName()
			return true
		})
		return name
	}
	carolAdmin := assign(carol, "roles/organization-administrator", org)
	aliceConsole := assign(alice, "roles/console-administrator", org)
	groupTenant := assign(group, "roles/tenant-administrator", tenant)

	var x *xrExport
	xrEventually(t, "the export to show both members of the group", func() bool {
		x, err = e.xrRunExport(context.Background(), org, e.accSvc)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		return len(x.xrRows(groupTenant)) == 3
	})

	if !slices.Equal(x.records[0], xrExportHeader) {
		t.Errorf("header = %q, want %q", x.records[0], xrExportHeader)
	}
	if !slices.Equal(domain.ExportColumns, xrExportHeader) {
		t.Errorf("domain.ExportColumns = %q", domain.ExportColumns)
	}
	if x.contentTypes[0] != "text/csv; charset=utf-8" {
		t.Errorf("first content type = %q", x.contentTypes[0])
	}
	if got := x.header.Get("content-disposition"); len(got) != 1 || got[0] != `attachment; filename="role-assignments-`+strings.TrimPrefix(org, "organizations/")+`.csv"` {
		t.Errorf("content-disposition = %q", got)
	}

	// Explicit user assignments: one row each, nothing inherited.
	for _, tc := range []struct {
		id, principal, role, roleName, email string
	}{
		{carolAdmin, carol, "roles/organization-administrator", "", "carol@" + strings.TrimPrefix(org, "organizations/") + ".example"},
		{aliceConsole, alice, "roles/console-administrator", "", "alice@" + strings.TrimPrefix(org, "organizations/") + ".example"},
	} {
		rows := x.xrRows(tc.id)
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows, want 1", tc.id, len(rows))
		}
		r := rows[0]
		want := map[int]string{
			xrColRoleID: tc.role, xrColRoleType: "Built-in", xrColAssignmentType: "Custom",
			xrColScope: org, xrColPrincipal: tc.principal, xrColPrincipalType: "User",
			xrColPrincipalEmail: tc.email, xrColGroupName: "", xrColGroupID: "",
			xrColOrgID: org, xrColOrgName: su.GetOrganization().GetDisplayName(),
			xrColTenantName: "", xrColTenantID: "", xrColCreatedBy: owner,
			xrColCreatedByDisplay: su.GetOwner().GetDisplayName(),
		}
		for col, v := range want {
			if r[col] != v {
				t.Errorf("%s: %s = %q, want %q", tc.id, xrExportHeader[col], r[col], v)
			}
		}
		if r[xrColRoleName] == "" {
			t.Errorf("%s: empty role name", tc.id)
		}
		if _, err := time.Parse(time.RFC3339, r[xrColCreated]); err != nil {
			t.Errorf("%s: creation date %q: %v", tc.id, r[xrColCreated], err)
		}
	}

	// The group's assignment: its own row, then one per member.
	rows := x.xrRows(groupTenant)
	var members []string
	for _, r := range rows {
		if r[xrColTenantID] != tenant || r[xrColTenantName] != su.GetDefaultTenant().GetDisplayName() {
			t.Errorf("tenant columns = %q, %q", r[xrColTenantID], r[xrColTenantName])
		}
		if want := su.GetOrganization().GetDisplayName() + " / " + su.GetDefaultTenant().GetDisplayName(); r[xrColScopeDisplay] != want {
			t.Errorf("scope with display name = %q, want %q", r[xrColScopeDisplay], want)
		}
		if r[xrColPrincipal] == group {
			if r[xrColPrincipalType] != "Group" || r[xrColGroupID] != "" || r[xrColPrincipalDisplay] != "Auditors" {
				t.Errorf("group row = %q", r)
			}
			continue
		}
		members = append(members, r[xrColPrincipal])
		if r[xrColGroupID] != group || r[xrColGroupName] != "Auditors" || r[xrColPrincipalType] != "User" || r[xrColPrincipalEmail] == "" {
			t.Errorf("inherited row = %q", r)
		}
	}
	slices.Sort(members)
	if !slices.Equal(members, []string{alice, bob}) {
		t.Errorf("inherited rows for %q, want alice and bob", members)
	}
	for _, r := range x.records[1:] {
		if r[xrColPrincipal] == carol && r[xrColGroupID] == group {
			t.Errorf("carol inherits from a group she is not in: %q", r)
		}
	}

	// Everyone's members are every user: any assignment to it has one
	// inherited row per user (R5).
	everyone := org + "/groups/everyone"
	everyoneRows := 0
	for _, r := range x.records[1:] {
		if r[xrColPrincipal] != everyone {
			continue
		}
		everyoneRows++
		inherited := 0
		for _, r2 := range x.xrRows(r[xrColID]) {
			if r2[xrColGroupID] == everyone {
				inherited++
			}
		}
		if inherited != 4 {
			t.Errorf("Everyone's %s: %d inherited rows, want 4 (every user)", r[xrColID], inherited)
		}
	}
	if everyoneRows == 0 {
		t.Error("no row for Everyone's built-in User assignment")
	}

	// A user of another organization does not see this one.
	other := e.signUp()
	if _, err := e.xrRunExport(e.as(other.GetOwner().GetName(), other.GetOrganization().GetName()), org, e.accSvc); status.Code(err) != codes.NotFound {
		t.Errorf("export of another organization: %v, want NotFound", err)
	}
}

// TestExportRoleAssignmentsLarge: R19 "streamed, so size does not matter" —
// 3,000 assignments arrive as many ~64 KiB messages, every one of them.
func TestExportRoleAssignmentsLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large export")
	}
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	svc := context.Background()

	const roles, users = 30, 100
	var roleNames []string
	for i := range roles {
		r, err := e.a.CreateRole(svc, &accessv1.CreateRoleRequest{
			Parent: org, RoleId: fmt.Sprintf("viewer-%d", i),
			Role: &accessv1.Role{DisplayName: fmt.Sprintf("Viewer %d", i), Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}},
		}, e.accSvc)
		if err != nil {
			t.Fatalf("CreateRole: %v", err)
		}
		roleNames = append(roleNames, r.GetName())
	}
	var userNames []string
	for i := range users {
		userNames = append(userNames, e.xrCreateUser(org, fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i)).GetName())
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 8)
	for _, u := range userNames {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := e.a.CreateRoleAssignment(svc, &accessv1.CreateRoleAssignmentRequest{
					Parent: org, Principal: u, Roles: roleNames, Scope: org,
				}, e.accSvc)
				if status.Code(err) == codes.NotFound && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond) // the feed has not brought u yet
					continue
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", u, err))
					mu.Unlock()
				}
				return
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("CreateRoleAssignment: %v", errs)
	}

	x, err := e.xrRunExport(svc, org, e.accSvc)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	custom := 0
	ids := map[string]bool{}
	for _, r := range x.records[1:] {
		if strings.HasPrefix(r[xrColRoleID], org+"/roles/viewer-") {
			custom++
			ids[r[xrColID]] = true
			if r[xrColRoleType] != "Custom" || r[xrColRoleName] == "" || r[xrColGroupID] != "" {
				t.Fatalf("row = %q", r)
			}
		}
	}
	if custom != roles*users || len(ids) != roles*users {
		t.Errorf("%d rows of %d custom-role assignments, want %d", custom, len(ids), roles*users)
	}
	if x.messages < 2 { // about 1 MB of rows, in chunks of 512 KiB
		t.Errorf("%d messages, want the export split into several", x.messages)
	}
	for i, ct := range x.contentTypes {
		if (i == 0) != (ct != "") {
			t.Errorf("message %d content type %q: only the first carries it", i, ct)
		}
	}
	t.Logf("%d rows in %d messages", len(x.records)-1, x.messages)
}
