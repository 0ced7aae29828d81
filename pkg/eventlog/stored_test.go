package eventlog

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// storedRecord is a record as events carry it: its name first (field 1),
// then more fields.
func storedRecord(t testing.TB, name string) *anypb.Any {
	t.Helper()
	// eventlogv1.AuditEnvelope stands for any record: field 1 is a string.
	a, err := anypb.New(&eventlogv1.AuditEnvelope{Actor: name, ActorDisplayName: "display", Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// storedCases are events as Append leaves them: every part the stored
// form may leave out, present or not, and the cases where it must not.
func storedCases(t testing.TB) map[string]*eventlogv1.Event {
	t.Helper()
	const res, org = "organizations/o1/roleAssignments/a1", "organizations/o1"
	at := timestamppb.New(time.Date(2026, 12, 4, 12, 0, 0, 5, time.UTC))
	base := func() *eventlogv1.Event {
		ev, err := NewEvent("access.role_assignment.created", eventlogv1.Operation_OPERATION_CREATE, res, nil,
			&eventlogv1.AuditEnvelope{Actor: org + "/users/u1", Message: "Role r was assigned.", RequestId: "r1", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS})
		if err != nil {
			t.Fatal(err)
		}
		ev.Data = storedRecord(t, res)
		ev.Sequence, ev.Time, ev.Source, ev.LogId = 42, at, "access", "0123456789abcdef"
		return ev
	}
	cases := map[string]*eventlogv1.Event{"typical": base()}
	add := func(name string, change func(ev *eventlogv1.Event)) {
		ev := base()
		change(ev)
		cases[name] = ev
	}
	add("organization not the resource's", func(ev *eventlogv1.Event) { ev.Organization = "organizations/o2" })
	add("no organization, the resource has one", func(ev *eventlogv1.Event) { ev.Organization = "" })
	add("resource outside organizations", func(ev *eventlogv1.Event) { ev.Resource, ev.Organization = "services/licensing", "organizations/o1" })
	add("no resource", func(ev *eventlogv1.Event) { ev.Resource, ev.Organization, ev.Data = "", "", nil })
	add("action not the type", func(ev *eventlogv1.Event) { ev.Audit.Action = "ExportRoleAssignments" })
	add("no action", func(ev *eventlogv1.Event) { ev.Audit.Action = "" })
	add("no audit", func(ev *eventlogv1.Event) { ev.Audit = nil })
	add("empty audit", func(ev *eventlogv1.Event) { ev.Audit = &eventlogv1.AuditEnvelope{} })
	add("only the action", func(ev *eventlogv1.Event) { ev.Audit = &eventlogv1.AuditEnvelope{Action: ev.Type} })
	add("no data", func(ev *eventlogv1.Event) { ev.Data = nil })
	add("empty data", func(ev *eventlogv1.Event) { ev.Data = &anypb.Any{} })
	add("data of another name", func(ev *eventlogv1.Event) { ev.Data = storedRecord(t, res+"x") })
	add("data named by a prefix of the resource", func(ev *eventlogv1.Event) { ev.Data = storedRecord(t, res[:len(res)-1]) })
	add("data without a name", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Message: res})
	})
	add("data that is only the name", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res})
	})
	add("name with a long length", func(ev *eventlogv1.Event) {
		// A non-minimal length varint: kept as it is, since putting the
		// name back would not give the same bytes.
		ev.Data.Value = append([]byte{nameTag, 0x80 | byte(len(res)), 0}, append([]byte(res), ev.Data.Value[2+len(res):]...)...)
	})
	add("type URL of another prefix", func(ev *eventlogv1.Event) { ev.Data.TypeUrl = "example.com/x.Y" })
	add("type URL that is only the prefix", func(ev *eventlogv1.Event) { ev.Data.TypeUrl = typeURLPrefix })
	add("no time", func(ev *eventlogv1.Event) { ev.Time = nil })
	// Messages and the strings their templates refer to.
	add("message of the record's strings", func(ev *eventlogv1.Event) {
		ev.Audit.Message = "Role " + res + " was assigned to " + org + "/users/u1 at " + org + " by display."
	})
	add("message that is one string", func(ev *eventlogv1.Event) { ev.Audit.Message = res })
	add("message of strings end to end", func(ev *eventlogv1.Event) { ev.Audit.Message = res + res + "display" })
	add("message with a prefix of a string", func(ev *eventlogv1.Event) { ev.Audit.Message = "x" + res[:len(res)-1] })
	add("message with overlapping strings", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, ActorDisplayName: "abcdef", Action: "cdefgh", Message: "abcdefgh"})
		ev.Audit.Message = "abcdefgh abcdefgh cdefgh"
	})
	add("message of short strings only", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, ActorDisplayName: "abc"})
		ev.Audit.Message = "abc abc"
	})
	add("message without the data's strings", func(ev *eventlogv1.Event) {
		ev.Data = nil
		ev.Audit.Message = "display " + res + " " + ev.Audit.Actor
	})
	add("message without a resource", func(ev *eventlogv1.Event) {
		ev.Resource, ev.Organization, ev.Data = "", "", nil
		ev.Audit.Message = "by " + ev.Audit.Actor
	})
	add("message of a record that is not one", func(ev *eventlogv1.Event) {
		ev.Data.Value = append([]byte{0xFF, 0xFF}, ev.Data.Value...)
		ev.Audit.Message = "Role " + res
	})
	add("message and nothing else", func(ev *eventlogv1.Event) {
		ev.Audit = &eventlogv1.AuditEnvelope{Message: "Role " + res}
	})
	// The data's type, and the actor in the record.
	add("data of the type the event's names", func(ev *eventlogv1.Event) {
		ev.Data.TypeUrl = typeURLPrefix + "steward.access.v1.RoleAssignment"
	})
	add("data of the type of another event", func(ev *eventlogv1.Event) {
		ev.Data.TypeUrl = typeURLPrefix + "steward.access.v1.Role"
	})
	add("event type without a resource", func(ev *eventlogv1.Event) {
		ev.Type, ev.Audit.Action, ev.Data.TypeUrl = "access", "access", typeURLPrefix+"steward.access.v1."
	})
	add("record holding the actor", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, ActorDisplayName: "x", Action: ev.Audit.Actor, Message: "m"})
		ev.Audit.Message = "by " + ev.Audit.Actor
	})
	add("record holding the actor first", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: ev.Audit.Actor, Message: res})
	})
	add("record holding the actor last", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, Message: "m", SourceAddress: ev.Audit.Actor})
	})
	add("record holding the actor twice", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, Action: ev.Audit.Actor, Message: ev.Audit.Actor})
	})
	add("record holding the actor with a long length", func(ev *eventlogv1.Event) {
		a := ev.Audit.Actor
		ev.Data.Value = append(append([]byte{3<<3 | 2, 0x80 | byte(len(a)), 0}, a...), ev.Data.Value...)
	})
	add("record holding the actor, no actor", func(ev *eventlogv1.Event) {
		ev.Data, _ = anypb.New(&eventlogv1.AuditEnvelope{Actor: res, Action: ""})
		ev.Audit.Actor = ""
	})
	return cases
}

