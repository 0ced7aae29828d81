package domain

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
)

// TestAssignmentWaitsForDirectory (R13): a role assignment made right after
// the directory created its principal and scope waits until the feed has
// caught up with the directory's head instead of failing NotFound. The
// feed here starts only after the call was made.
func TestAssignmentWaitsForDirectory(t *testing.T) {
	dir := t.TempDir()
	dirStore, err := bboltstore.Open(filepath.Join(dir, "directory.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dirStore.Close()
	dirLog, err := eventlog.New(dirStore, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dirLog.Close()
	ann := dtOrg + "/users/ann"
	for _, ev := range []*eventlogv1.Event{
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED), dtOrg, &directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), dtTenant, &directoryv1.Tenant{Name: dtTenant, DisplayName: "Default"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), ann, &directoryv1.User{Name: ann, Nickname: "ann", Email: "ann@x.example", State: directoryv1.User_STATE_ACTIVE}),
	} {
		if err := dirStore.Update(context.Background(), func(tx store.Tx) error { _, err := dirLog.Append(tx, ev); return err }); err != nil {
			t.Fatal(err)
		}
	}

	st, err := bboltstore.Open(filepath.Join(dir, "access.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	s, err := New(context.Background(), st, log, authorizer.New(authorizer.Sizes{}), Options{DirectoryHead: dirLog.Head})
	if err != nil {
		t.Fatal(err)
	}
	feed := &eventlog.Consumer{Name: "access-directory", Store: s.FeedStore(), Source: dirLog, Apply: s.ApplyDirectoryEvent}
	s.SetDirectoryFeed(feed)

	done := make(chan error, 1)
	go func() {
		_, err := s.CreateRoleAssignment(context.Background(), Actor{Name: "services/test"}, &accessv1.CreateRoleAssignmentRequest{
			Parent: dtOrg, Principal: ann, Roles: []string{"roles/tenant-administrator"}, Scope: dtTenant})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("CreateRoleAssignment returned before the feed ran: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = feed.Run(ctx) }()
	if err := <-done; err != nil {
		t.Fatalf("CreateRoleAssignment once the feed caught up: %v", err)
	}
}
