package domain

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store/storetest"
	"steward.dev/services/access/authorizer"
)

// xaEvents returns the events of s's log after seq.
func xaEvents(t *testing.T, s *Service, after uint64) []*eventlogv1.Event {
	t.Helper()
	evs, err := s.log.Read(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestExportRecorded (R27, R19): every export of role assignments appends
// one access.role_assignments.exported event to access's log before its
// first byte is emitted, with the organization as resource, action
// ExportRoleAssignments, the actor's request ID and address; an API key
// is recorded as its principal, the key named in the message.
func TestExportRecorded(t *testing.T) {
	const key = dtAccount + "/apiKeys/k1"
	for _, tc := range []struct {
		name      string
		actor     Actor
		wantActor string
		message   string
	}{
		{"a user", Actor{Name: dtOwner, DisplayName: "Owner", Organization: dtOrg, RequestID: "req-1", SourceAddress: "192.0.2.1"},
			dtOwner, "Role assignments of " + dtOrg + " were exported as CSV."},
		{"an API key", Actor{Name: key, DisplayName: "Robot 1", Organization: dtOrg, RequestID: "req-2", SourceAddress: "192.0.2.2"},
			dtAccount, "Role assignments of " + dtOrg + " were exported as CSV with API key " + key + "."},
		{"a service", Actor{Name: "services/harness", RequestID: "req-3"},
			"services/harness", "Role assignments of " + dtOrg + " were exported as CSV."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
			defer st.Close()
			dtSetup(t, st, s)
			head := dfHead(t, s)
			var atFirstByte []*eventlogv1.Event
			err := s.ExportRoleAssignments(context.Background(), tc.actor, &accessv1.ExportRoleAssignmentsRequest{Parent: dtOrg}, func([]byte) error {
				if atFirstByte == nil {
					atFirstByte = xaEvents(t, s, head)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(atFirstByte) != 1 {
				t.Fatalf("%d events when the first byte went out, want 1", len(atFirstByte))
			}
			evs := xaEvents(t, s, head)
			if len(evs) != 1 {
				t.Fatalf("%d events after the export, want 1", len(evs))
			}
			ev := evs[0]
			if ev.GetType() != TypeRoleAssignmentsExported || ev.GetResource() != dtOrg || ev.GetOrganization() != dtOrg ||
				ev.GetOperation() != eventlogv1.Operation_OPERATION_UNSPECIFIED || ev.GetData() != nil {
				t.Errorf("event %v", ev)
			}
			want := &eventlogv1.AuditEnvelope{
				Actor:            tc.wantActor,
				ActorDisplayName: tc.actor.DisplayName,
				Action:           "ExportRoleAssignments",
				Message:          tc.message,
				RequestId:        tc.actor.RequestID,
				Outcome:          eventlogv1.Outcome_OUTCOME_SUCCESS,
				SourceAddress:    tc.actor.SourceAddress,
			}
			if !proto.Equal(ev.GetAudit(), want) {
				t.Errorf("audit envelope = %v\nwant %v", ev.GetAudit(), want)
			}
		})
	}
}

// TestExportRefusedNotRecorded (R27): an export of another organization
// is NotFound and records nothing: nothing was exported.
func TestExportRefusedNotRecorded(t *testing.T) {
	st, s := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	head := dfHead(t, s)
	stranger := Actor{Name: "organizations/other/users/u", Organization: "organizations/other"}
	err := s.ExportRoleAssignments(context.Background(), stranger, &accessv1.ExportRoleAssignmentsRequest{Parent: dtOrg}, func([]byte) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("export of another organization: %v, want ErrNotFound", err)
	}
	if evs := xaEvents(t, s, head); len(evs) != 0 {
		t.Errorf("recorded %v", evs)
	}
}

// TestExportUnrecordedFails (R27): an export that cannot be recorded emits
// nothing and fails with the reason.
func TestExportUnrecordedFails(t *testing.T) {
	st, ok := dtOpen(t, filepath.Join(t.TempDir(), "access.db"))
	defer st.Close()
	full := errors.New("disk full")
	s, err := New(context.Background(), storetest.FailingUpdates{Store: st, Err: full}, ok.log, authorizer.New(authorizer.Sizes{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	emitted := 0
	err = s.ExportRoleAssignments(context.Background(), Actor{Name: dtOwner, Organization: dtOrg}, &accessv1.ExportRoleAssignmentsRequest{Parent: dtOrg},
		func([]byte) error { emitted++; return nil })
	if !errors.Is(err, full) || emitted != 0 {
		t.Errorf("export = %v after %d chunks, want %v and nothing emitted", err, emitted, full)
	}
}
