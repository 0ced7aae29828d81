package ledger_test

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/services/audit/ledger"
)

// FuzzVerifyExport feeds arbitrary export files to the offline verifier
// against a real checkpoint of 5 events (R28): it must not panic, and it may
// say OK only for a file whose first 5 lines are those events.
func FuzzVerifyExport(f *testing.F) {
	fx := newFixture(f)
	fx.appendN(f, "o1", 0, 5)
	cp, err := fx.l.Checkpoint(context.Background(), "organizations/o1")
	if err != nil {
		f.Fatal(err)
	}
	var valid bytes.Buffer
	var leaves [][]byte
	for i := range int64(5) {
		b, _ := protojson.Marshal(event("o1", i))
		valid.Write(b)
		valid.WriteByte('\n')
		leaf, _ := ledger.Leaf(event("o1", i))
		leaves = append(leaves, leaf)
	}
	f.Add(valid.Bytes())
	f.Add(append(bytes.Clone(valid.Bytes()), `{"index":"5"}`...))
	f.Add([]byte(`{"index":"0","message":"x"}`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		res, err := ledger.VerifyExport(bytes.NewReader(file), cp.Note, fx.vkey, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK {
			if res.FirstFailed < 0 || res.Reason == "" {
				t.Fatalf("failure without an index or reason: %+v", res)
			}
			return
		}
		// An OK file holds the 5 events' leaves first, in order.
		if res.Checked < 5 || res.Checked-res.Uncovered != 5 {
			t.Fatalf("OK with %d checked, %d uncovered", res.Checked, res.Uncovered)
		}
		var got int
		for line := range bytes.Lines(file) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if got == 5 {
				break
			}
			ev := new(auditv1.AuditEvent)
			if err := protojson.Unmarshal(line, ev); err != nil {
				t.Fatalf("OK with a line that does not parse: %v", err)
			}
			if leaf, _ := ledger.Leaf(ev); !bytes.Equal(leaf, leaves[got]) {
				t.Fatalf("OK with event %d not the logged one", got)
			}
			got++
		}
	})
}

// FuzzOpenCheckpoint feeds arbitrary notes to the checkpoint parser: it must
// not panic, and it may accept only the real checkpoint (the only one signed).
func FuzzOpenCheckpoint(f *testing.F) {
	fx := newFixture(f)
	fx.appendN(f, "o1", 0, 3)
	cp, err := fx.l.Checkpoint(context.Background(), "organizations/o1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cp.Note)
	f.Add(bytes.Replace(cp.Note, []byte("\n3\n"), []byte("\n4\n"), 1))
	f.Add([]byte("steward.dev/audit/organizations/o1\n3\n\n— steward-audit AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := ledger.OpenCheckpoint(msg, fx.verifier)
		if err != nil {
			return
		}
		if got.Size != cp.Size || got.Root != cp.Root || got.Origin != cp.Origin {
			t.Fatalf("accepted a checkpoint stating %d %v %q", got.Size, got.Root, got.Origin)
		}
	})
}
