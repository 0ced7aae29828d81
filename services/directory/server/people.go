package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/apierr"
)

// GetDepartment reads a department (R7).
func (s *directoryServer) GetDepartment(ctx context.Context, req *directoryv1.GetDepartmentRequest) (*directoryv1.Department, error) {
	return reply(s.d.GetDepartment(ctx, actorOf(ctx), req))
}

// ListDepartments lists departments (R7).
func (s *directoryServer) ListDepartments(ctx context.Context, req *directoryv1.ListDepartmentsRequest) (*directoryv1.ListDepartmentsResponse, error) {
	return reply(s.d.ListDepartments(ctx, actorOf(ctx), req))
}

// CreateDepartment creates a department (R7).
func (s *directoryServer) CreateDepartment(ctx context.Context, req *directoryv1.CreateDepartmentRequest) (*directoryv1.Department, error) {
	return reply(s.d.CreateDepartment(ctx, actorOf(ctx), req))
}

// UpdateDepartment renames or moves a department (R7).
func (s *directoryServer) UpdateDepartment(ctx context.Context, req *directoryv1.UpdateDepartmentRequest) (*directoryv1.Department, error) {
	return reply(s.d.UpdateDepartment(ctx, actorOf(ctx), req))
}

// DeleteDepartment deletes an empty department (R7).
func (s *directoryServer) DeleteDepartment(ctx context.Context, req *directoryv1.DeleteDepartmentRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteDepartment(ctx, actorOf(ctx), req))
}

// GetUser reads a user (R3).
func (s *directoryServer) GetUser(ctx context.Context, req *directoryv1.GetUserRequest) (*directoryv1.User, error) {
	return reply(s.d.GetUser(ctx, actorOf(ctx), req))
}

// ListUsers lists users with filters (R3, R7).
func (s *directoryServer) ListUsers(ctx context.Context, req *directoryv1.ListUsersRequest) (*directoryv1.ListUsersResponse, error) {
	return reply(s.d.ListUsers(ctx, actorOf(ctx), req))
}

// CreateUser creates a user (R3).
func (s *directoryServer) CreateUser(ctx context.Context, req *directoryv1.CreateUserRequest) (*directoryv1.User, error) {
	return reply(s.d.CreateUser(ctx, actorOf(ctx), req))
}

// UpdateUser changes a user (R3).
func (s *directoryServer) UpdateUser(ctx context.Context, req *directoryv1.UpdateUserRequest) (*directoryv1.User, error) {
	return reply(s.d.UpdateUser(ctx, actorOf(ctx), req))
}

// DeleteUser deletes a user (R3, R4).
func (s *directoryServer) DeleteUser(ctx context.Context, req *directoryv1.DeleteUserRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteUser(ctx, actorOf(ctx), req))
}

// ActivateUser lets an inactive user sign in again (R3).
func (s *directoryServer) ActivateUser(ctx context.Context, req *directoryv1.ActivateUserRequest) (*directoryv1.User, error) {
	return reply(s.d.ActivateUser(ctx, actorOf(ctx), req))
}

// DeactivateUser stops a user from signing in (R3, R4).
func (s *directoryServer) DeactivateUser(ctx context.Context, req *directoryv1.DeactivateUserRequest) (*directoryv1.User, error) {
	return reply(s.d.DeactivateUser(ctx, actorOf(ctx), req))
}

// MoveUser moves a user to another department (R7).
func (s *directoryServer) MoveUser(ctx context.Context, req *directoryv1.MoveUserRequest) (*directoryv1.User, error) {
	return reply(s.d.MoveUser(ctx, actorOf(ctx), req))
}

// GetGroup reads a group (R5).
func (s *directoryServer) GetGroup(ctx context.Context, req *directoryv1.GetGroupRequest) (*directoryv1.Group, error) {
	return reply(s.d.GetGroup(ctx, actorOf(ctx), req))
}

