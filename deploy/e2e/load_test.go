//go:build e2e && load

package e2e_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
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
	s := launch(t)
	load := setUpCheckLoad(t, s)
	load.run("", func() grpc.ClientConnInterface { return s.dial("access") })
	load.batch(accessv1.NewAccessServiceClient(s.dial("access")))
}

// TestLoadClusterCheck is TestLoadCheck against the cluster of make
// run-cluster (issue 17): the callers on one access replica, then spread
// over both (round robin, as Steward's services dial replicas).
func TestLoadClusterCheck(t *testing.T) {
	s := launchCluster(t)
	load := setUpCheckLoad(t, s.suite)
	load.run("one access replica", func() grpc.ClientConnInterface { return s.dial("access") })
	load.run("two access replicas", func() grpc.ClientConnInterface { return s.replicaList("access") })
}

// checkLoad is a prepared CheckPermission load: LOAD_CONCURRENCY callers for
// LOAD_SECONDS, asking as a service whether a group member may create jobs
// in a folder.
type checkLoad struct {
	t                *testing.T
	seconds, callers int
	asService        context.Context
	req              func(i int) *accessv1.CheckPermissionRequest
}

// setUpCheckLoad makes the load's organization, service, group of 50 users
// and role assignment through s, and returns the load.
func setUpCheckLoad(t *testing.T, s *suite) checkLoad {
	seconds := envInt("LOAD_SECONDS", 10)
	callers := envInt("LOAD_CONCURRENCY", 8)
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

	return checkLoad{t: t, seconds: seconds, callers: callers, asService: asService, req: req}
}

// run drives the load, each caller on a connection of its own from dial,
// and logs the figures under label.
func (l checkLoad) run(label string, dial func() grpc.ClientConnInterface) {
	t, seconds, callers, asService, req := l.t, l.seconds, l.callers, l.asService, l.req
	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	for c := range callers {
		client := accessv1.NewAccessServiceClient(dial())
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
	t.Logf("CheckPermission load%s: %d callers, %ds: %d calls, %.0f calls/s, p50 %v, p90 %v, p99 %v, max %v",
		strings.TrimSuffix(" ("+label+")", " ()"), callers, seconds, len(all), float64(len(all))/float64(seconds), pct(0.50), pct(0.90), pct(0.99), all[len(all)-1])
}

// batch measures BatchCheckPermission with 1,000 items, one caller.
func (l checkLoad) batch(acc accessv1.AccessServiceClient) {
	t, asService, req := l.t, l.asService, l.req
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

// TestLoadLeases is issue 11's load run of R24 against the real binaries on
// loopback, fsync on: LOAD_CONCURRENCY (default 32) robot clients, each a
// robot account with its own API key and connection, sign in and out as
// fast as they can (AcquireLease then ReleaseLease) for LOAD_SECONDS
// (default 10), against a concurrent pool big enough for all. It reports
// pairs per second and the latency percentiles of each call; it asserts
// only that every call succeeded.
func TestLoadLeases(t *testing.T) {
	seconds := envInt("LOAD_SECONDS", 10)
	callers := envInt("LOAD_CONCURRENCY", 32)
	s := launch(t)
	ctx := context.Background()
	o := s.signUpOrg(ctx, "leaseload")
	owner := withBearer(ctx, o.token)
	lic := licensingv1.NewLicensingServiceClient(s.dial("licensing"))
	if _, err := lic.CreateLicensePool(s.asService(ctx, "operator"), &licensingv1.CreateLicensePoolRequest{Parent: o.org, LicensePoolId: "runtime",
		LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "professional",
			Model: licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT, Quantity: int32(callers), ValidUntil: timestamppb.New(time.Now().Add(24 * time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	type robot struct {
		ctx     context.Context
		account string
	}
	robots := make([]robot, callers)
	for i := range robots {
		ra, err := dir.CreateRobotAccount(owner, &directoryv1.CreateRobotAccountRequest{Parent: o.org, RobotAccountId: fmt.Sprintf("bot%d", i),
			RobotAccount: &directoryv1.RobotAccount{DisplayName: fmt.Sprintf("Bot %d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		key, err := dir.CreateApiKey(owner, &directoryv1.CreateApiKeyRequest{Parent: ra.GetName(), ApiKey: &directoryv1.ApiKey{DisplayName: "load"}})
		if err != nil {
			t.Fatal(err)
		}
		robots[i] = robot{ctx: withBearer(ctx, key.GetSecret()), account: ra.GetName()}
	}
	acquire := func(c licensingv1.LicensingServiceClient, r robot) (*licensingv1.AcquireLeaseResponse, error) {
		return c.AcquireLease(r.ctx, &licensingv1.AcquireLeaseRequest{Parent: o.org, Principal: r.account,
			Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "load-host"})
	}
	// Warm up: every robot known to licensing, every API key verified once.
	for _, r := range robots {
		for deadline := time.Now().Add(10 * time.Second); ; {
			l, err := acquire(lic, r)
			if err == nil {
				_, err = lic.ReleaseLease(r.ctx, &licensingv1.ReleaseLeaseRequest{Name: l.GetLease().GetName()})
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("warm-up of %s: %v", r.account, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	stop := time.Now().Add(time.Duration(seconds) * time.Second)
	acqLat := make([][]time.Duration, callers)
	relLat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	began := time.Now()
	for c := range callers {
		client := licensingv1.NewLicensingServiceClient(s.dial("licensing"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := robots[c]
			for time.Now().Before(stop) {
				t0 := time.Now()
				l, err := acquire(client, r)
				t1 := time.Now()
				if err != nil {
					t.Errorf("AcquireLease: %v", err)
					return
				}
				_, err = client.ReleaseLease(r.ctx, &licensingv1.ReleaseLeaseRequest{Name: l.GetLease().GetName()})
				acqLat[c] = append(acqLat[c], t1.Sub(t0))
				relLat[c] = append(relLat[c], time.Since(t1))
				if err != nil {
					t.Errorf("ReleaseLease: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	report := func(name string, lat [][]time.Duration) {
		all := slices.Concat(lat...)
		slices.Sort(all)
		pct := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
		t.Logf("%s: p50 %v, p90 %v, p99 %v, max %v", name, pct(0.50), pct(0.90), pct(0.99), all[len(all)-1])
	}
	pairs := len(slices.Concat(acqLat...))
	t.Logf("lease load: %d clients, %v: %d AcquireLease+ReleaseLease pairs, %.0f pairs/s", callers, elapsed.Round(time.Millisecond), pairs, float64(pairs)/elapsed.Seconds())
	report("lease load AcquireLease", acqLat)
	report("lease load ReleaseLease", relLat)
	usage, err := lic.GetLicenseUsage(owner, &licensingv1.GetLicenseUsageRequest{Name: o.org + "/licenseUsage", Pool: o.org + "/licensePools/runtime"})
	if err != nil || usage.GetPools()[0].GetLeased() != 0 {
		t.Errorf("usage after the run: %v, %v; want no lease left", usage, err)
	}
}
