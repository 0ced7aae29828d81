package domain

// CheckMembershipChange: the directory asks, before it adds a member to a
// group or removes one, whether the end user it acts for may (R17).

import (
	"context"
	"fmt"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/catalogue"
)

// Reasons of a refused membership change (CheckMembershipChangeResponse).
const (
	// MembershipReasonEscalation: the new member would get a permission the
	// actor does not hold at the scope of one of the group's assignments.
	MembershipReasonEscalation = "ESCALATION"
	// MembershipReasonDelegationDenied: the actor may not manage access at
	// the scope of one of the group's assignments.
	MembershipReasonDelegationDenied = "DELEGATION_DENIED"
)

// CheckMembershipChange decides whether actor, the end user the directory
// acts for, may add a member to req's group (add) or remove one. Adding
// grants the member every role the group holds, so for each of the group's
// assignments the actor must pass the delegation limits of
// CreateRoleAssignment at its scope (mayManageAccess) and hold every
// permission of its role there (noEscalation); removing takes that role
// away, so only the delegation limits apply. A refusal is a response with
// Allowed false, the reason, a message, the permission (ESCALATION) and the
// scope, not an error. A caller acting for no end user (a service itself)
// and the organization's owner may always. An actor that called the
// directory with an API key (req's api_key, which must be a key of the
// actor) is judged by the key's rights (C4). A group of another
// organization than the actor's is ErrNotFound. The model is used as it is: the directory
// asks after its own reads.
func (s *Service) CheckMembershipChange(ctx context.Context, actor Actor, req *accessv1.CheckMembershipChangeRequest) (*accessv1.CheckMembershipChangeResponse, error) {
	group := req.GetGroup()
	if actor.IsService() {
		return &accessv1.CheckMembershipChangeResponse{Allowed: true}, nil
	}
	if k := req.GetApiKey(); k != "" && k != actor.Name {
		// The actor called the directory with this key: the key's rights
		// (its principal's and its creator's, C4) decide. (When the
		// directory relays the actor's session, the actor is the key
		// already.)
		if KeyPrincipal(k) != actor.Name {
			return nil, fieldError("api_key", "%s is not an API key of %s", k, actor.Name)
		}
		actor.Name = k
	}
	if resourcename.OrganizationOf(group) != actor.Organization {
		return nil, errorf(ErrNotFound, "%s not found", group)
	}
	type held struct {
		a    *accessv1.RoleAssignment
		role catalogue.Role
	}
	var (
		owner bool
		as    []held
	)
	err := s.view(ctx, func(tx store.ReadTx) error {
		ownerAssignment, err := findAssignment(tx, actor.Name, BuiltInRolePrefix+catalogue.RoleOwner, actor.Organization)
		if err != nil {
			return err
		}
		if owner = ownerAssignment != ""; owner {
			return nil
		}
		assigned, err := assignmentsOfPrincipal(tx, group)
		if err != nil {
			return err
		}
		for _, a := range assigned {
			r, _, err := lookupRole(tx, a.GetRole())
			if err != nil {
				return err
			}
			as = append(as, held{a: a, role: r})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if owner {
		return &accessv1.CheckMembershipChangeResponse{Allowed: true}, nil
	}
	change, member := "remove members from", "removing a member takes away"
	if req.GetAdd() {
		change, member = "add members to", "a new member gets"
	}
	for _, h := range as {
		scope := h.a.GetScope()
		si, err := s.assignedScope(scope)
		if err != nil {
			return nil, err
		}
		if s.mayManageAccess(actor, si) != nil {
			return &accessv1.CheckMembershipChangeResponse{
				Reason: MembershipReasonDelegationDenied,
				Message: fmt.Sprintf("you cannot %s group %s: %s its role %s at %s, where you may not manage access",
					change, group, member, h.role.Name, scope),
				Scope: scope,
			}, nil
		}
		if !req.GetAdd() {
			continue
		}
		for _, p := range h.role.Permissions {
			if !s.holds(actor, p, scope) {
				return &accessv1.CheckMembershipChangeResponse{
					Reason: MembershipReasonEscalation,
					Message: fmt.Sprintf("you cannot %s group %s: a new member gets its role %s at %s, which holds %s, and you do not hold it there",
						change, group, h.role.Name, scope, p),
					Permission: p,
					Scope:      scope,
				}, nil
			}
		}
	}
	return &accessv1.CheckMembershipChangeResponse{Allowed: true}, nil
}
