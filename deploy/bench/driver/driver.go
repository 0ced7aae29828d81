// Package driver is issue 13's load driver: against access management on
// loopback, for each concurrency, it interleaves rounds of the gRPC
// ceiling (grpc.health.v1.Health/Check), of CheckPermission on a dataset's
// probes and of BatchCheckPermission, all over the same connections and
// authenticated with the dataset's API key, which the server verifies on
// every call. It reports throughput and latency percentiles per cell and
// the ratio of Check's throughput to the ceiling's; given access's metrics
// listener, also access's own handling time per cell, read from its
// histogram (the target for a batch is about server time, not the
// transport's). Given the directory too, a phase measures how soon a
// group membership change made through the directory is visible in
// CheckPermission on access (Visibility), and a last one the latency of
// issue 14's access-review queries, ListPermissionHolders and
// ListPermittedScopes, asked by the organization's owner (Review).
package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	accessv1 "steward.dev/gen/steward/access/v1"

	"steward.dev/deploy/bench/dataset"
)

// Kinds of call a cell measures.
const (
	// KindCeiling is grpc.health.v1.Health/Check on the access server: what
	// the transport, the server's interceptors for a public method and the
	// client cost, with no work behind it.
	KindCeiling = "ceiling"
	// KindCheck is CheckPermission of one probe.
	KindCheck = "check"
	// KindBatch is BatchCheckPermission of Config.BatchSize probes.
	KindBatch = "batch"
)

// Defaults of Config.
const (
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = 2 * time.Second
	DefaultRounds      = 5
	DefaultConnections = 8
	DefaultBatchSize   = 100
	DefaultChanges     = 500
)

// methods are the full gRPC method names the kinds call, as the server's
// handling-time histogram labels them.
var methods = map[string]string{
	KindCeiling: healthpb.Health_Check_FullMethodName,
	KindCheck:   accessv1.AccessService_CheckPermission_FullMethodName,
	KindBatch:   accessv1.AccessService_BatchCheckPermission_FullMethodName,
}

// DefaultConcurrency are issue 13's concurrencies.
var DefaultConcurrency = []int{1, 8, 64}

// Config describes a run. Zero fields take the defaults, except Changes
// and ReviewCalls: zero skips their phase.
type Config struct {
	// AccessAddr is access management's gRPC address. Required.
	AccessAddr string
	// MetricsAddr, when set, is access's Prometheus /metrics address: its
	// handling-time histogram is read before and after each concurrency's
	// rounds, and each cell reports access's own time (Cell.ServerP50).
	MetricsAddr string
	// DirectoryAddr, when set, is the directory's gRPC address: after the
	// cells, the visibility phase makes Changes membership changes of the
	// manifest's Membership through it (Visibility), and the review phase
	// signs the owner in through it (Review).
	DirectoryAddr string
	// Changes is how many membership changes the visibility phase makes,
	// rounded up to an even number (each addition is undone); zero (or no
	// DirectoryAddr) skips the phase. DefaultChanges is benchload's.
	Changes int
	// ReviewCalls is how many measured calls of each access-review query
	// the review phase makes, after the visibility phase; zero skips it.
	// It needs DirectoryAddr. DefaultReviewCalls is benchload's.
	ReviewCalls int
	// Manifest is the loaded dataset's. Required.
	Manifest *dataset.Manifest
	// Concurrency lists the numbers of concurrent callers, one set of
	// cells each; default DefaultConcurrency.
	Concurrency []int
	// Kinds lists the kinds measured, in round order; default ceiling,
	// check, batch.
	Kinds []string
	// Duration is each cell's measured time, split over the rounds;
	// default DefaultDuration.
	Duration time.Duration
	// Warmup runs every kind, unmeasured, before each concurrency's
	// rounds; default DefaultWarmup.
	Warmup time.Duration
	// Rounds is how many times the kinds take turns within a concurrency,
	// so that each sees the same machine; default DefaultRounds.
	Rounds int
	// Connections is how many client connections the callers share (a
	// concurrency below it uses one per caller); default
	// DefaultConnections.
	Connections int
	// BatchSize is the number of items of a BatchCheckPermission; default
	// DefaultBatchSize.
	BatchSize int
	// OnMeasure, when not nil, is called as the measured rounds of a
	// concurrency begin (after the warm-up), e.g. to start profiling.
	OnMeasure func(concurrency int)
	// Log, when not nil, receives progress lines.
	Log io.Writer
}

