//go:build e2e && load

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestLoadCheck is a load run of CheckPermission (R16) against the real
// binaries on loopback, as an orchestrator calls it: a service credential,
// one permission of a role inherited through a group at an Orchestrator
// service, checked at a folder below it. LOAD_SECONDS (default 10) bounds
// the run, LOAD_CONCURRENCY (default 8) is the number of callers, each with
// its own connection. It reports throughput and latency percentiles; it
// asserts nothing about them (figures belong in BENCHMARKS.md).
func TestLoadCheck(t *testing.T) {
	seconds := envInt("LOAD_SECONDS", 10)
	callers := envInt("LOAD_CONCURRENCY", 8)
	s := launch(t)
	ctx := context.Background()
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	asService := s.asService(ctx, "licensing") // a service granted CheckPermission

	su, err := dir.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: "load", OrganizationDisplayName: "Load",
		Nickname: "owner", Email: "owner@load.example", Password: "owner's long password"})
	if err != nil {
		t.Fatal(err)
	}
	org := su.GetOrganization().GetName()
	in, err := dir.SignIn(ctx, &directoryv1.SignInRequest{Organization: org, Credential: &directoryv1.SignInRequest_Password{
		Password: &directoryv1.PasswordCredential{Email: "owner@load.example", Password: "owner's long password"}}})
	if err != nil {
		t.Fatal(err)
	}
	owner := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+in.GetAccessToken())
	svc, err := dir.CreateService(owner, &directoryv1.CreateServiceRequest{Parent: org + "/tenants/default", ServiceId: "orch",
		Service: &directoryv1.Service{DisplayName: "Orchestrator", Type: "orchestrator"}})
	if err != nil {
		t.Fatal(err)
	}
	group, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: org, GroupId: "runners", Group: &directoryv1.Group{DisplayName: "Runners"}})
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for i := 0; i < 50; i++ {
		u, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: org, UserId: fmt.Sprintf("u%d", i),
			User: &directoryv1.User{Nickname: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@load.example", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: group.GetName(), Member: u.GetName()}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.GetName())
	}
	acc := accessv1.NewAccessServiceClient(s.dial("access"))
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err = acc.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org,
			Principal: group.GetName(), Roles: []string{"roles/automation-user"}, Scope: svc.GetName()})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	scope := svc.GetName() + "/folders/f1/folders/f2"
	req := func(i int) *accessv1.CheckPermissionRequest {
		return &accessv1.CheckPermissionRequest{Principal: users[i%len(users)], Permission: "orchestrator.jobs.create", Scope: scope}
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := acc.CheckPermission(asService, req(len(users)-1))
		if err == nil && resp.GetAllowed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup did not reach access: %v, %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	for c := range callers {
		client := accessv1.NewAccessServiceClient(s.dial("access"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; time.Now().Before(stop); i += callers {
				t0 := time.Now()
				resp, err := client.CheckPermission(asService, req(i))
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil || !resp.GetAllowed() {
					t.Errorf("Check: %v, %v", resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	t.Logf("CheckPermission load: %d callers, %ds: %d calls, %.0f calls/s, p50 %v, p90 %v, p99 %v, max %v",
		callers, seconds, len(all), float64(len(all))/float64(seconds), pct(0.50), pct(0.90), pct(0.99), all[len(all)-1])

	// BatchCheckPermission with 1,000 items, one caller.
	items := make([]*accessv1.CheckPermissionRequest, 1000)
	for i := range items {
		items[i] = req(i)
	}
	var batches []time.Duration
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		t0 := time.Now()
		resp, err := acc.BatchCheckPermission(asService, &accessv1.BatchCheckPermissionRequest{Items: items})
		batches = append(batches, time.Since(t0))
		if err != nil || len(resp.GetResults()) != len(items) {
			t.Fatalf("BatchCheck: %v", err)
		}
	}
	slices.Sort(batches)
	t.Logf("BatchCheckPermission (1,000 items): %d calls, p50 %v, max %v", len(batches), batches[len(batches)/2], batches[len(batches)-1])
}
