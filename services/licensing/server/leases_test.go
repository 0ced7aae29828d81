package server_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/services/licensing/leasetoken"
)

// TestLeaseThroughTheServer: a member signs its client in, gets a lease
// token that verifies offline with the public JWKS, renews, closes; who
// may act on a lease is checked (R23, R24).
func TestLeaseThroughTheServer(t *testing.T) {
	e := newEnv(t)
	org := e.signUp("o1", "owner", "a", "plain")
	e.signUp("o2", "owner")
	owner, a, plain := e.as(org, "owner"), e.as(org, "a"), e.as(org, "plain")
	if _, err := e.c.AssignLicense(owner, &licensingv1.AssignLicenseRequest{Parent: org, LicenseAssignment: &licensingv1.LicenseAssignment{
		Pool: org + "/licensePools/trial-robot", Member: org + "/users/a"}}, e.svc); err != nil {
		t.Fatal(err)
	}
	got, err := e.c.AcquireLease(a, &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/a",
		Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "build-01", Service: org + "/tenants/t1/services/orch"}, e.svc)
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	lease := got.GetLease()

	// Offline: the robot keeps the JWKS (a public call) and checks its token.
	jwks, err := e.c.GetLicensingJwks(context.Background(), &licensingv1.GetLicensingJwksRequest{})
	if err != nil || len(jwks.GetKeys()) == 0 {
		t.Fatalf("GetLicensingJwks: %v, %v", jwks, err)
	}
	var keys []accesstoken.JWK
	for _, k := range jwks.GetKeys() {
		keys = append(keys, accesstoken.JWK{Kty: k.GetKty(), Crv: k.GetCrv(), X: k.GetX(), Kid: k.GetKid(), Alg: k.GetAlg(), Use: k.GetUse()})
	}
	raw, _ := json.Marshal(keys)
	var fetched []accesstoken.JWK
	if err := json.Unmarshal(raw, &fetched); err != nil {
		t.Fatal(err)
	}
	v, err := leasetoken.NewVerifier(fetched)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(got.GetLeaseToken(), time.Now())
	if err != nil {
		t.Fatalf("offline verification: %v", err)
	}
	want := leasetoken.Claims{Lease: lease.GetName(), Principal: org + "/users/a", Organization: org, Client: "robot", Machine: "build-01",
		Pool: org + "/licensePools/trial-robot", Service: org + "/tenants/t1/services/orch"}
	if claims.Lease != want.Lease || claims.Principal != want.Principal || claims.Organization != want.Organization || claims.Client != want.Client ||
		claims.Machine != want.Machine || claims.Pool != want.Pool || claims.Service != want.Service ||
		!claims.Expiry.Equal(lease.GetExpireTime().AsTime().Truncate(time.Second)) {
		t.Errorf("claims %+v, want %+v expiring at %v", claims, want, lease.GetExpireTime().AsTime())
	}
	if _, err := v.Verify(got.GetLeaseToken(), lease.GetExpireTime().AsTime().Add(time.Second)); err == nil {
		t.Error("the lease token verified after its expiry")
	}

	// Who may act on the lease.
	for _, tt := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"another member renewing", func() error {
			_, err := e.c.RenewLease(plain, &licensingv1.RenewLeaseRequest{Name: lease.GetName()}, e.svc)
			return err
		}, codes.PermissionDenied},
		{"another member releasing", func() error {
			_, err := e.c.ReleaseLease(plain, &licensingv1.ReleaseLeaseRequest{Name: lease.GetName()}, e.svc)
			return err
		}, codes.PermissionDenied},
		{"force release without licenses.edit", func() error {
			_, err := e.c.ForceReleaseLease(plain, &licensingv1.ForceReleaseLeaseRequest{Name: lease.GetName()}, e.svc)
			return err
		}, codes.PermissionDenied},
		{"another organization", func() error {
			_, err := e.c.RenewLease(e.as("organizations/o2", "owner"), &licensingv1.RenewLeaseRequest{Name: lease.GetName()}, e.svc)
			return err
		}, codes.NotFound},
		{"signing in another without licenses.edit", func() error {
			_, err := e.c.AcquireLease(plain, &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/a",
				Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "m2"}, e.svc)
			return err
		}, codes.PermissionDenied},
		{"a second machine", func() error {
			_, err := e.c.AcquireLease(a, &licensingv1.AcquireLeaseRequest{Parent: org, Principal: org + "/users/a",
				Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "build-02"}, e.svc)
			if _, reason, md, _, _ := details(err); reason != "LICENSE_IN_USE" || md["lease"] != lease.GetName() {
				t.Errorf("second machine: %v, want LICENSE_IN_USE naming %s", err, lease.GetName())
			}
			return err
		}, codes.FailedPrecondition},
	} {
		if code, _, _, _, _ := details(tt.call()); code != tt.code {
			t.Errorf("%s: %v, want %v", tt.name, code, tt.code)
		}
	}

	renewed, err := e.c.RenewLease(a, &licensingv1.RenewLeaseRequest{Name: lease.GetName()}, e.svc)
	if err != nil || renewed.GetLeaseToken() == "" || renewed.GetLease().GetExpireTime().AsTime().Before(lease.GetExpireTime().AsTime()) {
		t.Fatalf("RenewLease: %v, %v", renewed, err)
	}
	usage, err := e.c.GetLicenseUsage(owner, &licensingv1.GetLicenseUsageRequest{Name: org + "/licenseUsage"}, e.svc)
	if err != nil || len(usage.GetServices()) != 1 || usage.GetServices()[0].GetLeased() != 1 {
		t.Errorf("usage per service: %v, %v", usage.GetServices(), err)
	}
	if _, err := e.c.ReleaseLease(a, &licensingv1.ReleaseLeaseRequest{Name: lease.GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.RenewLease(a, &licensingv1.RenewLeaseRequest{Name: lease.GetName()}, e.svc)
	if code, reason, md, _, _ := details(err); code != codes.FailedPrecondition || reason != "LEASE_ENDED" || md["reason"] != "RELEASED" {
		t.Errorf("renewing a released lease: %v, want LEASE_ENDED (RELEASED)", err)
	}
	trend, err := e.c.GetUsageTrend(owner, &licensingv1.GetUsageTrendRequest{Name: org + "/usageTrend",
		StartTime: timestamppb.New(time.Now().Add(-time.Hour))}, e.svc)
	if err != nil || len(trend.GetPoints()) == 0 {
		t.Fatalf("GetUsageTrend: %v, %v", trend, err)
	}
	for _, p := range trend.GetPoints() {
		if p.GetPeak() > 1 {
			t.Errorf("trend point %v: peak above 1", p)
		}
	}
}

// TestExecutionThroughTheServer: the execution lock of R25 through the
// real wiring, the setting changed with UpdateLicenseAssignment.
func TestExecutionThroughTheServer(t *testing.T) {
	e := newEnv(t)
	org := e.signUp("o1", "owner", "a", "plain")
	owner, a := e.as(org, "owner"), e.as(org, "a")
	asg, err := e.c.AssignLicense(owner, &licensingv1.AssignLicenseRequest{Parent: org, LicenseAssignment: &licensingv1.LicenseAssignment{
		Pool: org + "/licensePools/trial-robot", Member: org + "/users/a"}}, e.svc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UpdateLicenseAssignment(e.as(org, "plain"), &licensingv1.UpdateLicenseAssignmentRequest{
		LicenseAssignment: &licensingv1.LicenseAssignment{Name: asg.GetName(), ConcurrentExecutionDisabled: true}}, e.svc); err == nil {
		t.Error("a plain member changed a license's settings")
	}
	if _, err := e.c.UpdateLicenseAssignment(owner, &licensingv1.UpdateLicenseAssignmentRequest{
		LicenseAssignment: &licensingv1.LicenseAssignment{Name: asg.GetName(), ConcurrentExecutionDisabled: true},
		UpdateMask:        &fieldmaskpb.FieldMask{Paths: []string{"concurrent_execution_disabled"}}}, e.svc); err != nil {
		t.Fatal(err)
	}
	run := func(job string) (*licensingv1.Execution, error) {
		return e.c.AcquireExecution(a, &licensingv1.AcquireExecutionRequest{Parent: org, User: org + "/users/a", Job: job}, e.svc)
	}
	first, err := run("invoices")
	if err != nil {
		t.Fatal(err)
	}
	_, err = run("payroll")
	if code, reason, md, _, _ := details(err); code != codes.FailedPrecondition || reason != "CONCURRENT_EXECUTION_DISABLED" || md["execution"] != first.GetName() || md["job"] != "invoices" {
		t.Errorf("second job: %v, want CONCURRENT_EXECUTION_DISABLED naming %s", err, first.GetName())
	}
	if _, err := e.c.ReleaseExecution(e.as(org, "plain"), &licensingv1.ReleaseExecutionRequest{Name: first.GetName()}, e.svc); err == nil {
		t.Error("a plain member released another's job")
	}
	if _, err := e.c.ReleaseExecution(a, &licensingv1.ReleaseExecutionRequest{Name: first.GetName()}, e.svc); err != nil {
		t.Fatal(err)
	}
	if _, err := run("payroll"); err != nil {
		t.Errorf("after the release: %v", err)
	}
}
