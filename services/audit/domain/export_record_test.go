package domain_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/pkg/store/storetest"
	"steward.dev/services/audit/domain"
	"steward.dev/services/audit/ledger"
)

// exportsOf returns the records of downloads (R27) in org's log: the
// events a search by action "ExportAuditEvents" finds.
func exportsOf(t *testing.T, d *domain.Service) []*auditv1.AuditEvent {
	t.Helper()
	resp, err := d.ListAuditEvents(context.Background(), auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: `action = "ExportAuditEvents"`})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAuditEvents()
}

// R27: every download of audit events is itself an audit event, recorded
// in the organization's log before the first byte goes out, with who
// downloaded (and the API key they used), their request ID and address,
// and the format and filter in the message. It is the download's last
// event.
func TestExportRecorded(t *testing.T) {
	signedIn := auditor
	signedIn.DisplayName, signedIn.RequestID, signedIn.SourceAddress = "Audrey", "req-export", "192.0.2.7"
	robot := domain.Actor{Name: org + "/robotAccounts/r1", Organization: org, DisplayName: "Robot 1", RequestID: "req-key",
		SourceAddress: "198.51.100.3", APIKey: org + "/robotAccounts/r1/apiKeys/k1"}
	for _, tc := range []struct {
		name    string
		actor   domain.Actor
		req     *auditv1.ExportAuditEventsRequest
		message string
	}{
		{"CSV, no filter", signedIn, &auditv1.ExportAuditEventsRequest{Parent: org},
			"Audit events of " + org + " were exported as CSV (no filter)."},
		{"JSON lines, a filter", signedIn, &auditv1.ExportAuditEventsRequest{Parent: org, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL, Filter: `source = directory`},
			"Audit events of " + org + " were exported as JSON lines (filter: source = directory)."},
		{"an API key", robot, &auditv1.ExportAuditEventsRequest{Parent: org, Format: auditv1.ExportAuditEventsRequest_FORMAT_CSV},
			"Audit events of " + org + " were exported as CSV (no filter) with API key " + robot.APIKey + "."},
		{"a service", service, &auditv1.ExportAuditEventsRequest{Parent: org},
			"Audit events of " + org + " were exported as CSV (no filter)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			f.apply("directory", f.event("directory", "directory.user.created", org+"/users/u", &eventlogv1.AuditEnvelope{Actor: org + "/users/owner"}))
			var first []byte
			err := f.d.ExportAuditEvents(context.Background(), tc.actor, tc.req, func(chunk []byte) error {
				if first == nil {
					first = append([]byte{}, chunk...)
					if n := len(exportsOf(t, f.d)); n != 1 {
						t.Errorf("%d records of the download when its first byte goes out, want 1", n)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := exportsOf(t, f.d)
			if len(got) != 1 {
				t.Fatalf("%d records of the download, want 1: %v", len(got), got)
			}
			want := &auditv1.AuditEvent{
				Name:             org + "/auditEvents/1",
				Index:            1,
				Time:             got[0].GetTime(),
				Source:           "audit",
				Type:             domain.TypeEventsExported,
				Actor:            tc.actor.Name,
				ActorDisplayName: tc.actor.DisplayName,
				Action:           "ExportAuditEvents",
				Target:           org,
				Outcome:          eventlogv1.Outcome_OUTCOME_SUCCESS,
				RequestId:        tc.actor.RequestID,
				SourceAddress:    tc.actor.SourceAddress,
				Message:          tc.message,
				Organization:     org,
			}
			if !proto.Equal(got[0], want) {
				t.Errorf("record = %v\nwant %v", got[0], want)
			}
			if !got[0].GetTime().AsTime().Equal(f.now) {
				t.Errorf("time %v, want the clock's %v", got[0].GetTime().AsTime(), f.now)
			}
		})
	}
}

// R27: a download refused before its first byte (a malformed filter,
// another organization) is no download and records nothing.
func TestExportRefusedNotRecorded(t *testing.T) {
	f := newFixture(t, domain.Options{})
	for _, req := range []*auditv1.ExportAuditEventsRequest{
		{Parent: org, Filter: `actor`},
		{Parent: other},
	} {
		if err := f.d.ExportAuditEvents(context.Background(), auditor, req, func([]byte) error { return nil }); err == nil {
			t.Errorf("%v: exported", req)
		}
	}
	if got := exportsOf(t, f.d); len(got) != 0 {
		t.Errorf("refused downloads recorded: %v", got)
	}
}

// R27: a download that cannot be recorded sends nothing and fails with
// the reason.
func TestExportUnrecordedFails(t *testing.T) {
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "audit.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	full := errors.New("disk full")
	d := domain.New(storetest.FailingUpdates{Store: st, Err: full}, ledger.New(st, nil), domain.Options{})
	sent := 0
	err = d.ExportAuditEvents(context.Background(), auditor, &auditv1.ExportAuditEventsRequest{Parent: org}, func([]byte) error { sent++; return nil })
	if !errors.Is(err, full) || sent != 0 {
		t.Errorf("ExportAuditEvents = %v after %d chunks, want %v and nothing sent", err, sent, full)
	}
}
