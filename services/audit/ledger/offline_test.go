package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/services/audit/ledger"
)

// exportLines returns the JSON-lines export of events, one protojson line
// each, as ExportAuditEvents writes them.
func exportLines(tb testing.TB, evs []*auditv1.AuditEvent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		b, err := protojson.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// exportFixture is a log of 100 checkpointed events and 10 more, its
// checkpoint, verifier key and leaf hashes.
type exportFixture struct {
	*fixture
	events []*auditv1.AuditEvent // all 110
	cp     ledger.Checkpoint
	hashes []byte // the leaf hashes of the checkpoint's tree
}

func newExportFixture(tb testing.TB) *exportFixture {
	tb.Helper()
	ctx := context.Background()
	f := newFixture(tb)
	f.appendN(tb, "o1", 0, 100)
	cp, err := f.l.Checkpoint(ctx, "organizations/o1")
	if err != nil {
		tb.Fatal(err)
	}
	f.appendN(tb, "o1", 100, 110)
	var hashes bytes.Buffer
	if err := f.l.WriteLeafHashes(ctx, "organizations/o1", cp.Size, &hashes); err != nil {
		tb.Fatal(err)
	}
	evs := make([]*auditv1.AuditEvent, 110)
	for i := range evs {
		evs[i] = event("o1", int64(i))
	}
	return &exportFixture{fixture: f, events: evs, cp: cp, hashes: hashes.Bytes()}
}

// TestR28VerifyExport tampers with an exported JSON-lines file and checks
// that the offline verifier finds each tampering at its first failing index:
// exactly from the file alone when the tampering breaks the index sequence,
// and exactly for every tampering when given the log's leaf hashes.
func TestR28VerifyExport(t *testing.T) {
	fx := newExportFixture(t)
	covered := fx.events[:100]
	edit := func(evs []*auditv1.AuditEvent, i int, msg string) []*auditv1.AuditEvent {
		out := slices.Clone(evs)
		e := event("o1", int64(i))
		e.Message = msg
		out[i] = e
		return out
	}
	renumber := func(evs []*auditv1.AuditEvent) []*auditv1.AuditEvent {
		out := make([]*auditv1.AuditEvent, len(evs))
		for i, ev := range evs {
			e := proto.CloneOf(ev)
			e.Index = int64(i)
			e.Name = fmt.Sprintf("organizations/o1/auditEvents/%d", i)
			out[i] = e
		}
		return out
	}
	forged := func(i int) *auditv1.AuditEvent {
		e := event("o1", int64(i))
		e.Message = "forged"
		return e
	}

	for _, tc := range []struct {
		name string
		file []byte
		// FirstFailed without and with the leaf hashes (-1: OK).
		first, firstHashed int64
		reason             string
	}{
		{"untouched", exportLines(t, covered), -1, -1, ""},
		{"untouched, events after the checkpoint", exportLines(t, fx.events), -1, -1, ""},
		{"edited", exportLines(t, edit(covered, 37, "edited")), 0, 37, ""},
		{"edited first", exportLines(t, edit(covered, 0, "edited")), 0, 0, ""},
		{"edited last covered", exportLines(t, edit(fx.events, 99, "edited")), 0, 99, ""},
		{"deleted", exportLines(t, slices.Delete(slices.Clone(covered), 37, 38)), 37, 37, "index 38"},
		{"deleted, renumbered", exportLines(t, renumber(slices.Delete(slices.Clone(covered), 37, 38))), 99, 37, ""},
		{"reordered", exportLines(t, func() []*auditv1.AuditEvent {
			out := slices.Clone(covered)
			out[37], out[60] = out[60], out[37]
			return out
		}()), 37, 37, "index 60"},
		{"inserted", exportLines(t, slices.Insert(slices.Clone(covered), 37, forged(37))), 38, 37, ""},
		{"inserted, renumbered", exportLines(t, renumber(slices.Insert(slices.Clone(covered), 37, forged(37)))), 0, 37, ""},
		{"duplicated", exportLines(t, slices.Insert(slices.Clone(covered), 37, covered[37])), 38, 38, "index 37"},
		{"truncated", exportLines(t, covered[:80]), 80, 80, "ends after 80"},
		{"empty file", nil, 0, 0, "ends after 0"},
		{"filtered", exportLines(t, append(slices.Clone(covered[:10]), covered[20:]...)), 10, 10, "index 20"},
		{"unparsable line", replaceLine(exportLines(t, covered), 50, `{"index":"fifty"}`), 50, 50, "line 51"},
		{"unknown field", replaceLine(exportLines(t, covered), 50, `{"index":"50","leafHash":"x"}`), 50, 50, "line 51"},
		{"name of another event", replaceLine(exportLines(t, covered), 50, `{"name":"organizations/o1/auditEvents/51","index":"50"}`), 50, 50, "line 51"},
		{"blank and CRLF lines", bytes.ReplaceAll(append([]byte("\n"), exportLines(t, covered)...), []byte("\n"), []byte("\r\n\r\n")), -1, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, hashed := range []bool{false, true} {
				var hashes *bytes.Reader
				want := tc.first
				if hashed {
					hashes, want = bytes.NewReader(fx.hashes), tc.firstHashed
				}
				res, err := ledger.VerifyExport(bytes.NewReader(tc.file), fx.cp.Note, fx.vkey, readerOrNil(hashes))
				if err != nil {
					t.Fatal(err)
				}
				if res.FirstFailed != want || res.OK != (want == -1) || !strings.Contains(res.Reason, tc.reason) {
					t.Fatalf("hashes %v: VerifyExport = OK %v, first failed %d, %q; want %d, reason with %q", hashed, res.OK, res.FirstFailed, res.Reason, want, tc.reason)
				}
				if res.OK {
					if res.Checkpoint.Size != 100 || res.Checkpoint.Root != fx.cp.Root || res.Checkpoint.Origin != "steward.dev/audit/organizations/o1" {
						t.Fatalf("verified against %+v", res.Checkpoint)
					}
					if res.Uncovered != res.Checked-100 {
						t.Fatalf("checked %d, uncovered %d", res.Checked, res.Uncovered)
					}
				}
				if !hashed && want == 0 && tc.reason == "" && !strings.Contains(res.Reason, "cannot say which") {
					t.Fatalf("an unlocalised failure does not say so: %q", res.Reason)
				}
			}
		})
	}
}

