package domain_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/services/licensing/domain"
)

const concurrent = licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT

// acquire signs principal's client of product in from machine, as the
// principal.
func (f *fixture) acquire(principal string, product licensingv1.Product, machine, service string) (*licensingv1.Lease, error) {
	self := domain.Actor{Name: principal, Organization: org}
	return f.d.AcquireLease(context.Background(), self, &licensingv1.AcquireLeaseRequest{
		Parent: org, Principal: principal, Client: product, Machine: machine, Service: service})
}

// mustAcquire is acquire that must succeed.
func (f *fixture) mustAcquire(principal string, product licensingv1.Product, machine string) *licensingv1.Lease {
	f.t.Helper()
	l, err := f.acquire(principal, product, machine, "")
	if err != nil {
		f.t.Fatalf("AcquireLease %s on %s: %v", principal, machine, err)
	}
	return l
}

// count returns how many events of type typ the licensing log holds.
func (f *fixture) count(typ string) int {
	f.t.Helper()
	n := 0
	for _, e := range f.events() {
		if e == typ {
			n++
		}
	}
	return n
}

// wantEnded checks that RenewLease of l says LEASE_ENDED with reason.
func (f *fixture) wantEnded(l *licensingv1.Lease, reason licensingv1.Lease_EndReason) {
	f.t.Helper()
	_, err := f.d.RenewLease(context.Background(), owner, l.GetName())
	if !errors.Is(err, domain.ErrLeaseEnded) {
		f.t.Fatalf("RenewLease %s: %v, want LEASE_ENDED", l.GetName(), err)
	}
	if got := domain.MetadataOf(err)["reason"]; got != reason.String()[len("END_REASON_"):] {
		f.t.Errorf("RenewLease %s: reason %q, want %s", l.GetName(), got, reason)
	}
}

// TestAcquireLease: a client signs in with its named seat or free
// concurrent capacity, and is told precisely why not otherwise (R23, R24).
func TestAcquireLease(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fixture) string // returns the principal
		product licensingv1.Product
		wantErr error
		pool    string
	}{
		{name: "named seat", setup: func(f *fixture) string {
			u := f.user("ann", true)
			if _, err := f.assign(org+"/licensePools/trial-robot", u); err != nil {
				t.Fatal(err)
			}
			return u
		}, product: robot, pool: org + "/licensePools/trial-robot"},
		{name: "no license of the product", setup: func(f *fixture) string {
			u := f.user("ann", true)
			if _, err := f.assign(org+"/licensePools/trial-robot", u); err != nil {
				t.Fatal(err)
			}
			return u
		}, product: editor, wantErr: domain.ErrLicenseRequired},
		{name: "concurrent capacity", setup: func(f *fixture) string {
			f.pool("conc", robot, "professional", concurrent, 1, dayBefore, yearLater)
			return f.user("ann", true)
		}, product: robot, pool: org + "/licensePools/conc"},
		{name: "concurrent pool full", setup: func(f *fixture) string {
			f.pool("conc", robot, "professional", concurrent, 1, dayBefore, yearLater)
			f.mustAcquire(f.user("bob", true), robot, "m1")
			return f.user("ann", true)
		}, product: robot, wantErr: domain.ErrPoolExhausted},
		{name: "concurrent pool expired", setup: func(f *fixture) string {
			f.pool("conc", robot, "professional", concurrent, 5, dayBefore.Add(-time.Hour), dayBefore)
			return f.user("ann", true)
		}, product: robot, wantErr: domain.ErrPoolExpired},
		{name: "named seat of an expired pool: its holder is told why", setup: func(f *fixture) string {
			u := f.user("ann", true)
			if _, err := f.assign(org+"/licensePools/trial-robot", u); err != nil {
				t.Fatal(err)
			}
			f.now = start.Add(31 * 24 * time.Hour)
			return u
		}, product: robot, wantErr: domain.ErrPoolExpired},
		{name: "deactivated principal", setup: func(f *fixture) string {
			return f.user("ann", false)
		}, product: robot, wantErr: domain.ErrMemberInactive},
		{name: "unknown principal", setup: func(*fixture) string { return org + "/users/ghost" }, product: robot, wantErr: domain.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			principal := tt.setup(f)
			before := f.count(domain.TypeLeaseAcquired)
			l, err := f.acquire(principal, tt.product, "m0", "")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("AcquireLease: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if f.count(domain.TypeLeaseAcquired) != before {
					t.Error("a refused AcquireLease emitted an event")
				}
				return
			}
			if l.GetPool() != tt.pool || l.GetPrincipal() != principal || !l.GetExpireTime().AsTime().Equal(f.now.Add(domain.DefaultLeaseTTL)) {
				t.Errorf("lease %v: want pool %s, expiry in %v", l, tt.pool, domain.DefaultLeaseTTL)
			}
			if got := f.usage(tt.pool).GetLeased(); got != 1 {
				t.Errorf("usage of %s: %d leased, want 1", tt.pool, got)
			}
		})
	}
}

