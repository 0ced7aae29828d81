package ledger

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"steward.dev/pkg/store"
)

// Result is a verification's outcome.
type Result struct {
	// OK is true when every leaf checked matches the checkpoint.
	OK bool
	// Checked is the number of leaves checked, purged ones (Purged)
	// included.
	Checked int64
	// FirstFailed is the first index that fails; -1 when OK, and when the
	// failure concerns no leaf (the checkpoint itself is refused). When a
	// failure cannot be localised (the leaves do not make the signed root,
	// and nothing authentic says which one differs), it is 0 and Reason
	// says so. Ledger.Verify, and VerifyLeaves given the log's leaf hashes,
	// prove every leaf before it; VerifyLeaves without them names the first
	// index where the file shows tampering, but proves no leaf unless all do.
	FirstFailed int64
	// Reason says why it failed, for people; empty when OK.
	Reason string
	// Checkpoint is the checkpoint verified against.
	Checkpoint Checkpoint
	// Purged is the number of leaves before the first one kept: leaves
	// purged by retention, of which only the stored hashes remain. Their
	// hashes are checked (they must make the signed root with the rest), not
	// their contents.
	Purged int64
	// Uncovered is the number of leaves after the checkpoint's size that
	// VerifyLeaves read but no checkpoint covers (their indexes are checked,
	// their contents cannot be).
	Uncovered int64
}

// fail sets r to a failure at index.
func (r *Result) fail(index int64, format string, args ...any) {
	r.OK = false
	r.FirstFailed = index
	r.Reason = fmt.Sprintf(format, args...)
}

// tree computes the Merkle tree hash (RFC 6962) of a stream of leaf hashes
// in O(log n) memory: a stack of the hashes of its complete subtrees, largest
// first.
type tree struct {
	n     int64
	stack []node
}

// node is a complete subtree: its hash and level (2^level leaves).
type node struct {
	hash  tlog.Hash
	level int
}

// push adds the leaf hash h as leaf t.n, calling stored (when not nil) with
// each hash tlog.StoredHashes stores for that leaf: its own at level 0, then
// the subtrees it completes, in that order.
func (t *tree) push(h tlog.Hash, stored func(index int64, h tlog.Hash) bool) bool {
	n := t.n
	t.n++
	t.stack = append(t.stack, node{h, 0})
	if stored != nil && !stored(tlog.StoredHashIndex(0, n), h) {
		return false
	}
	for len(t.stack) >= 2 {
		a, b := t.stack[len(t.stack)-2], t.stack[len(t.stack)-1]
		if a.level != b.level {
			break
		}
		p := node{tlog.NodeHash(a.hash, b.hash), a.level + 1}
		t.stack = append(t.stack[:len(t.stack)-2], p)
		if stored != nil && !stored(tlog.StoredHashIndex(p.level, (n+1)>>p.level-1), p.hash) {
			return false
		}
	}
	return true
}

// root returns the tree hash of the leaves pushed so far.
func (t *tree) root() tlog.Hash {
	if len(t.stack) == 0 {
		return emptyRoot
	}
	h := t.stack[len(t.stack)-1].hash
	for i := len(t.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.stack[i].hash, h)
	}
	return h
}

// ErrPurged is what a Verify leaf function returns for a leaf purged by
// retention: its stored hash stands in for it.
var ErrPurged = errors.New("ledger: leaf purged by retention")

