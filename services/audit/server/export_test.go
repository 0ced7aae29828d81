package server_test

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/services/audit/domain"
)

// TestExportRecorded (R27): each download through the service is one
// audit event in the organization's log, found by a search on its action,
// with the user the harness acts for, the call's request ID and the
// client's address; a refused download records nothing.
func TestExportRecorded(t *testing.T) {
	e := newEnv(t, nil)
	const o1 = "organizations/o1"
	e.emit("directory", "directory.user.created", o1+"/users/ann", o1+"/users/owner", 3)
	e.waitIngested()
	search := func() []*auditv1.AuditEvent {
		t.Helper()
		resp, err := e.c.ListAuditEvents(as(o1, "auditor"), &auditv1.ListAuditEventsRequest{Parent: o1, Filter: `action = "ExportAuditEvents"`}, e.svc)
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetAuditEvents()
	}
	for i, tc := range []struct {
		name      string
		req       *auditv1.ExportAuditEventsRequest
		requestID string
		message   string
	}{
		{"CSV", &auditv1.ExportAuditEventsRequest{Parent: o1}, "req-csv",
			"Audit events of " + o1 + " were exported as CSV (no filter)."},
		{"JSON lines, filtered", &auditv1.ExportAuditEventsRequest{Parent: o1, Format: auditv1.ExportAuditEventsRequest_FORMAT_JSONL, Filter: `source = directory`}, "req-jsonl",
			"Audit events of " + o1 + " were exported as JSON lines (filter: source = directory)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(as(o1, "auditor"), authn.MDRequestID, tc.requestID)
			stream, err := e.c.ExportAuditEvents(ctx, tc.req, e.svc)
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := stream.Recv(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			got := search()
			if len(got) != i+1 {
				t.Fatalf("%d records of downloads after %d downloads", len(got), i+1)
			}
			ev := got[0] // newest first
			if ev.GetSource() != "audit" || ev.GetType() != domain.TypeEventsExported || ev.GetActor() != o1+"/users/auditor" ||
				ev.GetTarget() != o1 || ev.GetOutcome() != eventlogv1.Outcome_OUTCOME_SUCCESS || ev.GetRequestId() != tc.requestID ||
				ev.GetSourceAddress() == "" || ev.GetMessage() != tc.message {
				t.Errorf("record = %v", ev)
			}
		})
	}

	// A malformed filter is refused before anything is recorded.
	stream, err := e.c.ExportAuditEvents(as(o1, "auditor"), &auditv1.ExportAuditEventsRequest{Parent: o1, Filter: `actor`}, e.svc)
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed filter: %v, want InvalidArgument", err)
	}
	if got := search(); len(got) != 2 {
		t.Errorf("%d records of downloads after a refused one, want 2", len(got))
	}
}
