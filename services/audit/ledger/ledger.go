// Package ledger keeps the audit service's tamper-evident record (R28): per
// organization, an append-only Merkle tree of its audit events, hashed as
// RFC 6962 / RFC 9162 and the Go checksum database do
// (golang.org/x/mod/sumdb/tlog), with signed checkpoints in the C2SP
// tlog-checkpoint format (a signed note, golang.org/x/mod/sumdb/note, Ed25519
// key kept by the audit service), inclusion and consistency proofs, a
// server-side verification that re-reads every stored event, and the offline
// verification of an exported JSON-lines file behind `steward-audit verify`.
//
// A log is named after its organization ("organizations/o1"). Its leaves are
// the events' canonical encodings (see [Leaf]); the caller stores the events
// themselves, in the same transaction as [Ledger.Append]. The ledger keeps,
// under keys beginning "ledger/":
//
//	ledger/signer                  the checkpoint signer key (note signer key text)
//	ledger/n/<log>                 the log's size, 8-byte big-endian
//	ledger/h/<log>/<index>         the tree's hashes (tlog.StoredHashes), index 8-byte big-endian
//	ledger/c/<log>                 the log's latest signed checkpoint (note text)
//
// A checkpoint's note text is the C2SP tlog-checkpoint body:
//
//	steward.dev/audit/organizations/o1
//	42
//	<base64 of the 32-byte root hash>
//
// followed by the signature line of the key named "steward-audit". The root
// of the empty log is SHA-256 of nothing, as RFC 9162 and tlog.TreeHash(0)
// have it.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	auditv1 "steward.dev/gen/steward/audit/v1"
	"steward.dev/pkg/store"
)

// Store keys and key prefixes the ledger owns.
const (
	// SignerKey holds the checkpoint signer key.
	SignerKey = "ledger/signer"
	// SizePrefix + log holds the log's size.
	SizePrefix = "ledger/n/"
	// HashPrefix + log + "/" + 8-byte index holds one stored hash.
	HashPrefix = "ledger/h/"
	// CheckpointPrefix + log holds the log's latest signed checkpoint.
	CheckpointPrefix = "ledger/c/"
)

// OriginPrefix begins every checkpoint origin line; the log's name follows.
const OriginPrefix = "steward.dev/audit/"

// ErrOutOfRange is returned by the proofs when an index or a tree size is
// negative, empty or beyond the log's size.
var ErrOutOfRange = errors.New("ledger: index or tree size out of range")

// ErrTampered is returned when the ledger's own records contradict each
// other: a stored checkpoint whose signature does not verify or whose origin
// is not its log's, or a tree whose hashes no longer lead to the root of its
// latest checkpoint. The ledger refuses to sign over such a tree.
var ErrTampered = errors.New("ledger: records contradict the signed checkpoint")

// emptyRoot is the root of the empty tree: SHA-256 of nothing (RFC 9162
// section 2.1.1), as tlog.TreeHash(0) returns it.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// Checkpoint is a signed statement of one log's size and root.
type Checkpoint struct {
	// Origin is the checkpoint's origin line, [Origin] of the log.
	Origin string
	// Size is the number of leaves the checkpoint covers.
	Size int64
	// Root is the Merkle tree hash of those leaves.
	Root tlog.Hash
	// Note is the signed note text: the checkpoint body and its signature
	// lines, as `steward-audit verify -checkpoint` reads it.
	Note []byte
}

// Origin returns the checkpoint origin line of log (an organization name), e.g.
// "steward.dev/audit/organizations/o1".
func Origin(log string) string { return OriginPrefix + log }

// Ledger keeps the Merkle trees of the audit logs in a store and signs their
// checkpoints. Its methods are safe for concurrent use.
type Ledger struct {
	st       store.Store
	signer   note.Signer
	verifier note.Verifier

	// edgesMu guards edges, the right edges of the trees appended to in
	// the latest write transaction (see edgeCache).
	edgesMu sync.Mutex
	edges   edgeCache
}