// TestR28VerifyExportRefusesCheckpoint: a wrong key, a malformed key, a
// forged note, and a note signed by another key are refused, whatever the
// events.
func TestR28VerifyExportRefusesCheckpoint(t *testing.T) {
	fx := newExportFixture(t)
	file := exportLines(t, fx.events[:100])

	_, otherKey, err := note.GenerateKey(rand.Reader, ledger.SignerName)
	if err != nil {
		t.Fatal(err)
	}
	// A note of another key with the same name, stating the same tree.
	otherSkey, otherVkey, err := note.GenerateKey(rand.Reader, ledger.SignerName)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _ := note.NewSigner(otherSkey)
	text, _, _ := bytes.Cut(fx.cp.Note, []byte("\n\n"))
	otherNote, err := note.Sign(&note.Note{Text: string(text) + "\n"}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	// The real note with its size line changed: the signature no longer fits.
	forged := bytes.Replace(fx.cp.Note, []byte("\n100\n"), []byte("\n80\n"), 1)
	// The real note with its signature replaced by another's.
	_, sig, _ := bytes.Cut(otherNote, []byte("\n\n"))
	swapped := append(append(bytes.Clone(text), "\n\n"...), sig...)
	// A validly signed note that is not a checkpoint.
	notCheckpoint, err := note.Sign(&note.Note{Text: "hello\n"}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		note []byte
		key  string
		want string
	}{
		{"wrong key", fx.cp.Note, otherKey, "checkpoint signature"},
		{"malformed key", fx.cp.Note, "steward-audit+00000000+AAAA", "verifier key"},
		{"forged size", forged, fx.vkey, "checkpoint signature"},
		{"signature swapped", swapped, fx.vkey, "checkpoint signature"},
		{"signed by another key", otherNote, fx.vkey, "checkpoint signature"},
		{"not a note", []byte("steward.dev/audit/organizations/o1\n100\n"), fx.vkey, "checkpoint signature"},
		{"not a checkpoint", notCheckpoint, otherVkey, "want origin, size and root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ledger.VerifyExport(bytes.NewReader(file), tc.note, tc.key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.FirstFailed != -1 || !strings.HasPrefix(res.Reason, "checkpoint refused") || !strings.Contains(res.Reason, tc.want) {
				t.Fatalf("VerifyExport = OK %v, first failed %d, %q", res.OK, res.FirstFailed, res.Reason)
			}
		})
	}
}

