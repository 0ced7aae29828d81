package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"steward.dev/pkg/store"
	"steward.dev/services/audit/ledger"
)

// TestR28Verify tampers with the stored events (and the ledger's records) of
// a log of 100 checkpointed events followed by 10 not yet checkpointed, and
// checks that the server-side verification finds each tampering at the
// first index that fails.
func TestR28Verify(t *testing.T) {
	ctx := context.Background()
	const org = "o1"
	log := "organizations/" + org
	const covered, total = 100, 110

	get := func(tx store.Tx, i int64) []byte {
		b, err := tx.Get(eventKey(log, i))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(tx store.Tx, i int64, b []byte) error { return tx.Put(eventKey(log, i), b) }
	leafWith := func(i int64, msg string) []byte {
		ev := event(org, i)
		ev.Message = msg
		b, err := ledger.Leaf(ev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// shift moves events [from, total) by d (-1: delete from; +1: open a
	// hole at from).
	shift := func(tx store.Tx, from int64, d int64) error {
		if d < 0 {
			for i := from; i < total-1; i++ {
				if err := put(tx, i, get(tx, i+1)); err != nil {
					return err
				}
			}
			return tx.Delete(eventKey(log, total-1))
		}
		for i := int64(total - 1); i >= from; i-- {
			if err := put(tx, i+1, get(tx, i)); err != nil {
				return err
			}
		}
		return nil
	}

	for _, tc := range []struct {
		name   string
		tamper func(f *fixture, tx store.Tx) error
		first  int64 // -1: OK
		reason string
	}{
		{"untouched", func(*fixture, store.Tx) error { return nil }, -1, ""},
		{"edited", func(_ *fixture, tx store.Tx) error { return put(tx, 37, leafWith(37, "edited")) }, 37, "differs"},
		{"edited first", func(_ *fixture, tx store.Tx) error { return put(tx, 0, leafWith(0, "edited")) }, 0, "differs"},
		{"edited after the checkpoint", func(_ *fixture, tx store.Tx) error { return put(tx, 105, leafWith(105, "edited")) }, 105, "differs"},
		{"deleted", func(_ *fixture, tx store.Tx) error { return tx.Delete(eventKey(log, 37)) }, 37, "missing"},
		{"deleted, later ones moved down", func(_ *fixture, tx store.Tx) error { return shift(tx, 37, -1) }, 37, "differs"},
		{"reordered", func(_ *fixture, tx store.Tx) error {
			a, b := get(tx, 37), get(tx, 60)
			if err := put(tx, 37, b); err != nil {
				return err
			}
			return put(tx, 60, a)
		}, 37, "differs"},
		{"inserted, later ones moved up", func(_ *fixture, tx store.Tx) error {
			if err := shift(tx, 37, +1); err != nil {
				return err
			}
			return put(tx, 37, leafWith(37, "inserted"))
		}, 37, "differs"},
		{"inserted after the end", func(_ *fixture, tx store.Tx) error { return put(tx, total, leafWith(total, "extra")) }, total, "beyond"},
		{"truncated tail", func(_ *fixture, tx store.Tx) error {
			for i := int64(80); i < total; i++ {
				if err := tx.Delete(eventKey(log, i)); err != nil {
					return err
				}
			}
			return nil
		}, 80, "missing"},
		{"truncated with its size and hashes", func(_ *fixture, tx store.Tx) error {
			for i := int64(80); i < total; i++ {
				if err := tx.Delete(eventKey(log, i)); err != nil {
					return err
				}
			}
			return tx.Put([]byte(ledger.SizePrefix+log), binary.BigEndian.AppendUint64(nil, 80))
		}, 80, "checkpoint 100"},
		{"leaf hash rewritten to match an edit", func(_ *fixture, tx store.Tx) error {
			leaf := leafWith(37, "edited")
			h := tlog.RecordHash(leaf)
			if err := tx.Put(hashKey(log, tlog.StoredHashIndex(0, 37)), h[:]); err != nil {
				return err
			}
			return put(tx, 37, leaf)
		}, 37, "level 1"},
		{"stored interior hash damaged", func(_ *fixture, tx store.Tx) error {
			return tx.Put(hashKey(log, tlog.StoredHashIndex(3, 2)), make([]byte, 32)) // leaves 16..23, completed by 23
		}, 23, "level 3"},
		{"stored hash missing", func(_ *fixture, tx store.Tx) error {
			return tx.Delete(hashKey(log, tlog.StoredHashIndex(0, 50)))
		}, 50, "missing"},
		{"history rewritten with all its hashes", func(f *fixture, tx store.Tx) error {
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
			for i := range int64(total) {
				leaf := get(tx, i)
				if i == 37 {
					leaf = leafWith(37, "edited")
				}
				if _, err := f.l.Append(tx, log, leaf); err != nil {
					return err
				}
				if err := put(tx, i, leaf); err != nil {
					return err
				}
			}
			return nil
		}, 0, "cannot say"},
		{"forged checkpoint", func(_ *fixture, tx store.Tx) error {
			skey, _, err := note.GenerateKey(rand.Reader, ledger.SignerName)
			if err != nil {
				return err
			}
			s, err := note.NewSigner(skey)
			if err != nil {
				return err
			}
			msg, err := note.Sign(&note.Note{Text: ledger.Origin(log) + "\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"}, s)
			if err != nil {
				return err
			}
			return tx.Put([]byte(ledger.CheckpointPrefix+log), msg)
		}, -1, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendN(t, org, 0, covered)
			cp, err := f.l.Checkpoint(ctx, log)
			if err != nil {
				t.Fatal(err)
			}
			f.appendN(t, org, covered, total)
			f.appendN(t, "other", 0, 10)
			f.update(t, func(tx store.Tx) error { return tc.tamper(f, tx) })

			res, err := f.l.Verify(ctx, log, leafOf(log))
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstFailed != tc.first || res.OK != (tc.first == -1 && tc.reason == "") || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("Verify = OK %v, first failed %d, %q; want first failed %d, reason with %q", res.OK, res.FirstFailed, res.Reason, tc.first, tc.reason)
			}
			if res.OK && (res.Checked != total || res.Checkpoint.Size != cp.Size || res.Checkpoint.Root != cp.Root) {
				t.Fatalf("Verify checked %d against %d, want %d against %d", res.Checked, res.Checkpoint.Size, total, cp.Size)
			}
			if !res.OK && tc.first > 0 && res.Checked != tc.first {
				t.Errorf("Checked = %d, want %d (the events before the failure)", res.Checked, tc.first)
			}
			// The other log is untouched.
			if other, err := f.l.Verify(ctx, "organizations/other", leafOf("organizations/other")); err != nil || !other.OK || other.Checked != 10 {
				t.Fatalf("other log: %+v, %v", other, err)
			}
		})
	}
}

// TestR28VerifyWithoutCheckpoint: before the first checkpoint the events are
// checked against the stored hashes; an empty log verifies.
func TestR28VerifyWithoutCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	res, err := f.l.Verify(ctx, "organizations/none", leafOf("organizations/none"))
	if err != nil || !res.OK || res.Checked != 0 {
		t.Fatalf("empty log: %+v, %v", res, err)
	}
	if _, err := f.l.Checkpoint(ctx, "organizations/none"); err != nil {
		t.Fatal(err)
	}
	res, err = f.l.Verify(ctx, "organizations/none", leafOf("organizations/none"))
	if err != nil || !res.OK || res.Checkpoint.Size != 0 {
		t.Fatalf("empty log with a checkpoint: %+v, %v", res, err)
	}

	log := "organizations/o1"
	f.appendN(t, "o1", 0, 9)
	if res, err := f.l.Verify(ctx, log, leafOf(log)); err != nil || !res.OK || res.Checked != 9 {
		t.Fatalf("%+v, %v", res, err)
	}
	f.update(t, func(tx store.Tx) error { return tx.Put(eventKey(log, 4), []byte("edited")) })
	if res, err := f.l.Verify(ctx, log, leafOf(log)); err != nil || res.OK || res.FirstFailed != 4 {
		t.Fatalf("%+v, %v", res, err)
	}
}