// New returns the ledger of the logs kept in st, signing checkpoints with
// signer. When signer has a Verifier() note.Verifier method (the signer
// [LoadSigner] returns has one), checkpoints are verified with it; otherwise
// a verifier that re-signs and compares is used, which is correct for the
// Ed25519 signers of golang.org/x/mod/sumdb/note (Ed25519 signatures are
// deterministic).
func New(st store.Store, signer note.Signer) *Ledger {
	var v note.Verifier
	if s, ok := signer.(interface{ Verifier() note.Verifier }); ok {
		v = s.Verifier()
	} else {
		v = resignVerifier{signer}
	}
	return &Ledger{st: st, signer: signer, verifier: v}
}

// Verifier returns the verifier of the ledger's checkpoints.
func (l *Ledger) Verifier() note.Verifier { return l.verifier }

// resignVerifier verifies a signature by signing again: correct for
// deterministic signature schemes such as Ed25519.
type resignVerifier struct{ s note.Signer }

func (v resignVerifier) Name() string    { return v.s.Name() }
func (v resignVerifier) KeyHash() uint32 { return v.s.KeyHash() }
func (v resignVerifier) Verify(msg, sig []byte) bool {
	want, err := v.s.Sign(msg)
	return err == nil && bytes.Equal(want, sig)
}

// checkLog refuses names that cannot be a log: empty, not UTF-8, or holding
// a space or control character (the origin line is one line of text).
func checkLog(log string) error {
	if log == "" || !utf8.ValidString(log) {
		return fmt.Errorf("ledger: invalid log name %q", log)
	}
	for _, r := range log {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("ledger: invalid log name %q", log)
		}
	}
	return nil
}

func sizeKey(log string) []byte       { return []byte(SizePrefix + log) }
func checkpointKey(log string) []byte { return []byte(CheckpointPrefix + log) }

// hashKey is the key of stored hash index of log.
func hashKey(log string, index int64) []byte {
	k := make([]byte, 0, len(HashPrefix)+len(log)+1+8)
	k = append(k, HashPrefix...)
	k = append(k, log...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, uint64(index))
}

// readHash returns stored hash index of log.
func readHash(tx store.ReadTx, log string, index int64) (tlog.Hash, error) {
	b, err := tx.Get(hashKey(log, index))
	if errors.Is(err, store.ErrNotFound) {
		level, n := tlog.SplitStoredHashIndex(index)
		return tlog.Hash{}, fmt.Errorf("ledger: %s: stored hash %d (level %d, node %d) is missing", log, index, level, n)
	}
	if err != nil {
		return tlog.Hash{}, err
	}
	if len(b) != tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("ledger: %s: stored hash %d has %d bytes", log, index, len(b))
	}
	return tlog.Hash(b), nil
}

// hashReader reads log's stored hashes inside tx.
func hashReader(tx store.ReadTx, log string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			h, err := readHash(tx, log, index)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	})
}

// Append adds leaf as the next leaf of log's tree inside tx (the transaction
// that stores the event) and returns its index; it stores only hashes
// (tlog.StoredHashes) under "ledger/h/" + log + "/" + 8-byte big-endian hash
// index, and the size under "ledger/n/" + log. The caller stores the leaf
// itself. Within one transaction the hashes an append needs from the tree
// (its right edge) are read from the store once, then kept (edgeCache).
func (l *Ledger) Append(tx store.Tx, log string, leaf []byte) (int64, error) {
	if err := checkLog(log); err != nil {
		return 0, err
	}
	n, err := l.Size(tx, log)
	if err != nil {
		return 0, err
	}
	if err := l.appendAt(tx, log, n, leaf); err != nil {
		return 0, err
	}
	return n, nil
}

// AppendEvent appends ev as the next event of log inside tx: it sets ev's
// index to the log's size and its name to log + "/auditEvents/" + index, then
// appends [Leaf] of ev, which it returns. The caller stores ev (or the leaf)
// in tx, and gives Verify the leaf back.
func (l *Ledger) AppendEvent(tx store.Tx, log string, ev *auditv1.AuditEvent) ([]byte, error) {
	if err := checkLog(log); err != nil {
		return nil, err
	}
	n, err := l.Size(tx, log)
	if err != nil {
		return nil, err
	}
	ev.Index = n
	ev.Name = ""
	leaf, err := Leaf(ev)
	if err != nil {
		return nil, fmt.Errorf("ledger: encode event: %w", err)
	}
	if err := l.appendAt(tx, log, n, leaf); err != nil {
		return nil, err
	}
	ev.Name = EventName(log, n)
	return leaf, nil
}

