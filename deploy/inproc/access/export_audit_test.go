package access_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/services/access/domain"
)

// xaExported returns access's access.role_assignments.exported events
// after seq.
func xaExported(t *testing.T, e *env, after uint64) []*eventlogv1.Event {
	t.Helper()
	var out []*eventlogv1.Event
	for _, ev := range gaEvents(t, e, after) {
		if ev.GetType() == domain.TypeRoleAssignmentsExported {
			out = append(out, ev)
		}
	}
	return out
}

// TestExportRoleAssignmentsRecorded: R27 for R19 — each export through the
// service appends one access.role_assignments.exported event to access's
// log, with the organization, the action, who exported (a robot account
// calling with an API key as the account, the key in the message), the
// call's request ID and the client's address; an export of another
// organization is NotFound and records nothing.
func TestExportRoleAssignmentsRecorded(t *testing.T) {
	e := newEnv(t)
	su := e.signUp()
	org := su.GetOrganization().GetName()
	owner := e.as(su.GetOwner().GetName(), org)
	robot, err := e.d.CreateRobot(owner, &directoryv1.CreateRobotRequest{Parent: org, RobotId: "r1",
		Robot: &directoryv1.Robot{DisplayName: "R1", MachineName: "m1"}}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	account := robot.GetRobotAccount()
	k, err := e.d.CreateApiKey(owner, &directoryv1.CreateApiKeyRequest{Parent: account, ApiKey: &directoryv1.ApiKey{DisplayName: "exports"}}, e.dirSvc)
	if err != nil {
		t.Fatal(err)
	}
	// CreateRoleAssignment catches up with the directory first.
	if _, err := e.a.CreateRoleAssignment(owner, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: account,
		Roles: []string{"roles/organization-administrator"}, Scope: org}, e.accSvc); err != nil {
		t.Fatal(err)
	}
	key := k.GetApiKey().GetName()

	for _, tc := range []struct {
		name      string
		ctx       context.Context
		opts      []grpc.CallOption
		actor     string
		requestID string
		message   string
	}{
		{"the owner", owner, []grpc.CallOption{e.accSvc}, su.GetOwner().GetName(), "req-owner",
			"Role assignments of " + org + " were exported as CSV."},
		{"an API key", bearer(k.GetSecret()), nil, account, "req-key",
			"Role assignments of " + org + " were exported as CSV with API key " + key + "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := gaHead(t, e)
			ctx := metadata.AppendToOutgoingContext(tc.ctx, authn.MDRequestID, tc.requestID)
			if _, err := e.xrRunExport(ctx, org, tc.opts...); err != nil {
				t.Fatalf("export: %v", err)
			}
			evs := xaExported(t, e, head)
			if len(evs) != 1 {
				t.Fatalf("%d export events, want 1: %v", len(evs), evs)
			}
			ev, a := evs[0], evs[0].GetAudit()
			if ev.GetResource() != org || ev.GetOrganization() != org || ev.GetOperation() != eventlogv1.Operation_OPERATION_UNSPECIFIED {
				t.Errorf("event %v", ev)
			}
			if a.GetActor() != tc.actor || a.GetAction() != "ExportRoleAssignments" || a.GetOutcome() != eventlogv1.Outcome_OUTCOME_SUCCESS ||
				a.GetRequestId() != tc.requestID || a.GetSourceAddress() == "" || a.GetMessage() != tc.message {
				t.Errorf("audit envelope %v", a)
			}
		})
	}

	// Another organization's owner: NotFound, nothing recorded.
	other := e.signUp()
	head := gaHead(t, e)
	if _, err := e.xrRunExport(e.as(other.GetOwner().GetName(), other.GetOrganization().GetName()), org, e.accSvc); status.Code(err) != codes.NotFound {
		t.Errorf("export of another organization: %v, want NotFound", err)
	}
	if evs := xaExported(t, e, head); len(evs) != 0 {
		t.Errorf("a refused export was recorded: %v", evs)
	}
}
