package domain

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// TestResyncEqualsFollowing (issue 10, deliver 2 and 4): an access that
// missed part of the directory's log and resyncs from the directory's
// snapshot ends in the state of one that followed every event — the same
// decisions, explicit roles, explanations and mirror — with its cursor at
// the snapshot's position, written in the snapshot's transaction; a second
// resync from the same snapshot changes nothing.
func TestResyncEqualsFollowing(t *testing.T) {
	ctx := context.Background()
	user := func(id, display string, state directoryv1.User_State, owner bool) *directoryv1.User {
		return &directoryv1.User{Name: dtOrg + "/users/" + id, Nickname: id, DisplayName: display, Email: id + "@acme.example", State: state, Owner: owner}
	}
	typ := func(e directoryv1.EventType) string { return eventlog.TypeName(e) }
	kim := dtOrg + "/users/kim"
	dtOps := dtOrg + "/groups/ops"
	// What happened while the stale access was away.
	missed := []*eventlogEvent{
		{typ(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED), dtFolder, &directoryv1.Folder{Name: dtFolder}},
		{typ(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED), dtAutoU, &directoryv1.GroupMembership{Group: dtAutoU, Member: dtJohn}},
		{typ(directoryv1.EventType_EVENT_TYPE_USER_DELETED), dtJohn, &directoryv1.User{Name: dtJohn}},
		{typ(directoryv1.EventType_EVENT_TYPE_ROBOT_DELETED), dtRobot, &directoryv1.Robot{Name: dtRobot}},
		{typ(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED), dtAccount, &directoryv1.RobotAccount{Name: dtAccount}},
		{typ(directoryv1.EventType_EVENT_TYPE_USER_CREATED), kim, user("kim", "Kim", directoryv1.User_STATE_ACTIVE, false)},
		{typ(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), dtAdmins, &directoryv1.GroupMembership{Group: dtAdmins, Member: kim}},
		{typ(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtOps, &directoryv1.Group{Name: dtOps, DisplayName: "Ops", Kind: directoryv1.Group_KIND_CUSTOM}},
		{typ(directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED), dtIdle, user("idle", "Idle", directoryv1.User_STATE_ACTIVE, false)},
	}
	// The directory's records after it: its snapshot.
	snapshot := []proto.Message{
		&directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"},
		&directoryv1.Tenant{Name: dtTenant, DisplayName: "Default"},
		&directoryv1.Service{Name: dtService, DisplayName: "Finance", Type: "orchestrator", Creator: dtOwner},
		&directoryv1.Folder{Name: dtShared, DisplayName: "Shared"},
		user("owner", "Olivia Owner", directoryv1.User_STATE_ACTIVE, true),
		user("idle", "Idle", directoryv1.User_STATE_ACTIVE, false),
		user("kim", "Kim", directoryv1.User_STATE_ACTIVE, false),
		&directoryv1.Group{Name: dtAdmins, DisplayName: "Administrators", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS},
		&directoryv1.Group{Name: dtAutoU, DisplayName: "Automation Users", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS},
		&directoryv1.Group{Name: dtAutoD, DisplayName: "Automation Developers", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_AUTOMATION_DEVELOPERS},
		&directoryv1.Group{Name: dtEvery, DisplayName: "Everyone", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_EVERYONE},
		&directoryv1.Group{Name: dtOps, DisplayName: "Ops", Kind: directoryv1.Group_KIND_CUSTOM},
		&directoryv1.GroupMembership{Group: dtAdmins, Member: dtOwner},
		&directoryv1.GroupMembership{Group: dtAdmins, Member: kim},
	}

	// One access follows every event.
	followSt, follow := dtOpen(t, filepath.Join(t.TempDir(), "follow.db"))
	dtSetup(t, followSt, follow)
	for _, e := range missed {
		dtApply(t, followSt, follow, dtEvent(t, e.typ, e.resource, e.data))
	}
	// The other missed them and resyncs.
	staleSt, stale := dtOpen(t, filepath.Join(t.TempDir(), "stale.db"))
	dtSetup(t, staleSt, stale)
	pos := eventlog.Position{LogID: "0123456789abcdef", Sequence: 42}
	if err := stale.ResyncDirectory(ctx, "access-directory", pos, snapshot); err != nil {
		t.Fatal(err)
	}

	want, got := dtSnapshot(t, follow), dtSnapshot(t, stale)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after resync:\n got %+v\nwant %+v (as following every event)", got, want)
	}
	if g, w := dtMirror(t, stale), dtMirror(t, follow); !reflect.DeepEqual(g, w) {
		t.Errorf("mirror after resync:\n got %s\nwant %s", g, w)
	}
	var stored eventlog.Position
	_ = staleSt.View(ctx, func(tx store.ReadTx) error {
		var err error
		stored, err = eventlog.GetPosition(tx, "access-directory")
		return err
	})
	if stored != pos {
		t.Errorf("stored cursor %+v, want the snapshot's %+v", stored, pos)
	}

	head, _ := stale.log.Head(ctx)
	if err := stale.ResyncDirectory(ctx, "access-directory", pos, snapshot); err != nil {
		t.Fatal(err)
	}
	if again, _ := stale.log.Head(ctx); again != head {
		t.Errorf("a second resync from the same snapshot appended %d events", again-head)
	}
	if got := dtSnapshot(t, stale); !reflect.DeepEqual(got, want) {
		t.Errorf("after a second resync: %+v", got)
	}
}

// eventlogEvent is a directory event of a test: type, resource and data.
type eventlogEvent struct {
	typ      string
	resource string
	data     proto.Message
}