// appendAt adds leaf as leaf n of log's tree of size n (read from tx by
// the caller): it stores the new hashes and the size n+1.
func (l *Ledger) appendAt(tx store.Tx, log string, n int64, leaf []byte) error {
	l.edgesMu.Lock()
	defer l.edgesMu.Unlock()
	e := l.edgeOf(tx, log, n)
	hashes, err := tlog.StoredHashes(n, leaf, e.reader(tx, log))
	if err == nil {
		err = putHashes(tx, log, n, hashes)
	}
	if err != nil {
		// What tx holds is unknown now: read it again next time.
		delete(l.edges.logs, log)
		return fmt.Errorf("ledger: append to %s: %w", log, err)
	}
	e.grow(n, hashes)
	return nil
}

// putHashes stores hashes, the stored hashes tlog.StoredHashes returns for
// leaf n of log, and the size n+1.
func putHashes(tx store.Tx, log string, n int64, hashes []tlog.Hash) error {
	base := tlog.StoredHashIndex(0, n)
	key := hashKey(log, base)
	for i, h := range hashes {
		binary.BigEndian.PutUint64(key[len(key)-8:], uint64(base+int64(i)))
		if err := tx.Put(key, h[:]); err != nil {
			return err
		}
	}
	return tx.Put(sizeKey(log), binary.BigEndian.AppendUint64(nil, uint64(n+1)))
}

// edgeCache keeps, for one write transaction tx, the right edge of each
// tree appended to in it, so that a batch of appends (a consumer applies up
// to 256 events per transaction) reads each stored hash it needs from the
// store once rather than once per append. It is valid in tx only: an append
// in another transaction starts a new cache, and tx's commit drops it. Each
// append still reads the log's size from tx and starts the log's edge
// afresh when it differs from the cached one, so the cache never serves
// the hashes of a tree tx does not hold.
type edgeCache struct {
	tx   store.Tx
	logs map[string]*edge
}

// edgeOf returns the edge of log for an append in tx to its tree of size
// n. The caller holds edgesMu.
func (l *Ledger) edgeOf(tx store.Tx, log string, n int64) *edge {
	if l.edges.tx != tx {
		l.edges = edgeCache{}
		// Only a pointer is compared safely (and never reused while the
		// cache holds it).
		if reflect.TypeOf(tx).Kind() != reflect.Pointer {
			return &edge{size: n}
		}
		l.edges = edgeCache{tx: tx, logs: map[string]*edge{}}
		tx.OnCommit(func() {
			l.edgesMu.Lock()
			defer l.edgesMu.Unlock()
			if l.edges.tx == tx {
				l.edges = edgeCache{}
			}
		})
	}
	e := l.edges.logs[log]
	if e == nil || e.size != n {
		e = &edge{size: n}
		l.edges.logs[log] = e
	}
	return e
}

// edge is the right edge of a tree of size size: for each level whose bit
// is set in size, the stored hash of the complete subtree at that level
// that ends with the tree's last leaf, hashes[level], once read (bit level
// of known). These are the hashes tlog.StoredHashes reads to append a leaf.
type edge struct {
	size   int64
	known  uint64
	hashes [64]tlog.Hash
}

// reader returns the hashes of e, reading those not known yet from tx;
// any other hash is read from tx.
func (e *edge) reader(tx store.ReadTx, log string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			level, node := tlog.SplitStoredHashIndex(index)
			onEdge := level < 64 && e.size>>level&1 == 1 && node == e.size>>level-1
			if onEdge && e.known>>level&1 == 1 {
				out[i] = e.hashes[level]
				continue
			}
			h, err := readHash(tx, log, index)
			if err != nil {
				return nil, err
			}
			if onEdge {
				e.hashes[level], e.known = h, e.known|1<<level
			}
			out[i] = h
		}
		return out, nil
	})
}

// grow moves e from size n to n+1, given the stored hashes of leaf n
// (tlog.StoredHashes): the subtrees of the levels below m, the number of
// trailing ones of n, merged into the new one of level m, hashes[m].
func (e *edge) grow(n int64, hashes []tlog.Hash) {
	m := len(hashes) - 1
	e.size = n + 1
	e.known &^= 1<<m - 1
	e.hashes[m], e.known = hashes[m], e.known|1<<m
}

