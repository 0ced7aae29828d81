package driver

import (
	"context"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// Defaults and settings of the review phase.
const (
	// DefaultReviewCalls is how many measured calls of each access-review
	// query the review phase makes by default (benchload's -review-calls).
	DefaultReviewCalls = 2000
	// ReviewPageSize is the page size the review phase asks for.
	ReviewPageSize = 100
	// reviewWarmup is how many unmeasured calls of each query precede
	// its measured ones.
	reviewWarmup = 50
)

// Review is the measurement of the review phase (issue 14): the latency of
// the first page of each access-review query, asked by the organization's
// owner, one call at a time.
type Review struct {
	// PageSize is the page size asked for, ReviewPageSize.
	PageSize int `json:"page_size"`
	// Holders is ListPermissionHolders ("who holds P at S") at the probes'
	// folders and permissions; its Items are holders.
	Holders ReviewQuery `json:"permission_holders"`
	// Scopes is ListPermittedScopes ("where can X do P") of the probes'
	// principals and permissions under the organization; its Items are
	// scopes.
	Scopes ReviewQuery `json:"permitted_scopes"`
}

// ReviewQuery is the measurement of one access-review query's first page.
type ReviewQuery struct {
	// Method is the RPC's name, e.g. "ListPermissionHolders".
	Method string `json:"method"`
	// Calls counts the measured calls (all succeeded: a failure fails the
	// phase).
	Calls int64 `json:"calls"`
	// P50, P95, P99 and Max are the calls' latencies as the driver saw
	// them, transport included, in milliseconds.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// Items is the mean number of results (holders or scopes) a first
	// page held.
	Items float64 `json:"mean_items"`
	// More is the fraction of the calls whose first page had a next page.
	More float64 `json:"more_fraction"`
}

// line returns q as one line of the text report; noun names its items,
// e.g. "holders".
func (q ReviewQuery) line(pageSize int, noun string) string {
	return fmt.Sprintf("review: %s first page (%d): p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms (%d calls, %.1f %s/page, %.0f %% with more)",
		q.Method, pageSize, q.P50, q.P95, q.P99, q.Max, q.Calls, q.Items, noun, 100*q.More)
}

// reviewAcc accumulates the calls of one query.
type reviewAcc struct {
	hist        *hdrhistogram.Histogram
	calls, more int64
	items       int64
}

// record adds one call: its latency, how many items its page held and
// whether a next page exists.
func (a *reviewAcc) record(lat time.Duration, items int, more bool) {
	_ = a.hist.RecordValue(lat.Nanoseconds())
	a.calls++
	a.items += int64(items)
	if more {
		a.more++
	}
}

// query returns what a recorded as method's ReviewQuery.
func (a *reviewAcc) query(method string) ReviewQuery {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	q := ReviewQuery{Method: method, Calls: a.calls}
	if a.calls == 0 {
		return q
	}
	q.P50, q.P95, q.P99, q.Max = ms(a.hist.ValueAtQuantile(50)), ms(a.hist.ValueAtQuantile(95)), ms(a.hist.ValueAtQuantile(99)), ms(a.hist.Max())
	q.Items, q.More = float64(a.items)/float64(a.calls), float64(a.more)/float64(a.calls)
	return q
}

// review runs the review phase: after reviewWarmup unmeasured calls,
// cfg.ReviewCalls calls of ListPermissionHolders' first page, one at a
// time, cycling through the probes' folders and permissions, then as many
// of ListPermittedScopes' first page for the probes' principals and
// permissions under the organization. Both are asked of access at
// cfg.AccessAddr as the organization's owner, signed in through the
// directory at cfg.DirectoryAddr: they need users.view and roles.view at
// the scope. A failed call fails the phase.
func review(ctx context.Context, cfg Config) (*Review, error) {
	m := cfg.Manifest
	plain, err := grpc.NewClient(cfg.DirectoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	defer plain.Close()
	conn, err := grpc.NewClient(cfg.AccessAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(m.Owner.PerRPC(directoryv1.NewDirectoryServiceClient(plain), m.Organization)))
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	defer conn.Close()
	access := accessv1.NewAccessServiceClient(conn)

	// measure makes reviewWarmup unmeasured calls of call, then
	// cfg.ReviewCalls measured ones; call asks about probe i and returns
	// its page's item count and whether a next page exists.
	measure := func(method string, call func(i int) (int, bool, error)) (ReviewQuery, error) {
		a := &reviewAcc{hist: newHist()}
		for i := range reviewWarmup + cfg.ReviewCalls {
			start := time.Now()
			items, more, err := call(i % len(m.Probes))
			lat := time.Since(start)
			if err != nil {
				return ReviewQuery{}, fmt.Errorf("driver: review: %s: %w", method, err)
			}
			if i >= reviewWarmup {
				a.record(lat, items, more)
			}
		}
		return a.query(method), nil
	}
	r := &Review{PageSize: ReviewPageSize}
	r.Holders, err = measure("ListPermissionHolders", func(i int) (int, bool, error) {
		p := m.Probes[i]
		resp, err := access.ListPermissionHolders(ctx, &accessv1.ListPermissionHoldersRequest{Scope: p.Scope, Permission: p.Permission, PageSize: ReviewPageSize})
		if err != nil {
			return 0, false, fmt.Errorf("%s at %s: %w", p.Permission, p.Scope, err)
		}
		return len(resp.GetHolders()), resp.GetNextPageToken() != "", nil
	})
	if err != nil {
		return nil, err
	}
	r.Scopes, err = measure("ListPermittedScopes", func(i int) (int, bool, error) {
		p := m.Probes[i]
		resp, err := access.ListPermittedScopes(ctx, &accessv1.ListPermittedScopesRequest{Principal: p.Principal, Permission: p.Permission, Scope: m.Organization, PageSize: ReviewPageSize})
		if err != nil {
			return 0, false, fmt.Errorf("%s of %s under %s: %w", p.Permission, p.Principal, m.Organization, err)
		}
		return len(resp.GetScopes()), resp.GetNextPageToken() != "", nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}
