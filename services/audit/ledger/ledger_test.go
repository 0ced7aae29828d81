package ledger_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// TestR28CheckpointsAndProofs appends leaves one size at a time, across
// powers of two and their neighbours, and checks at each size that the signed
// checkpoint opens with the verifier and states RFC 6962's root, that every
// leaf's inclusion proof checks (tlog.CheckRecord), and that the tree is
// consistent with every earlier checkpoint (tlog.CheckTree).
func TestR28CheckpointsAndProofs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const org = "o1"
	log := "organizations/" + org
	sizes := []int64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 200}
	all := leafHashes(t, org, sizes[len(sizes)-1])

	var earlier []ledger.Checkpoint
	var n int64
	for _, size := range sizes {
		f.appendN(t, org, n, size)
		n = size

		cp, err := f.l.Checkpoint(ctx, log)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := note.Open(cp.Note, note.VerifierList(f.verifier))
		if err != nil {
			t.Fatalf("size %d: note.Open: %v", size, err)
		}
		if want := ledger.Origin(log) + "\n"; opened.Text[:len(want)] != want {
			t.Fatalf("size %d: checkpoint text %q does not begin with the origin line", size, opened.Text)
		}
		if cp.Size != size || cp.Origin != "steward.dev/audit/organizations/o1" {
			t.Fatalf("checkpoint = %d %q, want %d", cp.Size, cp.Origin, size)
		}
		if want := mth(all[:size]); cp.Root != want {
			t.Fatalf("size %d: root %v, want %v", size, cp.Root, want)
		}
		if root, err := f.l.RootAt(ctx, log, size); err != nil || root != cp.Root {
			t.Fatalf("RootAt(%d) = %v, %v", size, root, err)
		}

		for i := range size {
			proof, leaf, err := f.l.ProveInclusion(ctx, log, i, size)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", i, size, err)
			}
			if leaf != all[i] {
				t.Fatalf("ProveInclusion(%d, %d) leaf hash %v, want %v", i, size, leaf, all[i])
			}
			if err := tlog.CheckRecord(proof, size, cp.Root, i, leaf); err != nil {
				t.Fatalf("CheckRecord(%d in %d): %v", i, size, err)
			}
			// The proof of leaf i is no proof of another leaf.
			if err := tlog.CheckRecord(proof, size, cp.Root, i, all[(i+1)%size]); size > 1 && err == nil {
				t.Fatalf("CheckRecord(%d in %d) accepted another leaf", i, size)
			}
		}
		for _, old := range earlier {
			proof, err := f.l.ProveConsistency(ctx, log, old.Size, size)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", old.Size, size, err)
			}
			if err := tlog.CheckTree(proof, size, cp.Root, old.Size, old.Root); err != nil {
				t.Fatalf("CheckTree(%d, %d): %v", old.Size, size, err)
			}
		}
		earlier = append(earlier, cp)
	}
}

