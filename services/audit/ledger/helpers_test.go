package ledger_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/ledger"
)

// fixture is a ledger on a fresh bbolt store, with the events it logged kept
// the way the audit service keeps them: under eventKey, in the transaction
// that appends them.
type fixture struct {
	st       store.Store
	l        *ledger.Ledger
	verifier note.Verifier
	vkey     string
}

func openStore(tb testing.TB, path string, noSync bool) *bboltstore.Store {
	tb.Helper()
	st, err := bboltstore.Open(path, bboltstore.Options{NoSync: noSync})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	st := openStore(tb, filepath.Join(tb.TempDir(), "audit.db"), true)
	tb.Cleanup(func() { _ = st.Close() })
	signer, verifier, vkey, err := ledger.LoadSigner(context.Background(), st)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{st: st, l: ledger.New(st, signer), verifier: verifier, vkey: vkey}
}

// eventKey is where the tests keep event index of log.
func eventKey(log string, index int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("test/e/"+log+"/"), uint64(index))
}

// leafOf reads the stored event index of log.
func leafOf(log string) func(tx store.ReadTx, index int64) ([]byte, error) {
	return func(tx store.ReadTx, index int64) ([]byte, error) { return tx.Get(eventKey(log, index)) }
}

// event returns event i of organization org; its size varies with i.
func event(org string, i int64) *auditv1.AuditEvent {
	return &auditv1.AuditEvent{
		Name:         fmt.Sprintf("organizations/%s/auditEvents/%d", org, i),
		Index:        i,
		Time:         timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)),
		Source:       "directory",
		Type:         "directory.user.created",
		Actor:        fmt.Sprintf("organizations/%s/users/u%d", org, i%7),
		Action:       "CreateUser",
		Target:       fmt.Sprintf("organizations/%s/users/n%d", org, i),
		Outcome:      eventlogv1.Outcome(1 + i%3),
		RequestId:    fmt.Sprintf("req-%d", i),
		Message:      strings.Repeat("x", int(i%97)),
		Organization: org,
	}
}

// appendEvents appends events to log, one transaction, storing each
// event's leaf under eventKey.
func (f *fixture) appendEvents(tb testing.TB, log string, evs ...*auditv1.AuditEvent) {
	tb.Helper()
	err := f.st.Update(context.Background(), func(tx store.Tx) error {
		for _, ev := range evs {
			leaf, err := ledger.Leaf(ev)
			if err != nil {
				return err
			}
			i, err := f.l.Append(tx, log, leaf)
			if err != nil {
				return err
			}
			if i != ev.GetIndex() {
				return fmt.Errorf("appended event %d at %d", ev.GetIndex(), i)
			}
			if err := tx.Put(eventKey(log, i), leaf); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// appendN appends events from..to-1 of org to its log.
func (f *fixture) appendN(tb testing.TB, org string, from, to int64) {
	tb.Helper()
	evs := make([]*auditv1.AuditEvent, 0, to-from)
	for i := from; i < to; i++ {
		evs = append(evs, event(org, i))
	}
	f.appendEvents(tb, "organizations/"+org, evs...)
}

func (f *fixture) update(tb testing.TB, fn func(tx store.Tx) error) {
	tb.Helper()
	if err := f.st.Update(context.Background(), fn); err != nil {
		tb.Fatal(err)
	}
}

// mth is RFC 6962's Merkle tree hash, computed recursively: the reference
// the ledger's trees are checked against.
func mth(hs []tlog.Hash) tlog.Hash {
	switch len(hs) {
	case 0:
		return tlog.Hash{0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}
	case 1:
		return hs[0]
	}
	k := 1 << (bits.Len(uint(len(hs)-1)) - 1) // largest power of two < n
	return tlog.NodeHash(mth(hs[:k]), mth(hs[k:]))
}

// leafHashes returns the leaf hashes of events 0..n-1 of org.
func leafHashes(tb testing.TB, org string, n int64) []tlog.Hash {
	tb.Helper()
	out := make([]tlog.Hash, n)
	for i := range n {
		leaf, err := ledger.Leaf(event(org, i))
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = tlog.RecordHash(leaf)
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
