package server

import (
	"context"

	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// SignUp creates an organization with its owner (R1). Public.
func (s *directoryServer) SignUp(ctx context.Context, req *directoryv1.SignUpRequest) (*directoryv1.SignUpResponse, error) {
	return reply(s.d.SignUp(ctx, actorOf(ctx), req))
}

// GetOrganization reads an organization.
func (s *directoryServer) GetOrganization(ctx context.Context, req *directoryv1.GetOrganizationRequest) (*directoryv1.Organization, error) {
	return reply(s.d.GetOrganization(ctx, actorOf(ctx), req.GetName()))
}

// GetAccountSystem reads the organization's account system (R8).
func (s *directoryServer) GetAccountSystem(ctx context.Context, req *directoryv1.GetAccountSystemRequest) (*directoryv1.AccountSystem, error) {
	return reply(s.d.GetAccountSystem(ctx, actorOf(ctx), req.GetName()))
}
