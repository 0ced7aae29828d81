package domain

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// shOpen opens a directory domain service over a new store, with an
// organization signed up; it returns the service, its store and log, and
// an actor for the owner.
func shOpen(t *testing.T) (*Service, store.Store, *eventlog.Log, Actor) {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{})
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
	su, err := s.SignUp(context.Background(), Actor{SourceAddress: "192.0.2.1"}, &directoryv1.SignUpRequest{
		OrganizationId: "acme", OrganizationDisplayName: "Acme", Nickname: "owner",
		Email: "owner@acme.example", Password: "correct horse battery",
	})
	if err != nil {
		t.Fatalf("SignUp: %v", err)
	}
	return s, st, log, Actor{Name: su.GetOwner().GetName(), Organization: su.GetOrganization().GetName()}
}

// shEvents returns the events after seq as "type resource".
func shEvents(t *testing.T, log *eventlog.Log, after uint64) []string {
	t.Helper()
	evs, err := log.Read(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.GetAudit().GetMessage() == "" || ev.GetData() == nil {
			t.Errorf("event %s %s without message or data", ev.GetType(), ev.GetResource())
		}
		out = append(out, ev.GetType()+" "+ev.GetResource())
	}
	return out
}

func shHead(t *testing.T, log *eventlog.Log) uint64 {
	t.Helper()
	h, err := log.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func shCreateService(t *testing.T, s *Service, owner Actor, id, typ, requestID string) *directoryv1.Service {
	t.Helper()
	svc, err := s.CreateService(context.Background(), owner, &directoryv1.CreateServiceRequest{
		Parent: "organizations/acme/tenants/default", ServiceId: id, RequestId: requestID,
		Service: &directoryv1.Service{DisplayName: "Service " + id, Type: typ},
	})
	if err != nil {
		t.Fatalf("CreateService %s: %v", id, err)
	}
	return svc
}

// Issue 9 item 6: an Orchestrator service is created with its Shared
// folder, in the same transaction, the folder with its own created event
// right after the service's; other types get none; a retried create makes
// nothing twice; the Shared folder alone does not keep the service from
// being deleted without force.
func TestSharedFolderWithNewService(t *testing.T) {
	s, _, log, owner := shOpen(t)
	head := shHead(t, log)
	orch := shCreateService(t, s, owner, "orch", "orchestrator", "r-1").GetName()
	shCreateService(t, s, owner, "orch", "orchestrator", "r-1") // retry
	tm := shCreateService(t, s, owner, "tm", "test-manager", "").GetName()
	want := []string{
		TypeServiceCreated + " " + orch,
		TypeFolderCreated + " " + orch + "/folders/shared",
		TypeServiceCreated + " " + tm,
	}
	if got := shEvents(t, log, head); !slices.Equal(got, want) {
		t.Errorf("events:\n got  %q\n want %q", got, want)
	}
	f, err := s.GetFolder(context.Background(), owner, &directoryv1.GetFolderRequest{Name: SharedFolderOf(orch)})
	if err != nil || f.GetDisplayName() != "Shared" {
		t.Fatalf("Shared folder = %v, %v", f, err)
	}

	head = shHead(t, log)
	if err := s.DeleteService(context.Background(), owner, &directoryv1.DeleteServiceRequest{Name: orch}); err != nil {
		t.Fatalf("DeleteService with only its Shared folder: %v", err)
	}
	want = []string{TypeFolderDeleted + " " + orch + "/folders/shared", TypeServiceDeleted + " " + orch}
	if got := shEvents(t, log, head); !slices.Equal(got, want) {
		t.Errorf("delete events:\n got  %q\n want %q", got, want)
	}
	// With another folder it is a service with children.
	orch2 := shCreateService(t, s, owner, "orch2", "orchestrator", "").GetName()
	if _, err := s.CreateFolder(context.Background(), owner, &directoryv1.CreateFolderRequest{Parent: orch2, FolderId: "f", Folder: &directoryv1.Folder{DisplayName: "F"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteService(context.Background(), owner, &directoryv1.DeleteServiceRequest{Name: orch2}); !errors.Is(err, ErrNodeHasChildren) {
		t.Errorf("DeleteService with a folder: %v, want ErrNodeHasChildren", err)
	}
}

// Issue 9 item 6, upgrade: MigrateSharedFolders gives each Orchestrator
// service made before services came with a Shared folder its Shared folder
// with its created event, makes a hand-made folder "shared" the Shared
// folder with an updated event, leaves other types alone, and runs once:
// a Shared folder deleted afterwards is not re-created at the next start.
func TestMigrateSharedFolders(t *testing.T) {
	s, st, log, owner := shOpen(t)
	ctx := context.Background()
	old := shCreateService(t, s, owner, "old", "orchestrator", "").GetName()
	handMade := shCreateService(t, s, owner, "handmade", "orchestrator", "").GetName()
	shCreateService(t, s, owner, "tm", "test-manager", "")
	// The old shape: no Shared folder (handmade's is a folder a user made)
	// and no record of the migration.
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(recordKey(SharedFolderOf(old))); err != nil {
			return err
		}
		f := &directoryv1.Folder{}
		if err := get(tx, SharedFolderOf(handMade), f); err != nil {
			return err
		}
		f.DisplayName = "Team share"
		setEtag(f)
		if err := store.PutProto(tx, recordKey(f.GetName()), f); err != nil {
			return err
		}
		return tx.Delete([]byte(sharedFoldersMigrated))
	})
	if err != nil {
		t.Fatal(err)
	}
	head := shHead(t, log)
	if err := s.MigrateSharedFolders(ctx); err != nil {
		t.Fatalf("MigrateSharedFolders: %v", err)
	}
	want := []string{
		TypeFolderUpdated + " " + SharedFolderOf(handMade),
		TypeFolderCreated + " " + SharedFolderOf(old),
	}
	if got := shEvents(t, log, head); !slices.Equal(got, want) {
		t.Errorf("migration events:\n got  %q\n want %q", got, want)
	}
	if f, err := s.GetFolder(ctx, owner, &directoryv1.GetFolderRequest{Name: SharedFolderOf(handMade)}); err != nil || f.GetDisplayName() != "Team share" {
		t.Errorf("hand-made shared folder = %v, %v", f, err)
	}
	if err := s.DeleteFolder(ctx, owner, &directoryv1.DeleteFolderRequest{Name: SharedFolderOf(old)}); err != nil {
		t.Fatal(err)
	}
	head = shHead(t, log)
	s2, err := New(ctx, st, log, Options{}) // a restart
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.MigrateSharedFolders(ctx); err != nil {
		t.Fatal(err)
	}
	if got := shEvents(t, log, head); len(got) != 0 {
		t.Errorf("second run: %q", got)
	}
}
