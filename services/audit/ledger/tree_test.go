package ledger

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestR28StreamingTree: the O(log n) tree Verify and VerifyLeaves recompute
// has tlog.TreeHash's root at every size and makes exactly the hashes
// tlog.StoredHashes stores, at the same indexes.
func TestR28StreamingTree(t *testing.T) {
	stored := map[int64]tlog.Hash{}
	r := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			h, ok := stored[x]
			if !ok {
				return nil, fmt.Errorf("no hash %d", x)
			}
			out[i] = h
		}
		return out, nil
	})
	var tr tree
	if tr.root() != emptyRoot {
		t.Fatal("empty tree root")
	}
	if want, _ := tlog.TreeHash(0, r); want != emptyRoot {
		t.Fatal("tlog's empty root is not SHA-256 of nothing")
	}
	for n := int64(0); n < 600; n++ {
		leaf := fmt.Appendf(nil, "leaf %d", n)
		want, err := tlog.StoredHashes(n, leaf, r)
		if err != nil {
			t.Fatal(err)
		}
		base := tlog.StoredHashIndex(0, n)
		for i, h := range want {
			stored[base+int64(i)] = h
		}
		var got []tlog.Hash
		tr.push(tlog.RecordHash(leaf), func(index int64, h tlog.Hash) bool {
			if index != base+int64(len(got)) {
				t.Fatalf("leaf %d: hash %d made at index %d, want %d", n, len(got), index, base+int64(len(got)))
			}
			got = append(got, h)
			return true
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("leaf %d: made %v, tlog stores %v", n, got, want)
		}
		root, err := tlog.TreeHash(n+1, r)
		if err != nil {
			t.Fatal(err)
		}
		if tr.root() != root {
			t.Fatalf("size %d: root %v, want %v", n+1, tr.root(), root)
		}
	}
}
