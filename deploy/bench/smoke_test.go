//go:build e2e

package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward.dev/deploy/bench/dataset"
	"steward.dev/deploy/bench/driver"
	"steward.dev/deploy/bench/launch"
)

// TestBenchSmoke is issue 13's smoke run of the benchmark harness against
// the real binaries: it loads the small dataset through the public APIs
// and runs the load driver for a fraction of a second per cell, with
// access's handling time read from its metrics, then a few membership
// changes of the visibility phase and a few calls of each access-review
// query of the review phase. It proves that the generator and the driver
// work, that access answers every probe as the dataset implies and that
// the server times, visibility delays and review latencies are produced
// (the review queries asked as the owner, who may); it asserts
// nothing about speed (figures belong in BENCHMARKS.md, from
// `make bench-load`).
func TestBenchSmoke(t *testing.T) {
	bin := os.Getenv("STEWARD_BIN")
	if bin == "" {
		t.Fatal("STEWARD_BIN must name the directory of the built binaries (make test-e2e sets it)")
	}
	dir := t.TempDir()
	s, err := launch.Start(bin, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the suite: %v", err)
		}
		if t.Failed() {
			if log, err := os.ReadFile(s.LogFile); err == nil {
				t.Logf("suite output:\n%s", log)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	plan, err := dataset.Generate(dataset.Small)
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	m, err := dataset.Load(ctx, dataset.Config{DirectoryAddr: s.Addrs["directory"], AccessAddr: s.Addrs["access"], Progress: &progress}, plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bench smoke: loaded the small dataset:\n%s", progress.String())
	allowed := 0
	for _, p := range m.Probes {
		if p.Allowed {
			allowed++
		}
	}
	if len(m.Probes) != dataset.Small.Probes || allowed != len(m.Probes)/2 {
		t.Errorf("%d probes, %d allowed; want %d, half allowed", len(m.Probes), allowed, dataset.Small.Probes)
	}
	manifest := filepath.Join(dir, "manifest.json")
	if err := m.WriteFile(manifest); err != nil {
		t.Fatal(err)
	}
	if m, err = dataset.ReadManifest(manifest); err != nil {
		t.Fatal(err)
	}

	const changes, reviewCalls = 20, 10
	rep, err := driver.Run(ctx, driver.Config{AccessAddr: s.Addrs["access"], MetricsAddr: s.MetricsAddrs["access"], Manifest: m,
		DirectoryAddr: s.Addrs["directory"], Changes: changes, ReviewCalls: reviewCalls,
		Duration: 300 * time.Millisecond, Warmup: 150 * time.Millisecond, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(driver.DefaultConcurrency) * 3; len(rep.Cells) != want {
		t.Fatalf("%d cells, want %d", len(rep.Cells), want)
	}
	for _, c := range rep.Cells {
		if c.Calls == 0 || c.Errors != 0 || c.Mismatches != 0 {
			t.Errorf("cell %s at c%d: %d calls, %d errors, %d mismatches; want calls, no errors and no mismatches", c.Kind, c.Concurrency, c.Calls, c.Errors, c.Mismatches)
		}
		if c.ServerCalls == 0 || c.ServerP50 <= 0 || c.ServerP99 < c.ServerP50 {
			t.Errorf("cell %s at c%d: server time of %d calls: p50 %v µs, p99 %v µs; want both, from access's metrics", c.Kind, c.Concurrency, c.ServerCalls, c.ServerP50, c.ServerP99)
		}
	}
	if v := rep.Visibility; v == nil || v.Changes != changes || v.Polls < changes || v.SinceAck.P50 <= 0 || v.SinceCall.P50 < v.SinceAck.P50 {
		t.Errorf("visibility = %+v; want %d changes seen, with delays", v, changes)
	}
	if r := rep.Review; r == nil {
		t.Error("no review phase")
	} else {
		for _, q := range []driver.ReviewQuery{r.Holders, r.Scopes} {
			if q.Calls != reviewCalls || q.P50 <= 0 || q.Max < q.P50 {
				t.Errorf("review %+v; want %d calls, with latencies", q, reviewCalls)
			}
		}
		// Half the probes are allowed: someone holds the permission at
		// their folders, and their principals somewhere.
		if r.Holders.Items <= 0 || r.Scopes.Items <= 0 {
			t.Errorf("review: %.1f holders, %.1f scopes per first page; want some", r.Holders.Items, r.Scopes.Items)
		}
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("ratio c%d: ", driver.DefaultConcurrency[len(driver.DefaultConcurrency)-1]),
		"srv p99 µs",
		fmt.Sprintf("visibility: %d membership changes", changes),
		"review: ListPermissionHolders first page (100): ",
		"review: ListPermittedScopes first page (100): ",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	if _, err := rep.WriteJSON(dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("bench smoke (speed not asserted):\n%s", text.String())
}