// ListGroups lists groups (R5).
func (s *directoryServer) ListGroups(ctx context.Context, req *directoryv1.ListGroupsRequest) (*directoryv1.ListGroupsResponse, error) {
	return reply(s.d.ListGroups(ctx, actorOf(ctx), req))
}

// CreateGroup creates a custom group (R5).
func (s *directoryServer) CreateGroup(ctx context.Context, req *directoryv1.CreateGroupRequest) (*directoryv1.Group, error) {
	return reply(s.d.CreateGroup(ctx, actorOf(ctx), req))
}

// UpdateGroup changes a group (R5).
func (s *directoryServer) UpdateGroup(ctx context.Context, req *directoryv1.UpdateGroupRequest) (*directoryv1.Group, error) {
	return reply(s.d.UpdateGroup(ctx, actorOf(ctx), req))
}

// DeleteGroup deletes a custom group (R5).
func (s *directoryServer) DeleteGroup(ctx context.Context, req *directoryv1.DeleteGroupRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteGroup(ctx, actorOf(ctx), req))
}

// AddGroupMember adds a user to a group (R5); access management must allow
// it for a user caller (R17, MembershipChange).
func (s *directoryServer) AddGroupMember(ctx context.Context, req *directoryv1.AddGroupMemberRequest) (*directoryv1.GroupMembership, error) {
	return reply(s.d.AddGroupMember(ctx, actorOf(ctx), req))
}

// RemoveGroupMember removes a user from a group (R5); access management
// must allow it for a user caller (R17, MembershipChange).
func (s *directoryServer) RemoveGroupMember(ctx context.Context, req *directoryv1.RemoveGroupMemberRequest) (*emptypb.Empty, error) {
	return empty(s.d.RemoveGroupMember(ctx, actorOf(ctx), req))
}

// BatchAddGroupMembers adds users to groups in one transaction (issue 13);
// the domain checks each item as AddGroupMember does (R5, R17).
func (s *directoryServer) BatchAddGroupMembers(ctx context.Context, req *directoryv1.BatchAddGroupMembersRequest) (*directoryv1.BatchAddGroupMembersResponse, error) {
	return reply(s.d.BatchAddGroupMembers(ctx, actorOf(ctx), req))
}

// BatchRemoveGroupMembers removes users from groups in one transaction
// (issue 13); the domain checks each item as RemoveGroupMember does (R5,
// R17).
func (s *directoryServer) BatchRemoveGroupMembers(ctx context.Context, req *directoryv1.BatchRemoveGroupMembersRequest) (*emptypb.Empty, error) {
	return empty(s.d.BatchRemoveGroupMembers(ctx, actorOf(ctx), req))
}

// ListGroupMembers lists a group's members (R5).
func (s *directoryServer) ListGroupMembers(ctx context.Context, req *directoryv1.ListGroupMembersRequest) (*directoryv1.ListGroupMembersResponse, error) {
	return reply(s.d.ListGroupMembers(ctx, actorOf(ctx), req))
}

// ListUserGroups lists a user's groups, Everyone included (R5). Its rule is
// only "authenticated": the user themself may always ask; anybody else
// needs users.view at the user, and is told NotFound otherwise, as the
// method's contract says (services are allowed by require).
func (s *directoryServer) ListUserGroups(ctx context.Context, req *directoryv1.ListUserGroupsRequest) (*directoryv1.ListUserGroupsResponse, error) {
	actor := actorOf(ctx)
	if actor.Name != req.GetUser() {
		if err := s.require(ctx, "/steward.directory.v1.DirectoryService/ListUserGroups", req.GetUser(), "users.view"); err != nil {
			if status.Code(err) == codes.PermissionDenied {
				return nil, apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, req.GetUser()+" not found", nil).GRPCStatus().Err()
			}
			return nil, err
		}
	}
	return reply(s.d.ListUserGroups(ctx, actor, req))
}