// TestR28CheckpointSignsOnlyOnGrowth: a log that did not grow keeps its
// checkpoint; one that grew gets a new one; Stale lists the grown logs; an
// empty log gets a checkpoint of size 0 with the empty tree's root.
func TestR28CheckpointSignsOnlyOnGrowth(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	empty, err := f.l.Checkpoint(ctx, "organizations/empty")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Size != 0 || empty.Root != mth(nil) {
		t.Fatalf("empty checkpoint = %d %v", empty.Size, empty.Root)
	}
	if _, err := note.Open(empty.Note, note.VerifierList(f.verifier)); err != nil {
		t.Fatal(err)
	}

	f.appendN(t, "a", 0, 3)
	f.appendN(t, "b", 0, 5)
	stale, err := f.l.Stale(ctx)
	if err != nil || len(stale) != 2 || stale[0] != "organizations/a" || stale[1] != "organizations/b" {
		t.Fatalf("Stale = %q, %v", stale, err)
	}
	a1, err := f.l.Checkpoint(ctx, "organizations/a")
	if err != nil {
		t.Fatal(err)
	}
	if stale, _ := f.l.Stale(ctx); len(stale) != 1 || stale[0] != "organizations/b" {
		t.Fatalf("Stale after checkpointing a = %q", stale)
	}
	a2, err := f.l.Checkpoint(ctx, "organizations/a")
	if err != nil || string(a2.Note) != string(a1.Note) {
		t.Fatalf("second checkpoint without growth changed: %v\n%s\n%s", err, a1.Note, a2.Note)
	}
	f.appendN(t, "a", 3, 4)
	if stale, _ := f.l.Stale(ctx); len(stale) != 2 {
		t.Fatalf("Stale after growth = %q", stale)
	}
	a3, err := f.l.Checkpoint(ctx, "organizations/a")
	if err != nil || a3.Size != 4 {
		t.Fatalf("checkpoint after growth = %d, %v", a3.Size, err)
	}
	err = f.st.View(ctx, func(tx store.ReadTx) error {
		latest, ok, err := f.l.Latest(tx, "organizations/a")
		if err != nil || !ok || string(latest.Note) != string(a3.Note) {
			t.Errorf("Latest = %v %v %v", latest.Size, ok, err)
		}
		_, ok, err = f.l.Latest(tx, "organizations/none")
		if err != nil || ok {
			t.Errorf("Latest of a log without checkpoint = %v, %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestR28ProofRanges: proofs outside the log are ErrOutOfRange.
func TestR28ProofRanges(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendN(t, "o1", 0, 10)
	log := "organizations/o1"
	for _, c := range []struct{ index, n int64 }{{-1, 5}, {5, 5}, {0, 11}, {0, 0}} {
		if _, _, err := f.l.ProveInclusion(ctx, log, c.index, c.n); !errors.Is(err, ledger.ErrOutOfRange) {
			t.Errorf("ProveInclusion(%d, %d) = %v", c.index, c.n, err)
		}
	}
	for _, c := range []struct{ n, m int64 }{{0, 5}, {6, 5}, {5, 11}} {
		if _, err := f.l.ProveConsistency(ctx, log, c.n, c.m); !errors.Is(err, ledger.ErrOutOfRange) {
			t.Errorf("ProveConsistency(%d, %d) = %v", c.n, c.m, err)
		}
	}
	if p, err := f.l.ProveConsistency(ctx, log, 10, 10); err != nil || len(p) != 0 {
		t.Errorf("ProveConsistency(10, 10) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "a b", "a\nb"} {
		err := f.st.Update(ctx, func(tx store.Tx) error { _, err := f.l.Append(tx, bad, []byte("x")); return err })
		if err == nil {
			t.Errorf("Append to log %q succeeded", bad)
		}
	}
}

// TestR28ConsistencyFailsAfterRewrite: a tree rebuilt with one leaf changed
// under the same log gives no consistency proof that checks against the
// checkpoint signed before, and the ledger refuses to sign over it.
func TestR28ConsistencyFailsAfterRewrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		changed      int64 // the leaf rewritten
		old, rebuilt int64 // checkpoint size before, size of the rebuilt tree
	}{
		{"first leaf", 0, 30, 50},
		{"middle leaf", 10, 30, 50},
		{"last leaf of the old tree", 29, 30, 50},
		{"power of two", 7, 8, 16},
		{"same size", 3, 20, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			log := "organizations/o1"
			f.appendN(t, "o1", 0, tc.old)
			old, err := f.l.Checkpoint(ctx, log)
			if err != nil {
				t.Fatal(err)
			}

			// Rebuild the tree under the same log: drop every stored hash
			// and the size, then append a history with one leaf changed.
			f.update(t, func(tx store.Tx) error {
				var keys [][]byte
				err := tx.Scan([]byte(ledger.HashPrefix+log+"/"), nil, func(k, _ []byte) (bool, error) {
					keys = append(keys, append([]byte(nil), k...))
					return true, nil
				})
				if err != nil {
					return err
				}
				for _, k := range append(keys, []byte(ledger.SizePrefix+log)) {
					if err := tx.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			for i := range tc.rebuilt {
				ev := event("o1", i)
				if i == tc.changed {
					ev.Message = "rewritten"
				}
				f.appendEvents(t, log, ev)
			}

			root, err := f.l.RootAt(ctx, log, tc.rebuilt)
			if err != nil {
				t.Fatal(err)
			}
			proof, err := f.l.ProveConsistency(ctx, log, tc.old, tc.rebuilt)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(proof, tc.rebuilt, root, tc.old, old.Root); err == nil {
				t.Fatal("consistency proof of a rewritten history checked against the old checkpoint")
			}
			// The ledger does not sign over it. (At the same size it keeps
			// answering with the checkpoint it signed; Verify reports the
			// rewrite.)
			cp, err := f.l.Checkpoint(ctx, log)
			if tc.rebuilt > tc.old && !errors.Is(err, ledger.ErrTampered) {
				t.Fatalf("Checkpoint over a rewritten history = %v, want ErrTampered", err)
			}
			if tc.rebuilt == tc.old && (err != nil || string(cp.Note) != string(old.Note)) {
				t.Fatalf("Checkpoint at the same size = %v, want the old checkpoint", err)
			}
		})
	}
}

// TestR28ForgedStoredCheckpoint: a stored checkpoint whose signature does
// not verify is ErrTampered, and is not replaced.
func TestR28ForgedStoredCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	log := "organizations/o1"
	f.appendN(t, "o1", 0, 5)
	if _, err := f.l.Checkpoint(ctx, log); err != nil {
		t.Fatal(err)
	}
	// Another key of the same name signs a checkpoint stating another root.
	skey, _, err := note.GenerateKey(rand.Reader, ledger.SignerName)
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := ledger.New(f.st, other).Checkpoint(ctx, "organizations/x")
	if err != nil {
		t.Fatal(err)
	}
	f.update(t, func(tx store.Tx) error { return tx.Put([]byte(ledger.CheckpointPrefix+log), forged.Note) })
	f.appendN(t, "o1", 5, 6)
	if _, err := f.l.Checkpoint(ctx, log); !errors.Is(err, ledger.ErrTampered) {
		t.Fatalf("Checkpoint with a forged stored checkpoint = %v", err)
	}
}

// TestR28LoadSignerStable: the signer is created once and survives a
// restart (a reopened bbolt file); concurrent first calls agree.
func TestR28LoadSignerStable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	st := openStore(t, path, false)

	var wg sync.WaitGroup
	keys := make([]string, 8)
	for i := range keys {
		wg.Go(func() {
			_, _, vkey, err := ledger.LoadSigner(ctx, st)
			if err != nil {
				t.Error(err)
			}
			keys[i] = vkey
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("concurrent LoadSigner returned different keys: %q", keys)
		}
	}
	signer, verifier, vkey, err := ledger.LoadSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if vkey != keys[0] || verifier.Name() != "steward-audit" || signer.Name() != "steward-audit" || signer.KeyHash() != verifier.KeyHash() {
		t.Fatalf("LoadSigner = %q %q %q", vkey, verifier.Name(), signer.Name())
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, path, false)
	defer st.Close()
	_, verifier2, vkey2, err := ledger.LoadSigner(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if vkey2 != vkey {
		t.Fatalf("verifier key after reopen %q, want %q", vkey2, vkey)
	}
	fromText, err := note.NewVerifier(vkey2)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []note.Verifier{verifier2, fromText} {
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("signature from before the restart: %v", err)
		}
	}

	// A corrupt stored key is an error, and is left as it is.
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte(ledger.SignerKey), []byte("garbage")) }); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := ledger.LoadSigner(ctx, st); err == nil {
		t.Fatal("LoadSigner accepted a corrupt key")
	}
}

// TestR28NewWithPlainSigner: a ledger given a plain note signer verifies its
// own checkpoints by re-signing.
func TestR28NewWithPlainSigner(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, ledger.SignerName)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(f.st, signer)
	f.appendN(t, "o1", 0, 3)
	if _, err := l.Checkpoint(ctx, "organizations/o1"); err != nil {
		t.Fatal(err)
	}
	f.appendN(t, "o1", 3, 4)
	cp, err := l.Checkpoint(ctx, "organizations/o1") // Latest verifies the first
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	if _, err := ledger.OpenCheckpoint(cp.Note, v); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenCheckpoint(cp.Note, f.verifier); err == nil {
		t.Fatal("checkpoint opened with another key")
	}
}

// TestR28AppendEvent: AppendEvent numbers the events, names them, and
// appends their leaves; a Verify that reads the stored events back (as the
// audit service does) passes, and catches an edit.
func TestR28AppendEvent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	log := "organizations/o1"
	key := func(i int64) []byte { return eventKey(log, i) }
	for range 3 {
		f.update(t, func(tx store.Tx) error {
			for range 4 {
				ev := event("o1", 99)
				ev.Name, ev.Index = "", 0
				leaf, err := f.l.AppendEvent(tx, log, ev)
				if err != nil {
					return err
				}
				if want, _ := ledger.Leaf(ev); string(leaf) != string(want) {
					t.Errorf("event %d: leaf differs from Leaf(ev)", ev.Index)
				}
				if ev.Name != ledger.EventName(log, ev.Index) || ev.Name != "organizations/o1/auditEvents/"+strconv.FormatInt(ev.Index, 10) {
					t.Errorf("event %d named %q", ev.Index, ev.Name)
				}
				if err := store.PutProto(tx, key(ev.Index), ev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if _, err := f.l.Checkpoint(ctx, log); err != nil {
		t.Fatal(err)
	}
	readEvent := func(tx store.ReadTx, i int64) ([]byte, error) {
		ev := new(auditv1.AuditEvent)
		if err := store.GetProto(tx, key(i), ev); err != nil {
			return nil, err
		}
		if ev.Index != i {
			t.Errorf("stored event %d has index %d", i, ev.Index)
		}
		return ledger.Leaf(ev)
	}
	if res, err := f.l.Verify(ctx, log, readEvent); err != nil || !res.OK || res.Checked != 12 {
		t.Fatalf("%+v, %v", res, err)
	}
	f.update(t, func(tx store.Tx) error {
		ev := new(auditv1.AuditEvent)
		if err := store.GetProto(tx, key(5), ev); err != nil {
			return err
		}
		ev.Actor = "organizations/o1/users/mallory"
		return store.PutProto(tx, key(5), ev)
	})
	if res, err := f.l.Verify(ctx, log, readEvent); err != nil || res.OK || res.FirstFailed != 5 {
		t.Fatalf("%+v, %v", res, err)
	}
}

// TestR28EmptyCheckpointNotStored: the checkpoint of a log never appended to
// is signed on demand, not stored.
func TestR28EmptyCheckpointNotStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, err := f.l.Checkpoint(ctx, "organizations/none")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.l.Checkpoint(ctx, "organizations/none")
	if err != nil || string(a.Note) != string(b.Note) {
		t.Fatalf("two checkpoints of the empty log differ: %v", err)
	}
	err = f.st.View(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte("ledger/"), nil, func(k, _ []byte) (bool, error) {
			if string(k) != ledger.SignerKey {
				t.Errorf("stored %q", k)
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
