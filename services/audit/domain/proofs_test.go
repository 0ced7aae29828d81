package domain_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// checkpoint returns org's latest checkpoint, its signature checked.
func (f *fixture) checkpoint(t testing.TB, org string) *auditv1.Checkpoint {
	t.Helper()
	cp, err := f.d.GetAuditCheckpoint(context.Background(), service, org+"/auditCheckpoint")
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(f.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(cp.GetSignedNote()), note.VerifierList(v)); err != nil {
		t.Fatalf("checkpoint note: %v", err)
	}
	return cp
}

// R28: the checkpoint covers every recorded event; an inclusion proof
// links each stored event to its signed root, and a consistency proof
// links an older checkpoint to a newer one.
func TestCheckpointsAndProofs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{})
	population(t, f, 37)
	cp1 := f.checkpoint(t, org)
	if cp1.GetTreeSize() != 37 || cp1.GetOrigin() != "steward.dev/audit/"+org || len(cp1.GetRootHash()) != 32 {
		t.Fatalf("checkpoint = %v", cp1)
	}
	population(t, f, 20)
	cp2 := f.checkpoint(t, org)
	if cp2.GetTreeSize() != 57 {
		t.Fatalf("second checkpoint size %d", cp2.GetTreeSize())
	}
	for _, tc := range []struct {
		index, size int64
		root        []byte
	}{{0, 0, cp2.GetRootHash()}, {36, 37, cp1.GetRootHash()}, {36, 0, cp2.GetRootHash()}, {56, 57, cp2.GetRootHash()}, {5, 37, cp1.GetRootHash()}} {
		name := fmt.Sprintf("%s/auditEvents/%d", org, tc.index)
		p, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: name, TreeSize: tc.size})
		if err != nil {
			t.Fatalf("%s in %d: %v", name, tc.size, err)
		}
		ev, err := f.d.GetAuditEvent(ctx, auditor, name)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ledger.Leaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		if tlog.RecordHash(leaf) != tlog.Hash(p.GetLeafHash()) {
			t.Errorf("%s: the proof's leaf hash is not the stored event's", name)
		}
		var proof tlog.RecordProof
		for _, h := range p.GetHashes() {
			proof = append(proof, tlog.Hash(h))
		}
		if err := tlog.CheckRecord(proof, p.GetTreeSize(), tlog.Hash(tc.root), tc.index, tlog.RecordHash(leaf)); err != nil {
			t.Errorf("%s in %d: %v", name, p.GetTreeSize(), err)
		}
	}
	cons, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: 37})
	if err != nil {
		t.Fatal(err)
	}
	var tp tlog.TreeProof
	for _, h := range cons.GetHashes() {
		tp = append(tp, tlog.Hash(h))
	}
	if cons.GetSecondTreeSize() != 57 || tlog.CheckTree(tp, 57, tlog.Hash(cp2.GetRootHash()), 37, tlog.Hash(cp1.GetRootHash())) != nil {
		t.Errorf("consistency proof 37 -> %d does not check", cons.GetSecondTreeSize())
	}

	// Errors: sizes beyond the checkpoint, sizes that do not hold the
	// event, other organizations, missing events.
	population(t, f, 1) // recorded, not yet checkpointed: 58 events, checkpoint 57 until asked
	for _, tc := range []struct {
		name  string
		err   func() error
		check func(error) bool
	}{
		{"tree size beyond", func() error {
			_, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: org + "/auditEvents/1", TreeSize: 1000})
			return err
		}, func(err error) bool {
			return errors.Is(err, domain.ErrTreeSizeUnavailable) && domain.MetadataOf(err)["tree_size"] == "1000"
		}},
		{"tree size not holding the event", func() error {
			_, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: org + "/auditEvents/10", TreeSize: 10})
			return err
		}, isFieldError("tree_size")},
		{"missing event", func() error {
			_, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: org + "/auditEvents/500"})
			return err
		}, is(domain.ErrNotFound)},
		{"another organization's event", func() error {
			_, err := f.d.GetInclusionProof(ctx, auditor, &auditv1.GetInclusionProofRequest{Name: other + "/auditEvents/0"})
			return err
		}, is(domain.ErrNotFound)},
		{"second size beyond", func() error {
			_, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: 1, SecondTreeSize: 59})
			return err
		}, is(domain.ErrTreeSizeUnavailable)},
		{"first above second", func() error {
			_, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: 40, SecondTreeSize: 30})
			return err
		}, isFieldError("first_tree_size")},
		{"first beyond the latest", func() error {
			_, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: org, FirstTreeSize: 400})
			return err
		}, is(domain.ErrTreeSizeUnavailable)},
		{"another organization's proof", func() error {
			_, err := f.d.GetConsistencyProof(ctx, auditor, &auditv1.GetConsistencyProofRequest{Parent: other, FirstTreeSize: 1})
			return err
		}, is(domain.ErrNotFound)},
		{"another organization's checkpoint", func() error {
			_, err := f.d.GetAuditCheckpoint(ctx, auditor, other+"/auditCheckpoint")
			return err
		}, is(domain.ErrNotFound)},
		{"another organization's verification", func() error {
			_, err := f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: other})
			return err
		}, is(domain.ErrNotFound)},
	} {
		if err := tc.err(); !tc.check(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func isFieldError(field string) func(error) bool {
	return func(err error) bool {
		var fe *records.FieldError
		return errors.As(err, &fe) && fe.Field == field
	}
}

// R28: the periodic checkpointer signs every log that grew, and only those.
func TestCheckpointStale(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{})
	population(t, f, 15) // org and other
	f.apply("directory", f.event("directory", "directory.signing_keys.rotated", "", &eventlogv1.AuditEnvelope{}))
	if n, err := f.d.Checkpoint(ctx); n != 3 || err != nil {
		t.Errorf("Checkpoint = %d, %v; want 3 logs signed", n, err)
	}
	if n, err := f.d.Checkpoint(ctx); n != 0 || err != nil {
		t.Errorf("Checkpoint again = %d, %v; want none", n, err)
	}
	f.apply("access", f.event("access", "access.role.created", org+"/roles/r", &eventlogv1.AuditEnvelope{}))
	if n, err := f.d.Checkpoint(ctx); n != 1 || err != nil {
		t.Errorf("Checkpoint after one event of %s = %d, %v; want 1", org, n, err)
	}
}

// R28: the record cannot be altered unnoticed: VerifyAuditLog checks every
// stored event against the signed tree and names the first altered one.
func TestVerifyAuditLog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{})
	population(t, f, 50)
	f.checkpoint(t, org)
	res, err := f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !res.GetOk() || res.GetEventsChecked() != 50 || res.GetFirstFailedIndex() != -1 || res.GetCheckpoint().GetTreeSize() != 50 {
		t.Fatalf("VerifyAuditLog = %v, %v", res, err)
	}
	// Someone with the database file changes event 17's actor.
	key := binary.BigEndian.AppendUint64([]byte("ev/"+org+"/"), 17)
	if err := f.st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(key)
		if err != nil {
			return err
		}
		ev := &auditv1.AuditEvent{}
		if err := unmarshal(b, ev); err != nil {
			return err
		}
		ev.Actor = "organizations/o1/users/innocent"
		b, _ = store.Marshal(ev)
		return tx.Put(key, b)
	}); err != nil {
		t.Fatal(err)
	}
	res, err = f.d.VerifyAuditLog(ctx, auditor, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || res.GetOk() || res.GetFirstFailedIndex() != 17 || res.GetFailure() == "" {
		t.Errorf("VerifyAuditLog after an edit = %v, %v; want failing at 17", res, err)
	}
	// An organization without events verifies (nothing to check).
	res, err = f.d.VerifyAuditLog(ctx, service, &auditv1.VerifyAuditLogRequest{Parent: "organizations/empty"})
	if err != nil || !res.GetOk() || res.GetEventsChecked() != 0 {
		t.Errorf("VerifyAuditLog of an empty log = %v, %v", res, err)
	}
}
