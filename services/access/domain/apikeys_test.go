package domain

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/services/access/catalogue"
)

const (
	akKey   = dtAccount + "/apiKeys/k1"
	akOther = dtAccount + "/apiKeys/k2"
)

// akKeyEvent is a directory.api_key.* event about key name with creator,
// made by actor (the audit envelope).
func akKeyEvent(t *testing.T, typ, name, creator, actor string) *eventlogv1.Event {
	t.Helper()
	ev := dtEvent(t, typ, name, &directoryv1.ApiKey{Name: name, DisplayName: "k", Creator: creator})
	ev.Audit = &eventlogv1.AuditEnvelope{Actor: actor}
	return ev
}

// akScopes and every catalogue permission are where akIntersection
// compares a key with its principal and creator.
var akScopes = []string{dtOrg, dtTenant, dtService, dtFolder}

// akIntersection fails t unless key holds exactly what both principal
// and creator hold, for every catalogue permission at every akScopes.
func akIntersection(t *testing.T, s *Service, key, principal, creator string) {
	t.Helper()
	for i := range catalogue.NumPermissions() {
		perm := catalogue.PermissionAt(i).Name
		for _, sc := range akScopes {
			want := s.model.Check(principal, perm, sc).Allowed && (creator == "" || s.model.Check(creator, perm, sc).Allowed)
			if got := s.model.Check(key, perm, sc); got.Allowed != want {
				t.Fatalf("%s holds %s at %s: %v (%s), want %v", key, perm, sc, got.Allowed, got.Reason(), want)
			}
		}
	}
}

// TestDirectoryAPIKeys (C4): access follows the directory's API key events:
// a created key holds what its principal and its creator both hold (the
// event's actor for a key without a recorded creator; nothing limits a
// key a service made), across a restart; a revoked or deleted key holds
// nothing.
func TestDirectoryAPIKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	st, s := dtOpen(t, path)
	dtSetup(t, st, s)
	// The robot account grows to Organization Administrator.
	if _, err := s.CreateRoleAssignment(context.Background(), rvService, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: dtAccount, Roles: []string{BuiltInRolePrefix + catalogue.RoleOrganizationAdministrator}, Scope: dtOrg,
	}); err != nil {
		t.Fatal(err)
	}
	const legacy, bySvc, migrated = dtAccount + "/apiKeys/legacy", dtAccount + "/apiKeys/svc", dtAccount + "/apiKeys/migrated"
	dtApply(t, st, s,
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), akKey, dtJohn, dtJohn),
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), legacy, "", dtJohn),
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), bySvc, "services/cli", "services/cli"),
		// A key whose creation access applied before keys carried their
		// creator: the directory's migration announces it.
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_UPDATED), migrated, dtJohn, "services/directory"),
	)
	akIntersection(t, s, migrated, dtAccount, dtJohn)
	if !s.model.Check(dtAccount, "users.create", dtOrg).Allowed || s.model.Check(akKey, "users.create", dtOrg).Allowed {
		t.Fatal("John's key holds users.create like the robot account, which John lacks")
	}
	akIntersection(t, s, akKey, dtAccount, dtJohn)
	akIntersection(t, s, legacy, dtAccount, dtJohn)
	akIntersection(t, s, bySvc, dtAccount, "")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2, s2 := dtOpen(t, path)
	defer st2.Close()
	akIntersection(t, s2, akKey, dtAccount, dtJohn)
	akIntersection(t, s2, bySvc, dtAccount, "")
	dtApply(t, st2, s2,
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED), akKey, dtJohn, dtOwner),
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED), bySvc, "services/cli", dtOwner),
	)
	for _, k := range []string{akKey, bySvc} {
		if d := s2.model.Check(k, "dashboard.view", dtOrg); d.Allowed {
			t.Errorf("%s allowed after its revocation or deletion: %s", k, d.Reason())
		}
	}
	st2.Close()
	st3, s3 := dtOpen(t, path)
	defer st3.Close()
	if _, ok := s3.model.LookupAPIKey(akKey); ok {
		t.Error("a revoked key came back after a restart")
	}
}

