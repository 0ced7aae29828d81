package server

import (
	"context"
	"slices"
	"strings"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/resourcename"
)

// AdministratorRoles returns the domain's question "which Administrator
// roles does this user hold?" (R4), answered by access management's
// ExplainPermissions over the user's whole organization: every
// administrator role (organization, console, tenant, service or folder
// Administrator, custom roles excluded) it holds explicitly or through a
// group, as "role at scope".
func AdministratorRoles(client accessv1.AccessServiceClient) func(ctx context.Context, user string) ([]string, error) {
	return func(ctx context.Context, user string) ([]string, error) {
		ex, err := client.ExplainPermissions(ctx, &accessv1.ExplainPermissionsRequest{
			Principal: user, Scope: resourcename.OrganizationOf(user), Subtree: true,
		})
		if err != nil {
			return nil, err
		}
		var held []string
		for _, src := range ex.GetSources() {
			if isAdministratorRole(src.GetRole()) {
				held = append(held, src.GetRoleDisplayName()+" at "+src.GetScope())
			}
		}
		slices.Sort(held)
		return slices.Compact(held), nil
	}
}

// isAdministratorRole reports whether a role name is one of the built-in
// Administrator roles ("roles/organization-administrator",
// "roles/orchestrator-administrator", ...), not an "Allow to be ..." role.
func isAdministratorRole(name string) bool {
	id, ok := strings.CutPrefix(name, "roles/")
	return ok && strings.HasSuffix(id, "administrator") && !strings.HasPrefix(id, "allow-to-be-")
}
