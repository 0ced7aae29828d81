package server

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// Non-human principals (R6) and their API keys (R10).

// GetRobot reads one robot.
func (s *directoryServer) GetRobot(ctx context.Context, req *directoryv1.GetRobotRequest) (*directoryv1.Robot, error) {
	return reply(s.d.GetRobot(ctx, actorOf(ctx), req))
}

// ListRobots lists robots.
func (s *directoryServer) ListRobots(ctx context.Context, req *directoryv1.ListRobotsRequest) (*directoryv1.ListRobotsResponse, error) {
	return reply(s.d.ListRobots(ctx, actorOf(ctx), req))
}

// CreateRobot creates a robot and its robot account.
func (s *directoryServer) CreateRobot(ctx context.Context, req *directoryv1.CreateRobotRequest) (*directoryv1.Robot, error) {
	return reply(s.d.CreateRobot(ctx, actorOf(ctx), req))
}

// UpdateRobot changes a robot.
func (s *directoryServer) UpdateRobot(ctx context.Context, req *directoryv1.UpdateRobotRequest) (*directoryv1.Robot, error) {
	return reply(s.d.UpdateRobot(ctx, actorOf(ctx), req))
}

// DeleteRobot deletes a robot, its robot account and the account's API keys.
func (s *directoryServer) DeleteRobot(ctx context.Context, req *directoryv1.DeleteRobotRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteRobot(ctx, actorOf(ctx), req))
}

// GetRobotAccount reads one robot account.
func (s *directoryServer) GetRobotAccount(ctx context.Context, req *directoryv1.GetRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return reply(s.d.GetRobotAccount(ctx, actorOf(ctx), req))
}

// ListRobotAccounts lists robot accounts.
func (s *directoryServer) ListRobotAccounts(ctx context.Context, req *directoryv1.ListRobotAccountsRequest) (*directoryv1.ListRobotAccountsResponse, error) {
	return reply(s.d.ListRobotAccounts(ctx, actorOf(ctx), req))
}

// CreateRobotAccount creates a stand-alone robot account.
func (s *directoryServer) CreateRobotAccount(ctx context.Context, req *directoryv1.CreateRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return reply(s.d.CreateRobotAccount(ctx, actorOf(ctx), req))
}

// UpdateRobotAccount changes a robot account.
func (s *directoryServer) UpdateRobotAccount(ctx context.Context, req *directoryv1.UpdateRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return reply(s.d.UpdateRobotAccount(ctx, actorOf(ctx), req))
}

// DeleteRobotAccount deletes a stand-alone robot account and its API keys.
func (s *directoryServer) DeleteRobotAccount(ctx context.Context, req *directoryv1.DeleteRobotAccountRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteRobotAccount(ctx, actorOf(ctx), req))
}

// GetExternalApp reads one external application.
func (s *directoryServer) GetExternalApp(ctx context.Context, req *directoryv1.GetExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return reply(s.d.GetExternalApp(ctx, actorOf(ctx), req))
}

// ListExternalApps lists external applications.
func (s *directoryServer) ListExternalApps(ctx context.Context, req *directoryv1.ListExternalAppsRequest) (*directoryv1.ListExternalAppsResponse, error) {
	return reply(s.d.ListExternalApps(ctx, actorOf(ctx), req))
}

// CreateExternalApp registers an external application.
func (s *directoryServer) CreateExternalApp(ctx context.Context, req *directoryv1.CreateExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return reply(s.d.CreateExternalApp(ctx, actorOf(ctx), req))
}

// UpdateExternalApp changes an external application.
func (s *directoryServer) UpdateExternalApp(ctx context.Context, req *directoryv1.UpdateExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return reply(s.d.UpdateExternalApp(ctx, actorOf(ctx), req))
}

// DeleteExternalApp deletes an external application and its API keys.
func (s *directoryServer) DeleteExternalApp(ctx context.Context, req *directoryv1.DeleteExternalAppRequest) (*emptypb.Empty, error) {
	return empty(s.d.DeleteExternalApp(ctx, actorOf(ctx), req))
}

// CreateApiKey creates an API key; the secret is in the response only.
func (s *directoryServer) CreateApiKey(ctx context.Context, req *directoryv1.CreateApiKeyRequest) (*directoryv1.CreateApiKeyResponse, error) {
	return reply(s.d.CreateApiKey(ctx, actorOf(ctx), req))
}

// ListApiKeys lists API keys without secrets, newest first.
func (s *directoryServer) ListApiKeys(ctx context.Context, req *directoryv1.ListApiKeysRequest) (*directoryv1.ListApiKeysResponse, error) {
	return reply(s.d.ListApiKeys(ctx, actorOf(ctx), req))
}

// RevokeApiKey revokes an API key.
func (s *directoryServer) RevokeApiKey(ctx context.Context, req *directoryv1.RevokeApiKeyRequest) (*directoryv1.ApiKey, error) {
	return reply(s.d.RevokeApiKey(ctx, actorOf(ctx), req))
}
