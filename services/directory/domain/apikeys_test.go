package domain

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// akWorld is an organization with its owner, a user kim, and two
// external applications, app1 and app2.
type akWorld struct {
	t          *testing.T
	s          *Service
	log        *eventlog.Log
	org        string
	owner, kim Actor
	app1, app2 string
}

func newAKWorld(t *testing.T) *akWorld {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), st, log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	su, err := s.SignUp(ctx, Actor{}, &directoryv1.SignUpRequest{OrganizationId: "acme", OrganizationDisplayName: "Acme",
		Nickname: "owner", Email: "owner@acme.example", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	w := &akWorld{t: t, s: s, log: log, org: su.GetOrganization().GetName()}
	w.owner = Actor{Name: su.GetOwner().GetName(), Organization: w.org}
	kim, err := s.CreateUser(ctx, w.owner, &directoryv1.CreateUserRequest{Parent: w.org, UserId: "kim",
		User: &directoryv1.User{Nickname: "kim", Email: "kim@acme.example"}})
	if err != nil {
		t.Fatal(err)
	}
	w.kim = Actor{Name: kim.GetName(), Organization: w.org}
	for _, id := range []string{"app1", "app2"} {
		app, err := s.CreateExternalApp(ctx, w.owner, &directoryv1.CreateExternalAppRequest{Parent: w.org, ExternalAppId: id,
			ExternalApp: &directoryv1.ExternalApp{DisplayName: id}})
		if err != nil {
			t.Fatal(err)
		}
		if id == "app1" {
			w.app1 = app.GetName()
		} else {
			w.app2 = app.GetName()
		}
	}
	return w
}

// key creates a key of parent as actor.
func (w *akWorld) key(actor Actor, parent, display string) *directoryv1.CreateApiKeyResponse {
	w.t.Helper()
	k, err := w.s.CreateApiKey(context.Background(), actor, &directoryv1.CreateApiKeyRequest{Parent: parent, ApiKey: &directoryv1.ApiKey{DisplayName: display}})
	if err != nil {
		w.t.Fatalf("CreateApiKey %s: %v", display, err)
	}
	return k
}

// withKey is the principal of k acting with it, as the server makes it.
func withKey(org string, k *directoryv1.CreateApiKeyResponse) Actor {
	return Actor{Name: parentOf(k.GetApiKey().GetName()), Organization: org, APIKey: k.GetApiKey().GetName()}
}

// revocations returns, after sequence after, the revoked keys' names with
// the revocation event's message.
func (w *akWorld) revocations(after uint64) map[string]string {
	w.t.Helper()
	out := map[string]string{}
	evs, err := w.log.Read(context.Background(), after, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.GetType() == TypeAPIKeyRevoked {
			out[ev.GetResource()] = ev.GetAudit().GetMessage()
		}
	}
	return out
}

func (w *akWorld) head() uint64 {
	w.t.Helper()
	h, err := w.log.Head(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// TestAPIKeyCreator (C4): the creator recorded on a key, and the creator
// index that revokes it with its creator.
func TestAPIKeyCreator(t *testing.T) {
	w := newAKWorld(t)
	byKim := w.key(w.kim, w.app1, "by kim")
	bySvc := w.key(Actor{Name: "services/cli"}, w.app1, "by a service")
	rotated := w.key(withKey(w.org, byKim), w.app1, "rotated")
	chained := w.key(withKey(w.org, byKim), w.app2, "chained")
	legacy := w.key(w.kim, w.app1, "legacy")
	// A key made before keys recorded their creator.
	legacyName := legacy.GetApiKey().GetName()
	_, err := w.s.update(context.Background(), Actor{}, func(t *txn) error {
		k := &directoryv1.ApiKey{}
		if err := get(t, legacyName, k); err != nil {
			return err
		}
		if err := t.Delete(creatorIndexKey(k)); err != nil {
			return err
		}
		k.Creator = ""
		return t.putAPIKey(k)
	})
	if err != nil {
		t.Fatal(err)
	}
	fromLegacy := w.key(withKey(w.org, legacy), w.app1, "from legacy")
	for _, c := range []struct {
		k    *directoryv1.CreateApiKeyResponse
		want string
	}{
		{byKim, w.kim.Name},
		{bySvc, "services/cli"},
		{rotated, w.kim.Name},
		{chained, byKim.GetApiKey().GetName()},
		{fromLegacy, legacyName},
	} {
		if got := c.k.GetApiKey().GetCreator(); got != c.want {
			t.Errorf("creator of %s = %q, want %q", c.k.GetApiKey().GetDisplayName(), got, c.want)
		}
		var stored []string
		_, err := w.s.view(context.Background(), func(tx store.ReadTx) error {
			var err error
			stored, err = keysUnder(tx, apiKeyCreatorIndex+c.want+"|")
			return err
		})
		if err != nil || !strings.Contains(strings.Join(stored, " "), c.k.GetApiKey().GetName()) {
			t.Errorf("creator index of %s = %q, %v", c.want, stored, err)
		}
	}
}

// TestAPIKeyCreatorDeleted (C4): deleting a user revokes the keys the user
// created and the keys those created for other principals, each with an
// event saying why; keys of others stay. Deactivation suspends the keys
// (VerifyCredential refuses them) and reactivation resumes them.
func TestAPIKeyCreatorDeleted(t *testing.T) {
	w := newAKWorld(t)
	ctx := context.Background()
	byKim := w.key(w.kim, w.app1, "by kim")
	rotated := w.key(withKey(w.org, byKim), w.app1, "rotated")
	chained := w.key(withKey(w.org, byKim), w.app2, "chained")
	byOwner := w.key(w.owner, w.app1, "by owner")
	all := []*directoryv1.CreateApiKeyResponse{byKim, rotated, chained, byOwner}
	verify := func(k *directoryv1.CreateApiKeyResponse) error {
		_, err := w.s.VerifyCredential(ctx, k.GetSecret(), false)
		return err
	}
	for _, k := range all {
		if err := verify(k); err != nil {
			t.Fatalf("verify %s: %v", k.GetApiKey().GetDisplayName(), err)
		}
	}
	if _, err := w.s.DeactivateUser(ctx, w.owner, &directoryv1.DeactivateUserRequest{Name: w.kim.Name}); err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		err := verify(k)
		if suspended := errors.Is(err, ErrAPIKeyRevoked); suspended != (k != byOwner) {
			t.Errorf("kim deactivated, verify %s: %v", k.GetApiKey().GetDisplayName(), err)
		}
		// The caller gets a fixed message; the reason, for the log, names
		// the key.
		if ce := (*CredentialError)(nil); err != nil && (!errors.As(err, &ce) || !strings.Contains(ce.Detail, k.GetApiKey().GetDisplayName())) {
			t.Errorf("the refusal %q (detail %+v) does not name key %s", err, ce, k.GetApiKey().GetDisplayName())
		}
	}
	if _, err := w.s.ActivateUser(ctx, w.owner, &directoryv1.ActivateUserRequest{Name: w.kim.Name}); err != nil {
		t.Fatal(err)
	}
	for _, k := range all {
		if err := verify(k); err != nil {
			t.Errorf("kim reactivated, verify %s: %v", k.GetApiKey().GetDisplayName(), err)
		}
	}

	head := w.head()
	if err := w.s.DeleteUser(ctx, w.owner, &directoryv1.DeleteUserRequest{Name: w.kim.Name}); err != nil {
		t.Fatal(err)
	}
	got := w.revocations(head)
	want := map[string]string{
		byKim.GetApiKey().GetName():   "because its creator, user kim, was deleted.",
		rotated.GetApiKey().GetName(): "because its creator, user kim, was deleted.",
		chained.GetApiKey().GetName(): "because the API key by kim",
	}
	if len(got) != len(want) {
		t.Errorf("revoked %q, want %d keys", got, len(want))
	}
	for name, why := range want {
		if !strings.Contains(got[name], why) {
			t.Errorf("revocation of %s: %q, want it to say %q", name, got[name], why)
		}
	}
	for _, k := range all {
		if err := verify(k); (err == nil) != (k == byOwner) {
			t.Errorf("kim deleted, verify %s: %v", k.GetApiKey().GetDisplayName(), err)
		}
	}
	var left []string
	_, err := w.s.view(ctx, func(tx store.ReadTx) error {
		var err error
		left, err = keysUnder(tx, apiKeyCreatorIndex+w.kim.Name+"|")
		return err
	})
	if err != nil || len(left) != 0 {
		t.Errorf("kim's creator index after her deletion: %q, %v", left, err)
	}
}

// TestAPIKeyRevokeAndDelete (C4): revoking a key revokes the keys made
// with it for other principals (not its rotation); deleting an app deletes
// its keys and revokes the keys they made.
func TestAPIKeyRevokeAndDelete(t *testing.T) {
	w := newAKWorld(t)
	ctx := context.Background()
	k1 := w.key(w.kim, w.app1, "k1")
	rotated := w.key(withKey(w.org, k1), w.app1, "rotated")
	chained := w.key(withKey(w.org, k1), w.app2, "chained")
	chained2 := w.key(withKey(w.org, rotated), w.app2, "chained2")

	head := w.head()
	if _, err := w.s.RevokeApiKey(ctx, w.kim, &directoryv1.RevokeApiKeyRequest{Name: k1.GetApiKey().GetName()}); err != nil {
		t.Fatal(err)
	}
	got := w.revocations(head)
	if len(got) != 2 || !strings.Contains(got[chained.GetApiKey().GetName()], "because the API key k1") || got[k1.GetApiKey().GetName()] == "" {
		t.Fatalf("revocations = %q", got)
	}
	if _, err := w.s.VerifyCredential(ctx, rotated.GetSecret(), false); err != nil {
		t.Fatalf("the rotated key after k1's revocation: %v", err)
	}

	head = w.head()
	if err := w.s.DeleteExternalApp(ctx, w.owner, &directoryv1.DeleteExternalAppRequest{Name: w.app1}); err != nil {
		t.Fatal(err)
	}
	got = w.revocations(head)
	if len(got) != 1 || !strings.Contains(got[chained2.GetApiKey().GetName()], "because the API key rotated") ||
		!strings.Contains(got[chained2.GetApiKey().GetName()], "was deleted") {
		t.Fatalf("revocations after deleting app1 = %q", got)
	}
}

// TestAPIKeyCreatorMigration (C4): a live key made before keys recorded
// their creator gets the actor of its creation event as creator, once,
// with an event access follows; revoked keys are left alone.
func TestAPIKeyCreatorMigration(t *testing.T) {
	w := newAKWorld(t)
	ctx := context.Background()
	old := w.key(w.kim, w.app1, "old")
	revoked := w.key(w.kim, w.app1, "revoked")
	if _, err := w.s.RevokeApiKey(ctx, w.owner, &directoryv1.RevokeApiKeyRequest{Name: revoked.GetApiKey().GetName()}); err != nil {
		t.Fatal(err)
	}
	// The store as a version before the creator was recorded left it.
	_, err := w.s.update(ctx, Actor{}, func(t *txn) error {
		for _, name := range []string{old.GetApiKey().GetName(), revoked.GetApiKey().GetName()} {
			k := &directoryv1.ApiKey{}
			if err := get(t, name, k); err != nil {
				return err
			}
			if err := t.Delete(creatorIndexKey(k)); err != nil {
				return err
			}
			k.Creator = ""
			if err := t.putAPIKey(k); err != nil {
				return err
			}
		}
		return t.Delete([]byte(apiKeyCreatorsMigrated))
	})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		head := w.head()
		if err := w.s.migrateAPIKeyCreators(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := w.log.Read(ctx, head, 100)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if run == 1 {
			want = 0 // done once
		}
		if len(evs) != want {
			t.Fatalf("run %d: %d events, want %d", run, len(evs), want)
		}
		if want == 1 && (evs[0].GetType() != TypeAPIKeyUpdated || evs[0].GetResource() != old.GetApiKey().GetName()) {
			t.Fatalf("migration event = %s %s", evs[0].GetType(), evs[0].GetResource())
		}
	}
	for _, c := range []struct {
		k    *directoryv1.CreateApiKeyResponse
		want string
	}{{old, w.kim.Name}, {revoked, ""}} {
		k := &directoryv1.ApiKey{}
		if _, err := w.s.view(ctx, func(tx store.ReadTx) error { return get(tx, c.k.GetApiKey().GetName(), k) }); err != nil {
			t.Fatal(err)
		}
		if k.GetCreator() != c.want {
			t.Errorf("creator of %s after the migration = %q, want %q", k.GetDisplayName(), k.GetCreator(), c.want)
		}
	}
	// The migrated key now goes with its creator.
	head := w.head()
	if err := w.s.DeleteUser(ctx, w.owner, &directoryv1.DeleteUserRequest{Name: w.kim.Name}); err != nil {
		t.Fatal(err)
	}
	if got := w.revocations(head); got[old.GetApiKey().GetName()] == "" {
		t.Errorf("the migrated key was not revoked with its creator: %q", got)
	}
}
