package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "steward.dev/gen/steward/audit/v1"
)

// Leaf returns the leaf of ev in its log's tree: the deterministic protobuf
// encoding of ev with name cleared (ev itself is left as it is). Its hash is
// tlog.RecordHash(leaf).
func Leaf(ev *auditv1.AuditEvent) ([]byte, error) {
	if ev.GetName() != "" {
		ev = proto.CloneOf(ev)
		ev.Name = ""
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(ev)
}

// LeafVerifier is the streaming form of [VerifyLeaves]: it checks the leaves
// of an export one at a time, in constant memory (O(log n) hashes), against a
// signed checkpoint. Add the leaves in file order, then read Result.
type LeafVerifier struct {
	cp  Checkpoint
	log string // the log named by the origin, "" if the origin is not a Steward one

	// The export's leaves.
	count      int64 // leaves added, purged ones included
	purged     int64 // leaves the file begins after, taken from the leaf hashes
	uncovered  int64 // leaves added beyond the checkpoint's size
	events     tree  // the tree of the leaves within the checkpoint's size
	eventsRoot tlog.Hash
	rootKnown  bool  // eventsRoot is the root of cp.Size leaves
	fail       int64 // first failure the file shows by itself, -1 if none
	failWhy    string

	// The optional leaf hashes.
	hashes   *bufio.Reader
	listed   int64 // hashes read
	list     tree  // the tree of the hashes read
	listErr  string
	mismatch int64 // first leaf whose hash is not the listed one, -1 if none
}

// NewLeafVerifier returns a verifier of leaves against the checkpoint note
// checkpointNote, whose signature must verify with verifierKey (a signed-note
// verifier key, "<name>+<hash>+<key>"). leafHashes, when not nil, is read as
// the log's leaf hashes, 32 bytes each in index order (as
// [Ledger.WriteLeafHashes] writes them); see [VerifyLeaves] for what they add.
// A malformed key, or a note that is not a checkpoint signed by that key, is
// an error.
func NewLeafVerifier(checkpointNote []byte, verifierKey string, leafHashes io.Reader) (*LeafVerifier, error) {
	verifier, err := note.NewVerifier(strings.TrimSpace(verifierKey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	cp, err := OpenCheckpoint(checkpointNote, verifier)
	if err != nil {
		return nil, err
	}
	v := &LeafVerifier{cp: cp, fail: -1, mismatch: -1}
	if log, ok := strings.CutPrefix(cp.Origin, OriginPrefix); ok {
		v.log = log
	}
	if leafHashes != nil {
		v.hashes = bufio.NewReaderSize(leafHashes, 64<<10)
	}
	if cp.Size == 0 {
		v.eventsRoot, v.rootKnown = emptyRoot, true
	}
	return v, nil
}

// Checkpoint returns the verified checkpoint.
func (v *LeafVerifier) Checkpoint() Checkpoint { return v.cp }

// failAt records the first failure the file shows by itself, at the next
// position.
func (v *LeafVerifier) failAt(format string, args ...any) {
	if v.fail < 0 {
		v.fail = v.count
		v.failWhy = fmt.Sprintf(format, args...)
	}
}

// Add checks the next leaf of the file, which says it is leaf index. It
// returns false once the file has failed in a way no later leaf can change,
// after which the caller may stop adding.
func (v *LeafVerifier) Add(index int64, leaf []byte) bool {
	if v.fail >= 0 {
		return false
	}
	p := v.count
	if p == 0 && index > 0 && v.fail < 0 {
		if !v.skipPurged(index) {
			return false
		}
		p = v.count
	}
	if index != p {
		v.failAt("the event at position %d of the file carries index %d: an event was deleted, inserted or moved, or the export is filtered", p, index)
		return false
	}
	v.count++
	if p >= v.cp.Size {
		v.uncovered++
		return true
	}
	h := tlog.RecordHash(leaf)
	v.events.push(h, nil)
	if v.events.n == v.cp.Size {
		v.eventsRoot, v.rootKnown = v.events.root(), true
	}
	if lh, ok := v.nextListed(); ok && lh != h && v.mismatch < 0 {
		v.mismatch = p
	}
	return true
}

// skipPurged takes the leaf hashes of the first n leaves, which the file
// does not hold (retention purged them, and an export begins at the oldest
// event kept), from the leaf hashes: they stand in for the leaves in the
// tree, and the file's leaves are compared with them from n on. Without
// leaf hashes the file cannot be verified, and fails at position 0 saying
// so.
func (v *LeafVerifier) skipPurged(n int64) bool {
	if v.hashes == nil {
		v.failAt("the file begins at event %d: the events before it were purged by retention (or the export is filtered); give the log's leaf hashes (-hashes, from ExportLeafHashes) to verify it", n)
		return false
	}
	for v.count < n {
		if v.count >= v.cp.Size {
			v.count = n // beyond the checkpoint: nothing to check
			v.uncovered += n - v.cp.Size
			break
		}
		h, ok := v.nextListed()
		if !ok {
			v.failAt("the file begins at event %d, but %s", n, v.listErr)
			return false
		}
		v.count++
		v.purged++
		v.events.push(h, nil)
		if v.events.n == v.cp.Size {
			v.eventsRoot, v.rootKnown = v.events.root(), true
		}
	}
	return true
}

// Reject records that the next line of the file is not a leaf (it does not
// parse, or names another event): the file fails at its position.
func (v *LeafVerifier) Reject(reason string) {
	v.failAt("%s", reason)
}

// nextListed reads the next leaf hash, if there are leaf hashes and they have
// not failed.
func (v *LeafVerifier) nextListed() (tlog.Hash, bool) {
	if v.hashes == nil || v.listErr != "" {
		return tlog.Hash{}, false
	}
	var h tlog.Hash
	if _, err := io.ReadFull(v.hashes, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			v.listErr = fmt.Sprintf("the leaf hashes end after %d of the checkpoint's %d", v.listed, v.cp.Size)
		} else {
			v.listErr = fmt.Sprintf("reading the leaf hashes: %v", err)
		}
		return tlog.Hash{}, false
	}
	v.listed++
	v.list.push(h, nil)
	return h, true
}

// Result returns the outcome of the leaves added so far (reading the rest of
// the leaf hashes, if any). Call it once, after the last Add.
func (v *LeafVerifier) Result() Result {
	r := Result{OK: true, FirstFailed: -1, Checked: v.count, Checkpoint: v.cp, Uncovered: v.uncovered, Purged: v.purged}
	listed := false
	if v.hashes != nil {
		for v.listErr == "" && v.listed < v.cp.Size {
			v.nextListed()
		}
		if v.listErr == "" {
			if v.list.root() == v.cp.Root {
				listed = true
			} else {
				v.listErr = "the leaf hashes do not make the checkpoint's root"
			}
		}
	}
	if v.fail < 0 && v.count < v.cp.Size {
		v.failAt("the file ends after %d events, the checkpoint covers %d: events from %d are missing", v.count, v.cp.Size, v.count)
	}
	if v.fail < 0 && v.rootKnown && v.eventsRoot == v.cp.Root {
		return r
	}
	// An event with a hash other than the authenticated leaf hash at its
	// index is the first failure unless the file shows one earlier.
	if listed && v.mismatch >= 0 && (v.fail < 0 || v.mismatch < v.fail) {
		r.fail(v.mismatch, "event %d is not the one the checkpoint covers (its hash is not the signed tree's leaf hash %d)", v.mismatch, v.mismatch)
		return r
	}
	if v.fail >= 0 {
		r.fail(v.fail, "%s", v.failWhy)
		return r
	}
	why := "the events do not make the checkpoint's root: at least one was altered, and without the log's leaf hashes the file alone cannot say which (give them with -hashes, or ask the service to verify)"
	if v.listErr != "" {
		why += "; " + v.listErr
	}
	r.fail(0, "%s", why)
	return r
}

// VerifyLeaves is the offline check of an export: leaves (index and leaf, in
// file order) against a signed checkpoint note verified with verifierKey.
// Every leaf is hashed, and the tree of the first cp.Size leaves must have the
// checkpoint's root; it runs in O(log n) memory.
//
// Leaves beyond the checkpoint's size are allowed (an export taken after the
// checkpoint): the result is OK when the covered ones verify, Checked counts
// every leaf read, and Uncovered says how many were not covered by the
// checkpoint (only their indexes are checked). Fetch the checkpoint first,
// then export, to have every event covered.
//
// What it localises. An authentic export carries index i at position i, so a
// deleted, inserted, duplicated or moved event, a filtered export and a
// truncated file fail exactly at the first position where that breaks (a
// forged event inserted with the index of the one it displaces fails one
// later, where the displaced one appears). An edit that keeps every index in
// place changes only the root, and a root names no leaf: no sound offline
// check can say which of the leaves differs from the signed tree without some
// authentic per-leaf reference. That reference is leafHashes, the log's leaf
// hashes (32 bytes each, [Ledger.WriteLeafHashes]): they need no trust,
// because they are used only when the tree they make has the signed root
// (SHA-256 collision resistance then makes them the signed tree's leaves);
// then the first leaf whose hash differs from its listed one, or the first
// position the file shows failing, whichever comes first, is FirstFailed, and
// every leaf before it is proven. Without them (or when they do not make the
// root), an edit with intact indexes fails with FirstFailed 0 and a Reason
// saying it could not be localised; the service's own [Ledger.Verify]
// localises exactly from its stored hashes.
//
// An export of a log whose oldest events were purged by retention begins at
// the first event kept, index n > 0. With the leaf hashes, the first n listed
// hashes stand in for the purged leaves (Result.Purged counts them; they are
// proven part of the signed tree, their contents are gone); without them the
// file fails at position 0, saying the leaf hashes are needed.
//
// A malformed key, a note signed by another key or not signed, or a note
// that is not a checkpoint fails with FirstFailed -1.
func VerifyLeaves(leaves iter.Seq2[int64, []byte], checkpointNote []byte, verifierKey string, leafHashes io.Reader) Result {
	v, err := NewLeafVerifier(checkpointNote, verifierKey, leafHashes)
	if err != nil {
		return Result{FirstFailed: -1, Reason: "checkpoint refused: " + err.Error()}
	}
	for index, leaf := range leaves {
		if !v.Add(index, leaf) {
			break
		}
	}
	return v.Result()
}

// MaxExportLine is the longest line VerifyExport reads.
const MaxExportLine = 4 << 20

// VerifyExport is VerifyLeaves over a JSON-lines export (each line an
// auditv1.AuditEvent in protojson form, as ExportAuditEvents writes it,
// blank lines skipped), read in constant memory. A line that does not parse
// as an audit event, or whose name is not its index's in the checkpoint's
// log, fails at its position. The error is for failures to read export.
func VerifyExport(export io.Reader, checkpointNote []byte, verifierKey string, leafHashes io.Reader) (Result, error) {
	v, err := NewLeafVerifier(checkpointNote, verifierKey, leafHashes)
	if err != nil {
		return Result{FirstFailed: -1, Reason: "checkpoint refused: " + err.Error()}, nil
	}
	sc := bufio.NewScanner(export)
	sc.Buffer(make([]byte, 0, 64<<10), MaxExportLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		ev, why := parseExportLine(b, v.log)
		if why != "" {
			v.Reject(fmt.Sprintf("line %d: %s", line, why))
			break
		}
		ev.Name = "" // not part of the leaf; cleared here, Leaf need not copy ev
		leaf, err := Leaf(ev)
		if err != nil {
			v.Reject(fmt.Sprintf("line %d: %v", line, err))
			break
		}
		if !v.Add(ev.GetIndex(), leaf) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return Result{}, fmt.Errorf("read export: %w", err)
		}
		v.Reject(fmt.Sprintf("line %d: longer than %d bytes", line+1, MaxExportLine))
	}
	return v.Result(), nil
}

// parseExportLine decodes one line of a JSON-lines export; it returns why the
// line is not an event of log ("" when it is). An event's name, when set, must
// be its index's in log (when log is known).
func parseExportLine(b []byte, log string) (*auditv1.AuditEvent, string) {
	ev := new(auditv1.AuditEvent)
	if err := protojson.Unmarshal(b, ev); err != nil {
		return nil, fmt.Sprintf("not an audit event: %v", err)
	}
	if ev.GetName() != "" && log != "" {
		if want := EventName(log, ev.GetIndex()); ev.GetName() != want {
			return nil, fmt.Sprintf("event %q has index %d of %s", ev.GetName(), ev.GetIndex(), log)
		}
	}
	return ev, ""
}
