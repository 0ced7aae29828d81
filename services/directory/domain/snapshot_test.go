package domain_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
)

// TestExportSnapshot (issue 10, deliver 4): the snapshot a follower resyncs
// from holds every record and membership as of the event-log head it names,
// and no account-system settings.
func TestExportSnapshot(t *testing.T) {
	o := newOrg(t)
	ctx := context.Background()
	var pos eventlog.Position
	calls := 0
	got := map[string]int{}
	err := o.s.ExportSnapshot(ctx, func(p eventlog.Position, batch []proto.Message) error {
		if calls == 0 {
			pos = p
		} else if p != pos {
			t.Errorf("position changed between batches: %+v then %+v", pos, p)
		}
		calls++
		for _, m := range batch {
			got[string(m.ProtoReflect().Descriptor().Name())]++
			if _, ok := m.(*directoryv1.AccountSystem); ok {
				t.Errorf("the snapshot holds the account system %v", m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	head, err := o.log.HeadPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos != head {
		t.Errorf("snapshot position %+v, want the log's head %+v", pos, head)
	}
	// Sign-up (owner, four default groups, root department, default
	// tenant) plus ada and bob, ada in Administrators with the owner.
	want := map[string]int{"Organization": 1, "Tenant": 1, "Department": 1, "User": 3, "Group": 4, "GroupMembership": 2}
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("%d %s records, want %d (all: %v)", got[kind], kind, n, got)
		}
	}
}
