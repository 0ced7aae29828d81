package domain_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// export runs an export and returns its chunks.
func export(t testing.TB, d *domain.Service, actor domain.Actor, req *auditv1.ExportAuditEventsRequest) ([][]byte, error) {
	t.Helper()
	var chunks [][]byte
	err := d.ExportAuditEvents(context.Background(), actor, req, func(chunk []byte) error {
		chunks = append(chunks, bytes.Clone(chunk))
		return nil
	})
	return chunks, err
}

// R29: the CSV download has a header, then one row per matching event,
// oldest first (the whole log in index order without a filter), in chunks
// of about 64 KiB, without a row cap; the JSON lines download has one
// AuditEvent per line, the same events. Without a filter, the downloads'
// own records (R27) come last: the CSV's, then also the JSON lines'.
func TestExport(t *testing.T) {
	f := newFixture(t, domain.Options{})
	all := population(t, f, 1200) // more than one read transaction (500)
	for _, filter := range []string{``, `actor = "` + org + `/users/ann"`, `source = access AND time >= "` + start.Add(10*time.Minute).Format(time.RFC3339) + `"`} {
		want := expect(t, all, filter, false)
		if filter == "" {
			want = names(all) // the whole log, in index order
		}

		chunks, err := export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range chunks[:len(chunks)-1] {
			if len(c) < domain.ExportChunkSize {
				t.Errorf("chunk %d of %d has %d bytes", i, len(chunks), len(c))
			}
		}
		rows, err := csv.NewReader(bytes.NewReader(bytes.Join(chunks, nil))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], domain.ExportColumns) {
			t.Errorf("header %q", rows[0])
		}
		var got []string
		exports := 0
		for _, r := range rows[1:] {
			if r[5] == domain.TypeEventsExported {
				exports++
				continue
			}
			got = append(got, r[0])
		}
		if !slices.Equal(got, want) {
			t.Errorf("CSV %q: %d rows, want %d", filter, len(got), len(want))
		}
		if wantExports := exportsIn(filter, 1); exports != wantExports {
			t.Errorf("CSV %q: %d records of downloads, want %d", filter, exports, wantExports)
		}
		if len(rows) > 1 {
			r := rows[1]
			if r[3] == "" || r[6] == "" || r[8] == "" || r[9] == "" || !strings.HasPrefix(r[12], "req-") || (r[11] != "SUCCESS" && r[11] != "DENIED" && r[11] != "FAILURE") {
				t.Errorf("row %q", r)
			}
			if _, err := time.Parse(time.RFC3339Nano, r[2]); err != nil {
				t.Errorf("time %q: %v", r[2], err)
			}
		}

		chunks, err = export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Filter: filter, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL})
		if err != nil {
			t.Fatal(err)
		}
		got, exports = nil, 0
		sc := bufio.NewScanner(bytes.NewReader(bytes.Join(chunks, nil)))
		for sc.Scan() {
			ev := &auditv1.AuditEvent{}
			if err := protojson.Unmarshal(sc.Bytes(), ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if ev.GetType() == domain.TypeEventsExported {
				exports++
				continue
			}
			got = append(got, ev.GetName())
		}
		if !slices.Equal(got, want) {
			t.Errorf("JSONL %q: %d lines, want %d", filter, len(got), len(want))
		}
		if wantExports := exportsIn(filter, 2); exports != wantExports {
			t.Errorf("JSONL %q: %d records of downloads, want %d", filter, exports, wantExports)
		}
	}
}

// exportsIn returns how many records of downloads (R27) TestExport's
// download with filter holds when it is the n-th download: every one so
// far without a filter (the filters of the others match none).
func exportsIn(filter string, n int) int {
	if filter != "" {
		return 0
	}
	return n
}

