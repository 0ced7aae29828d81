package domain

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
)

// TestForEachMember (R19): the export expands a group's members from the
// stored directory facts in batches, in name order, for explicit groups
// and for Everyone (every user of the organization), across several
// batches.
func TestForEachMember(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtApply(t, st, s,
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtEvery, &directoryv1.Group{Name: dtEvery, DisplayName: "Everyone", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_EVERYONE}),
		dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), dtAutoU, &directoryv1.Group{Name: dtAutoU, DisplayName: "Automation Users", Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS}))
	n := 2*exportBatch + 7
	var users, odd []string
	for i := range n {
		u := fmt.Sprintf("%s/users/u%04d", dtOrg, i)
		users = append(users, u)
		dtApply(t, st, s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), u, &directoryv1.User{Name: u, Nickname: "u", Email: fmt.Sprintf("u%d@x.example", i), State: directoryv1.User_STATE_ACTIVE}))
		if i%2 == 1 {
			odd = append(odd, u)
			dtApply(t, st, s, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), dtAutoU, &directoryv1.GroupMembership{Group: dtAutoU, Member: u}))
		}
	}
	for group, want := range map[string][]string{dtEvery: users, dtAutoU: odd} {
		var got []string
		if err := s.forEachMember(context.Background(), group, func(m string) error { got = append(got, m); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d members, want %d (first %v)", group, len(got), len(want), got[:min(3, len(got))])
		}
	}
}
