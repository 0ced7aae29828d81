//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// TestLicensingSeatRace is issue 11's concurrency proof through the real
// binaries (R22): a pool of 5 seats, 1,000 AssignLicense calls for 1,000
// different members at once over 64 connections; exactly 5 succeed, every
// other is POOL_EXHAUSTED, and usage says 5.
func TestLicensingSeatRace(t *testing.T) {
	const (
		seats   = 5
		calls   = 1000
		clients = 64
	)
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "seatrace")
	owner := withBearer(ctx, o.token)

	// The operator makes the pool: organizations never grant themselves
	// seats (R21).
	lic := licensingv1.NewLicensingServiceClient(s.dial("licensing"))
	pool, err := lic.CreateLicensePool(s.asService(ctx, "operator"), &licensingv1.CreateLicensePoolRequest{Parent: o.org, LicensePoolId: "race",
		LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "professional",
			Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: seats, ValidUntil: timestamppb.New(time.Now().Add(24 * time.Hour))}})
	if err != nil {
		t.Fatalf("operator creating the pool: %v", err)
	}
	if _, err := lic.CreateLicensePool(owner, &licensingv1.CreateLicensePoolRequest{Parent: o.org,
		LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "professional",
			Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: 1000, ValidUntil: timestamppb.New(time.Now().Add(time.Hour))}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the owner creating a pool: %v, want PermissionDenied", err)
	}

	// 1,000 members: robot accounts, made 16 at a time.
	dir := directoryv1.NewDirectoryServiceClient(s.dial("directory"))
	members := make([]string, calls)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, calls)
	for i := range members {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ra, err := dir.CreateRobotAccount(owner, &directoryv1.CreateRobotAccountRequest{Parent: o.org, RobotAccountId: fmt.Sprintf("bot%d", i),
				RobotAccount: &directoryv1.RobotAccount{DisplayName: fmt.Sprintf("Bot %d", i)}})
			if err != nil {
				errs <- err
				return
			}
			members[i] = ra.GetName()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating a robot account: %v", err)
	}

	// 64 connections, 1,000 calls released at once.
	conns := make([]licensingv1.LicensingServiceClient, clients)
	for i := range conns {
		conns[i] = licensingv1.NewLicensingServiceClient(s.dial("licensing"))
	}
	var ok, exhausted atomic.Int32
	other := make(chan error, calls)
	gate := make(chan struct{})
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			_, err := conns[i%clients].AssignLicense(owner, &licensingv1.AssignLicenseRequest{Parent: o.org,
				LicenseAssignment: &licensingv1.LicenseAssignment{Pool: pool.GetName(), Member: m}})
			switch {
			case err == nil:
				ok.Add(1)
			case status.Code(err) == codes.FailedPrecondition && reasonOf(err) == "POOL_EXHAUSTED":
				exhausted.Add(1)
			default:
				other <- err
			}
		}()
	}
	close(gate)
	wg.Wait()
	close(other)
	for err := range other {
		t.Errorf("AssignLicense: %v, want success or POOL_EXHAUSTED", err)
	}
	if ok.Load() != seats || exhausted.Load() != calls-seats {
		t.Errorf("%d succeeded and %d were POOL_EXHAUSTED, want %d and %d", ok.Load(), exhausted.Load(), seats, calls-seats)
	}

	// R26: usage says 5, as do the assignments.
	usage, err := lic.GetLicenseUsage(owner, &licensingv1.GetLicenseUsageRequest{Name: o.org + "/licenseUsage", Pool: pool.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if p := usage.GetPools(); len(p) != 1 || p[0].GetAssigned() != seats || p[0].GetFree() != 0 {
		t.Errorf("usage %v, want %d assigned and none free", p, seats)
	}
	list, err := lic.ListLicenseAssignments(owner, &licensingv1.ListLicenseAssignmentsRequest{Parent: o.org, Pool: pool.GetName()})
	if err != nil || len(list.GetLicenseAssignments()) != seats {
		t.Errorf("ListLicenseAssignments: %d assignments, %v; want %d", len(list.GetLicenseAssignments()), err, seats)
	}
}

// reasonOf returns the ErrorInfo reason of err, "" if none.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
