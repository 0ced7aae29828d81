//go:build e2e

package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/services/licensing/leasetoken"
)

// TestLicensingLeaseThroughGateway is issue 11's walk through the real
// binaries and the JSON gateway (R23, R24, R26): an organization signs up,
// a robot account gets a license and signs its client in with its API key,
// verifies its lease token offline with the public JWKS, renews and
// closes; the usage trend shows it; deleting the account ends the lease
// the next client took, which learns it at its next renewal.
func TestLicensingLeaseThroughGateway(t *testing.T) {
	s := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "leasewalk")

	// A robot and its account, an API key for the account, a license.
	var robot struct{ Name, RobotAccount string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+o.org+"/robots?robotId=r1", map[string]any{"displayName": "Robot 1", "machineName": "host-1"}, o.token, &robot), "create robot")
	var key struct{ Secret string }
	must200(t, gatewayCall(t, s, "POST", "/v1/"+robot.RobotAccount+"/apiKeys", map[string]any{"apiKey": map[string]any{"displayName": "robot"}}, o.token, &key), "create API key")
	must200(t, gatewayCall(t, s, "POST", "/v1/"+o.org+"/licenseAssignments:assign", map[string]any{
		"licenseAssignment": map[string]any{"pool": o.org + "/licensePools/trial-robot", "member": robot.RobotAccount}}, o.token, nil), "assign a license")

	// The robot signs in (R23, R24).
	type leaseReply struct {
		Lease struct {
			Name, Pool, ExpireTime string
		}
		LeaseToken string
	}
	var got leaseReply
	acquire := map[string]any{"principal": robot.RobotAccount, "client": "PRODUCT_ROBOT", "machine": "host-1",
		"service": o.org + "/tenants/default/services/orchestrator"}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+o.org+"/leases:acquire", acquire, key.Secret, &got), "AcquireLease with the robot's API key")
	if got.Lease.Pool != o.org+"/licensePools/trial-robot" || got.LeaseToken == "" {
		t.Fatalf("AcquireLease = %+v", got)
	}

	// Offline: the JWKS is public; the token verifies with it alone.
	var jwks struct{ Keys []accesstoken.JWK }
	must200(t, gatewayCall(t, s, "GET", "/v1/licensing/jwks", nil, "", &jwks), "GET the licensing JWKS")
	v, err := leasetoken.NewVerifier(jwks.Keys)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(got.LeaseToken, time.Now())
	if err != nil || claims.Principal != robot.RobotAccount || claims.Machine != "host-1" || claims.Client != "robot" || claims.Lease != got.Lease.Name {
		t.Fatalf("offline verification: %+v, %v", claims, err)
	}
	tampered := got.LeaseToken[:len(got.LeaseToken)-4] + strings.Repeat("A", 4)
	if _, err := v.Verify(tampered, time.Now()); err == nil {
		t.Error("a tampered lease token verified")
	}
	if _, err := v.Verify(got.LeaseToken, claims.Expiry); err == nil {
		t.Error("the lease token verified at its expiry")
	}

	// Renew, then close; a renewal after the close says why it ended.
	var renewed leaseReply
	must200(t, gatewayCall(t, s, "POST", "/v1/"+got.Lease.Name+":renew", map[string]any{}, key.Secret, &renewed), "RenewLease")
	if renewed.LeaseToken == "" || renewed.Lease.ExpireTime < got.Lease.ExpireTime {
		t.Errorf("RenewLease = %+v", renewed)
	}
	must200(t, gatewayCall(t, s, "POST", "/v1/"+got.Lease.Name+":release", map[string]any{}, key.Secret, nil), "ReleaseLease")
	code, body := jsonCall(t, s, "POST", "/v1/"+got.Lease.Name+":renew", map[string]any{}, map[string]string{"Authorization": "Bearer " + key.Secret})
	if code != http.StatusBadRequest || !strings.Contains(body, "LEASE_ENDED") || !strings.Contains(body, "RELEASED") {
		t.Errorf("renewing a released lease: HTTP %d %s, want 400 LEASE_ENDED (RELEASED)", code, body)
	}

	// R26: the trend of the last hour shows the lease, per pool and per
	// service.
	var trend struct {
		Points []struct {
			Pool, Service string
			Peak          int
		}
	}
	start := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	must200(t, gatewayCall(t, s, "GET", "/v1/"+o.org+"/usageTrend?startTime="+start, nil, o.token, &trend), "GetUsageTrend")
	var poolPeak, servicePeak int
	for _, p := range trend.Points {
		if p.Pool == o.org+"/licensePools/trial-robot" {
			poolPeak = max(poolPeak, p.Peak)
		}
		if p.Service == acquire["service"] {
			servicePeak = max(servicePeak, p.Peak)
		}
	}
	if poolPeak != 1 || servicePeak != 1 {
		t.Errorf("usage trend %+v: peaks %d (pool) and %d (service), want 1 and 1", trend.Points, poolPeak, servicePeak)
	}

	// Deleting the robot (and its account) in the directory ends its next
	// lease: licensing follows the directory's log (R10, R24).
	must200(t, gatewayCall(t, s, "POST", "/v1/"+o.org+"/leases:acquire", acquire, key.Secret, &got), "AcquireLease again")
	must200(t, gatewayCall(t, s, "DELETE", "/v1/"+robot.Name, nil, o.token, nil), "delete the robot")
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The owner renews for the robot (licenses.edit): the robot's
		// own key died with it.
		code, body = jsonCall(t, s, "POST", "/v1/"+got.Lease.Name+":renew", map[string]any{}, map[string]string{"Authorization": "Bearer " + o.token})
		if code == http.StatusBadRequest && strings.Contains(body, "PRINCIPAL_REMOVED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewing the deleted robot's lease: HTTP %d %s, want 400 LEASE_ENDED (PRINCIPAL_REMOVED)", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