// TestStoredRoundTrip (issue 13): every event is read back from its stored
// form as it was appended, and encoding leaves the event as it was.
func TestStoredRoundTrip(t *testing.T) {
	for name, ev := range storedCases(t) {
		t.Run(name, func(t *testing.T) {
			before := proto.Clone(ev)
			b, err := encodeStored(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(ev, before) {
				t.Fatalf("encodeStored changed the event:\n%v\nwant\n%v", ev, before)
			}
			got, err := decodeStored(b, ev.GetSequence(), ev.GetSource(), ev.GetLogId())
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, ev) {
				t.Fatalf("decoded\n%v\nwant\n%v", got, ev)
			}
		})
	}
}

// TestStoredLeavesOut (issue 13): what the stored form leaves out, and
// keeps, in the cases that tell.
func TestStoredLeavesOut(t *testing.T) {
	cases := storedCases(t)
	for name, c := range map[string]struct{ left, kept byte }{
		"typical":                                     {flagOrganization | flagAction | flagTypeURL | flagName, flagDataType | flagActorField | flagMessage},
		"organization not the resource's":             {0, flagOrganization},
		"action not the type":                         {0, flagAction},
		"data of the type the event's names":          {flagDataType, flagTypeURL},
		"type URL of another prefix":                  {0, flagTypeURL | flagDataType},
		"data of another name":                        {0, flagName},
		"name with a long length":                     {0, flagName},
		"record holding the actor":                    {flagName | flagActorField | flagMessage, 0},
		"record holding the actor first":              {flagActorField, flagName},
		"record holding the actor with a long length": {0, flagActorField},
		"message of the record's strings":             {flagMessage, 0},
		"message of short strings only":               {0, flagMessage},
	} {
		ev, ok := cases[name]
		if !ok {
			t.Fatalf("no case %q", name)
		}
		b, err := encodeStored(ev)
		if err != nil {
			t.Fatal(err)
		}
		if flags := b[1]; flags&c.left != c.left || flags&c.kept != 0 {
			t.Errorf("%s: flags %05b, want %05b set and %05b clear", name, flags, c.left, c.kept)
		}
	}
}