func (c *Config) complete() error {
	if c.AccessAddr == "" || c.Manifest == nil || len(c.Manifest.Probes) == 0 {
		return errors.New("driver: AccessAddr and a Manifest with probes are required")
	}
	if len(c.Concurrency) == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if len(c.Kinds) == 0 {
		c.Kinds = []string{KindCeiling, KindCheck, KindBatch}
	}
	for _, k := range c.Kinds {
		if k != KindCeiling && k != KindCheck && k != KindBatch {
			return fmt.Errorf("driver: unknown kind %q", k)
		}
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Warmup <= 0 {
		c.Warmup = DefaultWarmup
	}
	if c.Rounds <= 0 {
		c.Rounds = DefaultRounds
	}
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Changes < 0 || c.ReviewCalls < 0 {
		return errors.New("driver: Changes and ReviewCalls must not be negative")
	}
	if c.DirectoryAddr != "" && c.Changes > 0 && (c.Manifest.Membership == nil || len(c.Manifest.Membership.Users) == 0) {
		return errors.New("driver: the visibility phase (DirectoryAddr) needs a Manifest with a Membership target")
	}
	if c.ReviewCalls > 0 && c.DirectoryAddr == "" {
		return errors.New("driver: the review phase (ReviewCalls) needs DirectoryAddr, to sign the owner in")
	}
	c.Changes += c.Changes % 2
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// Cell is the measurement of one kind at one concurrency.
type Cell struct {
	// Kind is KindCeiling, KindCheck or KindBatch.
	Kind string `json:"kind"`
	// Concurrency is the number of concurrent callers.
	Concurrency int `json:"concurrency"`
	// Calls counts the calls that succeeded.
	Calls int64 `json:"calls"`
	// Errors counts the calls that failed.
	Errors int64 `json:"errors"`
	// Mismatches counts decisions that differ from the probe's expected
	// answer (one per item of a batch).
	Mismatches int64 `json:"mismatches"`
	// Seconds is the measured time.
	Seconds float64 `json:"seconds"`
	// PerSecond is Calls / Seconds.
	PerSecond float64 `json:"calls_per_second"`
	// Percentiles are the calls' latencies as the callers saw them,
	// transport included.
	Percentiles
	// ServerCalls counts the calls of the kind's method that access's
	// handling-time histogram (grpc_server_handling_seconds) observed
	// during the cell's rounds; zero without Config.MetricsAddr.
	ServerCalls uint64 `json:"server_calls,omitempty"`
	// ServerP50 and ServerP99 are those calls' handling times in access,
	// in microseconds: from its metrics interceptor's start to its
	// handler's return (authentication, validation, authorization and
	// the handler; not the transport, nor decoding the request or
	// encoding the response). They are estimated from the histogram's
	// buckets, 25 µs wide up to 500 µs, by linear interpolation within the
	// bucket as Prometheus's histogram_quantile does.
	ServerP50 float64 `json:"server_p50_us,omitempty"`
	ServerP99 float64 `json:"server_p99_us,omitempty"`
}

// Percentiles are latencies in microseconds.
type Percentiles struct {
	// P50, P95 and P99 are the percentiles; Max is the largest latency.
	P50 float64 `json:"p50_us"`
	P95 float64 `json:"p95_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
}

// percentiles returns h's, h holding nanoseconds.
func percentiles(h *hdrhistogram.Histogram) Percentiles {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Percentiles{P50: us(h.ValueAtQuantile(50)), P95: us(h.ValueAtQuantile(95)), P99: us(h.ValueAtQuantile(99)), Max: us(h.Max())}
}

// Ratio is Check's throughput over the ceiling's at one concurrency.
type Ratio struct {
	// Concurrency is the number of concurrent callers.
	Concurrency int `json:"concurrency"`
	// Value is check calls/s ÷ ceiling calls/s.
	Value float64 `json:"value"`
}

// Report is the result of a run.
type Report struct {
	// Start is when the run began.
	Start time.Time `json:"start"`
	// NumCPU is runtime.NumCPU on the machine.
	NumCPU int `json:"num_cpu"`
	// LoadAvgBefore and LoadAvgAfter are /proc/loadavg around the run.
	LoadAvgBefore string `json:"loadavg_before"`
	LoadAvgAfter  string `json:"loadavg_after"`
	// Dataset is the manifest's spec; LoadRates its load rates.
	Dataset   dataset.Spec   `json:"dataset"`
	LoadRates []dataset.Rate `json:"load_rates"`
	// Duration, Warmup, Rounds, Connections and BatchSize are the run's
	// settings (durations in seconds).
	Duration    float64 `json:"cell_seconds"`
	Warmup      float64 `json:"warmup_seconds"`
	Rounds      int     `json:"rounds"`
	Connections int     `json:"connections"`
	BatchSize   int     `json:"batch_size"`
	// Cells are the measurements, by concurrency then kind.
	Cells []Cell `json:"cells"`
	// Ratios are Check over ceiling per concurrency, when both were
	// measured.
	Ratios []Ratio `json:"ratios"`
	// Visibility is the visibility phase's measurement, when it ran.
	Visibility *Visibility `json:"visibility,omitempty"`
	// Review is the review phase's measurement, when it ran.
	Review *Review `json:"review,omitempty"`
}

// Run measures every concurrency of cfg in turn and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	m := cfg.Manifest
	rep := &Report{Start: time.Now(), NumCPU: runtime.NumCPU(), LoadAvgBefore: loadAvg(), Dataset: m.Spec, LoadRates: m.Rates,
		Duration: cfg.Duration.Seconds(), Warmup: cfg.Warmup.Seconds(), Rounds: cfg.Rounds, Connections: cfg.Connections, BatchSize: cfg.BatchSize}
	keyed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+m.APIKey.Secret)
	var scraper *http.Client
	if cfg.MetricsAddr != "" {
		scraper = &http.Client{Timeout: 30 * time.Second}
	}
	conns := make([]*grpc.ClientConn, cfg.Connections)
	for i := range conns {
		c, err := grpc.NewClient(cfg.AccessAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("driver: %w", err)
		}
		defer c.Close()
		conns[i] = c
	}
	w := newWorkload(m.Probes, cfg.BatchSize)
	for _, c := range cfg.Concurrency {
		callers := make([]caller, c)
		for i := range callers {
			conn := conns[i%len(conns)]
			callers[i] = caller{health: healthpb.NewHealthClient(conn), access: accessv1.NewAccessServiceClient(conn), next: i * len(m.Probes) / c}
		}
		fmt.Fprintf(cfg.Log, "c%d: warming up for %v\n", c, cfg.Warmup)
		for _, k := range cfg.Kinds {
			if _, err := phase(keyed, w, callers, k, cfg.Warmup/time.Duration(len(cfg.Kinds))); err != nil {
				return nil, fmt.Errorf("driver: warm-up of %s at c%d: %w", k, c, err)
			}
		}
		if cfg.OnMeasure != nil {
			cfg.OnMeasure(c)
		}
		cells := make(map[string]*acc)
		for _, k := range cfg.Kinds {
			cells[k] = &acc{hist: newHist()}
		}
		var before map[string]histogram
		if scraper != nil {
			var err error
			if before, err = scrapeHandlingTime(ctx, scraper, cfg.MetricsAddr); err != nil {
				return nil, err
			}
		}
		for r := range cfg.Rounds {
			for _, k := range cfg.Kinds {
				res, err := phase(keyed, w, callers, k, cfg.Duration/time.Duration(cfg.Rounds))
				if err != nil {
					return nil, fmt.Errorf("driver: %s at c%d: %w", k, c, err)
				}
				cells[k].add(res)
			}
			fmt.Fprintf(cfg.Log, "c%d: round %d of %d done\n", c, r+1, cfg.Rounds)
		}
		// The kinds take turns within each round, each calling its own
		// method, so one scrape before the rounds and one after give each
		// cell's server time.
		var after map[string]histogram
		if scraper != nil {
			var err error
			if after, err = scrapeHandlingTime(ctx, scraper, cfg.MetricsAddr); err != nil {
				return nil, err
			}
		}
		for _, k := range cfg.Kinds {
			cell := cells[k].cell(k, c)
			if h := after[methods[k]].sub(before[methods[k]]); h.count() > 0 {
				cell.ServerCalls, cell.ServerP50, cell.ServerP99 = h.count(), micros(h.quantile(0.5)), micros(h.quantile(0.99))
			}
			rep.Cells = append(rep.Cells, cell)
		}
		if a, b := cells[KindCheck], cells[KindCeiling]; a != nil && b != nil && b.calls > 0 {
			rep.Ratios = append(rep.Ratios, Ratio{Concurrency: c, Value: a.cell(KindCheck, c).PerSecond / b.cell(KindCeiling, c).PerSecond})
		}
	}
	if cfg.DirectoryAddr != "" && cfg.Changes > 0 {
		fmt.Fprintf(cfg.Log, "visibility: %d membership changes\n", cfg.Changes)
		v, err := visibility(ctx, cfg, accessv1.NewAccessServiceClient(conns[0]))
		if err != nil {
			return nil, err
		}
		rep.Visibility = v
	}
	if cfg.ReviewCalls > 0 {
		fmt.Fprintf(cfg.Log, "review: %d calls of each access-review query\n", cfg.ReviewCalls)
		r, err := review(ctx, cfg)
		if err != nil {
			return nil, err
		}
		rep.Review = r
	}
	rep.LoadAvgAfter = loadAvg()
	return rep, nil
}

// micros converts seconds to microseconds, rounded to a tenth.
func micros(s float64) float64 {
	return math.Round(s*1e7) / 10
}

// workload holds the prepared requests: one per probe, and the batches.
type workload struct {
	probes  []dataset.Probe
	checks  []*accessv1.CheckPermissionRequest
	batches []*accessv1.BatchCheckPermissionRequest
	// batchWant[i][j] is the expected answer of item j of batches[i].
	batchWant [][]bool
	health    *healthpb.HealthCheckRequest
}

func newWorkload(probes []dataset.Probe, batchSize int) *workload {
	w := &workload{probes: probes, health: &healthpb.HealthCheckRequest{}}
	for _, p := range probes {
		w.checks = append(w.checks, &accessv1.CheckPermissionRequest{Principal: p.Principal, Permission: p.Permission, Scope: p.Scope})
	}
	n := max(1, len(probes)/batchSize)
	for b := range n {
		req := &accessv1.BatchCheckPermissionRequest{}
		var want []bool
		for j := range batchSize {
			k := (b*batchSize + j) % len(probes)
			req.Items = append(req.Items, w.checks[k])
			want = append(want, probes[k].Allowed)
		}
		w.batches = append(w.batches, req)
		w.batchWant = append(w.batchWant, want)
	}
	return w
}

// caller is one concurrent client: its stubs and its position in the
// probes, which carries over from phase to phase.
type caller struct {
	health healthpb.HealthClient
	access accessv1.AccessServiceClient
	next   int
}

// result is what the callers of one phase measured.
type result struct {
	hist                    *hdrhistogram.Histogram
	calls, errs, mismatches int64
	elapsed                 time.Duration
	firstErr                error
}

// phase runs kind on every caller at once for d and merges what they
// measured. It fails only when every call failed.
func phase(ctx context.Context, w *workload, callers []caller, kind string, d time.Duration) (result, error) {
	res := result{hist: newHist()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	for i := range callers {
		c := &callers[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHist()
			var calls, mismatches int64
			var firstErr error
			for time.Now().Before(stop) && ctx.Err() == nil {
				t0 := time.Now()
				bad, err := c.call(ctx, w, kind)
				lat := time.Since(t0)
				if err != nil {
					errs.Add(1)
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				calls++
				mismatches += bad
				_ = h.RecordValue(lat.Nanoseconds())
			}
			mu.Lock()
			defer mu.Unlock()
			res.hist.Merge(h)
			res.calls += calls
			res.mismatches += mismatches
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.errs = errs.Load()
	if res.calls == 0 && res.firstErr != nil {
		return res, res.firstErr
	}
	return res, ctx.Err()
}

// call makes one call of kind and returns how many decisions differ from
// the probes' expected answers.
func (c *caller) call(ctx context.Context, w *workload, kind string) (int64, error) {
	switch kind {
	case KindCeiling:
		_, err := c.health.Check(ctx, w.health)
		return 0, err
	case KindCheck:
		i := c.next % len(w.checks)
		c.next++
		resp, err := c.access.CheckPermission(ctx, w.checks[i])
		if err != nil {
			return 0, err
		}
		if resp.GetAllowed() != w.probes[i].Allowed {
			return 1, nil
		}
		return 0, nil
	default:
		i := c.next % len(w.batches)
		c.next++
		resp, err := c.access.BatchCheckPermission(ctx, w.batches[i])
		if err != nil {
			return 0, err
		}
		var bad int64
		want := w.batchWant[i]
		if len(resp.GetResults()) != len(want) {
			return int64(len(want)), nil
		}
		for j, r := range resp.GetResults() {
			if r.GetAllowed() != want[j] {
				bad++
			}
		}
		return bad, nil
	}
}

// acc accumulates one cell over its rounds.
type acc struct {
	hist                    *hdrhistogram.Histogram
	calls, errs, mismatches int64
	elapsed                 time.Duration
}

func (a *acc) add(r result) {
	a.hist.Merge(r.hist)
	a.calls += r.calls
	a.errs += r.errs
	a.mismatches += r.mismatches
	a.elapsed += r.elapsed
}

func (a *acc) cell(kind string, c int) Cell {
	return Cell{Kind: kind, Concurrency: c, Calls: a.calls, Errors: a.errs, Mismatches: a.mismatches,
		Seconds: a.elapsed.Seconds(), PerSecond: float64(a.calls) / a.elapsed.Seconds(), Percentiles: percentiles(a.hist)}
}

// newHist returns a histogram of latencies in nanoseconds from 1µs to a
// minute, to three significant digits.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1_000, int64(time.Minute), 3)
}

// loadAvg returns the first three fields of /proc/loadavg, or "" where
// there is none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
