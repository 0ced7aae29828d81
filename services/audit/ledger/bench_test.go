package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// BenchmarkAppend appends leaves of about 300 bytes to one log, 256 per
// Update transaction, on a bbolt store without fsync (R28's cost per event):
// "ledger" appends the hashes only, "ledger+event" stores the leaf too, as
// the audit service does. ns/op is ns per leaf.
func BenchmarkAppend(b *testing.B) {
	leaf := bytes.Repeat([]byte("a"), 300)
	for _, withEvent := range []bool{false, true} {
		name := "ledger"
		if withEvent {
			name = "ledger+event"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st := openStore(b, filepath.Join(b.TempDir(), "audit.db"), true)
			defer st.Close()
			signer, _, _, err := ledger.LoadSigner(ctx, st)
			if err != nil {
				b.Fatal(err)
			}
			l := ledger.New(st, signer)
			const log = "organizations/o1"
			b.SetBytes(int64(len(leaf)))
			b.ResetTimer()
			for done := 0; done < b.N; {
				batch := min(256, b.N-done)
				err := st.Update(ctx, func(tx store.Tx) error {
					for j := range batch {
						leaf[0] = byte(done + j)
						i, err := l.Append(tx, log, leaf)
						if err != nil {
							return err
						}
						if withEvent {
							if err := tx.Put(eventKey(log, i), leaf); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				done += batch
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/leaf")
		})
	}
}

// exportReader generates the JSON-lines export of events 0..n-1 of org as
// it is read, so that the file is never in memory, and records the largest
// live heap it sees while the verifier reads it.
type exportReader struct {
	org      string
	n, next  int64
	buf      bytes.Buffer
	reads    int
	peakHeap uint64
}

func (r *exportReader) Read(p []byte) (int, error) {
	if r.reads++; r.reads%256 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.peakHeap = max(r.peakHeap, ms.HeapAlloc)
	}
	for r.buf.Len() < len(p) && r.next < r.n {
		b, err := protojson.Marshal(event(r.org, r.next))
		if err != nil {
			return 0, err
		}
		r.buf.Write(b)
		r.buf.WriteByte('\n')
		r.next++
	}
	if r.buf.Len() == 0 {
		return 0, io.EOF
	}
	return r.buf.Read(p)
}

// TestR28VerifyExportConstantMemory verifies a large export streamed from a
// generator and checks that the live heap stays far below the file's size:
// the verifier keeps O(log n) hashes, not the events.
// STEWARD_AUDIT_VERIFY_LINES sets the number of events (default 20,000;
// 1,000,000 takes about a minute).
func TestR28VerifyExportConstantMemory(t *testing.T) {
	n := int64(20_000)
	if s := os.Getenv("STEWARD_AUDIT_VERIFY_LINES"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	} else if testing.Short() {
		n = 2_000
	}
	ctx := context.Background()
	f := newFixture(t)
	for from := int64(0); from < n; from += 4096 {
		f.appendN(t, "o1", from, min(from+4096, n))
	}
	cp, err := f.l.Checkpoint(ctx, "organizations/o1")
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	r := &exportReader{org: "o1", n: n}
	var fileSize countingReader
	fileSize.r = r
	res, err := ledger.VerifyExport(&fileSize, cp.Note, f.vkey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Checked != n {
		t.Fatalf("%+v", res)
	}
	growth := int64(r.peakHeap) - int64(before.HeapAlloc)
	t.Logf("%d events, %d MB of JSON lines, live heap grew by at most %.1f MB", n, fileSize.n>>20, float64(growth)/(1<<20))
	if limit := int64(32 << 20); growth > limit && fileSize.n > 4*limit {
		t.Fatalf("live heap grew by %d bytes verifying a %d-byte export", growth, fileSize.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// BenchmarkVerifyExport measures the offline verification per event of an
// export of 10,000 events.
func BenchmarkVerifyExport(b *testing.B) {
	const n = 10_000
	ctx := context.Background()
	f := newFixture(b)
	for from := int64(0); from < n; from += 4096 {
		f.appendN(b, "o1", from, min(from+4096, n))
	}
	cp, err := f.l.Checkpoint(ctx, "organizations/o1")
	if err != nil {
		b.Fatal(err)
	}
	var file strings.Builder
	for i := range int64(n) {
		line, _ := protojson.Marshal(event("o1", i))
		fmt.Fprintf(&file, "%s\n", line)
	}
	b.ResetTimer()
	for range b.N {
		res, err := ledger.VerifyExport(strings.NewReader(file.String()), cp.Note, f.vkey, nil)
		if err != nil || !res.OK {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
