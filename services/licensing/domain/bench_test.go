package domain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/licensing/domain"
)

// BenchmarkAcquireRelease measures the domain's share of a client signing
// in and out (R24): AcquireLease then ReleaseLease from a concurrent pool,
// in parallel, each goroutine its own robot account, fsync off (the store
// benchmarks measure fsync).
func BenchmarkAcquireRelease(b *testing.B) {
	st, err := bboltstore.Open(filepath.Join(b.TempDir(), "licensing.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	log, err := eventlog.New(st, "licensing", eventlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = log.Close()
		_ = st.Close()
	})
	f := &fixture{t: &testing.T{}, st: st, log: log, now: time.Now()}
	f.d = domain.New(st, log, domain.Options{})
	f.apply(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, org, &directoryv1.Organization{Name: org})
	f.pool("runtime", robot, "professional", concurrent, 1000, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ra := fmt.Sprintf("%s/robotAccounts/bot%d", org, next.Add(1))
		f.apply(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED, ra, &directoryv1.RobotAccount{Name: ra})
		self := domain.Actor{Name: ra, Organization: org}
		for pb.Next() {
			l, err := f.d.AcquireLease(context.Background(), self, &licensingv1.AcquireLeaseRequest{Parent: org, Principal: ra,
				Client: robot, Machine: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if err := f.d.ReleaseLease(context.Background(), self, l.GetName()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
