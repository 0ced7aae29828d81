package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
)

// BenchmarkLeasePair measures a client signing in and out through the
// whole server over bufconn (R24): AcquireLease then ReleaseLease, in
// parallel (-cpu, with b.SetParallelism 16 callers per CPU), each caller
// its own robot account, fsync on. The load run against the real binaries
// (make load-leases) is the figure BENCHMARKS.md reports; this one is for
// profiling (-cpuprofile).
func BenchmarkLeasePair(b *testing.B) {
	e := newEnv(b)
	org := e.signUp("o1", "owner")
	if _, err := e.c.CreateLicensePool(b.Context(), &licensingv1.CreateLicensePoolRequest{Parent: org, LicensePoolId: "runtime",
		LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "professional",
			Model: licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT, Quantity: 10000, ValidUntil: timestamppb.New(time.Now().Add(time.Hour))}}, e.operator); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int32
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("bot%d", next.Add(1))
		ra := org + "/robotAccounts/" + id
		e.directory(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED, ra, &directoryv1.RobotAccount{Name: ra})
		ctx := e.asPrincipal(org, ra)
		req := &licensingv1.AcquireLeaseRequest{Parent: org, Principal: ra, Client: licensingv1.Product_PRODUCT_ROBOT, Machine: "bench"}
		for pb.Next() {
			var l *licensingv1.AcquireLeaseResponse
			var err error
			// The first call waits for licensing to learn of the account.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				if l, err = e.c.AcquireLease(ctx, req, e.svc); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := e.c.ReleaseLease(ctx, &licensingv1.ReleaseLeaseRequest{Name: l.GetLease().GetName()}, e.svc); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