// TestLeaseOneMachine: a principal's license is leased on one machine at a
// time; the same machine reconnecting keeps its lease (R24).
func TestLeaseOneMachine(t *testing.T) {
	f := newFixture(t, domain.Options{})
	u := f.user("ann", true)
	if _, err := f.assign(org+"/licensePools/trial-robot", u); err != nil {
		t.Fatal(err)
	}
	l := f.mustAcquire(u, robot, "m1")
	f.now = f.now.Add(time.Minute)
	again := f.mustAcquire(u, robot, "m1")
	if again.GetName() != l.GetName() || !again.GetExpireTime().AsTime().Equal(f.now.Add(domain.DefaultLeaseTTL)) {
		t.Errorf("reconnect: %v, want %s renewed", again, l.GetName())
	}
	_, err := f.acquire(u, robot, "m2", "")
	if !errors.Is(err, domain.ErrLicenseInUse) || domain.MetadataOf(err)["lease"] != l.GetName() {
		t.Fatalf("second machine: %v, want LICENSE_IN_USE naming %s", err, l.GetName())
	}
	if err := f.d.ReleaseLease(context.Background(), owner, l.GetName()); err != nil {
		t.Fatal(err)
	}
	f.mustAcquire(u, robot, "m2")
}

// TestLeaseLifecycle: renew extends by the TTL, release ends at once and
// frees the license, a lease not renewed in time ends — at the next
// renewal, or by the sweeper — each with its event (R24).
func TestLeaseLifecycle(t *testing.T) {
	f := newFixture(t, domain.Options{LeaseTTL: time.Minute})
	pool := f.pool("conc", robot, "professional", concurrent, 1, dayBefore, yearLater)
	ann, bob := f.user("ann", true), f.user("bob", true)

	l := f.mustAcquire(ann, robot, "m1")
	f.now = f.now.Add(50 * time.Second)
	r, err := f.d.RenewLease(context.Background(), owner, l.GetName())
	if err != nil || !r.GetExpireTime().AsTime().Equal(f.now.Add(time.Minute)) {
		t.Fatalf("RenewLease: %v, %v; want expiry %v", r, err, f.now.Add(time.Minute))
	}
	if err := f.d.ReleaseLease(context.Background(), owner, l.GetName()); err != nil {
		t.Fatal(err)
	}
	if err := f.d.ReleaseLease(context.Background(), owner, l.GetName()); err != nil {
		t.Errorf("releasing a released lease: %v, want nothing to do", err)
	}
	f.wantEnded(l, licensingv1.Lease_END_REASON_RELEASED)
	if f.usage(pool).GetLeased() != 0 {
		t.Error("a released lease still counts")
	}

	// Expiry found by the renewal.
	l = f.mustAcquire(bob, robot, "m2")
	f.now = f.now.Add(time.Minute)
	f.wantEnded(l, licensingv1.Lease_END_REASON_EXPIRED)

	// Expiry found by the sweeper: the license is free for another client.
	l = f.mustAcquire(ann, robot, "m1")
	if _, err := f.acquire(bob, robot, "m2", ""); !errors.Is(err, domain.ErrPoolExhausted) {
		t.Fatalf("pool of 1 leased: %v, want POOL_EXHAUSTED", err)
	}
	f.now = f.now.Add(time.Minute + time.Second)
	swept, err := f.d.Sweep(context.Background())
	if err != nil || swept.LeasesExpired != 1 {
		t.Fatalf("Sweep: %+v, %v; want 1 lease expired", swept, err)
	}
	f.wantEnded(l, licensingv1.Lease_END_REASON_EXPIRED)
	if f.usage(pool).GetLeased() != 0 || f.usage(pool).GetFree() != 1 {
		t.Errorf("after the sweep: %v, want the seat free", f.usage(pool))
	}
	f.mustAcquire(bob, robot, "m2")
	live, err := f.d.ListLeases(context.Background(), owner, &licensingv1.ListLeasesRequest{Parent: org})
	if err != nil || len(live.GetLeases()) != 1 || live.GetLeases()[0].GetPrincipal() != bob {
		t.Errorf("ListLeases: %v, %v; want bob's lease only", live, err)
	}
	if got := [3]int{f.count(domain.TypeLeaseAcquired), f.count(domain.TypeLeaseRenewed), f.count(domain.TypeLeaseEnded)}; got != [3]int{4, 1, 3} {
		t.Errorf("events acquired/renewed/ended: %v, want [4 1 3]", got)
	}

	// Ended leases go after a day; a renewal then finds nothing.
	f.now = f.now.Add(domain.EndedLeaseRetention + time.Minute)
	if swept, err := f.d.Sweep(context.Background()); err != nil || swept.LeasesDropped != 3 {
		t.Errorf("Sweep a day later: %+v, %v; want the 3 ended leases dropped (bob's expired now)", swept, err)
	}
	if _, err := f.d.RenewLease(context.Background(), owner, l.GetName()); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("RenewLease of a dropped lease: %v, want NOT_FOUND", err)
	}
}

