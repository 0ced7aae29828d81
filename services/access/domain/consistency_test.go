package domain

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
)

// TestAssignmentWaitsForDirectory (R13): a role assignment made right after
// the directory created its principal and scope waits until the feed has
// caught up with the directory's head instead of failing NotFound. The
// feed here starts only after the call was made.
func TestAssignmentWaitsForDirectory(t *testing.T) {
	dirLog, _ := annDirectory(t)
	ann := dtOrg + "/users/ann"
	dir := t.TempDir()
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
