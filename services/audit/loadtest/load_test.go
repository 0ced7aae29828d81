package loadtest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/backend/backendtest"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/domain/domaintest"
	"steward.dev/services/audit/ledger"
	"steward.dev/services/audit/server"
)

// Environment of the load tests.
const (
	// envEvents is the number of events of the log searched (required).
	envEvents = "STEWARD_AUDIT_LOAD"
	// envDir, when set, is the data directory the store is kept in
	// between runs (built, or grown, to envEvents events); otherwise a
	// temporary one.
	envDir = "STEWARD_AUDIT_LOAD_DIR"
	// envQueries is the number of searches measured; default 5000.
	envQueries = "STEWARD_AUDIT_LOAD_QUERIES"
)

// t0 is the time of the synthetic log's first event: fixed, so that a kept
// store can grow.
var t0 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

// auditor reads the organization's trail.
var auditor = domain.Actor{Name: domaintest.Org + "/users/auditor", Organization: domaintest.Org}

var (
	buildOnce sync.Once
	built     string // the data directory
	buildErr  error
	tempDir   string // removed after the tests
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tempDir != "" {
		_ = os.RemoveAll(tempDir)
	}
	os.Exit(code)
}

// The smoke run's size, without STEWARD_AUDIT_LOAD.
const (
	smokeEvents  = 2 * domaintest.Actors
	smokeQueries = 200
)

