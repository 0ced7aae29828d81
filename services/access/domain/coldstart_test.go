package domain

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
)

// TestColdStart measures access's cold start on a real store (issue 13): it
// opens the bbolt file ACCESS_LARGE_DB names (a copy: Open writes its schema
// version, and nothing else), times Open and New, and reports the Go heap after a
// GC with everything loaded, then what the model and the Mirror each hold,
// per stored assignment. It is skipped when ACCESS_LARGE_DB is unset. On the
// `large` dataset (BENCHMARKS.md):
//
//	cp /tmp/large/data/access/access.db /tmp/cs-large/access.db
//	ACCESS_LARGE_DB=/tmp/cs-large/access.db go test -run TestColdStart -v -count 1 ./domain
//
// Add -cpuprofile to see where the time goes, and ACCESS_LARGE_HEAP=FILE (with
// -memprofilerate 65536 or lower) for a heap profile of what New has loaded.
func TestColdStart(t *testing.T) {
	path := os.Getenv("ACCESS_LARGE_DB")
	if path == "" {
		t.Skip("ACCESS_LARGE_DB is unset: no store to load")
	}
	opened := time.Now()
	st, err := bboltstore.Open(path, bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	open := time.Since(opened)
	base := heapInUse()
	cpu, faults := cpuTime(), pageFaults()
	start := time.Now()
	s, err := New(context.Background(), st, log, authorizer.New(authorizer.Sizes{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	took, cpu, faults := time.Since(start), cpuTime()-cpu, pageFaults()-faults
	stats := s.Model().Stats()
	all := int64(heapInUse() - base)
	if out := os.Getenv("ACCESS_LARGE_HEAP"); out != "" {
		writeHeapProfile(t, out)
	}
	// Drop the Mirror, then the model, to see what each holds.
	s.dir = nil
	noMirror := int64(heapInUse() - base)
	s.model = nil
	neither := int64(heapInUse() - base)
	runtime.KeepAlive(s)
	n := int64(max(stats.Assignments, 1))
	mirror, model := all-noMirror, noMirror-neither
	t.Logf("Open: %v; New: %v (CPU %v, %d page faults); model: %+v", open, took, cpu, faults, stats)
	t.Logf("heap in use after GC: %d MiB (%d B per assignment): model %d MiB (%d B per assignment), Mirror %d MiB (%d B per assignment), the rest %d MiB",
		all>>20, all/n, model>>20, model/n, mirror>>20, mirror/n, neither>>20)
	t.Logf("process: %s", procStatus("VmRSS", "RssAnon", "RssFile"))
}

// writeHeapProfile writes the heap profile to the file path.
func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}

// procStatus returns the named lines of /proc/self/status, or "" where
// there is none.
func procStatus(names ...string) string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ":")
		if slices.Contains(names, name) {
			out = append(out, name+" "+strings.Join(strings.Fields(value), " "))
		}
	}
	return strings.Join(out, ", ")
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pageFaults returns the number of page faults the process has taken.
func pageFaults() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt + ru.Majflt
}

// heapInUse returns the bytes of heap in use after a full GC.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
