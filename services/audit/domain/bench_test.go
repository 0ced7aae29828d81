package domain_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/domain/domaintest"
	"steward.dev/services/audit/ledger"
)

// benchService returns a domain service over a fresh bbolt store, fsync on
// or off.
func benchService(b *testing.B, noSync bool) (*domain.Service, store.Store) {
	b.Helper()
	st, err := bboltstore.Open(filepath.Join(b.TempDir(), "audit.db"), bboltstore.Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	signer, _, _, err := ledger.LoadSigner(context.Background(), st)
	if err != nil {
		b.Fatal(err)
	}
	return domain.New(st, ledger.New(st, signer), domain.Options{}), st
}

// ingest applies n events of the synthetic log from first
// (domaintest.Ingest).
func ingest(b *testing.B, d *domain.Service, st store.Store, first, n int, t0 time.Time) {
	b.Helper()
	if err := domaintest.Ingest(context.Background(), d, st, first, n, t0); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIngest measures recording events (R27, R28) the way a consumer
// does: the Apply function, domaintest.Batch events per transaction, into a
// store without fsync and one with it. Each event is converted, appended
// to the Merkle tree, stored and indexed (time and six fields).
func BenchmarkIngest(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
		batch  int
	}{{"nosync", true, domaintest.Batch}, {"fsync", false, domaintest.Batch}} {
		b.Run(tc.name, func(b *testing.B) {
			d, st := benchService(b, tc.noSync)
			t0 := time.Now()
			n := 0
			for b.Loop() {
				ingest(b, d, st, n, tc.batch, t0)
				n += tc.batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}

// benchEvents is the size of the log the query benchmark searches:
// STEWARD_AUDIT_BENCH_EVENTS, default 20,000 (1,000,000 takes about a
// minute to build).
func benchEvents(b *testing.B) int {
	if s := os.Getenv("STEWARD_AUDIT_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("STEWARD_AUDIT_BENCH_EVENTS=%q: want a number of at least 1000", s)
		}
		return n
	}
	return 20_000
}

// BenchmarkQueryByActor measures a search by actor over a log of
// benchEvents events (R29): the first page (100) of one actor's events
// (1 in 1000 of the log), newest first, and the same with an outcome
// the actor index does not decide; and, to compare, a page of the whole
// log through the time index.
func BenchmarkQueryByActor(b *testing.B) {
	n := benchEvents(b)
	d, st := benchService(b, true)
	t0 := time.Now()
	start := time.Now()
	ingest(b, d, st, 0, n, t0)
	b.Logf("built a log of %d events in %v", n, time.Since(start).Round(time.Millisecond))
	actor := domain.Actor{Name: "organizations/o1/users/auditor", Organization: "organizations/o1"}
	for _, tc := range []struct{ name, filter string }{
		{"actor", `actor = "organizations/o1/users/u42"`},
		{"actor+outcome", `actor = "organizations/o1/users/u42" AND outcome = DENIED`},
		{"actor+time", `actor = "organizations/o1/users/u42" AND time < "` + t0.Add(time.Duration(n/2)*time.Millisecond).Format(time.RFC3339Nano) + `"`},
		{"all", ``},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := &auditv1.ListAuditEventsRequest{Parent: "organizations/o1", Filter: tc.filter, PageSize: 100}
			var got int
			for b.Loop() {
				resp, err := d.ListAuditEvents(context.Background(), actor, req)
				if err != nil {
					b.Fatal(err)
				}
				got = len(resp.GetAuditEvents())
			}
			b.ReportMetric(float64(got), "events/page")
		})
	}
}
