//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/oidcauth/oidctest"
)

// gateway calls the JSON gateway: method and path, a JSON body (nil for
// none) and a bearer token ("" for none); it decodes the JSON answer into
// out (when not nil) and returns the HTTP status.
func gatewayCall(t *testing.T, s *suite, method, path string, body any, token string, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.addrs["gateway"]+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("%s %s -> %d %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode
}

func must200(t *testing.T, code int, what string) {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("%s: HTTP %d, want 200", what, code)
	}
}

// TestDirectory is issue 4's end-to-end run against the real binaries,
// through gRPC and through the JSON gateway: sign-up (R1), the scope tree
// (R2), departments, users, a custom group and memberships (R3–R5, R7), a
// robot with its account and an API key (R6, R10), password + TOTP sign-in
// and an OIDC sign-in with auto-provisioning (R9), the account-system switch
// (R8) and the events it all emitted. It also shows another backend
// verifying the directory's tokens.
func TestDirectory(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	asService := s.asService(ctx, "audit") // verifies credentials and reads the event log

	// R1: sign up through the gateway.
	var su struct {
		Organization struct{ Name, Owner string }
		Owner        struct{ Name, Email string }
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/organizations:signUp", map[string]any{
		"organizationId": "e2e", "organizationDisplayName": "E2E Corp", "nickname": "owner",
		"email": "owner@e2e.example", "password": "owner's long password",
	}, "", &su), "sign-up")
	org := su.Organization.Name
	if org != "organizations/e2e" || su.Owner.Name != su.Organization.Owner {
		t.Fatalf("sign-up = %+v", su)
	}

	// R9: password sign-in over gRPC.
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "owner@e2e.example", Password: "owner's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := in.GetAccessToken()
	owner := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)

	// R2: tenant over the gateway, service over gRPC, folder over the gateway.
	var tenant struct{ Name string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+org+"/tenants?tenantId=finance", map[string]any{"displayName": "Finance"}, tok, &tenant), "create tenant")
	svc, err := dir.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: tenant.Name, ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.GetCreator() != su.Owner.Name {
		t.Fatalf("service creator = %q", svc.GetCreator())
	}
	var folder struct{ Name string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+svc.GetName()+"/folders?folderId=invoices", map[string]any{"displayName": "Invoices"}, tok, &folder), "create folder")
	var ancestors struct{ Nodes []struct{ Name, Kind string } }
	must200(t, gatewayCall(t, s, "GET", "/v1/"+folder.Name+":listAncestors", nil, tok, &ancestors), "ancestors")
	if len(ancestors.Nodes) != 4 || ancestors.Nodes[3].Name != folder.Name {
		t.Fatalf("ancestors = %+v", ancestors)
	}

	// R7, R3, R5: a department, two users, a custom group, memberships.
	dept, err := dir.CreateDepartment(owner, &directoryv1.CreateDepartmentRequest{Parent: org, DepartmentId: "accounting",
		Department: &directoryv1.Department{DisplayName: "Accounting"}})
	if err != nil {
		t.Fatal(err)
	}
	var alice struct{ Name string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+org+"/users?userId=alice", map[string]any{
		"user":            map[string]any{"nickname": "alice", "email": "alice@e2e.example", "department": dept.GetName()},
		"initialPassword": "alice's long password",
	}, tok, &alice), "create user")
	bob, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: "bob",
		User: &directoryv1.User{Nickname: "bob", Email: "bob@e2e.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if code := gatewayCall(t, s, "POST", "/v1/"+org+"/users", map[string]any{
		"user": map[string]any{"nickname": "a nickname that is too long", "email": "x@e2e.example"}}, tok, nil); code != http.StatusBadRequest {
		t.Fatalf("invalid nickname: HTTP %d, want 400", code)
	}
	group, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, GroupId: "payables", Group: &directoryv1.Group{DisplayName: "Payables"}})
	if err != nil {
		t.Fatal(err)
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+group.GetName()+":addMember", map[string]any{"member": alice.Name}, tok, nil), "add member")
	if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: group.GetName(), Member: bob.GetName()}); err != nil {
		t.Fatal(err)
	}
	var members struct{ Memberships []struct{ Member string } }
	must200(t, gatewayCall(t, s, "GET", "/v1/"+group.GetName()+":listMembers", nil, tok, &members), "list members")
	if len(members.Memberships) != 2 {
		t.Fatalf("members = %+v", members)
	}
	var groups struct {
		Memberships []struct {
			Group    string
			Implicit bool
		}
	}
	must200(t, gatewayCall(t, s, "GET", "/v1/"+alice.Name+":listGroups", nil, tok, &groups), "list user groups")
	if len(groups.Memberships) != 2 {
		t.Fatalf("alice's groups = %+v, want Payables and Everyone", groups)
	}

	// R6, R10: a robot with its account, and an API key shown once.
	robot, err := dir.CreateRobot(owner, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "r1",
		Robot: &directoryv1.Robot{DisplayName: "Robot 1", MachineName: "host-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		ApiKey struct{ Name, Prefix string }
		Secret string
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+robot.GetRobotAccount()+"/apiKeys", map[string]any{"apiKey": map[string]any{"displayName": "ci"}}, tok, &key), "create API key")
	if !strings.HasPrefix(key.Secret, key.ApiKey.Prefix) {
		t.Fatalf("API key = %+v", key)
	}
	vc, err := dir.VerifyCredential(asService, &directoryv1.VerifyCredentialRequest{Credential: &directoryv1.VerifyCredentialRequest_ApiKey{ApiKey: key.Secret}})
	if err != nil || vc.GetPrincipal().GetName() != robot.GetRobotAccount() {
		t.Fatalf("VerifyCredential(API key) = %v, %v", vc, err)
	}
	// The API key authenticates the robot account through the gateway (403,
	// not 401): its Robot role holds no organization-level users.view (R6,
	// R13), so listing the directory's robots is refused.
	if code := gatewayCall(t, s, "GET", "/v1/"+org+"/robots", nil, key.Secret, nil); code != http.StatusForbidden {
		t.Fatalf("robot account listing robots with its API key: HTTP %d, want 403", code)
	}
	if code := gatewayCall(t, s, "GET", "/v1/"+org+"/robots", nil, "stwk_not-a-key", nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown API key: HTTP %d, want 401", code)
	}

	// Another backend verifies the directory's token through
	// VerifyCredential: the caller is known (not Unauthenticated), and the
	// internal method is refused.
	accessLog := eventlogv1.NewEventLogServiceClient(s.dial("access"))
	if _, err := accessLog.ListEvents(owner, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("access with a directory token: %v, want PermissionDenied (authenticated, internal method)", err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok+"x")
	if _, err := accessLog.ListEvents(bad, &eventlogv1.ListEventsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("access with a forged token: %v, want Unauthenticated", err)
	}

	// R9: TOTP through the gateway, then sign-in needs the code.
	var enr struct{ Secret string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+su.Owner.Name+":enrollTotp", map[string]any{}, tok, &enr), "enroll TOTP")
	code, err := credential.TOTPCode(enr.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+su.Owner.Name+":confirmTotp", map[string]any{"code": code}, tok, nil), "confirm TOTP")
	signIn := map[string]any{"password": map[string]any{"email": "owner@e2e.example", "password": "owner's long password"}}
	if c := gatewayCall(t, s, "POST", "/v1/"+org+":signIn", signIn, "", nil); c != http.StatusUnauthorized {
		t.Fatalf("sign-in without the TOTP code: HTTP %d, want 401", c)
	}
	// Each code is good once (RFC 6238 §5.2): the confirmation's is used
	// up; the next step's is good.
	signIn["password"].(map[string]any)["totpCode"] = code
	if c := gatewayCall(t, s, "POST", "/v1/"+org+":signIn", signIn, "", nil); c != http.StatusUnauthorized {
		t.Fatalf("sign-in with the confirmation's TOTP code: HTTP %d, want 401", c)
	}
	code, _ = credential.TOTPCode(enr.Secret, time.Now().Add(30*time.Second))
	signIn["password"].(map[string]any)["totpCode"] = code
	var in2 struct{ AccessToken string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+org+":signIn", signIn, "", &in2), "sign-in with TOTP")
	tok = in2.AccessToken
	owner = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)

	// R8: switch to a local OIDC issuer; every user but the owner goes.
	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	as, err := dir.GetAccountSystem(owner, &directoryv1.GetAccountSystemRequest{Name: org + "/accountSystem"})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := dir.SwitchAccountSystem(owner, &directoryv1.SwitchAccountSystemRequest{
		Name: org + "/accountSystem", Confirm: true, Etag: as.GetEtag(),
		AccountSystem: &directoryv1.AccountSystem{Kind: directoryv1.AccountSystem_KIND_OIDC, Oidc: &directoryv1.OidcConfig{
			Issuer: iss.URL(), ClientId: "steward", GroupClaim: "groups", GroupMapping: map[string]string{"ap-team": group.GetName()},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sw.GetDeletedUserCount() != 2 {
		t.Fatalf("switch deleted %d users, want 2 (alice, bob)", sw.GetDeletedUserCount())
	}
	var users struct{ Users []struct{ Name string } }
	must200(t, gatewayCall(t, s, "GET", "/v1/"+org+"/users", nil, tok, &users), "list users")
	if len(users.Users) != 1 || users.Users[0].Name != su.Owner.Name {
		t.Fatalf("users after the switch = %+v, want the owner alone", users)
	}

	// R9: first OIDC sign-in through the gateway provisions the user.
	idToken, err := iss.Mint(oidctest.Claims{Subject: "carol-sub", Audience: "steward", Email: "carol@idp.example", Name: "Carol", Groups: []string{"ap-team"}})
	if err != nil {
		t.Fatal(err)
	}
	var ext struct {
		Principal   string
		Provisioned bool
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+org+":signIn", map[string]any{"external": map[string]any{"idToken": idToken}}, "", &ext), "external sign-in")
	if !ext.Provisioned {
		t.Fatalf("external sign-in = %+v, want provisioned", ext)
	}

	// The events: one deletion per sub-account, the switch, the
	// provisioning messages.
	events := eventlogv1.NewEventLogServiceClient(s.dial("directory"))
	var evs []*eventlogv1.Event
	for tokn := ""; ; {
		page, err := events.ListEvents(asService, &eventlogv1.ListEventsRequest{PageSize: 1000, PageToken: tokn})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, page.GetEvents()...)
		if tokn = page.GetNextPageToken(); tokn == "" {
			break
		}
	}
	count := map[string]int{}
	var messages []string
	for _, ev := range evs {
		count[ev.GetType()]++
		messages = append(messages, ev.GetAudit().GetMessage())
	}
	all := strings.Join(messages, "\n")
	for _, want := range []string{
		"was automatically provisioned from the following Payables.",
		"was assigned to the following Payables.",
		"The account system was switched to OIDC; 2 accounts were deleted.",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no event says %q", want)
		}
	}
	for _, typ := range []string{"directory.account_system.switched", "directory.user.provisioned",
		"directory.tenant.created", "directory.service.created", "directory.folder.created", "directory.robot_account.created", "directory.api_key.created"} {
		if count[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	if count["directory.user.deleted"] != 2 {
		t.Errorf("%d user deletions, want 2 (the switch's)", count["directory.user.deleted"])
	}
}
