package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/resourcename"
	"steward.dev/services/directory/domain"
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

// MembershipChange returns the domain's question "may the end user ctx acts
// for add a member to (or remove one from) this group?" (R17,
// domain.Options.MembershipChange), answered by access management's
// internal CheckMembershipChange. The call is made with ctx, so the
// directory's service credential carries the end user as actor, and the
// request names the API key the end user called with, if any (C4). A refusal
// becomes a *domain.AccessDeniedError with access management's reason
// (ESCALATION or DELEGATION_DENIED), message, permission and scope. When
// access management cannot answer, the change is refused as unavailable
// (fail closed); cancellation and deadlines keep their meaning.
func MembershipChange(client accessv1.AccessServiceClient) func(ctx context.Context, group string, add bool) error {
	return func(ctx context.Context, group string, add bool) error {
		req := membershipQuestion(ctx, domain.GroupChange{Group: group, Add: add})
		resp, err := client.CheckMembershipChange(ctx, req)
		if err != nil {
			return unanswered(err, group)
		}
		return membershipDecision(resp, group, add)
	}
}

// MembershipChanges returns the domain's question of MembershipChange for
// several groups at once (domain.Options.MembershipChanges), answered by
// access management's internal BatchCheckMembershipChange in one round
// trip (issue 13), with MembershipChange's rules: the first refusal is a
// *domain.AccessDeniedError with its index, a call access management
// cannot answer refuses the whole batch (index -1).
func MembershipChanges(client accessv1.AccessServiceClient) func(ctx context.Context, changes []domain.GroupChange) (int, error) {
	return func(ctx context.Context, changes []domain.GroupChange) (int, error) {
		req := &accessv1.BatchCheckMembershipChangeRequest{Items: make([]*accessv1.CheckMembershipChangeRequest, len(changes))}
		for i, c := range changes {
			req.Items[i] = membershipQuestion(ctx, c)
		}
		resp, err := client.BatchCheckMembershipChange(ctx, req)
		if err != nil {
			return -1, unanswered(err, changes[0].Group)
		}
		if len(resp.GetResults()) != len(changes) {
			return -1, fmt.Errorf("%w: access management answered %d of %d membership questions",
				domain.ErrUnavailable, len(resp.GetResults()), len(changes))
		}
		for i, r := range resp.GetResults() {
			if err := membershipDecision(r, changes[i].Group, changes[i].Add); err != nil {
				return i, err
			}
		}
		return -1, nil
	}
}

// membershipQuestion is c asked for the end user ctx acts for, naming the
// API key the end user called with, if any (C4).
func membershipQuestion(ctx context.Context, c domain.GroupChange) *accessv1.CheckMembershipChangeRequest {
	req := &accessv1.CheckMembershipChangeRequest{Group: c.Group, Add: c.Add}
	if p, ok := authn.Actor(ctx); ok {
		req.ApiKey = accessauthz.APIKeyOf(p)
	}
	return req
}

// unanswered is the error of a membership question access management could
// not answer: unavailable (fail closed), except that cancellation and
// deadlines keep their meaning.
func unanswered(err error, group string) error {
	switch status.Code(err) {
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	}
	return fmt.Errorf("%w: access management could not check the membership change of %s: %s",
		domain.ErrUnavailable, group, status.Convert(err).Message())
}

// membershipDecision is nil when resp allows the change of group's
// membership, else the *domain.AccessDeniedError saying why.
func membershipDecision(resp *accessv1.CheckMembershipChangeResponse, group string, add bool) error {
	if resp.GetAllowed() {
		return nil
	}
	msg := resp.GetMessage()
	if msg == "" {
		verb := "remove members from"
		if add {
			verb = "add members to"
		}
		msg = fmt.Sprintf("you may not %s %s", verb, group)
	}
	// An empty reason leaves the refusal a plain PERMISSION_DENIED.
	return &domain.AccessDeniedError{Reason: resp.GetReason(), Message: msg, Permission: resp.GetPermission(), Scope: resp.GetScope()}
}