// EventName returns the resource name of event index of log,
// "organizations/{o}/auditEvents/{index}".
func EventName(log string, index int64) string {
	return log + "/auditEvents/" + strconv.FormatInt(index, 10)
}

// Size returns the number of leaves of log.
func (l *Ledger) Size(tx store.ReadTx, log string) (int64, error) {
	b, err := tx.Get(sizeKey(log))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 || int64(binary.BigEndian.Uint64(b)) < 0 {
		return 0, fmt.Errorf("ledger: %s: stored size is malformed", log)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// Checkpoint returns log's latest signed checkpoint, signing (and storing,
// "ledger/c/" + log) a new one when the tree grew since the last one. A log of
// size 0 gets a checkpoint of size 0 too (signed, not stored). Before signing it checks that the
// stored tree still has the previous checkpoint's root at the previous size,
// so it never signs a history that contradicts one it signed before; it
// returns an error wrapping [ErrTampered] instead.
func (l *Ledger) Checkpoint(ctx context.Context, log string) (Checkpoint, error) {
	if err := checkLog(log); err != nil {
		return Checkpoint{}, err
	}
	// Most calls find the checkpoint current: answer them from a read
	// transaction, without taking the writer.
	var cp Checkpoint
	current := false
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		n, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		c, ok, err := l.Latest(tx, log)
		if err != nil {
			return err
		}
		cp, current = c, ok && c.Size == n
		if !ok && n == 0 {
			// A log never appended to: sign its empty tree without
			// storing anything (Ed25519 signs it the same every time).
			cp, err = l.sign(log, 0, emptyRoot)
			current = err == nil
		}
		return err
	})
	if err != nil || current {
		return cp, err
	}
	err = l.st.Update(ctx, func(tx store.Tx) error {
		n, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		prev, ok, err := l.Latest(tx, log)
		if err != nil {
			return err
		}
		if ok && prev.Size == n {
			cp = prev
			return nil
		}
		r := hashReader(tx, log)
		if ok {
			if prev.Size > n {
				return fmt.Errorf("%w: %s has %d leaves, its checkpoint %d", ErrTampered, log, n, prev.Size)
			}
			old, err := tlog.TreeHash(prev.Size, r)
			if err != nil {
				return err
			}
			if old != prev.Root {
				return fmt.Errorf("%w: %s: the tree of size %d no longer has the checkpoint's root", ErrTampered, log, prev.Size)
			}
		}
		root, err := tlog.TreeHash(n, r)
		if err != nil {
			return err
		}
		if cp, err = l.sign(log, n, root); err != nil {
			return err
		}
		return tx.Put(checkpointKey(log), cp.Note)
	})
	if err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}

// sign returns the signed checkpoint of log's tree of size n and root.
func (l *Ledger) sign(log string, n int64, root tlog.Hash) (Checkpoint, error) {
	msg, err := note.Sign(&note.Note{Text: formatCheckpoint(Origin(log), n, root)}, l.signer)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: sign checkpoint of %s: %w", log, err)
	}
	return Checkpoint{Origin: Origin(log), Size: n, Root: root, Note: msg}, nil
}

// Latest returns the latest stored checkpoint of log without signing one (ok
// false if none). A stored checkpoint whose signature does not verify with the
// ledger's verifier, or whose origin is not log's, is an error wrapping
// [ErrTampered].
func (l *Ledger) Latest(tx store.ReadTx, log string) (Checkpoint, bool, error) {
	b, err := tx.Get(checkpointKey(log))
	if errors.Is(err, store.ErrNotFound) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	cp, err := OpenCheckpoint(b, l.verifier)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("%w: %s: stored checkpoint: %v", ErrTampered, log, err)
	}
	if cp.Origin != Origin(log) {
		return Checkpoint{}, false, fmt.Errorf("%w: %s: stored checkpoint has origin %q", ErrTampered, log, cp.Origin)
	}
	return cp, true, nil
}

