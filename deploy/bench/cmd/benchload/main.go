// Command benchload is issue 13's load driver (package driver). With
// -manifest it drives a running suite that benchdata has loaded; with
// -launch it starts its own suite from the binaries in a directory (a
// temporary data directory, free loopback ports), loads a dataset of
// -size into it, drives it and stops it: `make bench-load`. With -profile
// it also serves access's pprof debug listener and captures CPU and
// allocation profiles of access during Check at the highest concurrency:
// `make bench-profile`. Given access's metrics address (-launch knows
// it), each cell also reports access's own handling time; given the
// directory's (-launch knows it too), a phase makes -changes group
// membership changes and reports how soon Check sees them, and a last
// one makes -review-calls calls of each access-review query
// (ListPermissionHolders, ListPermittedScopes) as the organization's owner
// and reports their latency. The figures go to standard output and, as
// JSON, to -out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"steward.dev/deploy/bench/dataset"
	"steward.dev/deploy/bench/driver"
	"steward.dev/deploy/bench/launch"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	manifest, accessAddr string
	metricsAddr, dirAddr string
	changes, reviewCalls int
	launchBin, size      string
	scale                float64
	concurrency          string
	duration, warmup     time.Duration
	rounds, connections  int
	out                  string
	profile              bool
	profileSeconds       int
}

func run() error {
	var o options
	flag.StringVar(&o.manifest, "manifest", "", "manifest of a dataset loaded by benchdata into the running suite at -access-addr")
	flag.StringVar(&o.accessAddr, "access-addr", "127.0.0.1:7002", "access management's gRPC address (with -manifest)")
	flag.StringVar(&o.metricsAddr, "access-metrics-addr", "", "access management's /metrics address (with -manifest): report its own handling time per cell")
	flag.StringVar(&o.dirAddr, "directory-addr", "127.0.0.1:7001", "the directory's gRPC address (with -manifest), for the visibility and review phases")
	flag.IntVar(&o.changes, "changes", driver.DefaultChanges, "membership changes of the visibility phase, after the cells (0 skips it)")
	flag.IntVar(&o.reviewCalls, "review-calls", driver.DefaultReviewCalls, "calls of each access-review query of the review phase, after the visibility phase (0 skips it)")
	flag.StringVar(&o.launchBin, "launch", "", "directory of the built binaries: start a suite of them, load -size into it, drive it, stop it")
	flag.StringVar(&o.size, "size", "small", "dataset size to load with -launch: small, medium or large")
	flag.Float64Var(&o.scale, "scale", 1, "scale the -size dataset by this factor (see benchdata)")
	flag.StringVar(&o.concurrency, "concurrency", "1,8,64", "comma-separated numbers of concurrent callers")
	flag.DurationVar(&o.duration, "duration", driver.DefaultDuration, "measured time per cell (kind and concurrency)")
	flag.DurationVar(&o.warmup, "warmup", driver.DefaultWarmup, "unmeasured warm-up before each concurrency")
	flag.IntVar(&o.rounds, "rounds", driver.DefaultRounds, "rounds the kinds take turns in, per concurrency")
	flag.IntVar(&o.connections, "connections", driver.DefaultConnections, "client connections the callers share")
	flag.StringVar(&o.out, "out", "bench/results", "directory of the JSON results and profiles")
	flag.BoolVar(&o.profile, "profile", false, "with -launch: profile access (CPU and allocations) during Check at the highest -concurrency, for -profile-seconds")
	flag.IntVar(&o.profileSeconds, "profile-seconds", 30, "length of the profiles")
	flag.Parse()
	if (o.manifest == "") == (o.launchBin == "") {
		return errors.New("give one of -manifest and -launch")
	}
	if o.profile && o.launchBin == "" {
		return errors.New("-profile needs -launch (it turns on access's debug listener)")
	}
	cfg := driver.Config{AccessAddr: o.accessAddr, MetricsAddr: o.metricsAddr, DirectoryAddr: o.dirAddr,
		Changes: max(0, o.changes), ReviewCalls: max(0, o.reviewCalls),
		Duration: o.duration, Warmup: o.warmup, Rounds: o.rounds, Connections: o.connections, Log: os.Stderr}
	for _, f := range strings.Split(o.concurrency, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return fmt.Errorf("-concurrency: %q is not a positive number", f)
		}
		cfg.Concurrency = append(cfg.Concurrency, c)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if o.manifest != "" {
		m, err := dataset.ReadManifest(o.manifest)
		if err != nil {
			return err
		}
		cfg.Manifest = m
		return drive(ctx, cfg, o.out)
	}
	return launchAndDrive(ctx, o, cfg)
}

