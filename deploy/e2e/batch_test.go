//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// batchOrg is an organization for the batch tests: its owner's token, an
// Orchestrator service with folders, groups and users.
type batchOrg struct {
	org, token, service string
	owner               context.Context
	folders, groups     []string
	users               []string
}

// newBatchOrg signs up an organization through the real binaries and
// creates, as its owner over gRPC, an Orchestrator service with nFolders
// folders, nGroups groups and nUsers users (8 callers at a time).
func newBatchOrg(t *testing.T, s *suite, id string, nFolders, nGroups, nUsers int) *batchOrg {
	t.Helper()
	ctx := context.Background()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: id, OrganizationDisplayName: id,
		Nickname: "owner", Email: "owner@" + id + ".example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	o := &batchOrg{org: su.GetOrganization().GetName()}
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: o.org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "owner@" + id + ".example", Password: "owner's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	o.token = in.GetAccessToken()
	o.owner = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+o.token)
	svc, err := dir.CreateService(o.owner, &directoryv1.CreateServiceRequest{Parent: o.org + "/tenants/default", ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatal(err)
	}
	o.service = svc.GetName()
	for i := range nFolders {
		f, err := dir.CreateFolder(o.owner, &directoryv1.CreateFolderRequest{Parent: o.service, FolderId: fmt.Sprintf("f%d", i), Folder: &directoryv1.Folder{DisplayName: fmt.Sprintf("F%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		o.folders = append(o.folders, f.GetName())
	}
	for i := range nGroups {
		g, err := dir.CreateGroup(o.owner, &directoryv1.CreateGroupRequest{Parent: o.org, GroupId: fmt.Sprintf("g%d", i), Group: &directoryv1.Group{DisplayName: fmt.Sprintf("G%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		o.groups = append(o.groups, g.GetName())
	}
	o.users = make([]string, nUsers)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < nUsers; i += 8 {
				u, err := dir.CreateUser(o.owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: fmt.Sprintf("u%d", i),
					User: &directoryv1.User{Nickname: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@%s.example", i, id)}})
				if err != nil {
					errs <- err
					return
				}
				o.users[i] = u.GetName()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return o
}

// TestBatchGateway (issue 13, R15, R17) drives the batch RPCs through the
// gateway's JSON edge: 1,000 memberships in one
// POST .../groups:batchAddMembers and 1,000 role assignments in one
// POST .../roleAssignments:batchCreate, then asks CheckPermission for
// every user: each holds the assignment's permission, and the members of
// the group that got a folder role hold it there too. A batch with one
// item beyond the caller's rights (a plain user granting anything) is 403
// naming the item, and writes nothing.
func TestBatchGateway(t *testing.T) {
	s := launch(t)
	const n = 1000
	o := newBatchOrg(t, s, "batch", 1, 10, n)
	auth := map[string]string{"Authorization": "Bearer " + o.token}

	members := make([]map[string]string, n)
	for i, u := range o.users {
		members[i] = map[string]string{"group": o.groups[i%len(o.groups)], "member": u}
	}
	code, body := jsonCall(t, s, http.MethodPost, "/v1/"+o.org+"/groups:batchAddMembers", map[string]any{"requests": members}, auth)
	if code != http.StatusOK {
		t.Fatalf("batchAddMembers: HTTP %d %s", code, body)
	}
	var added struct {
		Memberships []struct{ Group, Member string }
	}
	if err := json.Unmarshal([]byte(body), &added); err != nil || len(added.Memberships) != n {
		t.Fatalf("batchAddMembers answered %d memberships (%v), want %d", len(added.Memberships), err, n)
	}

	items := make([]map[string]any, n)
	for i, u := range o.users {
		items[i] = map[string]any{"parent": o.org, "principal": u, "roles": []string{"roles/automation-user"}, "scope": o.service}
	}
	start := time.Now()
	code, body = jsonCall(t, s, http.MethodPost, "/v1/"+o.org+"/roleAssignments:batchCreate", map[string]any{"requests": items}, auth)
	if code != http.StatusOK {
		t.Fatalf("batchCreate: HTTP %d %s", code, body)
	}
	t.Logf("1,000 assignments through the gateway in %v", time.Since(start))
	var made struct {
		RoleAssignments []struct{ Name, Principal string }
		Sequence        string
	}
	if err := json.Unmarshal([]byte(body), &made); err != nil || len(made.RoleAssignments) != n {
		t.Fatalf("batchCreate answered %d assignments (%v), want %d", len(made.RoleAssignments), err, n)
	}
	seq, _ := strconv.ParseUint(made.Sequence, 10, 64)
	// A folder role for group g0: its 100 members hold it through the
	// group (R14), as soon as access has followed the directory.
	code, body = jsonCall(t, s, http.MethodPost, "/v1/"+o.org+"/roleAssignments", map[string]any{
		"principal": o.groups[0], "roles": []string{"roles/automation-developer"}, "scope": o.folders[0]}, auth)
	if code != http.StatusOK {
		t.Fatalf("assigning g0: HTTP %d %s", code, body)
	}

	// CheckPermission through the gateway for a sample, the batch form
	// over gRPC for every user.
	for i := 0; i < n; i += 97 {
		code, body := jsonCall(t, s, http.MethodPost, "/v1/"+o.users[i]+":checkPermission", map[string]any{
			"permission": "orchestrator.jobs.create", "scope": o.folders[0], "atLeastSequence": strconv.FormatUint(seq, 10)}, auth)
		var r struct{ Allowed bool }
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || !r.Allowed {
			t.Errorf("checkPermission of %s: HTTP %d %s, want allowed", o.users[i], code, body)
		}
	}
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	check := func(permission string, users []string) int {
		req := &accessv1.BatchCheckPermissionRequest{AtLeastSequence: seq}
		for _, u := range users {
			req.Items = append(req.Items, &accessv1.CheckPermissionRequest{Principal: u, Permission: permission, Scope: o.folders[0]})
		}
		resp, err := acc.BatchCheckPermission(o.owner, req)
		if err != nil {
			t.Fatal(err)
		}
		allowed := 0
		for _, r := range resp.GetResults() {
			if r.GetAllowed() {
				allowed++
			}
		}
		return allowed
	}
	if got := check("orchestrator.jobs.create", o.users); got != n {
		t.Errorf("%d of %d users hold the batch's assignment, want all", got, n)
	}
	var g0 []string
	for i := 0; i < n; i += len(o.groups) {
		g0 = append(g0, o.users[i])
	}
	for deadline := time.Now().Add(10 * time.Second); check("orchestrator.assets.create", g0) != len(g0); {
		if time.Now().After(deadline) {
			t.Fatalf("the batch's members of g0 do not hold its folder role: %d of %d", check("orchestrator.assets.create", g0), len(g0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := check("orchestrator.assets.create", o.users[1:2]); got != 0 {
		t.Errorf("a member of g1 holds g0's folder role")
	}

	// A plain user's batch is refused whole, naming the item (R17).
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	plain, err := dir.CreateUser(o.owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: "plain",
		User: &directoryv1.User{Nickname: "plain", Email: "plain@batch.example"}, InitialPassword: "plain's long password"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := dir.SignIn(context.Background(), &directoryv1.SignInRequest{Organization: o.org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: plain.GetEmail(), Password: "plain's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	before := check("orchestrator.settings.view", o.users[:2])
	code, body = jsonCall(t, s, http.MethodPost, "/v1/"+o.org+"/roleAssignments:batchCreate", map[string]any{"requests": []map[string]any{
		{"parent": o.org, "principal": o.users[1], "roles": []string{"roles/orchestrator-administrator"}, "scope": o.service},
	}}, map[string]string{"Authorization": "Bearer " + in.GetAccessToken()})
	wantRPCStatus(t, "a plain user's batch", code, body, http.StatusForbidden, "requests[0]")
	if after := check("orchestrator.settings.view", o.users[:2]); after != before {
		t.Errorf("a refused batch changed rights: %d -> %d", before, after)
	}
}
