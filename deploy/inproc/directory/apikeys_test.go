package directory_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/services/directory/domain"
)

// akEnv is an organization of an accessEnv with a key maker: kim, whose
// custom role lets her view and edit users and manage API keys, and two
// external applications, "mighty" (Organization Administrator) and
// "plain" (no role).
type akEnv struct {
	*accessEnv
	t      *testing.T
	org    string
	owner  context.Context
	kim    *directoryv1.User
	kimCtx context.Context
	mighty string
	plain  string
}

func newAKEnv(t *testing.T) *akEnv {
	t.Helper()
	e := newAccessEnv(t)
	su := e.signUpReady()
	org := su.GetOrganization().GetName()
	owner := bearer(e.signIn(org, su.GetOwner().GetEmail(), "correct horse battery", "").GetAccessToken())
	role, err := e.a.CreateRole(owner, &accessv1.CreateRoleRequest{Parent: org, RoleId: "key-makers",
		Role: &accessv1.Role{DisplayName: "Key makers", Level: accessv1.Level_LEVEL_ORGANIZATION,
			Permissions: []string{"users.view", "users.edit", "licenses.api_keys.create", "licenses.api_keys.view", "licenses.api_keys.delete"}}})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	kim, err := e.c.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org,
		User: &directoryv1.User{Nickname: "kim", Email: "kim@x.example"}, InitialPassword: "kim's long password"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
		Principal: kim.GetName(), Roles: []string{role.GetName()}, Scope: org}); err != nil {
		t.Fatalf("CreateRoleAssignment: %v", err)
	}
	ak := &akEnv{accessEnv: e, t: t, org: org, owner: owner, kim: kim,
		kimCtx: bearer(e.signIn(org, "kim@x.example", "kim's long password", "").GetAccessToken())}
	newApp := func(id string) string {
		app, err := e.c.CreateExternalApp(owner, &directoryv1.CreateExternalAppRequest{Parent: org, ExternalAppId: id,
			ExternalApp: &directoryv1.ExternalApp{DisplayName: id}})
		if err != nil {
			t.Fatal(err)
		}
		return app.GetName()
	}
	ak.mighty, ak.plain = newApp("mighty"), newApp("plain")
	// CreateRoleAssignment waits for access to catch up with the directory.
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
		Principal: ak.mighty, Roles: []string{"roles/organization-administrator"}, Scope: org}); err != nil {
		t.Fatalf("CreateRoleAssignment for the app: %v", err)
	}
	return ak
}

// key creates an API key of parent acting in ctx.
func (e *akEnv) key(ctx context.Context, parent, display string) (*directoryv1.CreateApiKeyResponse, error) {
	return e.c.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: parent, ApiKey: &directoryv1.ApiKey{DisplayName: display}})
}

// mustKey is key failing the test on error.
func (e *akEnv) mustKey(ctx context.Context, parent, display string) *directoryv1.CreateApiKeyResponse {
	e.t.Helper()
	k, err := e.key(ctx, parent, display)
	if err != nil {
		e.t.Fatalf("CreateApiKey %s for %s: %v", display, parent, err)
	}
	return k
}

// check asks access, once it has applied everything the directory did,
// whether principal (an API key name, typically) holds permission at the
// organization.
func (e *akEnv) check(principal, permission string) *accessv1.CheckPermissionResponse {
	e.t.Helper()
	head, err := e.b.EventLog().Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.a.CheckPermission(context.Background(), &accessv1.CheckPermissionRequest{
		Principal: principal, Permission: permission, Scope: e.org, AtLeastDirectorySequence: head,
	}, e.accSvc)
	if err != nil {
		e.t.Fatalf("CheckPermission %s %s: %v", principal, permission, err)
	}
	return resp
}