// TestLeasesEnd: removing a license, force release, deactivating or
// deleting the principal and switching the account system end leases,
// each with its event; removing a user from a group releases nothing
// (R8, R22, R24, 000, 003).
func TestLeasesEnd(t *testing.T) {
	tests := []struct {
		name   string
		end    func(f *fixture, u string, a *licensingv1.LicenseAssignment, l *licensingv1.Lease)
		reason licensingv1.Lease_EndReason
		// licenseKept: the member still holds its license afterwards.
		licenseKept bool
	}{
		{name: "license removed", end: func(f *fixture, _ string, a *licensingv1.LicenseAssignment, _ *licensingv1.Lease) {
			if err := f.d.UnassignLicense(context.Background(), owner, &licensingv1.UnassignLicenseRequest{Name: a.GetName()}); err != nil {
				t.Fatal(err)
			}
		}, reason: licensingv1.Lease_END_REASON_LICENSE_REMOVED},
		{name: "license moved to another pool", end: func(f *fixture, u string, _ *licensingv1.LicenseAssignment, _ *licensingv1.Lease) {
			other := f.pool("more", robot, "professional", named, 3, dayBefore, yearLater)
			if _, err := f.assign(other, u); err != nil {
				t.Fatal(err)
			}
		}, reason: licensingv1.Lease_END_REASON_LICENSE_REMOVED, licenseKept: true},
		{name: "force released", end: func(f *fixture, _ string, _ *licensingv1.LicenseAssignment, l *licensingv1.Lease) {
			got, err := f.d.ForceReleaseLease(context.Background(), owner, l.GetName())
			if err != nil || got.GetEndReason() != licensingv1.Lease_END_REASON_FORCE_RELEASED {
				t.Fatalf("ForceReleaseLease: %v, %v", got, err)
			}
		}, reason: licensingv1.Lease_END_REASON_FORCE_RELEASED, licenseKept: true},
		{name: "principal deactivated", end: func(f *fixture, u string, _ *licensingv1.LicenseAssignment, _ *licensingv1.Lease) {
			f.apply(directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED, u, &directoryv1.User{Name: u, State: directoryv1.User_STATE_INACTIVE})
		}, reason: licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED, licenseKept: true},
		{name: "principal deleted", end: func(f *fixture, u string, _ *licensingv1.LicenseAssignment, _ *licensingv1.Lease) {
			f.apply(directoryv1.EventType_EVENT_TYPE_USER_DELETED, u, nil)
		}, reason: licensingv1.Lease_END_REASON_PRINCIPAL_REMOVED},
		{name: "account system switched", end: func(f *fixture, _ string, _ *licensingv1.LicenseAssignment, _ *licensingv1.Lease) {
			f.apply(directoryv1.EventType_EVENT_TYPE_ACCOUNT_SYSTEM_SWITCHED, org+"/accountSystem", &directoryv1.AccountSystem{Name: org + "/accountSystem"})
		}, reason: licensingv1.Lease_END_REASON_ACCOUNT_SYSTEM_SWITCHED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			u := f.user("ann", true)
			a, err := f.assign(org+"/licensePools/trial-robot", u)
			if err != nil {
				t.Fatal(err)
			}
			l := f.mustAcquire(u, robot, "m1")
			// Leaving a group changes nothing (003).
			f.apply(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED, org+"/groups/g1", &directoryv1.Group{Name: org + "/groups/g1"})
			tt.end(f, u, a, l)
			f.wantEnded(l, tt.reason)
			if f.count(domain.TypeLeaseEnded) != 1 {
				t.Errorf("%d lease-ended events, want 1", f.count(domain.TypeLeaseEnded))
			}
			held, err := f.d.ListLicenseAssignments(context.Background(), owner, &licensingv1.ListLicenseAssignmentsRequest{Parent: org, Member: u})
			if err != nil || (len(held.GetLicenseAssignments()) == 1) != tt.licenseKept {
				t.Errorf("assignments of %s afterwards: %v, %v; want kept = %v", u, held, err, tt.licenseKept)
			}
			if !tt.licenseKept && f.count(domain.TypeLicenseUnassigned) != 1 {
				t.Errorf("%d license-removed events, want 1", f.count(domain.TypeLicenseUnassigned))
			}
		})
	}
}

