package domain

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
)

// BenchmarkExportRoleAssignments measures the domain's side of the R19 CSV
// export (issue 13: at least 300,000 rows/s on `large`) on bbolt, with the
// `large` dataset's mix: 85 % of the assignments to users, 15 % to groups
// of 100 members each, so about 95 % of the rows are a group's inherited
// rows. It reports rows/s and the CSV bytes per row; the chunks go
// nowhere, as if the transport were free.
func BenchmarkExportRoleAssignments(b *testing.B) {
	const (
		users, groups, perGroup, folders = 5000, 50, 100, 100
		userAssignments                  = 850
	)
	t := &testing.T{}
	st, s := dtOpen(t, filepath.Join(b.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	var evs []*eventlogv1.Event
	for i := range folders {
		f := fmt.Sprintf("%s/folders/f%03d", dtService, i)
		evs = append(evs, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), f, &directoryv1.Folder{Name: f, DisplayName: fmt.Sprintf("Folder %d", i)}))
	}
	for i := range users {
		u := fmt.Sprintf("%s/users/u%05d", dtOrg, i)
		evs = append(evs, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), u,
			&directoryv1.User{Name: u, Nickname: fmt.Sprintf("u%d", i), DisplayName: fmt.Sprintf("User %d", i), Email: fmt.Sprintf("u%d@acme.example", i), State: directoryv1.User_STATE_ACTIVE}))
	}
	for g := range groups {
		name := fmt.Sprintf("%s/groups/g%03d", dtOrg, g)
		evs = append(evs, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), name, &directoryv1.Group{Name: name, DisplayName: fmt.Sprintf("Group %d", g), Kind: directoryv1.Group_KIND_CUSTOM}))
		for m := range perGroup {
			u := fmt.Sprintf("%s/users/u%05d", dtOrg, (g*perGroup+m)%users)
			evs = append(evs, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), name, &directoryv1.GroupMembership{Group: name, Member: u}))
		}
	}
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		dtApply(t, st, s, evs[:n]...)
		evs = evs[n:]
	}
	req := &accessv1.BatchCreateRoleAssignmentsRequest{Parent: dtOrg}
	item := func(principal string, i int, role string) {
		req.Requests = append(req.Requests, &accessv1.CreateRoleAssignmentRequest{Parent: dtOrg, Principal: principal,
			Scope: fmt.Sprintf("%s/folders/f%03d", dtService, i%folders), Roles: []string{role}})
	}
	for i := range userAssignments {
		item(fmt.Sprintf("%s/users/u%05d", dtOrg, i), i, "roles/automation-user")
	}
	for g := range groups {
		for j, role := range []string{"roles/automation-user", "roles/automation-developer", "roles/folder-administrator"} {
			item(fmt.Sprintf("%s/groups/g%03d", dtOrg, g), g*3+j, role)
		}
	}
	ctx := context.Background()
	owner := Actor{Name: dtOwner, Organization: dtOrg}
	if _, err := s.BatchCreateRoleAssignments(ctx, owner, req); err != nil {
		b.Fatal(err)
	}
	var rows, bytes int64
	b.ResetTimer()
	for range b.N {
		err := s.ExportRoleAssignments(ctx, owner, &accessv1.ExportRoleAssignmentsRequest{Parent: dtOrg}, func(chunk []byte) error {
			bytes += int64(len(chunk))
			for _, c := range chunk {
				if c == '\n' {
					rows++
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(bytes)/float64(rows), "B/row")
}
