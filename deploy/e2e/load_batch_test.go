//go:build e2e && load

package e2e_test

import (
	"testing"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// TestLoadBatch is the bulk-creation load run of issue 13 against the real
// binaries on loopback: LOAD_BATCHES (default 10) batches of 1,000 role
// assignments through BatchCreateRoleAssignments (a user and an
// Orchestrator folder each, Automation User, as the owner: every item
// checked under R17), then as many batches of 1,000 memberships through
// BatchAddGroupMembers (each asking access once), one caller, over gRPC.
// LOAD_BATCH_USERS (default 5,000) users are made first, per call. It
// reports assignments/s and memberships/s; it asserts nothing about them
// (figures belong in BENCHMARKS.md).
func TestLoadBatch(t *testing.T) {
	const batch, nFolders, nGroups = 1000, 10, 20
	batches := envInt("LOAD_BATCHES", 10)
	nUsers := envInt("LOAD_BATCH_USERS", 5000)
	s := launch(t)
	setup := time.Now()
	o := newBatchOrg(t, s, "bulk", nFolders, nGroups, nUsers)
	t.Logf("setup: %d users, %d folders, %d groups in %v", nUsers, nFolders, nGroups, time.Since(setup).Round(time.Millisecond))
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))

	// pair returns the k-th (user, folder or group) pair of m columns:
	// every user once per column before any pair repeats.
	pair := func(k, m int) (user, column int) { return k % nUsers, (k / nUsers) % m }

	var slowest time.Duration
	start := time.Now()
	for b := range batches {
		req := &accessv1.BatchCreateRoleAssignmentsRequest{Parent: o.org}
		for k := b * batch; k < (b+1)*batch; k++ {
			u, f := pair(k, nFolders)
			req.Requests = append(req.Requests, &accessv1.CreateRoleAssignmentRequest{Parent: o.org, Principal: o.users[u],
				Roles: []string{"roles/automation-user"}, Scope: o.folders[f]})
		}
		t0 := time.Now()
		if _, err := acc.BatchCreateRoleAssignments(o.owner, req); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	elapsed := time.Since(start)
	t.Logf("assignments: %d in %v: %.0f assignments/s (slowest batch of %d: %v)",
		batches*batch, elapsed.Round(time.Millisecond), float64(batches*batch)/elapsed.Seconds(), batch, slowest.Round(time.Millisecond))

	slowest = 0
	start = time.Now()
	for b := range batches {
		req := &directoryv1.BatchAddGroupMembersRequest{Parent: o.org}
		for k := b * batch; k < (b+1)*batch; k++ {
			u, g := pair(k, nGroups)
			req.Requests = append(req.Requests, &directoryv1.AddGroupMemberRequest{Group: o.groups[g], Member: o.users[u]})
		}
		t0 := time.Now()
		if _, err := dir.BatchAddGroupMembers(o.owner, req); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	elapsed = time.Since(start)
	t.Logf("memberships: %d in %v: %.0f memberships/s (slowest batch of %d: %v)",
		batches*batch, elapsed.Round(time.Millisecond), float64(batches*batch)/elapsed.Seconds(), batch, slowest.Round(time.Millisecond))
}
