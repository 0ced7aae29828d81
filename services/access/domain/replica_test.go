package domain

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/etcdserver/etcdtest"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/store/etcdstore"
	"steward.dev/services/access/authorizer"
)

// etcdEndpoint is the etcd member TestMain starts for the replica tests.
var etcdEndpoint string

func TestMain(m *testing.M) { os.Exit(etcdtest.Run(m, &etcdEndpoint)) }

// startReplica starts one replica of access on the etcd prefix, following
// dirLog with its own directory feed and the store's commits with
// FollowReplicas, until the test ends.
func startReplica(t *testing.T, prefix string, dirLog *eventlog.Log) *Service {
	t.Helper()
	st, err := etcdstore.Dial(context.Background(), []string{etcdEndpoint}, 5*time.Second, etcdstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), st, log, authorizer.New(authorizer.Sizes{}), Options{DirectoryHead: dirLog.Head})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Replicated() {
		t.Fatal("a Service on etcd is not Replicated")
	}
	feed := &eventlog.Consumer{Name: "access-directory", Store: s.FeedStore(), Source: dirLog, Apply: s.ApplyDirectoryEvent}
	s.SetDirectoryFeed(feed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = feed.Run(ctx); done <- struct{}{} }()
	go func() { _ = s.FollowReplicas(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		_ = log.Close()
		_ = st.Close()
	})
	return s
}

// TestReplicasShareTheModel (R32, issue 17 point 3): two replicas of access
// on one etcd store. A role assignment made through one shows in the other's
// Check once the other has applied the write's sequence, the consistency
// token; its removal through the other replica shows in the first the same
// way; a directory change, applied once by whichever replica's feed got it
// first, shows in both; and neither model differs from what a replica
// starting now loads.
func TestReplicasShareTheModel(t *testing.T) {
	dirLog, appendDir := annDirectory(t)
	ann := dtOrg + "/users/ann"
	prefix := fmt.Sprintf("/test/%s/", t.Name())
	a, b := startReplica(t, prefix, dirLog), startReplica(t, prefix, dirLog)
	ctx := context.Background()
	sys := Actor{Name: "services/test"}
	check := func(s *Service, seq, dseq uint64) bool {
		t.Helper()
		resp, err := s.Check(ctx, sys, &accessv1.CheckPermissionRequest{
			Principal: ann, Permission: "tenant.users.edit", Scope: dtTenant, AtLeastSequence: seq, AtLeastDirectorySequence: dseq})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetAllowed()
	}

	if check(a, 0, 3) || check(b, 0, 3) {
		t.Fatal("ann holds tenant.users.edit before any assignment")
	}
	created, err := a.CreateRoleAssignment(ctx, sys, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: ann, Roles: []string{"roles/tenant-administrator"}, Scope: dtTenant})
	if err != nil {
		t.Fatal(err)
	}
	if !check(a, 0, 0) {
		t.Error("replica A denies right after its own write returned")
	}
	if !check(b, created.GetSequence(), 0) {
		t.Errorf("replica B denies at the write's sequence %d", created.GetSequence())
	}
	if err := b.DeleteRoleAssignment(ctx, sys, &accessv1.DeleteRoleAssignmentRequest{Name: created.GetRoleAssignments()[0].GetName()}); err != nil {
		t.Fatal(err)
	}
	if check(b, 0, 0) {
		t.Error("replica B allows right after its own removal returned")
	}
	if check(a, b.applied.get(), 0) {
		t.Error("replica A allows at the removal's sequence")
	}

	// The directory deactivates ann: both feeds see it, one applies it.
	dseq := appendDir(dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_UPDATED), ann,
		&directoryv1.User{Name: ann, Nickname: "ann", Email: "ann@x.example", State: directoryv1.User_STATE_INACTIVE}))
	for _, s := range []*Service{a, b} {
		// The Check waits until the replica's model reflects dseq.
		if _, err := s.Check(ctx, sys, &accessv1.CheckPermissionRequest{Principal: ann, Permission: "users.view", Scope: dtOrg, AtLeastDirectorySequence: dseq}); err != nil {
			t.Fatal(err)
		}
		if p, ok := s.model.LookupPrincipal(ann); !ok || p.Status != authorizer.StatusInactive {
			t.Errorf("a replica's model at directory sequence %d: ann = %+v, %v; want inactive", dseq, p, ok)
		}
	}

	// A replica starting now loads what the running ones hold.
	c := startReplica(t, prefix, dirLog)
	for _, s := range []*Service{a, b} {
		if got, want := modelDump(t, s), modelDump(t, c); got != want {
			t.Errorf("a running replica's model differs from a fresh load:\n%s\nwant\n%s", got, want)
		}
	}
}

// modelDump renders what s's model says of the test's principals and scopes.
func modelDump(t *testing.T, s *Service) string {
	t.Helper()
	out := ""
	for _, p := range []string{dtOrg + "/users/ann"} {
		pr, ok := s.model.LookupPrincipal(p)
		out += fmt.Sprintf("%s %v %v\n", p, ok, pr.Status)
		grants, err := s.model.ExplicitRoles(p)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("  roles %v\n", grants)
	}
	for _, sc := range []string{dtOrg, dtTenant} {
		_, level, ok := s.model.LookupScope(sc)
		out += fmt.Sprintf("%s %v %v\n", sc, level, ok)
	}
	return out
}

// annDirectory returns a directory log holding the organization dtOrg, its
// tenant dtTenant and the active user ann, and a function that appends more
// events to it and returns the last one's sequence.
func annDirectory(t *testing.T) (*eventlog.Log, func(evs ...*eventlogv1.Event) uint64) {
	t.Helper()
	dirStore, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	dirLog, err := eventlog.New(dirStore, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dirLog.Close(); _ = dirStore.Close() })
	appendDir := func(evs ...*eventlogv1.Event) uint64 {
		t.Helper()
		var seq uint64
		for _, ev := range evs {
			if err := dirStore.Update(context.Background(), func(tx store.Tx) error { seq, err = dirLog.Append(tx, ev); return err }); err != nil {
				t.Fatal(err)
			}
		}
		return seq
	}
	ann := dtOrg + "/users/ann"
	appendDir(
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED), dtOrg, &directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), dtTenant, &directoryv1.Tenant{Name: dtTenant, DisplayName: "Default"}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), ann, &directoryv1.User{Name: ann, Nickname: "ann", Email: "ann@x.example", State: directoryv1.User_STATE_ACTIVE}),
	)
	return dirLog, appendDir
}
