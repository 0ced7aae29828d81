package domain_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/domain"
)

// start is the time of the tests' first event.
var start = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// The organizations of the tests and who reads their trails.
const (
	org   = "organizations/o1"
	other = "organizations/o2"
)

var (
	// auditor reads org's trail.
	auditor = domain.Actor{Name: org + "/users/auditor", Organization: org}
	// service is a Steward service, which sees every organization.
	service = domain.Actor{Name: "services/harness"}
)

// fixture is a domain service over a fresh store with a settable clock.
type fixture struct {
	t   testing.TB
	st  store.Store
	d   *domain.Service
	now time.Time
	seq map[string]uint64 // next sequence per source
}

func newFixture(t testing.TB, opts domain.Options) *fixture {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "audit.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, st: st, now: start, seq: map[string]uint64{}}
	opts.Clock = func() time.Time { return f.now }
	f.d = domain.New(st, newLedger(t, st), opts)
	return f
}

// event returns an event of source's log at the fixture's next sequence
// of that source and time now.
func (f *fixture) event(source, typ, resource string, audit *eventlogv1.AuditEnvelope) *eventlogv1.Event {
	f.seq[source]++
	return &eventlogv1.Event{
		Sequence:     f.seq[source],
		Time:         timestamppb.New(f.now),
		Source:       source,
		Type:         typ,
		Resource:     resource,
		Organization: organizationOf(resource),
		Audit:        audit,
		LogId:        source + "-log",
	}
}

// organizationOf returns the "organizations/x" prefix of name.
func organizationOf(name string) string {
	var id string
	if _, err := fmt.Sscanf(name, "organizations/%s", &id); err != nil {
		return ""
	}
	for i := range id {
		if id[i] == '/' {
			id = id[:i]
			break
		}
	}
	return "organizations/" + id
}

// apply applies evs, each in its own transaction, as source's consumer
// does.
func (f *fixture) apply(source string, evs ...*eventlogv1.Event) {
	f.t.Helper()
	apply := f.d.ApplyEvent(source)
	for _, ev := range evs {
		if err := f.st.Update(context.Background(), func(tx store.Tx) error { return apply(tx, ev) }); err != nil {
			f.t.Fatalf("applying %s %d: %v", ev.GetType(), ev.GetSequence(), err)
		}
	}
}

// fakeLedger counts leaves per log under "ledger/size/"; it stands in for
// services/audit/ledger where the tests need no tree.
type fakeLedger struct{}

func (fakeLedger) Size(tx store.ReadTx, log string) (int64, error) {
	b, err := tx.Get([]byte("ledger/size/" + log))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func (l fakeLedger) Append(tx store.Tx, log string, _ []byte) (int64, error) {
	n, err := l.Size(tx, log)
	if err != nil {
		return 0, err
	}
	return n, tx.Put([]byte("ledger/size/"+log), binary.BigEndian.AppendUint64(nil, uint64(n+1)))
}

// newLedger returns the ledger the tests record in.
func newLedger(testing.TB, store.Store) domain.Ledger { return fakeLedger{} }
