package access_test

import (
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// TestBatchCreateRoleAssignmentsWiring (R15, R17, issue 13), over the real
// wiring: a batch passes each item through CreateRoleAssignment's
// delegation limits and escalation prevention for the caller. A refused
// item refuses the whole batch with the item's own code and reason, names
// it (ErrorInfo "item": "requests[1]"), and nothing is written: no event,
// no assignment in ListPrincipalRoles (R15's explicit view). An allowed
// batch makes one event per assignment, and its sequence makes Check see
// them all.
func TestBatchCreateRoleAssignmentsWiring(t *testing.T) {
	f := gaSetup(t)
	editor := gaCreateRole(t, f.e.a, f.ownerCtx, &accessv1.CreateRoleRequest{Parent: f.org, RoleId: "user-editor", Role: &accessv1.Role{DisplayName: "User editor", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.edit"}}})
	f.grant(f.bob, f.org, editor.GetName())
	f.grant(f.alice, f.tenantA, "roles/tenant-administrator")
	item := func(principal, scope string, roles ...string) *accessv1.CreateRoleAssignmentRequest {
		return &accessv1.CreateRoleAssignmentRequest{Parent: f.org, Principal: principal, Scope: scope, Roles: roles}
	}
	explicit := func() string {
		resp, err := f.e.a.ListPrincipalRoles(f.ownerCtx, &accessv1.ListPrincipalRolesRequest{Principal: f.carol})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(resp.GetRoleAssignments())
	}
	refusals := []struct {
		name   string
		actor  string
		items  []*accessv1.CreateRoleAssignmentRequest
		code   codes.Code
		reason string
		md     map[string]string
	}{
		{"escalation in the second item", f.bob, []*accessv1.CreateRoleAssignmentRequest{
			item(f.carol, f.org, editor.GetName()), item(f.carol, f.org, "roles/organization-administrator"),
		}, codes.PermissionDenied, "ESCALATION", map[string]string{"permission": "*", "item": "requests[1]"}},
		{"delegation denied in the second item", f.alice, []*accessv1.CreateRoleAssignmentRequest{
			item(f.carol, f.serviceA, "roles/orchestrator-administrator"), item(f.carol, f.serviceB, "roles/orchestrator-administrator"),
		}, codes.PermissionDenied, "DELEGATION_DENIED", map[string]string{"scope": f.serviceB, "item": "requests[1]"}},
		{"unknown principal in the second item", f.alice, []*accessv1.CreateRoleAssignmentRequest{
			item(f.carol, f.folderA, "roles/automation-user"), item(f.org+"/users/nobody", f.folderA, "roles/automation-user"),
		}, codes.NotFound, "", map[string]string{"item": "requests[1]"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			head, was := gaHead(t, f.e), explicit()
			ctx, opt := f.as(tt.actor)
			_, err := f.e.a.BatchCreateRoleAssignments(ctx, &accessv1.BatchCreateRoleAssignmentsRequest{Parent: f.org, Requests: tt.items}, opt)
			gaWant(t, err, tt.code, tt.reason, tt.md)
			if evs := gaEvents(t, f.e, head); len(evs) != 0 {
				t.Errorf("a refused batch appended %v", gaTypes(evs))
			}
			if now := explicit(); now != was {
				t.Errorf("a refused batch changed carol's roles: %s -> %s", was, now)
			}
		})
	}

	t.Run("invalid items", func(t *testing.T) {
		ctx, opt := f.as(f.alice)
		_, err := f.e.a.BatchCreateRoleAssignments(ctx, &accessv1.BatchCreateRoleAssignmentsRequest{Parent: f.org, Requests: []*accessv1.CreateRoleAssignmentRequest{
			item(f.carol, f.folderA, "roles/automation-user"),
			{Parent: "organizations/elsewhere", Principal: "organizations/elsewhere/users/x", Scope: "organizations/elsewhere", Roles: []string{"roles/user"}},
		}}, opt)
		if field := batchViolation(err); status.Code(err) != codes.InvalidArgument || field != "requests[1].parent" {
			t.Errorf("an item of another parent: %v (field %q), want InvalidArgument on requests[1].parent", err, field)
		}
		many := make([]*accessv1.CreateRoleAssignmentRequest, 1001)
		for i := range many {
			many[i] = item(f.carol, f.folderA, "roles/automation-user")
		}
		_, err = f.e.a.BatchCreateRoleAssignments(ctx, &accessv1.BatchCreateRoleAssignmentsRequest{Parent: f.org, Requests: many}, opt)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("1,001 items: %v, want InvalidArgument", err)
		}
	})

	t.Run("allowed", func(t *testing.T) {
		head := gaHead(t, f.e)
		ctx, opt := f.as(f.alice)
		resp, err := f.e.a.BatchCreateRoleAssignments(ctx, &accessv1.BatchCreateRoleAssignmentsRequest{Parent: f.org, Requests: []*accessv1.CreateRoleAssignmentRequest{
			item(f.carol, f.folderA, "roles/automation-user"), item(f.bob, f.folderA, "roles/automation-user", "roles/automation-developer"),
			item(f.carol, f.folderA, "roles/automation-user"),
		}}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetRoleAssignments()); n != 4 {
			t.Errorf("%d assignments returned, want 4 (one per item and role)", n)
		}
		if evs := gaEvents(t, f.e, head); len(evs) != 3 {
			t.Errorf("events %v, want three role_assignment.created (the duplicate makes none)", gaTypes(evs))
		}
		for _, p := range []string{f.carol, f.bob} {
			ok, err := f.e.a.CheckPermission(f.ownerCtx, &accessv1.CheckPermissionRequest{Principal: p, Permission: "orchestrator.jobs.create", Scope: f.folderA, AtLeastSequence: resp.GetSequence()})
			if err != nil || !ok.GetAllowed() {
				t.Errorf("%s after the batch: %v, %v; want allowed", p, ok, err)
			}
		}
	})
}

// batchViolation returns the field of err's first BadRequest violation.
func batchViolation(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
