package driver

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestReviewAcc(t *testing.T) {
	// 100 calls of 1 to 100 ms; every fourth has a next page; the pages
	// hold 0, 1, 2, 3, 0, 1, … items: 150 in all.
	a := &reviewAcc{hist: newHist()}
	for i := range 100 {
		a.record(time.Duration(i+1)*time.Millisecond, i%4, i%4 == 3)
	}
	got := a.query("ListPermissionHolders")
	// The histogram keeps three significant digits.
	near := func(v, want float64) bool { return math.Abs(v-want) <= want*1e-3 }
	if got.Method != "ListPermissionHolders" || got.Calls != 100 || !near(got.P50, 50) || !near(got.P95, 95) || !near(got.P99, 99) || !near(got.Max, 100) {
		t.Errorf("query = %+v; want 100 calls, p50 50 ms, p95 95 ms, p99 99 ms, max 100 ms", got)
	}
	if got.Items != 1.5 || got.More != 0.25 {
		t.Errorf("query: %v items, %v with more; want 1.5, 0.25", got.Items, got.More)
	}

	if got := (&reviewAcc{hist: newHist()}).query("ListPermittedScopes"); got != (ReviewQuery{Method: "ListPermittedScopes"}) {
		t.Errorf("query of no calls = %+v, want zeros", got)
	}
}

func TestReviewText(t *testing.T) {
	q := ReviewQuery{Method: "ListPermissionHolders", Calls: 2000, P50: 1.234, P95: 3.5, P99: 7, Max: 12.25, Items: 87.04, More: 0.4}
	const want = "review: ListPermissionHolders first page (100): p50 1.23 ms, p95 3.50 ms, p99 7.00 ms, max 12.25 ms (2000 calls, 87.0 holders/page, 40 % with more)"
	if got := q.line(100, "holders"); got != want {
		t.Errorf("line =\n%s\nwant\n%s", got, want)
	}

	rep := &Report{Review: &Review{PageSize: 100, Holders: q,
		Scopes: ReviewQuery{Method: "ListPermittedScopes", Calls: 2000, P50: 0.5, P95: 0.75, P99: 1, Max: 2, Items: 3}}}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if n := len(lines); n < 2 || lines[n-2] != want ||
		lines[n-1] != "review: ListPermittedScopes first page (100): p50 0.50 ms, p95 0.75 ms, p99 1.00 ms, max 2.00 ms (2000 calls, 3.0 scopes/page, 0 % with more)" {
		t.Errorf("the report does not end with the review lines:\n%s", text.String())
	}
}
