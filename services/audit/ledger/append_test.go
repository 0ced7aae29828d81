package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"steward.dev/pkg/store"
)

// TestR28AppendBatchesKeepTheTree appends, in transactions of several
// sizes, to two logs in turn, with a transaction rolled back in between and
// one Tx value used again by a retried transaction (as an optimistic
// backend might): the appends of one transaction share the trees' right
// edges, and after each batch every tree must still be the one its leaves
// make, its stored hashes tlog's (proofs check out at every size).
func TestR28AppendBatchesKeepTheTree(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	logs := []string{"organizations/o1", "organizations/o2"}
	hashes := map[string][]tlog.Hash{}
	attempt := 0 // leaves differ from one transaction to the next
	leaf := func(log string, i int) []byte { return fmt.Appendf(nil, "%s leaf %d, attempt %d", log, i, attempt) }
	appendAll := func(tx store.Tx, n int) error {
		attempt++
		for range n {
			for _, log := range logs {
				i, err := f.l.Append(tx, log, leaf(log, len(hashes[log])))
				if err != nil {
					return err
				}
				if want := int64(len(hashes[log])); i != want {
					return fmt.Errorf("%s: appended at %d, want %d", log, i, want)
				}
				hashes[log] = append(hashes[log], tlog.RecordHash(leaf(log, int(i))))
			}
		}
		return nil
	}
	check := func(when string) {
		t.Helper()
		for _, log := range logs {
			n := int64(len(hashes[log]))
			for _, m := range []int64{1, n / 2, n - 1, n} {
				if m < 1 {
					continue
				}
				root, err := f.l.RootAt(ctx, log, m)
				if err != nil {
					t.Fatal(err)
				}
				if want := mth(hashes[log][:m]); root != want {
					t.Fatalf("%s: %s: root of size %d = %x, want %x", when, log, m, root, want)
				}
				proof, lh, err := f.l.ProveInclusion(ctx, log, m-1, n)
				if err != nil {
					t.Fatal(err)
				}
				if err := tlog.CheckRecord(proof, n, mth(hashes[log]), m-1, lh); err != nil || lh != hashes[log][m-1] {
					t.Fatalf("%s: %s: inclusion of %d in %d: %v", when, log, m-1, n, err)
				}
			}
		}
	}
	for _, n := range []int{1, 2, 3, 7, 64, 255, 256, 1} {
		f.update(t, func(tx store.Tx) error { return appendAll(tx, n) })
		check(fmt.Sprintf("after a batch of %d", n))
	}

	// rolledBack appends n leaves to each log in a transaction that rolls
	// back, through the Tx as as returns it, and forgets them.
	rolledBack := func(as func(tx store.Tx) store.Tx, n int) {
		t.Helper()
		saved := map[string]int{}
		for _, log := range logs {
			saved[log] = len(hashes[log])
		}
		errBack := errors.New("roll back")
		if err := f.st.Update(ctx, func(tx store.Tx) error {
			if err := appendAll(as(tx), n); err != nil {
				return err
			}
			return errBack
		}); !errors.Is(err, errBack) {
			t.Fatal(err)
		}
		for _, log := range logs {
			hashes[log] = hashes[log][:saved[log]:saved[log]]
		}
	}

	// A rolled-back transaction leaves nothing behind, cache included.
	rolledBack(func(tx store.Tx) store.Tx { return tx }, 5)
	f.update(t, func(tx store.Tx) error { return appendAll(tx, 3) })
	check("after a rollback")

	// One Tx value over two transactions: the first rolled back.
	reused := &retriedTx{}
	rolledBack(func(tx store.Tx) store.Tx { reused.Tx = tx; return reused }, 6)
	f.update(t, func(tx store.Tx) error {
		reused.Tx = tx
		return appendAll(reused, 9)
	})
	check("after a retry with the same Tx")
}

// retriedTx is one Tx value a backend hands to each attempt of a
// transaction.
type retriedTx struct{ store.Tx }