// TestAPIKeyActor (C4): an actor calling with an API key is named by the
// key, and every decision access takes for it is the key's: its
// delegation limits and escalation checks, the membership question the
// directory asks with api_key, and its own view of the key's principal.
func TestAPIKeyActor(t *testing.T) {
	_, s := rvOpen(t)
	ctx := context.Background()
	// The robot account holds what the Administrators group does.
	for _, a := range []struct{ role, scope string }{
		{catalogue.RoleOrganizationAdministrator, dtOrg},
		{catalogue.AdministratorRoleID(catalogue.ServiceTypeOrchestrator), dtService},
	} {
		if _, err := s.CreateRoleAssignment(ctx, rvService, &accessv1.CreateRoleAssignmentRequest{
			Parent: dtOrg, Principal: dtAccount, Roles: []string{BuiltInRolePrefix + a.role}, Scope: a.scope,
		}); err != nil {
			t.Fatal(err)
		}
	}
	dtApply(t, s.FeedStore(), s,
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), akKey, dtJohn, dtJohn),
		akKeyEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), akOther, dtOwner, dtOwner),
	)
	account := Actor{Name: dtAccount, Organization: dtOrg}
	john := Actor{Name: akKey, Organization: dtOrg}
	owners := Actor{Name: akOther, Organization: dtOrg}
	grant := func(a Actor) error {
		_, err := s.CreateRoleAssignment(ctx, a, &accessv1.CreateRoleAssignmentRequest{
			Parent: dtOrg, Principal: dtIdle, Roles: []string{BuiltInRolePrefix + catalogue.RoleUser}, Scope: dtOrg,
		})
		return err
	}
	if err := grant(john); !errors.Is(err, ErrDelegationDenied) {
		t.Errorf("John's key assigning User at the organization: %v, want delegation denied", err)
	}
	if err := grant(owners); err != nil {
		t.Errorf("the owner's key assigning User at the organization: %v", err)
	}

	member := func(a Actor, key string) (*accessv1.CheckMembershipChangeResponse, error) {
		return s.CheckMembershipChange(ctx, a, &accessv1.CheckMembershipChangeRequest{Group: dtAdmins, Add: true, ApiKey: key})
	}
	if r, err := member(account, ""); err != nil || !r.GetAllowed() {
		t.Fatalf("the robot account itself adding to Administrators: %v, %v", r, err)
	}
	if r, err := member(account, akKey); err != nil || r.GetAllowed() || r.GetReason() == "" {
		t.Errorf("the robot account with John's key adding to Administrators: %v, %v; want a refusal", r, err)
	}
	if r, err := member(account, akOther); err != nil || !r.GetAllowed() {
		t.Errorf("the robot account with the owner's key adding to Administrators: %v, %v", r, err)
	}
	var fe *FieldError
	if _, err := member(Actor{Name: dtJohn, Organization: dtOrg}, akKey); !errors.As(err, &fe) {
		t.Errorf("John naming the robot's key: %v, want invalid argument", err)
	}

	// The key may look at its own principal; the explanation of a key
	// lists only what the key holds.
	if _, err := s.ExplainPermissions(ctx, john, &accessv1.ExplainPermissionsRequest{Principal: dtAccount, Scope: dtOrg}); err != nil {
		t.Errorf("John's key explaining its robot account: %v", err)
	}
	resp, err := s.Check(ctx, rvService, &accessv1.CheckPermissionRequest{Principal: akKey, Permission: "users.create", Scope: dtOrg, Explain: true})
	if err != nil || resp.GetAllowed() {
		t.Fatalf("Check of John's key: %v, %v", resp, err)
	}
	for _, p := range resp.GetExplanation().GetPermissions() {
		if !s.model.Check(akKey, p.GetPermission(), dtOrg).Allowed {
			t.Errorf("the key's explanation lists %s, which it does not hold", p.GetPermission())
		}
	}
	if len(resp.GetExplanation().GetSources()) == 0 || resp.GetExplanation().GetPrincipal() != akKey {
		t.Errorf("the key's explanation = %v", resp.GetExplanation())
	}
}
