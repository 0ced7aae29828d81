package domain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
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
	t  testing.TB
	st store.Store
	d  *domain.Service
	l  *ledger.Ledger
	// vkey is the verifier key of the ledger's checkpoints.
	vkey string
	now  time.Time
	seq  map[string]uint64 // next sequence per source
}

func newFixture(t testing.TB, opts domain.Options) *fixture {
	t.Helper()
	// NoSync: the tests record thousands of events one transaction each.
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "audit.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, st: st, now: start, seq: map[string]uint64{}}
	opts.Clock = func() time.Time { return f.now }
	signer, _, vkey, err := ledger.LoadSigner(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	f.l, f.vkey = ledger.New(st, signer), vkey
	f.d = domain.New(st, f.l, opts)
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

// unmarshal decodes a stored record.
func unmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