// hashKey mirrors the ledger's stored hash key, for tampering.
func hashKey(log string, index int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(ledger.HashPrefix+log+"/"), uint64(index))
}

// TestR28VerifyPurgedPrefix: leaves purged by retention (ledger.ErrPurged)
// are verified by their stored hashes. A purged prefix passes; a damaged
// stored hash in it, a purged leaf after a kept one, and an edit after the
// purge each fail at their index.
func TestR28VerifyPurgedPrefix(t *testing.T) {
	ctx := context.Background()
	log := "organizations/o1"
	for _, tc := range []struct {
		name   string
		purged func(i int64) bool
		tamper func(tx store.Tx) error
		first  int64 // -1: OK
		reason string
	}{
		{"first 40 purged", func(i int64) bool { return i < 40 }, nil, -1, ""},
		{"every covered event purged", func(i int64) bool { return i < 100 }, nil, -1, ""},
		{"damaged hash of a purged event", func(i int64) bool { return i < 40 },
			func(tx store.Tx) error {
				return tx.Put(hashKey(log, tlog.StoredHashIndex(0, 12)), make([]byte, 32))
			}, 13, "purged event 13"},
		{"purged after a kept one", func(i int64) bool { return i < 40 || i == 50 }, nil, 50, "retention purges only the oldest"},
		{"edited after the purge", func(i int64) bool { return i < 40 },
			func(tx store.Tx) error {
				ev := event("o1", 60)
				ev.Message = "edited"
				b, err := ledger.Leaf(ev)
				if err != nil {
					return err
				}
				return tx.Put(eventKey(log, 60), b)
			}, 60, "differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendN(t, "o1", 0, 100)
			if _, err := f.l.Checkpoint(ctx, log); err != nil {
				t.Fatal(err)
			}
			f.appendN(t, "o1", 100, 110)
			f.update(t, func(tx store.Tx) error {
				for i := range int64(110) {
					if tc.purged(i) {
						if err := tx.Delete(eventKey(log, i)); err != nil {
							return err
						}
					}
				}
				if tc.tamper != nil {
					return tc.tamper(tx)
				}
				return nil
			})
			res, err := f.l.Verify(ctx, log, func(tx store.ReadTx, i int64) ([]byte, error) {
				if tc.purged(i) {
					return nil, ledger.ErrPurged
				}
				return tx.Get(eventKey(log, i))
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstFailed != tc.first || res.OK != (tc.first == -1) || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("Verify = OK %v, first failed %d, %q", res.OK, res.FirstFailed, res.Reason)
			}
			if res.OK && res.Checked != 110 {
				t.Fatalf("checked %d, want 110", res.Checked)
			}
		})
	}
}
