package server

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	accessv1 "steward.dev/gen/steward/access/v1"
)

// ListPermissions lists the permission catalogue (R11).
func (s *accessServer) ListPermissions(ctx context.Context, req *accessv1.ListPermissionsRequest) (*accessv1.ListPermissionsResponse, error) {
	return reply(s.d.ListPermissions(ctx, actorOf(ctx), req))
}

// GetRole reads a built-in or custom role.
func (s *accessServer) GetRole(ctx context.Context, req *accessv1.GetRoleRequest) (*accessv1.Role, error) {
	return reply(s.d.GetRole(ctx, actorOf(ctx), req))
}

// ListRoles lists the built-in roles and the organization's custom roles
// (R12).
func (s *accessServer) ListRoles(ctx context.Context, req *accessv1.ListRolesRequest) (*accessv1.ListRolesResponse, error) {
	return reply(s.d.ListRoles(ctx, actorOf(ctx), req))
}

// CreateRole creates a custom role (R12).
func (s *accessServer) CreateRole(ctx context.Context, req *accessv1.CreateRoleRequest) (*accessv1.Role, error) {
	return reply(s.d.CreateRole(ctx, actorOf(ctx), req))
}

// UpdateRole changes a custom role.
func (s *accessServer) UpdateRole(ctx context.Context, req *accessv1.UpdateRoleRequest) (*accessv1.Role, error) {
	return reply(s.d.UpdateRole(ctx, actorOf(ctx), req))
}

// DeleteRole deletes a custom role and its assignments.
func (s *accessServer) DeleteRole(ctx context.Context, req *accessv1.DeleteRoleRequest) (*emptypb.Empty, error) {
	return reply(&emptypb.Empty{}, s.d.DeleteRole(ctx, actorOf(ctx), req))
}

// CreateRoleAssignment assigns roles to a principal at a scope (R13); the
// domain applies the delegation limits (R17).
func (s *accessServer) CreateRoleAssignment(ctx context.Context, req *accessv1.CreateRoleAssignmentRequest) (*accessv1.CreateRoleAssignmentResponse, error) {
	return reply(s.d.CreateRoleAssignment(ctx, actorOf(ctx), req))
}

// BatchCreateRoleAssignments makes several CreateRoleAssignment requests in
// one transaction (issue 13); the domain checks each item as
// CreateRoleAssignment does (R13, R17).
func (s *accessServer) BatchCreateRoleAssignments(ctx context.Context, req *accessv1.BatchCreateRoleAssignmentsRequest) (*accessv1.BatchCreateRoleAssignmentsResponse, error) {
	return reply(s.d.BatchCreateRoleAssignments(ctx, actorOf(ctx), req))
}

// ListRoleAssignments lists an organization's explicit assignments (R18 at
// service scopes).
func (s *accessServer) ListRoleAssignments(ctx context.Context, req *accessv1.ListRoleAssignmentsRequest) (*accessv1.ListRoleAssignmentsResponse, error) {
	return reply(s.d.ListRoleAssignments(ctx, actorOf(ctx), req))
}

// DeleteRoleAssignment removes an assignment (R17, R18).
func (s *accessServer) DeleteRoleAssignment(ctx context.Context, req *accessv1.DeleteRoleAssignmentRequest) (*emptypb.Empty, error) {
	return reply(&emptypb.Empty{}, s.d.DeleteRoleAssignment(ctx, actorOf(ctx), req))
}

// CheckMembershipChange tells the directory whether the end user it acts
// for may add a member to, or remove one from, a group (R17). The rule is
// internal: only services call it; the actor is the end user they act for.
func (s *accessServer) CheckMembershipChange(ctx context.Context, req *accessv1.CheckMembershipChangeRequest) (*accessv1.CheckMembershipChangeResponse, error) {
	return reply(s.d.CheckMembershipChange(ctx, actorOf(ctx), req))
}

// BatchCheckMembershipChange answers several CheckMembershipChange questions
// in one call (R17, issue 13). Internal, like CheckMembershipChange.
func (s *accessServer) BatchCheckMembershipChange(ctx context.Context, req *accessv1.BatchCheckMembershipChangeRequest) (*accessv1.BatchCheckMembershipChangeResponse, error) {
	return reply(s.d.BatchCheckMembershipChange(ctx, actorOf(ctx), req))
}