// Stale lists the logs whose tree grew since their latest checkpoint (for a
// periodic checkpointer), in name order.
func (l *Ledger) Stale(ctx context.Context) ([]string, error) {
	var logs []string
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte(SizePrefix), nil, func(k, v []byte) (bool, error) {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			log := string(k[len(SizePrefix):])
			if len(v) != 8 {
				return false, fmt.Errorf("ledger: %s: stored size is malformed", log)
			}
			n := int64(binary.BigEndian.Uint64(v))
			c, err := tx.Get(checkpointKey(log))
			if errors.Is(err, store.ErrNotFound) {
				logs = append(logs, log)
				return true, nil
			}
			if err != nil {
				return false, err
			}
			// The size is read from the body, unverified: Checkpoint
			// verifies the signature when it signs the next one.
			if size, ok := checkpointSize(c); !ok || size != n {
				logs = append(logs, log)
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return logs, nil
}

// ProveInclusion returns the proof that leaf index is in log's tree of size n
// (tlog.ProveRecord), and the leaf hash stored for it. It returns
// [ErrOutOfRange] unless 0 <= index < n <= the log's size.
func (l *Ledger) ProveInclusion(ctx context.Context, log string, index, n int64) (tlog.RecordProof, tlog.Hash, error) {
	var (
		proof tlog.RecordProof
		leaf  tlog.Hash
	)
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		size, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		if index < 0 || index >= n || n > size {
			return fmt.Errorf("%w: leaf %d of a tree of size %d (log size %d)", ErrOutOfRange, index, n, size)
		}
		r := hashReader(tx, log)
		if proof, err = tlog.ProveRecord(n, index, r); err != nil {
			return err
		}
		leaf, err = readHash(tx, log, tlog.StoredHashIndex(0, index))
		return err
	})
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	return proof, leaf, nil
}

// ProveConsistency returns the proof that log's tree of size n is a prefix of
// size m (tlog.ProveTree). It returns [ErrOutOfRange] unless
// 1 <= n <= m <= the log's size.
func (l *Ledger) ProveConsistency(ctx context.Context, log string, n, m int64) (tlog.TreeProof, error) {
	var proof tlog.TreeProof
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		size, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		if n < 1 || n > m || m > size {
			return fmt.Errorf("%w: tree sizes %d and %d (log size %d)", ErrOutOfRange, n, m, size)
		}
		proof, err = tlog.ProveTree(m, n, hashReader(tx, log))
		return err
	})
	if err != nil {
		return nil, err
	}
	return proof, nil
}

// RootAt returns the root hash of log's tree of size n, from the stored
// hashes (for a checkpoint's tree_size other than the latest, or to check a
// consistency proof's smaller tree). It returns [ErrOutOfRange] unless
// 0 <= n <= the log's size.
func (l *Ledger) RootAt(ctx context.Context, log string, n int64) (tlog.Hash, error) {
	var root tlog.Hash
	err := l.st.View(ctx, func(tx store.ReadTx) error {
		size, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		if n < 0 || n > size {
			return fmt.Errorf("%w: tree size %d (log size %d)", ErrOutOfRange, n, size)
		}
		root, err = tlog.TreeHash(n, hashReader(tx, log))
		return err
	})
	return root, err
}

// WriteLeafHashes writes the stored leaf hashes of log's first n leaves to w,
// 32 bytes each, in index order: the file `steward-audit verify -hashes`
// reads to name the first edited event of an export exactly (see
// [VerifyLeaves]). It needs no trust: the verifier checks that these hashes
// make the signed checkpoint's root before relying on them. It returns
// [ErrOutOfRange] unless 0 <= n <= the log's size.
func (l *Ledger) WriteLeafHashes(ctx context.Context, log string, n int64, w io.Writer) error {
	return l.st.View(ctx, func(tx store.ReadTx) error {
		size, err := l.Size(tx, log)
		if err != nil {
			return err
		}
		if n < 0 || n > size {
			return fmt.Errorf("%w: tree size %d (log size %d)", ErrOutOfRange, n, size)
		}
		for i := int64(0); i < n; i++ {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			h, err := readHash(tx, log, tlog.StoredHashIndex(0, i))
			if err != nil {
				return err
			}
			if _, err := w.Write(h[:]); err != nil {
				return err
			}
		}
		return nil
	})
}
