package domain

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// BenchmarkHistoryBase (issue 14) restores a base of 100,000 assignments
// (10,000 users in 100 groups, 1,000 folders): the fixed cost of every
// rebuild of the past before its events replay. It reports the base's
// stored size per assignment.
func BenchmarkHistoryBase(b *testing.B) {
	const users, folders, assignments = 10_000, 1_000, 100_000
	m := authorizer.New(authorizer.Sizes{})
	for i := range folders {
		_ = m.UpsertScope(authorizer.Scope{Name: fmt.Sprintf("%s/folders/f%d", dtService, i), ServiceType: "orchestrator"})
	}
	for i := range users {
		u := fmt.Sprintf("%s/users/u%d", dtOrg, i)
		_ = m.UpsertPrincipal(authorizer.Principal{ID: u, Kind: authorizer.KindUser, Status: authorizer.StatusActive, Organization: dtOrg, DisplayName: u})
		_ = m.UpsertMembership(authorizer.Membership{Group: fmt.Sprintf("%s/groups/g%d", dtOrg, i%100), Member: u})
	}
	for i := range assignments {
		_ = m.UpsertAssignment(authorizer.Assignment{
			ID: fmt.Sprintf("%s/roleAssignments/a%07d", dtOrg, i), Principal: fmt.Sprintf("%s/users/u%d", dtOrg, i%users),
			Role: catalogue.RoleAutomationUser, Scope: fmt.Sprintf("%s/folders/f%d", dtService, i%folders),
		})
	}
	chunks, sizes, err := encodeBase(&historyState{model: m, roles: map[string]catalogue.Role{}})
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Join(chunks, nil)
	b.ResetTimer()
	for range b.N {
		st, err := decodeBase(io.Reader(bytes.NewReader(data)), sizes)
		if err != nil || st.model.Stats().Assignments != assignments {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/assignments, "bytes/assignment")
}