// Verify re-reads every leaf of log through leaf (the caller's stored events;
// store.ErrNotFound for a missing one, ErrPurged for one purged by retention)
// in index order, inside one read
// transaction, recomputes the tree from the leaves alone (not from stored
// hashes), and checks it against log's latest signed checkpoint (signature
// verified with the ledger's verifier, without signing a new one).
//
// Every hash the recomputation makes is compared with the one stored for it
// (the leaf's hash at level 0 and each subtree it completes), so the first
// index whose leaf differs from the one appended is FirstFailed, for leaves
// covered by the checkpoint and beyond it alike; an event missing, or a log
// whose recorded size is below its checkpoint's (a truncated log) fails at the
// first missing index; an event stored beyond the log's size fails at that
// index. When every leaf agrees with the stored hashes but the recomputed root
// of the checkpoint's size is not the checkpoint's, leaves and hashes were
// rewritten together: the only authentic reference left is the signed root,
// which cannot say which leaf changed, so FirstFailed is 0 and Reason says so.
// A stored checkpoint that does not verify fails with FirstFailed -1.
//
// Purged leaves may only be a prefix of the log (retention purges oldest
// first): for each, the stored leaf hash is pushed instead of the leaf's, so
// the subtrees it completes are still recomputed and compared, and the root
// still checked against the checkpoint; Purged counts them. A purged leaf
// after a kept one fails at its index. Without
// a checkpoint yet, the leaves are checked against the stored hashes only.
//
// The error is for failures to read (an error from leaf other than
// store.ErrNotFound among them), not for tampering, which the Result reports.
func (l *Ledger) Verify(ctx context.Context, log string, leaf func(tx store.ReadTx, index int64) ([]byte, error)) (Result, error) {
	if err := checkLog(log); err != nil {
		return Result{}, err
	}
	res := Result{OK: true, FirstFailed: -1}
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		res = Result{OK: true, FirstFailed: -1}
		cp, hasCP, err := l.Latest(tx, log)
		if errors.Is(err, ErrTampered) {
			res.fail(-1, "%v", err)
			return nil
		}
		if err != nil {
			return err
		}
		res.Checkpoint = cp
		n, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		if hasCP && cp.Size == 0 && cp.Root != emptyRoot {
			res.fail(0, "the checkpoint of size 0 has a root other than the empty tree's")
			return nil
		}
		total := max(n, cp.Size)
		var (
			t        tree
			mismatch string
			readErr  error
		)
		compare := func(index int64, h tlog.Hash) bool {
			stored, err := tx.Get(hashKey(log, index))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				readErr = err
				return false
			}
			if err == nil && len(stored) == tlog.HashSize && tlog.Hash(stored) == h {
				return true
			}
			level, k := tlog.SplitStoredHashIndex(index)
			switch {
			case err != nil:
				mismatch = fmt.Sprintf("the stored hash of node %d at level %d is missing", k, level)
			case level == 0:
				mismatch = "the event's hash differs from the one recorded when it was appended"
			default:
				mismatch = fmt.Sprintf("the recomputed hash of node %d at level %d differs from the stored one", k, level)
			}
			return false
		}
		for i := int64(0); i < total; i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if i >= n {
				res.fail(i, "the log records %d events, its signed checkpoint %d: events from %d are missing", n, cp.Size, i)
				return nil
			}
			b, err := leaf(tx, i)
			if errors.Is(err, ErrPurged) {
				if res.Purged != i {
					res.fail(i, "event %d is reported purged, but event %d before it is kept: retention purges only the oldest events", i, res.Purged)
					return nil
				}
				h, err := readHash(tx, log, tlog.StoredHashIndex(0, i))
				if err != nil {
					res.fail(i, "event %d was purged and its stored hash is gone: %v", i, err)
					return nil
				}
				res.Purged++
				if !t.push(h, compare) {
					if readErr != nil {
						return readErr
					}
					res.fail(i, "purged event %d: %s", i, mismatch)
					return nil
				}
				res.Checked = i + 1
				if hasCP && t.n == cp.Size && t.root() != cp.Root {
					res.fail(0, "the stored hashes of the purged events do not make the signed checkpoint of size %d", cp.Size)
					return nil
				}
				continue
			}
			if errors.Is(err, store.ErrNotFound) {
				res.fail(i, "event %d is missing", i)
				return nil
			}
			if err != nil {
				return fmt.Errorf("ledger: verify %s: read event %d: %w", log, i, err)
			}
			if !t.push(tlog.RecordHash(b), compare) {
				if readErr != nil {
					return readErr
				}
				res.fail(i, "event %d: %s", i, mismatch)
				return nil
			}
			res.Checked = i + 1
			if hasCP && t.n == cp.Size {
				if t.root() != cp.Root {
					res.fail(0, "the events and the stored hashes agree with each other but not with the signed checkpoint of size %d: history was rewritten together with its hashes, and the signed root alone cannot say which event changed", cp.Size)
					return nil
				}
			}
		}
		if _, err := leaf(tx, n); err == nil {
			res.fail(n, "event %d is stored beyond the log's size %d", n, n)
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ledger: verify %s: read event %d: %w", log, n, err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}
