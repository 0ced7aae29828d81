// Command benchdata loads one of issue 13's benchmark datasets into a
// running suite (`make run`) through its public gRPC APIs, prints its
// load rate per kind and writes the manifest the load driver (benchload)
// reads. `make bench-data` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"steward.dev/deploy/bench/dataset"
	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

func run() error {
	size := flag.String("size", "small", "dataset size: small, medium or large")
	scale := flag.Float64("scale", 1, "scale the size's folders, users, groups, assignments and probes by this factor")
	dirAddr := flag.String("directory-addr", "127.0.0.1:7001", "the directory's gRPC address")
	accAddr := flag.String("access-addr", "127.0.0.1:7002", "access management's gRPC address")
	manifest := flag.String("manifest", "bench/results/manifest.json", "where to write the manifest (mode 0600: it holds an API key and the owner's password)")
	concurrency := flag.Int("concurrency", dataset.DefaultConcurrency, "calls in flight while loading")
	perCall := flag.Bool("per-call", false, "create memberships and assignments one call each instead of in batches of 1,000 (to compare)")
	flag.Parse()

	spec, err := dataset.ParseSize(*size, *scale)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	plan, err := dataset.Generate(spec)
	if err != nil {
		return err
	}
	fmt.Printf("loading %s into %s / %s: %d folders, %d users, %d groups, %d memberships, %d assignments\n",
		spec.Name, *dirAddr, *accAddr, plan.FolderCount(), len(plan.Users), len(plan.Groups), len(plan.Memberships), len(plan.Assignments))
	cfg := dataset.Config{DirectoryAddr: *dirAddr, AccessAddr: *accAddr, Concurrency: *concurrency, Progress: os.Stdout}
	if *perCall {
		cfg.Chunk = 50
		cfg.NewWriter = func(d directoryv1.DirectoryServiceClient, a accessv1.AccessServiceClient) dataset.Writer {
			return dataset.PerCall{Directory: d, Access: a}
		}
	}
	m, err := dataset.Load(ctx, cfg, plan)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*manifest), 0o755); err != nil {
		return err
	}
	if err := m.WriteFile(*manifest); err != nil {
		return err
	}
	fmt.Println("manifest:", *manifest)
	return nil
}
