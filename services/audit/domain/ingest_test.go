package domain_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/audit/domain"
)

// R27: every event becomes an audit event with actor, action, target,
// outcome, time and request ID; the action defaults to the type's verb,
// the tenant is the target's, the source is the log followed.
func TestConvert(t *testing.T) {
	at := timestamppb.New(start)
	for _, tc := range []struct {
		name   string
		source string
		ev     *eventlogv1.Event
		want   *auditv1.AuditEvent
	}{
		{
			name:   "envelope with an action",
			source: "directory",
			ev: &eventlogv1.Event{Sequence: 7, Time: at, Source: "directory", Type: "directory.user.created",
				Resource: "organizations/o1/users/ann", Organization: "organizations/o1",
				Audit: &eventlogv1.AuditEnvelope{Actor: "organizations/o1/users/owner", ActorDisplayName: "Owner", Action: "CreateUser",
					Message: "User [ann] was created.", RequestId: "req-1", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS, SourceAddress: "10.0.0.1"}},
			want: &auditv1.AuditEvent{Time: at, Source: "directory", SourceSequence: 7, Type: "directory.user.created",
				Actor: "organizations/o1/users/owner", ActorDisplayName: "Owner", Action: "CreateUser", Target: "organizations/o1/users/ann",
				Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS, RequestId: "req-1", SourceAddress: "10.0.0.1", Message: "User [ann] was created.",
				Organization: "organizations/o1"},
		},
		{
			name:   "action from the type, tenant from the target",
			source: "directory",
			ev: &eventlogv1.Event{Sequence: 8, Time: at, Type: "directory.folder.created",
				Resource: "organizations/o1/tenants/t1/services/s1/folders/f1", Organization: "organizations/o1",
				Audit: &eventlogv1.AuditEnvelope{Actor: "services/directory", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS}},
			want: &auditv1.AuditEvent{Time: at, Source: "directory", SourceSequence: 8, Type: "directory.folder.created",
				Actor: "services/directory", Action: "folder.created", Target: "organizations/o1/tenants/t1/services/s1/folders/f1",
				Tenant: "organizations/o1/tenants/t1", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS, Organization: "organizations/o1"},
		},
		{
			name:   "the envelope's action is the type (pkg/eventlog.NewEvent)",
			source: "licensing",
			ev: &eventlogv1.Event{Type: "licensing.lease.renewed", Resource: "organizations/o1/leases/l", Organization: "organizations/o1",
				Audit: &eventlogv1.AuditEnvelope{Action: "licensing.lease.renewed"}},
			want: &auditv1.AuditEvent{Source: "licensing", Type: "licensing.lease.renewed", Action: "lease.renewed",
				Target: "organizations/o1/leases/l", Organization: "organizations/o1"},
		},
		{
			name:   "the tenant itself",
			source: "directory",
			ev:     &eventlogv1.Event{Type: "directory.tenant.deleted", Resource: "organizations/o1/tenants/t1", Organization: "organizations/o1"},
			want: &auditv1.AuditEvent{Source: "directory", Type: "directory.tenant.deleted", Action: "tenant.deleted",
				Target: "organizations/o1/tenants/t1", Tenant: "organizations/o1/tenants/t1", Organization: "organizations/o1"},
		},
		{
			name:   "the source followed, not the one claimed",
			source: "access",
			ev: &eventlogv1.Event{Type: "access.role.created", Source: "directory", Resource: "organizations/o1/roles/r1", Organization: "organizations/o1",
				Audit: &eventlogv1.AuditEnvelope{Outcome: eventlogv1.Outcome_OUTCOME_DENIED}},
			want: &auditv1.AuditEvent{Source: "access", Type: "access.role.created", Action: "role.created",
				Target: "organizations/o1/roles/r1", Outcome: eventlogv1.Outcome_OUTCOME_DENIED, Organization: "organizations/o1"},
		},
		{
			name:   "no organization",
			source: "directory",
			ev:     &eventlogv1.Event{Type: "directory.signing_keys.rotated", Audit: &eventlogv1.AuditEnvelope{Actor: "services/operator"}},
			want:   &auditv1.AuditEvent{Source: "directory", Type: "directory.signing_keys.rotated", Action: "signing_keys.rotated", Actor: "services/operator"},
		},
	} {
		got := domain.Convert(tc.source, tc.ev)
		if !proto.Equal(got, tc.want) {
			t.Errorf("%s: Convert = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTenantOfAndLogOf(t *testing.T) {
	for in, want := range map[string]string{
		"organizations/o1/tenants/t1":                "organizations/o1/tenants/t1",
		"organizations/o1/tenants/t1/services/s1":    "organizations/o1/tenants/t1",
		"organizations/o1/users/u1":                  "",
		"organizations/o1/tenants/":                  "",
		"organizations//tenants/t1":                  "",
		"tenants/t1":                                 "",
		"organizations/o1/tenants/t1/folders/a/b/c/": "organizations/o1/tenants/t1",
		"": "",
	} {
		if got := domain.TenantOf(in); got != want {
			t.Errorf("TenantOf(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"organizations/o1":        "organizations/o1",
		"organizations/o-2":       "organizations/o-2",
		"":                        domain.InstallationLog,
		"organizations/O1":        domain.InstallationLog,
		"organizations/o1/users":  domain.InstallationLog,
		"organizations/o1\x00":    domain.InstallationLog,
		"organizations/-starts":   domain.InstallationLog,
		"installation":            domain.InstallationLog,
		"organizations/o1 ":       domain.InstallationLog,
		"organizations/o1/../o2":  domain.InstallationLog,
		"organizations/o1|x/y":    domain.InstallationLog,
		"organizations/o1/tenant": domain.InstallationLog,
	} {
		if got := domain.LogOf(in); got != want {
			t.Errorf("LogOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// R28: an applied event is stored once, under its log's next index, as
// exactly the leaf the ledger hashed (the record without its name), with
// an index entry per non-empty field and one by time; events without an
// organization go to the installation's log.
func TestApplyStoresLeafAndIndexes(t *testing.T) {
	f := newFixture(t, domain.Options{})
	ann := &eventlogv1.AuditEnvelope{Actor: org + "/users/ann", Action: "CreateUser", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS, RequestId: "r1"}
	f.apply("directory",
		f.event("directory", "directory.user.created", org+"/users/bob", ann),
		f.event("directory", "directory.tenant.created", org+"/tenants/t1", ann),
		f.event("directory", "directory.signing_keys.rotated", "", &eventlogv1.AuditEnvelope{Actor: "services/operator"}),
	)
	keys := map[string][]byte{}
	if err := f.st.View(context.Background(), func(tx store.ReadTx) error {
		return tx.Scan(nil, nil, func(k, v []byte) (bool, error) {
			keys[string(k)] = bytes.Clone(v)
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	leaf := keys["ev/"+org+"/\x00\x00\x00\x00\x00\x00\x00\x01"]
	if leaf == nil {
		t.Fatalf("no record at ev/%s/1; keys: %q", org, sortedKeys(keys))
	}
	ev := &auditv1.AuditEvent{}
	if err := proto.Unmarshal(leaf, ev); err != nil {
		t.Fatal(err)
	}
	if ev.GetName() != "" || ev.GetIndex() != 1 || ev.GetTarget() != org+"/tenants/t1" {
		t.Errorf("stored leaf = %v, want index 1 without a name", ev)
	}
	again, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
	if !bytes.Equal(again, leaf) {
		t.Error("the stored leaf is not the deterministic encoding of the record")
	}
	if _, ok := keys["ev/installation/\x00\x00\x00\x00\x00\x00\x00\x00"]; !ok {
		t.Error("the event without an organization is not in the installation's log")
	}
	// The tenant creation: time, actor, action, target, tenant, source,
	// outcome; the user creation has no tenant.
	var entries []string
	for k := range keys {
		if strings.HasPrefix(k, "x/") && strings.Contains(k, org+"|") {
			entries = append(entries, k[:strings.Index(k, "|")])
		}
	}
	count := map[string]int{}
	for _, e := range entries {
		count[e]++
	}
	want := map[string]int{"x/time/" + org: 2, "x/actor/" + org: 2, "x/action/" + org: 2, "x/target/" + org: 2,
		"x/tenant/" + org: 1, "x/source/" + org: 2, "x/outcome/" + org: 2}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("index entries per index = %v, want %v", count, want)
	}
}

func sortedKeys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// R28: when retention passed audit's cursor, or the source's log was
// replaced or went back, Resync moves the cursor to where the source
// continues and records in the installation's log how many events were
// lost between which sequences, counting the resync.
func TestResync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, domain.Options{})
	const consumer = "audit-directory"
	setCursor := func(pos eventlog.Position) {
		t.Helper()
		if err := f.st.Update(ctx, func(tx store.Tx) error { return eventlog.PutPosition(tx, consumer, pos) }); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		name        string
		cursor      eventlog.Position
		now         domain.SourcePosition
		resumed     eventlog.Position
		lost        uint64
		from, thru  uint64
		wantMessage string
	}{
		{"fell behind", eventlog.Position{LogID: "L1", Sequence: 100}, domain.SourcePosition{LogID: "L1", Head: 500, Horizon: 142},
			eventlog.Position{LogID: "L1", Sequence: 142}, 42, 101, 142, "42 events of the directory (sequences 101 to 142) were deleted by its retention"},
		{"replaced", eventlog.Position{LogID: "L1", Sequence: 142}, domain.SourcePosition{LogID: "L2", Head: 30, Horizon: 10},
			eventlog.Position{LogID: "L2", Sequence: 10}, 10, 1, 10, "event log was replaced"},
		{"went back", eventlog.Position{LogID: "L2", Sequence: 40}, domain.SourcePosition{LogID: "L2", Head: 35, Horizon: 0},
			eventlog.Position{LogID: "L2", Sequence: 35}, 0, 1, 0, "went back from sequence 40 to 35"},
	} {
		setCursor(tc.cursor)
		loss, err := f.d.Resync(ctx, "directory", consumer, tc.now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var stored eventlog.Position
		if err := f.st.View(ctx, func(tx store.ReadTx) error {
			stored, err = eventlog.GetPosition(tx, consumer)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if loss.Resumed != tc.resumed || stored != tc.resumed {
			t.Errorf("%s: resumed at %+v, stored %+v, want %+v", tc.name, loss.Resumed, stored, tc.resumed)
		}
		if loss.Count() != tc.lost || (tc.lost > 0 && (loss.From != tc.from || loss.Through != tc.thru)) {
			t.Errorf("%s: lost %d (%d-%d), want %d (%d-%d)", tc.name, loss.Count(), loss.From, loss.Through, tc.lost, tc.from, tc.thru)
		}
		ev, err := f.d.GetInstallationEvent(ctx, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetType() != domain.TypeResynced || ev.GetSource() != "audit" || ev.GetTarget() != "services/directory" ||
			ev.GetOutcome() != eventlogv1.Outcome_OUTCOME_FAILURE || !strings.Contains(ev.GetMessage(), tc.wantMessage) {
			t.Errorf("%s: recorded %v, want a resync note saying %q", tc.name, ev, tc.wantMessage)
		}
		n, err := f.d.Resyncs(ctx, "directory")
		if err != nil || n != int64(i+1) {
			t.Errorf("%s: Resyncs = %d, %v; want %d", tc.name, n, err, i+1)
		}
	}
	// Asked again where the log continues right after the cursor: nothing
	// is skipped, nothing recorded, the count stays.
	setCursor(eventlog.Position{LogID: "L2", Sequence: 35})
	loss, err := f.d.Resync(ctx, "directory", consumer, domain.SourcePosition{LogID: "L2", Head: 35, Horizon: 20})
	if err != nil || loss.Event != nil || loss.Resumed != (eventlog.Position{LogID: "L2", Sequence: 35}) {
		t.Errorf("Resync with nothing to skip = %+v, %v", loss, err)
	}
	if n, _ := f.d.Resyncs(ctx, "directory"); n != 3 {
		t.Errorf("Resyncs = %d after a resync with nothing to skip, want 3", n)
	}
	if _, err := f.d.GetInstallationEvent(ctx, 3); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetInstallationEvent(3) = %v, want ErrNotFound", err)
	}
}
