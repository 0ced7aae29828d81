//go:build e2e

package e2e_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestAccess is issue 5's end-to-end run against the real binaries: the
// directory's permission checks are answered by access (dogfooding); a role
// assigned to a custom group at an Orchestrator service (R13) reaches a user
// as soon as the directory adds them to the group (the latency is measured
// and logged, for BENCHMARKS.md, not asserted);
// and the JSON gateway serves access's routes.
func TestAccess(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	asService := s.asService(ctx, "licensing") // checks permissions as licensing does
	check := func(principal, permission, scope string) (*accessv1.CheckPermissionResponse, error) {
		return acc.CheckPermission(asService, &accessv1.CheckPermissionRequest{Principal: principal, Permission: permission, Scope: scope})
	}
	// await polls Check until principal holds permission at scope, for the
	// asynchronous steps before the measurement.
	await := func(principal, permission, scope string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := check(principal, permission, scope)
			if err == nil && resp.GetAllowed() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("access: %s does not hold %s at %s after 10s: %v, %v", principal, permission, scope, resp, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// R1: sign up; access follows the directory and knows the owner.
	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "acme", OrganizationDisplayName: "Acme",
		Nickname: "owner", Email: "owner@acme.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	org := su.GetOrganization().GetName()
	await(su.GetOwner().GetName(), "users.create", org)
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "owner@acme.example", Password: "owner's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := in.GetAccessToken()
	owner := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)

	// The directory asks access: the owner may create a user, a group, a
	// tenant and an Orchestrator service.
	uma, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "uma",
		User: &directoryv1.User{Nickname: "uma", Email: "uma@acme.example"}, InitialPassword: "uma's long password"})
	if err != nil {
		t.Fatalf("owner creating a user (checked by access): %v", err)
	}
	group, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, GroupId: "operators",
		Group: &directoryv1.Group{DisplayName: "Operators"}})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := dir.CreateTenant(owner, &directoryv1.CreateTenantRequest{Parent: org, TenantId: "ops",
		Tenant: &directoryv1.Tenant{DisplayName: "Operations"}})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := dir.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: tenant.GetName(), ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatal(err)
	}

	// A plain member is refused by the directory, through access, naming the
	// permission.
	umaTok, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "uma@acme.example", Password: "uma's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	await(uma.GetName(), "users.view", org) // Everyone → User
	umaCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+umaTok.GetAccessToken())
	if _, err := dir.ListUsers(umaCtx, &directoryv1.ListUsersRequest{Parent: org}); err != nil {
		t.Fatalf("member listing users: %v", err)
	}
	_, err = dir.CreateUser(umaCtx, &directoryv1.CreateUserRequest{Parent: org, User: &directoryv1.User{Nickname: "vic", Email: "vic@acme.example"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "users.create") {
		t.Fatalf("member creating a user: %v, want PermissionDenied naming users.create", err)
	}

	// R13: Automation User (a folder role) for the group at the service, by
	// the owner over gRPC. Access learns of the group and the service from
	// the directory's feed, so the first attempts may not find them yet.
	const perm = "orchestrator.jobs.create"
	var ra *accessv1.CreateRoleAssignmentResponse
	for deadline := time.Now().Add(10 * time.Second); ; {
		ra, err = acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
			Principal: group.GetName(), Roles: []string{"roles/automation-user"}, Scope: svc.GetName()})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || len(ra.GetRoleAssignments()) != 1 {
		t.Fatalf("CreateRoleAssignment = %v, %v", ra, err)
	}
	folderScope := svc.GetName() + "/folders/invoices" // holds in every folder of the service
	for _, scope := range []string{svc.GetName(), folderScope} {
		resp, err := check(uma.GetName(), perm, scope)
		if err != nil || resp.GetAllowed() {
			t.Fatalf("before the membership, Check(%s at %s) = %v, %v; want denied", perm, scope, resp, err)
		}
	}

	// The membership change, and how soon Check sees it.
	start := time.Now()
	if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: group.GetName(), Member: uma.GetName()}); err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	var tries int
	var last *accessv1.CheckPermissionResponse
	for {
		tries++
		last, err = check(uma.GetName(), perm, svc.GetName())
		if err != nil {
			t.Fatalf("CheckPermission: %v", err)
		}
		if last.GetAllowed() {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the membership did not reach access within 5s: %v", last)
		}
		time.Sleep(500 * time.Microsecond)
	}
	seen := time.Now()
	latency, sinceReturn := seen.Sub(start), seen.Sub(committed)
	t.Logf("membership → Check latency: %v from the AddGroupMember call (%v after it returned; the call took %v), %d Check calls; reason: %s",
		latency, sinceReturn, committed.Sub(start), tries, last.GetReason())
	if resp, err := check(uma.GetName(), perm, folderScope); err != nil || !resp.GetAllowed() {
		t.Errorf("Check at a folder of the service = %v, %v; want allowed (R13)", resp, err)
	}
	if !strings.Contains(last.GetReason(), group.GetName()) {
		t.Errorf("reason %q does not name the group it comes through", last.GetReason())
	}

	// The JSON gateway serves access's routes: the catalogue, and a check.
	var perms struct{ Permissions []struct{ Name string } }
	must200(t, gatewayCall(t, s, "GET", "/v1/permissions", nil, tok, &perms), "list permissions")
	names := make([]string, 0, len(perms.Permissions))
	for _, p := range perms.Permissions {
		names = append(names, p.Name)
	}
	if !slices.Contains(names, perm) || !slices.Contains(names, "users.create") {
		t.Fatalf("GET /v1/permissions lists %d permissions without %s or users.create", len(names), perm)
	}
	if code := gatewayCall(t, s, "GET", "/v1/permissions", nil, "", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/permissions without a token: HTTP %d, want 401", code)
	}
	var decision struct {
		Allowed bool
		Reason  string
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+uma.GetName()+":checkPermission",
		map[string]any{"permission": perm, "scope": folderScope}, tok, &decision), "check permission")
	if !decision.Allowed {
		t.Errorf("POST %s:checkPermission = %+v, want allowed", uma.GetName(), decision)
	}

	// R19: the export is a CSV file download through the gateway, with one
	// inherited row for uma through the group.
	req, err := http.NewRequest("GET", "http://"+s.addrs["gateway"]+"/v1/"+org+"/roleAssignments:export", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("export: HTTP %d, %v", resp.StatusCode, err)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(cd, "attachment") {
		t.Errorf("export headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	if len(rows) < 2 || len(rows[0]) != 25 {
		t.Fatalf("export: %d rows, header %v; want 25 columns", len(rows), rows[0])
	}
	inherited := false
	for _, r := range rows[1:] {
		inherited = inherited || (r[9] == uma.GetName() && r[14] == group.GetName())
	}
	if !inherited {
		t.Errorf("export has no row for %s inherited through %s", uma.GetName(), group.GetName())
	}
}
