package server

import (
	"context"
	"slices"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/resourcename"
	"steward.dev/services/access/domain"
)

// CheckPermission answers whether a principal holds a permission at a scope
// (R16). Its rule is only "authenticated": services may ask about anyone,
// a user about itself, and otherwise the caller needs users.view at the
// principal's organization (and, with explain, what ExplainPermissions
// needs at the scope, which the domain checks).
func (s *accessServer) CheckPermission(ctx context.Context, req *accessv1.CheckPermissionRequest) (*accessv1.CheckPermissionResponse, error) {
	a := actorOf(ctx)
	if org, ask := orgToAsk(a, req.GetPrincipal()); ask {
		if err := authz.Check(ctx, s.authorizer, accessv1.AccessService_CheckPermission_FullMethodName, org, "users.view"); err != nil {
			return nil, err
		}
	}
	return reply(s.d.Check(ctx, a, req))
}

// BatchCheckPermission answers up to 1,000 checks, each principal with the
// same callers as CheckPermission. What is asked of the caller depends on
// a principal only through its organization (orgToAsk), so each
// organization is asked once per batch, not each principal.
func (s *accessServer) BatchCheckPermission(ctx context.Context, req *accessv1.BatchCheckPermissionRequest) (*accessv1.BatchCheckPermissionResponse, error) {
	a := actorOf(ctx)
	var asked []string // organizations, few: a slice beats a map
	for _, it := range req.GetItems() {
		org, ask := orgToAsk(a, it.GetPrincipal())
		if !ask || slices.Contains(asked, org) {
			continue
		}
		asked = append(asked, org)
		if err := authz.Check(ctx, s.authorizer, accessv1.AccessService_BatchCheckPermission_FullMethodName, org, "users.view"); err != nil {
			return nil, err
		}
	}
	return reply(s.d.BatchCheck(ctx, a, req))
}

// ExplainPermissions returns a principal's effective roles and permissions
// at a scope with their provenance (R14, R15); the rule required
// users.view at the scope, and the domain requires, for another principal
// at a service or below, {type}.users.view and {type}.roles.view there.
func (s *accessServer) ExplainPermissions(ctx context.Context, req *accessv1.ExplainPermissionsRequest) (*accessv1.Explanation, error) {
	return reply(s.d.ExplainPermissions(ctx, actorOf(ctx), req))
}

// ListPrincipalRoles lists a principal's explicit assignments (R15); the
// rule required users.view at the principal.
func (s *accessServer) ListPrincipalRoles(ctx context.Context, req *accessv1.ListPrincipalRolesRequest) (*accessv1.ListPrincipalRolesResponse, error) {
	return reply(s.d.ListPrincipalRoles(ctx, actorOf(ctx), req))
}

// orgToAsk returns the organization where the caller a must hold
// users.view to ask about principal, and whether it must: services
// (authz.Check lets them through) and users of the principal's organization
// must, unless a is the principal itself (or its API key). Users of
// another organization are not asked here and get NotFound from the
// domain, as for every object of another organization.
func orgToAsk(a domain.Actor, principal string) (string, bool) {
	org := resourcename.OrganizationOf(principal)
	if a.SpeaksFor(principal) || (!a.IsService() && a.Organization != org) {
		return "", false
	}
	return org, true
}

// ListPermissionHolders answers who holds a permission at a scope (issue
// 14); the rule required users.view and roles.view at the scope.
func (s *accessServer) ListPermissionHolders(ctx context.Context, req *accessv1.ListPermissionHoldersRequest) (*accessv1.ListPermissionHoldersResponse, error) {
	return reply(s.d.ListPermissionHolders(ctx, actorOf(ctx), req))
}

// ListPermittedScopes answers where a principal holds a permission (issue
// 14); the rule required users.view and roles.view at the subtree's root.
func (s *accessServer) ListPermittedScopes(ctx context.Context, req *accessv1.ListPermittedScopesRequest) (*accessv1.ListPermittedScopesResponse, error) {
	return reply(s.d.ListPermittedScopes(ctx, actorOf(ctx), req))
}