// launchAndDrive starts a suite, loads the dataset, drives (and profiles)
// it and stops it; the temporary data directory goes with it.
func launchAndDrive(ctx context.Context, o options, cfg driver.Config) (err error) {
	spec, err := dataset.ParseSize(o.size, o.scale)
	if err != nil {
		return err
	}
	bin, err := filepath.Abs(o.launchBin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "steward-bench-")
	if err != nil {
		return err
	}
	var extra []string
	var debugAddr string
	if o.profile {
		ports, err := launch.FreePorts(1)
		if err != nil {
			return err
		}
		debugAddr = ports[0]
		extra = append(extra, "-service-flag", "access=-debug-addr="+debugAddr)
	}
	fmt.Fprintf(os.Stderr, "starting the suite from %s in %s\n", bin, tmp)
	s, err := launch.Start(bin, filepath.Join(tmp, "data"), extra...)
	if err != nil {
		return err
	}
	defer func() {
		if serr := s.Stop(); serr != nil && err == nil {
			err = serr
		}
		if err == nil {
			err = os.RemoveAll(tmp)
		} else {
			fmt.Fprintf(os.Stderr, "the suite's data and log are kept in %s\n", tmp)
		}
	}()
	plan, err := dataset.Generate(spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loading %s: %d folders, %d users, %d groups, %d memberships, %d assignments\n",
		spec.Name, plan.FolderCount(), len(plan.Users), len(plan.Groups), len(plan.Memberships), len(plan.Assignments))
	m, err := dataset.Load(ctx, dataset.Config{DirectoryAddr: s.Addrs["directory"], AccessAddr: s.Addrs["access"], Progress: os.Stderr}, plan)
	if err != nil {
		return err
	}
	cfg.Manifest, cfg.AccessAddr, cfg.MetricsAddr = m, s.Addrs["access"], s.MetricsAddrs["access"]
	cfg.DirectoryAddr = s.Addrs["directory"]
	if !o.profile {
		return drive(ctx, cfg, o.out)
	}

	c := cfg.Concurrency[len(cfg.Concurrency)-1]
	cfg.Concurrency, cfg.Kinds, cfg.Rounds, cfg.Changes, cfg.ReviewCalls = []int{c}, []string{driver.KindCheck}, 1, 0, 0
	cfg.Duration = time.Duration(o.profileSeconds)*time.Second + 2*time.Second
	prefix := fmt.Sprintf("access-c%d-%s-%s", c, spec.Name, time.Now().UTC().Format("20060102T150405Z"))
	captured := make(chan error, 1)
	cfg.OnMeasure = func(int) {
		go func() {
			files, err := driver.CaptureProfiles(ctx, debugAddr, o.out, prefix, o.profileSeconds)
			for _, f := range files {
				fmt.Println("profile:", f)
			}
			captured <- err
		}()
	}
	if err := drive(ctx, cfg, o.out); err != nil {
		return err
	}
	return <-captured
}

// drive runs the driver and prints and saves its report.
func drive(ctx context.Context, cfg driver.Config, out string) error {
	rep, err := driver.Run(ctx, cfg)
	if err != nil {
		return err
	}
	path, err := rep.WriteJSON(out)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "results:", path)
	return rep.WriteText(os.Stdout)
}