// TestAccountSystemSwitchReleasesEverything: every license and lease of the
// organization goes, the owner's and robot accounts' too, each with its
// event; another organization keeps its own (R8, 000).
func TestAccountSystemSwitchReleasesEverything(t *testing.T) {
	f := newFixture(t, domain.Options{})
	own := f.user("owner", true)
	ra := org + "/robotAccounts/r1"
	f.apply(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED, ra, &directoryv1.RobotAccount{Name: ra})
	f.pool("conc", editor, "professional", concurrent, 5, dayBefore, yearLater)
	for _, m := range []string{own, ra} {
		if _, err := f.assign(org+"/licensePools/trial-robot", m); err != nil {
			t.Fatal(err)
		}
		f.mustAcquire(m, robot, "m-"+m[len(m)-2:])
	}
	f.mustAcquire(own, editor, "laptop")
	f.apply(directoryv1.EventType_EVENT_TYPE_ACCOUNT_SYSTEM_SWITCHED, org+"/accountSystem", &directoryv1.AccountSystem{Name: org + "/accountSystem"})
	u, err := f.d.GetLicenseUsage(context.Background(), owner, &licensingv1.GetLicenseUsageRequest{Name: org + "/licenseUsage"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range u.GetPools() {
		if p.GetAssigned() != 0 || p.GetLeased() != 0 {
			t.Errorf("after the switch %s: %d assigned, %d leased; want none", p.GetPool(), p.GetAssigned(), p.GetLeased())
		}
	}
	if got := [2]int{f.count(domain.TypeLicenseUnassigned), f.count(domain.TypeLeaseEnded)}; got != [2]int{2, 3} {
		t.Errorf("unassigned/lease-ended events: %v, want [2 3]", got)
	}
}

// TestExecutionLock: with concurrent execution disabled on the user's
// license, one job runs at a time; the second is told which job runs;
// release or expiry frees the lock; with it enabled jobs run side by side
// (R25).
func TestExecutionLock(t *testing.T) {
	f := newFixture(t, domain.Options{ExecutionTTL: time.Hour})
	u := f.user("ann", true)
	a, err := f.assign(org+"/licensePools/trial-robot", u)
	if err != nil {
		t.Fatal(err)
	}
	self := domain.Actor{Name: u, Organization: org}
	run := func(job string) (*licensingv1.Execution, error) {
		return f.d.AcquireExecution(context.Background(), self, &licensingv1.AcquireExecutionRequest{Parent: org, User: u, Job: job})
	}
	// Enabled (the default): two jobs at once.
	j1, err1 := run("invoices")
	_, err2 := run("payroll")
	if err1 != nil || err2 != nil {
		t.Fatalf("concurrent execution enabled: %v, %v", err1, err2)
	}
	if err := f.d.ReleaseExecution(context.Background(), self, j1.GetName()); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(2 * time.Hour) // payroll's lock lapses
	if _, err := f.d.UpdateLicenseAssignment(context.Background(), owner, &licensingv1.UpdateLicenseAssignmentRequest{
		LicenseAssignment: &licensingv1.LicenseAssignment{Name: a.GetName(), ConcurrentExecutionDisabled: true},
		UpdateMask:        &fieldmaskpb.FieldMask{Paths: []string{"concurrent_execution_disabled"}}}); err != nil {
		t.Fatal(err)
	}
	first, err := run("invoices")
	if err != nil {
		t.Fatalf("first job with concurrency disabled: %v", err)
	}
	_, err = run("payroll")
	if !errors.Is(err, domain.ErrConcurrentExecutionDisabled) || domain.MetadataOf(err)["execution"] != first.GetName() || domain.MetadataOf(err)["job"] != "invoices" {
		t.Fatalf("second job: %v (%v), want CONCURRENT_EXECUTION_DISABLED naming %s", err, domain.MetadataOf(err), first.GetName())
	}
	f.now = f.now.Add(time.Hour)
	if swept, err := f.d.Sweep(context.Background()); err != nil || swept.ExecutionsExpired != 1 {
		t.Errorf("Sweep: %+v, %v; want the expired lock released", swept, err)
	}
	if _, err := run("payroll"); err != nil {
		t.Errorf("after the first job's lock expired: %v", err)
	}
	if got := [2]int{f.count(domain.TypeExecutionAcquired), f.count(domain.TypeExecutionReleased)}; got != [2]int{4, 3} {
		t.Errorf("execution acquired/released events: %v, want [4 3]", got)
	}
	if _, err := f.d.UpdateLicenseAssignment(context.Background(), owner, &licensingv1.UpdateLicenseAssignmentRequest{
		LicenseAssignment: &licensingv1.LicenseAssignment{Name: a.GetName(), Pool: "organizations/o1/licensePools/x"},
		UpdateMask:        &fieldmaskpb.FieldMask{Paths: []string{"pool"}}}); err == nil {
		t.Error("UpdateLicenseAssignment changed the pool; only concurrent_execution_disabled may change")
	}
}

// TestUsageTrend: the trend shows peak and average live leases per hour and
// per day, per pool and per service, and forgets hours past the retention
// (R26).
func TestUsageTrend(t *testing.T) {
	f := newFixture(t, domain.Options{LeaseTTL: 3 * time.Hour, UsageRetention: 48 * time.Hour})
	pool := f.pool("conc", robot, "professional", concurrent, 5, dayBefore, yearLater)
	svc := org + "/tenants/t1/services/orchestrator"
	ann, bob := f.user("ann", true), f.user("bob", true)
	// 12:00 ann connects to the orchestrator; 12:30 bob; 13:00 bob leaves;
	// 14:00 ann leaves.
	la, err := f.acquire(ann, robot, "m1", svc)
	if err != nil {
		t.Fatal(err)
	}
	f.now = start.Add(30 * time.Minute)
	lb := f.mustAcquire(bob, robot, "m2")
	f.now = start.Add(time.Hour)
	_ = f.d.ReleaseLease(context.Background(), owner, lb.GetName())
	u, err := f.d.GetLicenseUsage(context.Background(), owner, &licensingv1.GetLicenseUsageRequest{Name: org + "/licenseUsage", Service: svc})
	if err != nil || len(u.GetServices()) != 1 || u.GetServices()[0].GetLeased() != 1 {
		t.Errorf("usage per service: %v, %v; want 1 lease of %s", u.GetServices(), err, svc)
	}
	f.now = start.Add(2 * time.Hour)
	_ = f.d.ReleaseLease(context.Background(), owner, la.GetName())
	f.now = start.Add(3 * time.Hour)

	trend := func(req *licensingv1.GetUsageTrendRequest) []*licensingv1.UsagePoint {
		t.Helper()
		req.Name = org + "/usageTrend"
		got, err := f.d.GetUsageTrend(context.Background(), owner, req)
		if err != nil {
			t.Fatal(err)
		}
		return got.GetPoints()
	}
	type pt struct {
		peak int32
		avg  float64
	}
	summary := func(points []*licensingv1.UsagePoint, series string) []pt {
		var out []pt
		for _, p := range points {
			if p.GetPool() == series || p.GetService() == series {
				out = append(out, pt{p.GetPeak(), p.GetAverage()})
			}
		}
		return out
	}
	hours := trend(&licensingv1.GetUsageTrendRequest{StartTime: timestamppb.New(start)})
	if got, want := summary(hours, pool), []pt{{2, 1.5}, {1, 1}, {0, 0}}; !slices.Equal(got, want) {
		t.Errorf("pool per hour: %v, want %v", got, want)
	}
	if got, want := summary(hours, svc), []pt{{1, 1}, {1, 1}, {0, 0}}; !slices.Equal(got, want) {
		t.Errorf("service per hour: %v, want %v", got, want)
	}
	days := trend(&licensingv1.GetUsageTrendRequest{StartTime: timestamppb.New(start), Granularity: licensingv1.GetUsageTrendRequest_GRANULARITY_DAY, Pool: pool})
	// The day so far is 15 hours (midnight to 15:00) with 2.5 seat-hours.
	if got, want := summary(days, pool), []pt{{2, 2.5 / 15}}; len(days) != 1 || !slices.Equal(got, want) {
		t.Errorf("pool per day: %v, want %v", got, want)
	}
	if got := trend(&licensingv1.GetUsageTrendRequest{StartTime: timestamppb.New(start.Add(-48 * time.Hour)), EndTime: timestamppb.New(start)}); len(got) != 0 {
		t.Errorf("a range before any lease: %d points, want none", len(got))
	}
	if _, err := f.d.GetUsageTrend(context.Background(), owner, &licensingv1.GetUsageTrendRequest{Name: org + "/usageTrend",
		StartTime: timestamppb.New(start.Add(-90 * 24 * time.Hour))}); err == nil {
		t.Error("90 days of hours answered; want InvalidArgument")
	}
	f.now = start.Add(72 * time.Hour)
	if swept, err := f.d.Sweep(context.Background()); err != nil || swept.HoursDropped != 4 {
		t.Errorf("Sweep past the retention: %+v, %v; want the 4 stored hours dropped", swept, err)
	}
}