// TestR28VerifyExportBadHashes: leaf hashes that do not make the signed root
// are not relied on: the edit is still reported, unlocalised, and the file
// of an untouched export still verifies.
func TestR28VerifyExportBadHashes(t *testing.T) {
	fx := newExportFixture(t)
	e := proto.CloneOf(fx.events[37])
	e.Message = "edited"
	edited := slices.Clone(fx.events[:100])
	edited[37] = e
	// Hashes "agreeing" with the edited file except at 37: do not make the root.
	lying := bytes.Clone(fx.hashes)
	lying[37*32] ^= 1

	for _, tc := range []struct {
		name   string
		file   []byte
		hashes []byte
		first  int64
		reason string
	}{
		{"damaged hashes, untouched file", exportLines(t, fx.events[:100]), lying, -1, ""},
		{"damaged hashes, edited file", exportLines(t, edited), lying, 0, "do not make the checkpoint's root"},
		{"short hashes", exportLines(t, edited), fx.hashes[:50*32], 0, "end after 50"},
		{"longer hashes", exportLines(t, edited), append(bytes.Clone(fx.hashes), make([]byte, 64)...), 37, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ledger.VerifyExport(bytes.NewReader(tc.file), fx.cp.Note, fx.vkey, bytes.NewReader(tc.hashes))
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstFailed != tc.first || res.OK != (tc.first == -1) || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("VerifyExport = OK %v, first failed %d, %q", res.OK, res.FirstFailed, res.Reason)
			}
		})
	}
}

// TestR28VerifyExportAfterPurge: an export of a log whose first 40 events
// were purged by retention begins at event 40. With the leaf hashes it
// verifies (the purged events by their hashes) and an edit after the purge
// is still named exactly; without them it fails at 0 saying they are
// needed; damaged hashes of purged events are not relied on.
func TestR28VerifyExportAfterPurge(t *testing.T) {
	fx := newExportFixture(t)
	kept := fx.events[40:100]
	edited := slices.Clone(kept)
	e := proto.CloneOf(edited[10])
	e.Message = "edited"
	edited[10] = e
	damaged := bytes.Clone(fx.hashes)
	damaged[7*32] ^= 1
	for _, tc := range []struct {
		name   string
		file   []byte
		hashes []byte
		first  int64
		reason string
	}{
		{"kept events, with hashes", exportLines(t, kept), fx.hashes, -1, ""},
		{"kept events, without hashes", exportLines(t, kept), nil, 0, "purged by retention"},
		{"edited after the purge", exportLines(t, edited), fx.hashes, 50, "event 50"},
		{"truncated after the purge", exportLines(t, kept[:40]), fx.hashes, 80, "ends after 80"},
		{"damaged hash of a purged event", exportLines(t, kept), damaged, 0, "do not make the checkpoint's root"},
		{"hashes shorter than the purge", exportLines(t, kept), fx.hashes[:20*32], 20, "end after 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hashes io.Reader
			if tc.hashes != nil {
				hashes = bytes.NewReader(tc.hashes)
			}
			res, err := ledger.VerifyExport(bytes.NewReader(tc.file), fx.cp.Note, fx.vkey, hashes)
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstFailed != tc.first || res.OK != (tc.first == -1) || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("VerifyExport = OK %v, first failed %d, %q", res.OK, res.FirstFailed, res.Reason)
			}
			if res.OK && (res.Purged != 40 || res.Checked != 100) {
				t.Fatalf("OK with purged %d, checked %d; want 40 and 100", res.Purged, res.Checked)
			}
		})
	}
}

// TestR28VerifyLeavesEmptyLog: an empty export verifies against a
// checkpoint of size 0.
func TestR28VerifyLeavesEmptyLog(t *testing.T) {
	f := newFixture(t)
	cp, err := f.l.Checkpoint(context.Background(), "organizations/empty")
	if err != nil {
		t.Fatal(err)
	}
	res := ledger.VerifyLeaves(func(func(int64, []byte) bool) {}, cp.Note, f.vkey, nil)
	if !res.OK || res.Checked != 0 || res.FirstFailed != -1 {
		t.Fatalf("%+v", res)
	}
	res = ledger.VerifyLeaves(func(yield func(int64, []byte) bool) { yield(0, []byte("x")) }, cp.Note, f.vkey, nil)
	if !res.OK || res.Checked != 1 || res.Uncovered != 1 {
		t.Fatalf("%+v", res)
	}
}

// replaceLine replaces line i (from 0) of file.
func replaceLine(file []byte, i int, line string) []byte {
	lines := bytes.Split(file, []byte("\n"))
	lines[i] = []byte(line)
	return bytes.Join(lines, []byte("\n"))
}

// readerOrNil keeps a nil *bytes.Reader from becoming a non-nil io.Reader.
func readerOrNil(r *bytes.Reader) io.Reader {
	if r == nil {
		return nil
	}
	return r
}
