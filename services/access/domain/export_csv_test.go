package domain

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
)

// Every column of the export goes through the neutralization, and the
// record read back holds the quoted text (encoding/csv keeps separators,
// quotes and line breaks inside their cell).
func TestExportRowNeutralizesEveryColumn(t *testing.T) {
	for _, lead := range []string{"=", "+", "-", "@", "\t", "\r"} {
		var out bytes.Buffer
		x := &exporter{ctx: context.Background(), emit: func(b []byte) error { out.Write(b); return nil }}
		rec := make([]string, len(ExportColumns))
		for i := range rec {
			rec[i] = lead + "cmd|' /C calc'!A0,\"x\"\n" + ExportColumns[i]
		}
		if err := x.row(ExportColumns); err != nil {
			t.Fatal(err)
		}
		if err := x.row(rec); err != nil {
			t.Fatal(err)
		}
		if err := x.flush(true); err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("lead %q: %v", lead, err)
		}
		if len(records) != 2 {
			t.Fatalf("lead %q: %d records", lead, len(records))
		}
		for i, got := range records[1] {
			if want := "'" + rec[i]; got != want {
				t.Errorf("lead %q, column %s: %q, want %q", lead, ExportColumns[i], got, want)
			}
		}
		for i, h := range records[0] {
			if h != ExportColumns[i] {
				t.Errorf("header %d = %q", i, h)
			}
		}
	}
}

// TestExportGroupRows (R19, issue 13): a group's assignment exports its
// own row and one row per member whose every column but the principal's
// (9 to 12) and the inherited-from group's (13, 14) is the group row's;
// hostile display names and emails are neutralized in the inherited rows
// too, and every row reads back with the header's 25 columns. The group
// is assigned at two scopes, so its second assignment's rows come from the
// export's cache of encoded members, or, with no room in the cache, from
// the store again: the rows are the same.
func TestExportGroupRows(t *testing.T) {
	for _, limit := range []int{exportMemberCache, 0, 40} {
		t.Run(fmt.Sprint("cache ", limit), func(t *testing.T) { testExportGroupRows(t, limit) })
	}
}

func testExportGroupRows(t *testing.T, cacheLimit int) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	group := dtOrg + "/groups/ops"
	members := []string{dtOrg + "/users/m1", dtOrg + "/users/m2", dtOrg + "/users/m3"}
	evs := []*eventlogv1.Event{dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), group,
		&directoryv1.Group{Name: group, DisplayName: "=Ops, \"night\"", Kind: directoryv1.Group_KIND_CUSTOM})}
	for i, m := range members {
		evs = append(evs,
			dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), m, &directoryv1.User{Name: m, Nickname: "m",
				DisplayName: []string{"@SUM(A1)", " lead", "plain"}[i], Email: fmt.Sprintf("m%d@acme.example", i), State: directoryv1.User_STATE_ACTIVE}),
			dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), group, &directoryv1.GroupMembership{Group: group, Member: m}))
	}
	dtApply(t, st, s, evs...)
	ctx := context.Background()
	owner := Actor{Name: dtOwner, Organization: dtOrg}
	scopes := []string{dtFolder, dtShared}
	for _, scope := range scopes {
		if _, err := s.CreateRoleAssignment(ctx, owner, &accessv1.CreateRoleAssignmentRequest{Parent: dtOrg, Principal: group, Scope: scope, Roles: []string{"roles/automation-user"}}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := s.exportRoleAssignments(ctx, owner, &accessv1.ExportRoleAssignmentsRequest{Parent: dtOrg}, func(b []byte) error { out.Write(b); return nil }, cacheLimit); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	own := map[string][]string{}
	inherited := map[string][]string{}
	for _, r := range rows[1:] {
		switch {
		case r[9] == group:
			own[r[6]] = r
		case r[14] == group:
			inherited[r[6]+" "+r[9]] = r
		}
	}
	if len(own) != len(scopes) || len(inherited) != len(scopes)*len(members) {
		t.Fatalf("%d group rows, %d inherited rows; want %d and %d", len(own), len(inherited), len(scopes), len(scopes)*len(members))
	}
	for _, scope := range scopes {
		for i, m := range members {
			r := inherited[scope+" "+m]
			want := slices.Clone(own[scope])
			want[9], want[10], want[11], want[12] = m, "User", fmt.Sprintf("m%d@acme.example", i), []string{"'@SUM(A1)", " lead", "plain"}[i]
			want[13], want[14] = "'=Ops, \"night\"", group
			if !slices.Equal(r, want) {
				t.Errorf("inherited row of %s at %s:\n got %q\nwant %q", m, scope, r, want)
			}
		}
	}
}
