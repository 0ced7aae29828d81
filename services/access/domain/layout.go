package domain

// The layout of the assignment indexes and its upgrade at open (issue 13):
// the indexes are derived from the assignment records, so a store written
// with an older layout gets them rebuilt from its records.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/store"
)

// indexLayout is the layout of the assignment indexes this code reads and
// writes (keys.go), stored at layoutKey. Layout 1, before issue 13, stored
// no version: its indexes repeated full resource names in every key.
const indexLayout = 2

// oldIndexPrefixes are the key ranges of layout 1's assignment indexes.
var oldIndexPrefixes = []string{"x/principal/", "x/scope/", "x/role/", "x/triple/"}

// rebuildBatch bounds what one transaction of a rebuild deletes (keys) or
// indexes (records), so that a large store is rebuilt in transactions of a
// few megabytes rather than one holding it all (a variable for tests).
var rebuildBatch = 10000

// upgradeIndexes brings the assignment indexes of st to indexLayout. When
// the stored layout is older, or a range of layout 1 holds keys (a binary
// of that layout ran on the store since its upgrade), it deletes every
// index range, old and current, writes every record's index entries again
// and then the layout, each step in transactions of at most rebuildBatch;
// a new store just gets the layout. An interrupted rebuild starts over at
// the next open. A store of a newer layout is refused: this code would
// misread its indexes. It runs before the service serves, so nothing else
// writes meanwhile.
func upgradeIndexes(ctx context.Context, st store.Store, logger *slog.Logger) error {
	var layout uint64
	var old, records bool
	err := st.View(ctx, func(tx store.ReadTx) error {
		var err error
		if layout, err = store.GetUint64(tx, []byte(layoutKey)); err != nil {
			return err
		}
		if old, err = anyKey(tx, oldIndexPrefixes...); err != nil {
			return err
		}
		records, err = anyKey(tx, assignmentPrefix)
		return err
	})
	switch {
	case err != nil:
		return err
	case layout > indexLayout:
		return fmt.Errorf("domain: the store's assignment indexes have layout %d; this version reads layout %d at most", layout, indexLayout)
	case layout == indexLayout && !old:
		return nil
	case layout == 0 && !old && !records: // a new store
		return st.Update(ctx, func(tx store.Tx) error { return store.PutUint64(tx, []byte(layoutKey), indexLayout) })
	}
	start := time.Now()
	for _, p := range append([]string{byPrincipal, byScope, byRole}, oldIndexPrefixes...) {
		if err := deleteRange(ctx, st, p); err != nil {
			return err
		}
	}
	n, err := reindex(ctx, st)
	if err != nil {
		return err
	}
	err = st.Update(ctx, func(tx store.Tx) error { return store.PutUint64(tx, []byte(layoutKey), indexLayout) })
	if err != nil {
		return err
	}
	logger.Info("access: assignment indexes rebuilt", "from_layout", max(layout, 1), "layout", indexLayout, "assignments", n, "duration", time.Since(start))
	return nil
}

// anyKey reports whether a key of tx has one of prefixes.
func anyKey(tx store.ReadTx, prefixes ...string) (bool, error) {
	found := false
	for _, p := range prefixes {
		err := tx.Scan([]byte(p), nil, func(_, _ []byte) (bool, error) {
			found = true
			return false, nil
		})
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// deleteRange deletes every key under prefix, rebuildBatch keys per
// transaction.
func deleteRange(ctx context.Context, st store.Store, prefix string) error {
	for {
		var n int
		err := st.Update(ctx, func(tx store.Tx) error {
			var keys [][]byte
			err := tx.Scan([]byte(prefix), nil, func(k, _ []byte) (bool, error) {
				keys = append(keys, append([]byte(nil), k...))
				return len(keys) < rebuildBatch, nil
			})
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return nil
		})
		if err != nil || n < rebuildBatch {
			return err
		}
	}
}

// reindex writes the index entries of every assignment record,
// rebuildBatch records per transaction, and returns how many it indexed.
func reindex(ctx context.Context, st store.Store) (int, error) {
	var after []byte // the last record key indexed
	total := 0
	for {
		var n int
		var next []byte
		err := st.Update(ctx, func(tx store.Tx) error {
			var start []byte
			if after != nil {
				start = append(append([]byte(nil), after...), 0)
			}
			var as []*accessv1.RoleAssignment
			var last []byte
			err := tx.Scan([]byte(assignmentPrefix), start, func(k, v []byte) (bool, error) {
				a, err := decodeAssignment(k, v)
				if err != nil {
					return false, err
				}
				as = append(as, a)
				last = append(last[:0], k...)
				return len(as) < rebuildBatch, nil
			})
			if err != nil {
				return err
			}
			// Written after the scan: a store's cursor may not survive writes.
			for _, a := range as {
				if err := putIndexEntries(tx, a); err != nil {
					return err
				}
			}
			n, next = len(as), last
			return nil
		})
		if err != nil {
			return total, err
		}
		total, after = total+n, next
		if n < rebuildBatch {
			return total, nil
		}
	}
}