// TestApiKeyRights (issue 9 item 5, contract C4): a key holds only what
// both its principal and its creator hold. kim, who may view and edit
// users, makes a key for an Organization Administrator app: the key lists
// users, but cannot create one, nor add someone to the Administrators group
// (the membership path judges the key, not the app). The owner's key for
// the same app can. CreateApiKey no longer refuses the key up front: it
// grants nothing beyond its creator.
func TestApiKeyRights(t *testing.T) {
	e := newAKEnv(t)
	head, _ := e.b.EventLog().Head(context.Background())
	k := e.mustKey(e.kimCtx, e.mighty, "kim's")
	if got := k.GetApiKey().GetCreator(); got != e.kim.GetName() {
		t.Fatalf("creator = %q, want %s", got, e.kim.GetName())
	}
	created := false
	for _, ev := range e.eventsAfter(head) {
		if ev.GetType() != domain.TypeAPIKeyCreated {
			continue
		}
		rec := &directoryv1.ApiKey{}
		if err := ev.GetData().UnmarshalTo(rec); err != nil || rec.GetCreator() != e.kim.GetName() {
			t.Fatalf("created event = %v (%v), want creator %s", rec, err, e.kim.GetName())
		}
		created = true
	}
	if !created {
		t.Fatal("no directory.api_key.created event")
	}
	keyCtx := bearer(k.GetSecret())

	if _, err := e.c.ListUsers(keyCtx, &directoryv1.ListUsersRequest{Parent: e.org}); err != nil {
		t.Fatalf("ListUsers with kim's key (both hold users.view): %v", err)
	}
	_, err := e.c.CreateUser(keyCtx, &directoryv1.CreateUserRequest{Parent: e.org, User: &directoryv1.User{Nickname: "x", Email: "x@x.example"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "users.create") {
		t.Fatalf("CreateUser with kim's key (the app holds users.create, kim does not) = %v, want PermissionDenied naming users.create", err)
	}
	if r := e.check(k.GetApiKey().GetName(), "users.create"); r.GetAllowed() || !strings.Contains(r.GetReason(), "its creator "+e.kim.GetName()) {
		t.Fatalf("access on kim's key and users.create = %v", r)
	}
	if r := e.check(k.GetApiKey().GetName(), "users.edit"); !r.GetAllowed() {
		t.Fatalf("access on kim's key and users.edit = %v", r)
	}
	_, err = e.c.AddGroupMember(keyCtx, &directoryv1.AddGroupMemberRequest{Group: e.org + "/groups/" + domain.GroupAdministrators, Member: e.kim.GetName()})
	mcWant(t, "kim's key adding kim to Administrators", err, codes.PermissionDenied, "ESCALATION")

	ownerKey := e.mustKey(e.owner, e.mighty, "owner's")
	ownerKeyCtx := bearer(ownerKey.GetSecret())
	if _, err := e.c.CreateUser(ownerKeyCtx, &directoryv1.CreateUserRequest{Parent: e.org, User: &directoryv1.User{Nickname: "x", Email: "x@x.example"}}); err != nil {
		t.Fatalf("CreateUser with the owner's key: %v", err)
	}
	if _, err := e.c.AddGroupMember(ownerKeyCtx, &directoryv1.AddGroupMemberRequest{Group: e.org + "/groups/" + domain.GroupAdministrators, Member: e.kim.GetName()}); err != nil {
		t.Fatalf("the owner's key adding kim to Administrators: %v", err)
	}
}

// TestApiKeyCreatorLifecycle (issue 9 item 5, C4): keys made with keys
// record the right creator (a rotation the old key's creator, a key of
// another principal the key that made it); a deactivated creator suspends
// its keys, reactivation resumes them; deleting the creator revokes every
// key it made, and those those keys made, each with an event saying why.
func TestApiKeyCreatorLifecycle(t *testing.T) {
	e := newAKEnv(t)
	k1 := e.mustKey(e.kimCtx, e.mighty, "k1")
	k1Ctx := bearer(k1.GetSecret())
	rotated := e.mustKey(k1Ctx, e.mighty, "rotated")
	other := e.mustKey(k1Ctx, e.plain, "other")
	if got := rotated.GetApiKey().GetCreator(); got != e.kim.GetName() {
		t.Errorf("a rotated key's creator = %q, want the old key's creator %s", got, e.kim.GetName())
	}
	if got := other.GetApiKey().GetCreator(); got != k1.GetApiKey().GetName() {
		t.Errorf("creator of a key made with another principal's key = %q, want that key %s", got, k1.GetApiKey().GetName())
	}
	ownerKey := e.mustKey(e.owner, e.mighty, "owner's")

	// A call with the key: the directory authenticates it itself.
	verify := func(secret string) error {
		_, err := e.c.GetExternalApp(bearer(secret), &directoryv1.GetExternalAppRequest{Name: e.plain})
		return err
	}
	if _, err := e.c.DeactivateUser(e.owner, &directoryv1.DeactivateUserRequest{Name: e.kim.GetName()}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*directoryv1.CreateApiKeyResponse{k1, rotated, other} {
		if err := verify(k.GetSecret()); status.Code(err) != codes.Unauthenticated {
			t.Errorf("key %s of deactivated kim verifies: %v", k.GetApiKey().GetDisplayName(), err)
		}
		if r := e.check(k.GetApiKey().GetName(), "users.view"); r.GetAllowed() {
			t.Errorf("access allows key %s of deactivated kim: %v", k.GetApiKey().GetDisplayName(), r)
		}
	}
	if _, err := e.c.ActivateUser(e.owner, &directoryv1.ActivateUserRequest{Name: e.kim.GetName()}); err != nil {
		t.Fatal(err)
	}
	if err := verify(k1.GetSecret()); err != nil {
		t.Errorf("kim reactivated, her key: %v", err)
	}
	if r := e.check(k1.GetApiKey().GetName(), "users.view"); !r.GetAllowed() {
		t.Errorf("kim reactivated, access on her key: %v", r)
	}

	head, _ := e.b.EventLog().Head(context.Background())
	if err := e.deleteUser(e.kim.GetName()); err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, ev := range e.eventsAfter(head) {
		if ev.GetType() == domain.TypeAPIKeyRevoked {
			why[ev.GetResource()] = ev.GetAudit().GetMessage()
		}
	}
	for _, c := range []struct {
		k    *directoryv1.CreateApiKeyResponse
		want string
	}{
		{k1, "because its creator, user kim, was deleted"},
		{rotated, "because its creator, user kim, was deleted"},
		{other, "because the API key k1"},
	} {
		name := c.k.GetApiKey().GetName()
		if !strings.Contains(why[name], c.want) {
			t.Errorf("revocation of %s: %q, want it to say %q", c.k.GetApiKey().GetDisplayName(), why[name], c.want)
		}
		if err := verify(c.k.GetSecret()); status.Code(err) != codes.Unauthenticated {
			t.Errorf("key %s of deleted kim verifies: %v", c.k.GetApiKey().GetDisplayName(), err)
		}
		if r := e.check(name, "users.view"); r.GetAllowed() {
			t.Errorf("access allows key %s of deleted kim: %v", c.k.GetApiKey().GetDisplayName(), r)
		}
	}
	if len(why) != 3 {
		t.Errorf("revoked keys = %v, want kim's three", why)
	}
	if err := verify(ownerKey.GetSecret()); err != nil {
		t.Errorf("the owner's key of the same app after kim's deletion: %v", err)
	}
	list, err := e.c.ListApiKeys(e.owner, &directoryv1.ListApiKeysRequest{Parent: e.mighty, ShowRevoked: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list.GetApiKeys() {
		if revoked := k.GetRevokeTime() != nil; revoked != (k.GetName() != ownerKey.GetApiKey().GetName()) {
			t.Errorf("key %s revoked = %v", k.GetDisplayName(), revoked)
		}
	}
}

// deleteUser deletes user as the owner (access must have applied kim's
// changes first: the owner's check waits for the directory's head).
func (e *akEnv) deleteUser(user string) error {
	_, err := e.c.DeleteUser(e.owner, &directoryv1.DeleteUserRequest{Name: user})
	return err
}

// TestApiKeyRevocationCascades (C4): revoking a key revokes the keys made
// with it for other principals, with an event saying why; a rotated key
// (made with a key of its own principal) outlives the key it replaces.
func TestApiKeyRevocationCascades(t *testing.T) {
	e := newAKEnv(t)
	k1 := e.mustKey(e.kimCtx, e.mighty, "k1")
	k1Ctx := bearer(k1.GetSecret())
	rotated := e.mustKey(k1Ctx, e.mighty, "rotated")
	other := e.mustKey(k1Ctx, e.plain, "other")
	head, _ := e.b.EventLog().Head(context.Background())
	if _, err := e.c.RevokeApiKey(e.kimCtx, &directoryv1.RevokeApiKeyRequest{Name: k1.GetApiKey().GetName()}); err != nil {
		t.Fatal(err)
	}
	var revoked []string
	for _, ev := range e.eventsAfter(head) {
		if ev.GetType() == domain.TypeAPIKeyRevoked {
			revoked = append(revoked, ev.GetResource()+": "+ev.GetAudit().GetMessage())
		}
	}
	if len(revoked) != 2 || !strings.HasPrefix(revoked[0], k1.GetApiKey().GetName()+": ") ||
		!strings.HasPrefix(revoked[1], other.GetApiKey().GetName()+": ") || !strings.Contains(revoked[1], "because the API key k1") {
		t.Fatalf("revocation events = %q, want k1's, then other's saying why", revoked)
	}
	if _, err := prVerify(e.env, rotated.GetSecret()); err != nil {
		t.Errorf("the rotated key after the old one's revocation: %v", err)
	}
	if r := e.check(rotated.GetApiKey().GetName(), "users.view"); !r.GetAllowed() {
		t.Errorf("access on the rotated key: %v", r)
	}
	if r := e.check(other.GetApiKey().GetName(), "users.view"); r.GetAllowed() {
		t.Errorf("access allows the cascaded key: %v", r)
	}
}
