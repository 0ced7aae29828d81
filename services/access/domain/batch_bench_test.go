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

// BenchmarkBatchCreateRoleAssignments measures the domain's side of
// BatchCreateRoleAssignments (issue 13) on bbolt: batches of 1,000
// Automation User assignments at a service, made by the owner, so every
// item passes the delegation and escalation checks of R17. It reports
// assignments/s.
func BenchmarkBatchCreateRoleAssignments(b *testing.B) {
	const batch = 1000
	t := &testing.T{}
	st, s := dtOpen(t, filepath.Join(b.TempDir(), "access.db"))
	defer st.Close()
	dtSetup(t, st, s)
	users := make([]string, b.N*batch)
	evs := make([]*eventlogv1.Event, 0, len(users))
	for i := range users {
		users[i] = fmt.Sprintf("%s/users/b%d", dtOrg, i)
		evs = append(evs, dtEvent(t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED), users[i],
			&directoryv1.User{Name: users[i], Nickname: fmt.Sprintf("b%d", i), Email: fmt.Sprintf("b%d@acme.example", i), State: directoryv1.User_STATE_ACTIVE}))
	}
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		dtApply(t, st, s, evs[:n]...)
		evs = evs[n:]
	}
	owner := Actor{Name: dtOwner, Organization: dtOrg}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		req := &accessv1.BatchCreateRoleAssignmentsRequest{Parent: dtOrg}
		for _, u := range users[i*batch : (i+1)*batch] {
			req.Requests = append(req.Requests, &accessv1.CreateRoleAssignmentRequest{Parent: dtOrg, Principal: u, Scope: dtService, Roles: []string{"roles/automation-user"}})
		}
		if _, err := s.BatchCreateRoleAssignments(ctx, owner, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "assignments/s")
}