// R29 (and SECURITY.md "Data out"): every cell of the CSV download that a
// spreadsheet would read as a formula gets a leading single quote.
func TestExportCSVInjection(t *testing.T) {
	f := newFixture(t, domain.Options{})
	evil := []string{"=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"}
	for _, e := range evil {
		f.apply("directory", f.event("directory", "directory.user.updated", org+"/users/u",
			&eventlogv1.AuditEnvelope{Actor: e, ActorDisplayName: e, Action: e, Message: e, RequestId: e, SourceAddress: e}))
	}
	chunks, err := export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Format: auditv1.ExportAuditEventsRequest_FORMAT_CSV})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.Join(chunks, nil))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// The header, the events, and the download's own record (R27).
	if len(rows) != len(evil)+2 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, e := range evil {
		r := rows[i+1]
		for _, col := range []int{6, 7, 8, 12, 13, 14} {
			if r[col] != "'"+e {
				t.Errorf("row %d column %s = %q, want %q", i, domain.ExportColumns[col], r[col], "'"+e)
			}
		}
	}
}

// An export checks its request before the first byte: a malformed filter
// or another organization sends nothing. An empty CSV (nothing matches;
// not even the download's own record, R27) is its header.
func TestExportErrors(t *testing.T) {
	f := newFixture(t, domain.Options{})
	chunks, err := export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Filter: `actor`})
	var fe *records.FieldError
	if !errors.As(err, &fe) || len(chunks) != 0 {
		t.Errorf("bad filter: %v, %d chunks", err, len(chunks))
	}
	chunks, err = export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: other})
	if !errors.Is(err, domain.ErrNotFound) || len(chunks) != 0 {
		t.Errorf("another organization: %v, %d chunks", err, len(chunks))
	}
	chunks, err = export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Filter: "source = directory"})
	if err != nil || string(bytes.Join(chunks, nil)) != strings.Join(domain.ExportColumns, ",")+"\n" {
		t.Errorf("empty export: %q, %v", chunks, err)
	}
	chunks, err = export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Filter: "source = directory", Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL})
	if err != nil || len(chunks) != 0 {
		t.Errorf("empty JSONL export: %q, %v", chunks, err)
	}
	// emit's error stops the export.
	population(t, f, 10)
	stop := errors.New("client gone")
	err = f.d.ExportAuditEvents(context.Background(), auditor, &auditv1.ExportAuditEventsRequest{Parent: org}, func([]byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("emit failing: %v", err)
	}
}

// R28: the JSON lines download of the whole log verifies offline against
// a checkpoint fetched before it (ledger.VerifyExport), all but its own
// record (R27), which came after; an edited line fails at its index.
func TestExportVerifiesOffline(t *testing.T) {
	f := newFixture(t, domain.Options{})
	population(t, f, 700)
	cp, err := f.d.GetAuditCheckpoint(context.Background(), auditor, org+"/auditCheckpoint")
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := export(t, f.d, auditor, &auditv1.ExportAuditEventsRequest{Parent: org, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL})
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Join(chunks, nil)
	res, err := ledger.VerifyExport(bytes.NewReader(file), []byte(cp.GetSignedNote()), f.vkey, nil)
	if err != nil || !res.OK || res.Checked != cp.GetTreeSize()+1 || res.Uncovered != 1 {
		t.Fatalf("VerifyExport = %+v, %v; want OK over %d events and 1 uncovered", res, err, cp.GetTreeSize())
	}
	lines := bytes.Split(file, []byte("\n"))
	ev := &auditv1.AuditEvent{}
	if err := protojson.Unmarshal(lines[321], ev); err != nil {
		t.Fatal(err)
	}
	ev.Actor = org + "/users/someone-else"
	lines[321], _ = protojson.Marshal(ev)
	var leafHashes bytes.Buffer
	if err := f.l.WriteLeafHashes(context.Background(), org, cp.GetTreeSize(), &leafHashes); err != nil {
		t.Fatal(err)
	}
	res, err = ledger.VerifyExport(bytes.NewReader(bytes.Join(lines, []byte("\n"))), []byte(cp.GetSignedNote()), f.vkey, &leafHashes)
	if err != nil || res.OK || res.FirstFailed != 321 {
		t.Errorf("VerifyExport of an edited export = %+v, %v; want failing at 321", res, err)
	}
}