// loadEvents returns envEvents, or smokeEvents when it is not set.
func loadEvents(t *testing.T) int {
	t.Helper()
	s := os.Getenv(envEvents)
	if s == "" {
		// make test's smoke run: the harness works, at a size that takes a
		// second; the figures come from make bench-audit.
		return smokeEvents
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < domaintest.Actors {
		t.Fatalf("%s=%q: want a number of at least %d", envEvents, s, domaintest.Actors)
	}
	return n
}

// dataDir returns the data directory whose audit.db holds the synthetic
// log of loadEvents events with a signed checkpoint, building it on first
// use.
func dataDir(t *testing.T) string {
	t.Helper()
	n := loadEvents(t)
	buildOnce.Do(func() { built, buildErr = build(t, n) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// build records the synthetic log up to n events in envDir (or a
// temporary directory), without fsync (a benchmark's store: the figures
// are about reading it), and signs its checkpoint.
func build(t *testing.T, n int) (string, error) {
	ctx := context.Background()
	dir := os.Getenv(envDir)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "steward-audit-load-"); err != nil {
			return "", err
		}
		tempDir = dir
	}
	st, err := bboltstore.Open(filepath.Join(dir, server.Name+".db"), bboltstore.Options{NoSync: true})
	if err != nil {
		return "", err
	}
	defer st.Close()
	signer, _, _, err := ledger.LoadSigner(ctx, st)
	if err != nil {
		return "", err
	}
	l := ledger.New(st, signer)
	var have int64
	if err := st.View(ctx, func(tx store.ReadTx) error {
		have, err = l.Size(tx, domaintest.Org)
		return err
	}); err != nil {
		return "", err
	}
	if have > int64(n) {
		return "", fmt.Errorf("%s holds %d events, more than %s=%d: remove it", dir, have, envEvents, n)
	}
	d := domain.New(st, l, domain.Options{})
	start := time.Now()
	if err := domaintest.Ingest(ctx, d, st, int(have), n-int(have), t0); err != nil {
		return "", err
	}
	if added := n - int(have); added > 0 {
		el := time.Since(start)
		t.Logf("built the log: %d events recorded (NoSync) in %v, %.0f events/s", added, el.Round(time.Millisecond), float64(added)/el.Seconds())
	}
	if _, err := d.Checkpoint(ctx); err != nil {
		return "", err
	}
	return dir, nil
}

// openDomain opens the built store (fsync on, as audit runs) and returns
// a domain service over it, closed at the test's end.
func openDomain(t *testing.T) *domain.Service {
	t.Helper()
	path := filepath.Join(dataDir(t), server.Name+".db")
	t0 := time.Now()
	st, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What opening the store costs audit's start at this size.
	t.Logf("opening the store took %v", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() { _ = st.Close() })
	signer, _, _, err := ledger.LoadSigner(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return domain.New(st, ledger.New(st, signer), domain.Options{})
}

// queries returns envQueries.
func queries(t *testing.T) int {
	t.Helper()
	if os.Getenv(envEvents) == "" {
		return smokeQueries
	}
	if s := os.Getenv(envQueries); s != "" {
		q, err := strconv.Atoi(s)
		if err != nil || q < 1 {
			t.Fatalf("%s=%q: want a positive number", envQueries, s)
		}
		return q
	}
	return 5000
}

// byActor is the first page (100) of a random actor's events, newest
// first (the default order).
func byActor(rng *rand.Rand) *auditv1.ListAuditEventsRequest {
	return &auditv1.ListAuditEventsRequest{
		Parent:   domaintest.Org,
		Filter:   fmt.Sprintf("actor = %q", domaintest.Actor(rng.IntN(domaintest.Actors))),
		PageSize: 100,
	}
}

// wantPage is how many events the first page of one actor holds.
func wantPage(t *testing.T) int { return min(100, loadEvents(t)/domaintest.Actors) }

// measureQueries runs search q times after 500 unmeasured ones (warming
// the page cache and the connection) and reports the latency
// percentiles. search returns how many events its page held.
func measureQueries(t *testing.T, what string, search func(req *auditv1.ListAuditEventsRequest) (int, error)) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	want := wantPage(t)
	run := func(h *hdrhistogram.Histogram, n int) {
		for range n {
			req := byActor(rng)
			start := time.Now()
			got, err := search(req)
			el := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s: %d events, want %d", req.GetFilter(), got, want)
			}
			if h != nil {
				if err := h.RecordValue(el.Microseconds()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	run(nil, 500)
	h := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	q := queries(t)
	start := time.Now()
	run(h, q)
	el := time.Since(start)
	t.Logf("%s: %d searches by a random actor (first page of %d) over %d events: p50 %s, p90 %s, p99 %s, p99.9 %s, max %s; mean %s; %.0f searches/s, one at a time",
		what, q, want, loadEvents(t), us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90)), us(h.ValueAtQuantile(99)),
		us(h.ValueAtQuantile(99.9)), us(h.Max()), us(int64(h.Mean())), float64(q)/el.Seconds())
}

// us formats microseconds.
func us(v int64) string { return (time.Duration(v) * time.Microsecond).String() }

// TestLoadQueryByActor measures the domain's ListAuditEvents by actor
// (R29: p99 aimed at 20 ms over 1,000,000 events).
func TestLoadQueryByActor(t *testing.T) {
	d := openDomain(t)
	ctx := context.Background()
	measureQueries(t, "domain", func(req *auditv1.ListAuditEventsRequest) (int, error) {
		resp, err := d.ListAuditEvents(ctx, auditor, req)
		return len(resp.GetAuditEvents()), err
	})
}

// members allows every member of an organization into its trail: a
// stand-in for access management, which answers another organization
// NotFound.
var members = authz.AuthorizerFunc(func(_ context.Context, req authz.Request) (authz.Decision, error) {
	if err := accessauthz.SameOrganization(req, "audit.steward.dev"); err != nil {
		return authz.Decision{}, err
	}
	return authz.Decision{Allowed: true, Reason: "a member (load test)"}, nil
})

// TestLoadQueryByActorGRPC is TestLoadQueryByActor through the audit
// service: the whole server (authentication, authorization, validation,
// the domain) on the built store, over bufconn, the caller acting for the
// auditor through the harness's service credential.
func TestLoadQueryByActorGRPC(t *testing.T) {
	cfg := server.NewConfig()
	cfg.Config = backendtest.Config(t, cfg.Config)
	cfg.DataDir = dataDir(t)
	cfg.Authorizer = members
	cfg.SourceConns = map[string]grpc.ClientConnInterface{}
	for _, name := range server.Sources {
		cfg.SourceConns[name] = backendtest.EmptyLog(t)
	}
	b, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	conn := backendtest.Run(t, b)
	backendtest.WaitServing(t, conn, server.Name)
	c := auditv1.NewAuditServiceClient(conn)
	harness := backendtest.ServiceCallOption(b, backendtest.HarnessService)
	ctx := metadata.AppendToOutgoingContext(context.Background(), authn.MDActor, auditor.Name, authn.MDActorOrganization, auditor.Organization)
	measureQueries(t, "gRPC (bufconn)", func(req *auditv1.ListAuditEventsRequest) (int, error) {
		resp, err := c.ListAuditEvents(ctx, req, harness)
		return len(resp.GetAuditEvents()), err
	})
}

// memory samples the process's resident memory while a measurement runs:
// the peak resident set (VmHWM, reset at the start where the kernel
// allows it; it counts the store's file pages mapped and read), the peak
// anonymous resident memory (RssAnon, sampled) and the peak Go heap
// (sampled).
type memory struct {
	stop      chan struct{}
	done      chan struct{}
	hwmReset  bool
	peakAnon  atomic.Int64
	peakHeap  atomic.Uint64
	startAnon int64
}

// sampleMemory starts sampling every 10 ms.
func sampleMemory() *memory {
	runtime.GC()
	m := &memory{stop: make(chan struct{}), done: make(chan struct{})}
	m.hwmReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.startAnon = status("RssAnon")
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > m.peakHeap.Load() {
				m.peakHeap.Store(v)
			}
			if v := status("RssAnon"); v > m.peakAnon.Load() {
				m.peakAnon.Store(v)
			}
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// String stops the sampling and describes the peaks.
func (m *memory) String() string {
	close(m.stop)
	<-m.done
	hwm := "VmHWM since the process started"
	if m.hwmReset {
		hwm = "VmHWM"
	}
	return fmt.Sprintf("peak RSS %d MiB (%s; it counts the store's mapped file pages), peak anonymous RSS %d MiB (%d MiB before), peak Go heap %d MiB",
		status("VmHWM")>>10, hwm, m.peakAnon.Load()>>10, m.startAnon>>10, m.peakHeap.Load()>>20)
}

// status returns a "kB" field of /proc/self/status in KiB, 0 when
// unavailable.
func status(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// TestLoadExport exports the whole log through the domain's
// ExportAuditEvents, as CSV and as JSON lines, and reports rows per second
// and resident memory (R29: exports in constant memory).
func TestLoadExport(t *testing.T) {
	d := openDomain(t)
	n := loadEvents(t)
	for _, f := range []auditv1.ExportAuditEventsRequest_Format{auditv1.ExportAuditEventsRequest_FORMAT_CSV, auditv1.ExportAuditEventsRequest_FORMAT_JSONL} {
		t.Run(f.String(), func(t *testing.T) {
			// The download holds every event, then its own record (R27).
			cp, err := d.GetAuditCheckpoint(context.Background(), auditor, domaintest.Org+"/auditCheckpoint")
			if err != nil {
				t.Fatal(err)
			}
			want := cp.GetTreeSize() + 1
			var size, lines int64
			mem := sampleMemory()
			start := time.Now()
			err = d.ExportAuditEvents(context.Background(), auditor, &auditv1.ExportAuditEventsRequest{Parent: domaintest.Org, Format: f}, func(chunk []byte) error {
				size += int64(len(chunk))
				lines += int64(bytes.Count(chunk, []byte{'\n'}))
				return nil
			})
			el := time.Since(start)
			peaks := mem.String()
			if err != nil {
				t.Fatal(err)
			}
			rows := lines
			if f == auditv1.ExportAuditEventsRequest_FORMAT_CSV {
				rows-- // the header
			}
			if rows != want || want < int64(n)+1 {
				t.Fatalf("%d rows, want %d (the %d events and the download's own record)", rows, want, n)
			}
			t.Logf("%s: %d rows, %d MiB in %v: %.0f rows/s, %.1f MiB/s; %s",
				f, rows, size>>20, el.Round(time.Millisecond), float64(rows)/el.Seconds(), float64(size)/(1<<20)/el.Seconds(), peaks)
		})
	}
}

// TestLoadVerify runs VerifyAuditLog over the whole log (R28: every stored
// event re-read and re-hashed against the signed checkpoint).
func TestLoadVerify(t *testing.T) {
	d := openDomain(t)
	n := loadEvents(t)
	mem := sampleMemory()
	start := time.Now()
	res, err := d.VerifyAuditLog(context.Background(), auditor, &auditv1.VerifyAuditLogRequest{Parent: domaintest.Org})
	el := time.Since(start)
	peaks := mem.String()
	if err != nil {
		t.Fatal(err)
	}
	// The n events, and the records of the downloads TestLoadExport made.
	checked := res.GetEventsChecked()
	if !res.GetOk() || checked < int64(n) {
		t.Fatalf("VerifyAuditLog = %v", res)
	}
	t.Logf("VerifyAuditLog: %d events in %v: %.0f events/s; %s", checked, el.Round(time.Millisecond), float64(checked)/el.Seconds(), peaks)
}
