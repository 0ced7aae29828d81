package server

import (
	"context"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/resourcename"
)

// SetRobotUsageScope sets which robots an account may use (R20); the rule
// required users.edit at the account.
func (s *accessServer) SetRobotUsageScope(ctx context.Context, req *accessv1.SetRobotUsageScopeRequest) (*accessv1.RobotUsageScope, error) {
	return reply(s.d.SetRobotUsageScope(ctx, actorOf(ctx), req))
}

// GetRobotUsageScope reads an account's robot usage scope (R20); the rule
// required users.view at the account.
func (s *accessServer) GetRobotUsageScope(ctx context.Context, req *accessv1.GetRobotUsageScopeRequest) (*accessv1.RobotUsageScope, error) {
	return reply(s.d.GetRobotUsageScope(ctx, actorOf(ctx), req))
}

// CheckRobotUse answers whether an account may run on a robot (R20). Its
// rule is only "authenticated": services, the account itself, and holders
// of users.view at the account's organization may ask.
func (s *accessServer) CheckRobotUse(ctx context.Context, req *accessv1.CheckRobotUseRequest) (*accessv1.CheckRobotUseResponse, error) {
	if err := s.mayAskAboutAccount(ctx, accessv1.AccessService_CheckRobotUse_FullMethodName, req.GetAccount()); err != nil {
		return nil, err
	}
	return reply(s.d.CheckRobotUse(ctx, actorOf(ctx), req))
}

// ListUsableRobots lists the robots an account may use remotely (R20),
// with the same callers as CheckRobotUse.
func (s *accessServer) ListUsableRobots(ctx context.Context, req *accessv1.ListUsableRobotsRequest) (*accessv1.ListUsableRobotsResponse, error) {
	if err := s.mayAskAboutAccount(ctx, accessv1.AccessService_ListUsableRobots_FullMethodName, req.GetAccount()); err != nil {
		return nil, err
	}
	return reply(s.d.ListUsableRobots(ctx, actorOf(ctx), req))
}

// mayAskAboutAccount allows services (authz.Check lets them through), the
// account itself (or its API key), and callers holding users.view at the account's
// organization. Users of another organization pass here and get NotFound
// from the domain, as for every object of another organization.
func (s *accessServer) mayAskAboutAccount(ctx context.Context, method, account string) error {
	a := actorOf(ctx)
	org := resourcename.OrganizationOf(account)
	if a.SpeaksFor(account) || (!a.IsService() && a.Organization != org) {
		return nil
	}
	return authz.Check(ctx, s.authorizer, method, org, "users.view")
}