// TestStoredSmaller (issue 13): a typical event is stored without its
// sequence, source, log ID, organization, action, type URL prefix and
// record name.
func TestStoredSmaller(t *testing.T) {
	ev := storedCases(t)["typical"]
	full, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeStored(ev)
	if err != nil {
		t.Fatal(err)
	}
	saved := len(full) - len(b)
	want := 2 + len("access") + 2 + len(ev.GetLogId()) + 2 + len(ev.GetOrganization()) + 2 + len(ev.GetType()) + 2 +
		len(typeURLPrefix) + 2 + len(ev.GetResource()) - 2 // minus the header
	if saved < want {
		t.Errorf("stored %d bytes of %d: saved %d, want at least %d", len(b), len(full), saved, want)
	}
}

// TestStoredMessageTemplate (issue 13): a role assignment's message,
// which names the role, the principal and the scope of the record the
// event carries, is stored as a template of a few bytes.
func TestStoredMessageTemplate(t *testing.T) {
	ev := storedCases(t)["message of the record's strings"]
	refs := refStrings(ev)
	tmpl, ok := messageTemplate(ev.GetAudit().GetMessage(), refs)
	if !ok {
		t.Fatal("no template")
	}
	// res is the resource (0) and the record's field 1 (2): the first
	// wins; the actor is 1, the record's field 2 ("display") 3.
	want := "Role \xff\x00 was assigned to \xff\x01 at organizations/o1 by \xff\x03."
	if string(tmpl) != want {
		t.Errorf("template %q, want %q", tmpl, want)
	}
	if got, err := expandTemplate(tmpl, refs); err != nil || got != ev.GetAudit().GetMessage() {
		t.Errorf("expandTemplate = %q, %v", got, err)
	}
}

// TestDataTypeOf: the message an event type carries by Steward's naming.
func TestDataTypeOf(t *testing.T) {
	for typ, want := range map[string]string{
		"access.role_assignment.created": "steward.access.v1.RoleAssignment",
		"directory.api_key.created":      "steward.directory.v1.ApiKey",
		"licensing.pool.updated":         "steward.licensing.v1.Pool",
		"access.call":                    "",
		"access":                         "",
		".role.created":                  "",
		"access..created":                "",
	} {
		if got := dataTypeOf(typ); got != want {
			t.Errorf("dataTypeOf(%q) = %q, want %q", typ, got, want)
		}
	}
}

// TestStoredUnknownForm: a stored form with flags this version does not
// know, or that does not hold together, is an error, not a guess.
func TestStoredUnknownForm(t *testing.T) {
	for _, b := range [][]byte{
		{storedMark},
		{storedMark, 0x80},
		{storedMark, flagMessage},
		{storedMark, flagMessage, 2, 'a', refMark},
		{storedMark, flagMessage, 3, 'a', refMark, 7},
		{storedMark, flagActorField},
		{storedMark, flagActorField, 0},
		{storedMark, flagActorField, 0, 0},
		{storedMark, flagActorField, 5, 1},
	} {
		if _, err := decodeStored(b, 1, "access", "id"); err == nil {
			t.Errorf("decodeStored(%x) succeeded", b)
		}
	}
}

// TestStoredBeforeIssue13 (issue 13): events stored whole, as before, are
// read as they were, next to compact ones, and retention judges both by
// their time.
func TestStoredBeforeIssue13(t *testing.T) {
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "s.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	l, err := New(st, "access", Options{Clock: func() time.Time { return now }, Retention: Retention{MaxAge: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var want []*eventlogv1.Event
	err = st.Update(ctx, func(tx store.Tx) error {
		for name, ev := range storedCases(t) {
			if name == "no time" {
				continue
			}
			old := len(want)%2 == 0
			if old {
				// As Append stored events before issue 13: whole.
				seq, err := tx.NextSequence(sequenceName)
				if err != nil {
					return err
				}
				id, err := l.idTx(tx)
				if err != nil {
					return err
				}
				ev.Sequence, ev.Time, ev.Source, ev.LogId = seq, timestamppb.New(now.Add(-2*time.Hour)), "access", id
				if err := store.PutProto(tx, eventKey(seq), ev); err != nil {
					return err
				}
			} else if _, err := l.Append(tx, ev); err != nil {
				return err
			}
			want = append(want, ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("event %d:\n%v\nwant\n%v", i+1, got[i], want[i])
		}
	}

	// The first event is old and stored whole: compaction by age deletes it
	// and stops at the next, which is new.
	now = now.Add(30 * time.Minute)
	if _, err := l.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := l.Horizon(ctx); err != nil || h != 1 {
		t.Errorf("horizon %d, %v; want 1", h, err)
	}
}

// FuzzStoredEvent: whatever an event holds, it is read back from its stored
// form as it was appended.
func FuzzStoredEvent(f *testing.F) {
	for _, ev := range storedCases(f) {
		a := ev.GetAudit()
		f.Add(ev.GetType(), ev.GetResource(), ev.GetOrganization(), a.GetAction(), a.GetActor(), a.GetMessage(), ev.GetData().GetTypeUrl(), ev.GetData().GetValue(), ev.GetData() != nil, a != nil)
	}
	f.Fuzz(func(t *testing.T, typ, resource, org, action, actor, message, typeURL string, value []byte, data, audit bool) {
		ev := &eventlogv1.Event{Sequence: 7, Source: "directory", LogId: "id", Type: typ, Resource: resource, Organization: org}
		if audit {
			ev.Audit = &eventlogv1.AuditEnvelope{Action: action, Actor: actor, Message: message}
		}
		if data {
			ev.Data = &anypb.Any{TypeUrl: typeURL, Value: value}
		}
		b, err := encodeStored(ev)
		if err != nil {
			return // not valid UTF-8: Append refuses it as before
		}
		got, err := decodeStored(b, 7, "directory", "id")
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, ev) {
			t.Fatalf("decoded\n%v\nwant\n%v", got, ev)
		}
	})
}

// BenchmarkStoredEvent measures storing and reading back an access event
// of the medium bench load (issue 13): a role assignment with its record
// and a message naming its role, principal and scope.
func BenchmarkStoredEvent(b *testing.B) {
	const (
		org   = "organizations/bench"
		res   = org + "/roleAssignments/a0mx8yxu6r3f8p26k3b99m"
		role  = org + "/roles/bench-runner"
		user  = org + "/users/u4410"
		scope = org + "/tenants/t3/services/s3/folders/f4/folders/f24"
		owner = org + "/users/kph800pktsjn"
	)
	// eventlogv1.AuditEnvelope stands for the record: five strings, the
	// last its creator.
	data, err := anypb.New(&eventlogv1.AuditEnvelope{Actor: res, ActorDisplayName: user, Action: role, Message: scope, RequestId: owner})
	if err != nil {
		b.Fatal(err)
	}
	ev, err := NewEvent("access.role_assignment.created", eventlogv1.Operation_OPERATION_CREATE, res, nil, &eventlogv1.AuditEnvelope{
		Actor: owner, ActorDisplayName: "owner", RequestId: "dc2bb6f7-2553-4437-bef1-5d36239b976d", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS,
		SourceAddress: "127.0.0.1", Message: "Role " + role + " was assigned to " + user + " at " + scope + ".",
	})
	if err != nil {
		b.Fatal(err)
	}
	data.TypeUrl = typeURLPrefix + "steward.access.v1.RoleAssignment"
	ev.Data, ev.Sequence, ev.Time, ev.Source, ev.LogId = data, 50001, timestamppb.Now(), "access", "da77a6b5c123276b59d355c58cbb6a8a"
	full, _ := proto.Marshal(ev)
	stored, err := encodeStored(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeStored(ev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(full)), "bytes-whole")
		b.ReportMetric(float64(len(stored)), "bytes-stored")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeStored(stored, 50001, "access", "da77a6b5c123276b59d355c58cbb6a8a"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal-whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := storeOptions.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal-whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(full, &eventlogv1.Event{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
