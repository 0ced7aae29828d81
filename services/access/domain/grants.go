package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/catalogue"
)

// PlatformRoleLabel is the label of a tenant's Tenant Administrator
// assignments listed at each of its services (R18).
const PlatformRoleLabel = "Platform role"

// Permissions the delegation limits of R17 are made of (CATALOGUE.md,
// "Combined permissions of seed 003").
const (
	// permUsersEdit manages access at the organization and in every tenant.
	permUsersEdit = "users.edit"
	// permServicesUsersEdit grants access to services (owner and
	// organization administrators).
	permServicesUsersEdit = "services.users.edit"
	// permTenantUsersEdit manages access inside one tenant (its tenant
	// administrators).
	permTenantUsersEdit = "tenant.users.edit"
	// Suffixes of the service-type-qualified permissions that manage access
	// inside a service's folders and projects.
	// permUsersView lists users and, at the organization or a tenant,
	// shows their effective permissions.
	permUsersView         = "users.view"
	suffixUsersView       = ".users.view"
	suffixRolesView       = ".roles.view"
	suffixRolesEdit       = ".roles.edit"
	suffixFolderUsersEdit = ".folder_users.edit"
)

// scopeInfo is a scope-tree node named by an assignment, parsed from its
// resource name.
type scopeInfo struct {
	name    string
	level   catalogue.Level
	org     string
	tenant  string // "" at the organization
	service string // "" above services
	// serviceType is the type of service, from the directory mirror.
	serviceType string
}

// parseScope parses a scope-tree node name: "organizations/{o}", then
// optionally "/tenants/{t}", "/services/{s}", and below a service either
// "/folders/{f}" repeated or one "/projects/{p}".
func parseScope(name string) (scopeInfo, bool) {
	parts := strings.Split(name, "/")
	if len(parts) < 2 || len(parts)%2 != 0 || parts[0] != "organizations" {
		return scopeInfo{}, false
	}
	for _, p := range parts {
		if p == "" {
			return scopeInfo{}, false
		}
	}
	si := scopeInfo{name: name, level: catalogue.LevelOrganization, org: strings.Join(parts[:2], "/")}
	if len(parts) == 2 {
		return si, true
	}
	if parts[2] != "tenants" {
		return scopeInfo{}, false
	}
	si.tenant, si.level = strings.Join(parts[:4], "/"), catalogue.LevelTenant
	if len(parts) == 4 {
		return si, true
	}
	if parts[4] != "services" {
		return scopeInfo{}, false
	}
	si.service, si.level = strings.Join(parts[:6], "/"), catalogue.LevelService
	if len(parts) == 6 {
		return si, true
	}
	si.level = catalogue.LevelFolder
	switch parts[6] {
	case "projects":
		return si, len(parts) == 8
	case "folders":
		for i := 6; i < len(parts); i += 2 {
			if parts[i] != "folders" {
				return scopeInfo{}, false
			}
		}
		return si, true
	}
	return scopeInfo{}, false
}

// resolveScope returns the scope named name of organization org, which the
// directory mirror must know (the organization itself always is one).
func (s *Service) resolveScope(org, name string) (scopeInfo, error) {
	si, ok := parseScope(name)
	if !ok {
		return scopeInfo{}, fieldError("scope", "%q is not a node of the scope tree", name)
	}
	if si.org != org {
		return scopeInfo{}, errorf(ErrNotFound, "scope %s not found in %s", name, org)
	}
	if si.level == catalogue.LevelOrganization {
		return si, nil
	}
	if _, ok := s.Mirror().Scope(name); !ok {
		return scopeInfo{}, errorf(ErrNotFound, "scope %s not found", name)
	}
	if si.service != "" {
		svc, ok := s.Mirror().Scope(si.service)
		if !ok {
			return scopeInfo{}, errorf(ErrNotFound, "scope %s not found", si.service)
		}
		si.serviceType = svc.ServiceType
	}
	return si, nil
}

// assignedScope returns the scope of a stored assignment, with its service
// type from the directory mirror when the mirror still knows the service.
func (s *Service) assignedScope(name string) (scopeInfo, error) {
	si, ok := parseScope(name)
	if !ok {
		return scopeInfo{}, fmt.Errorf("domain: stored assignment scope %q is malformed", name)
	}
	if si.service != "" {
		if svc, ok := s.Mirror().Scope(si.service); ok {
			si.serviceType = svc.ServiceType
		}
	}
	return si, nil
}

// inDirectory checks again, in t, that principal and the scope si exist in
// the directory facts the feed stores (directory.go). The Mirror, read
// before the transaction, may not have caught up with a deletion the feed
// committed since; an assignment stored after that deletion would never be
// removed. With this check a create racing the feed's deletion either
// commits first (and the deletion removes it) or fails ErrNotFound.
func (t *txn) inDirectory(principal string, si scopeInfo) error {
	if _, ok, err := getDirPrincipal(t, principal); err != nil {
		return err
	} else if !ok {
		return errorf(ErrNotFound, "principal %s not found", principal)
	}
	if si.level == catalogue.LevelOrganization {
		return nil
	}
	_, err := t.Get([]byte(dirScopePrefix + si.name))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "scope %s not found", si.name)
	}
	return err
}

// holds reports whether the actor holds permission at scope in the model.
func (s *Service) holds(actor Actor, permission, scope string) bool {
	if scope == "" {
		return false
	}
	return s.model.Check(actor.Name, permission, scope).Allowed
}

// mayManageAccess applies the delegation limits of R17 (CATALOGUE.md,
// "Combined permissions of seed 003") to a user, robot or app actor
// managing role assignments at scope; services are not limited.
//
//   - at the organization: users.edit there;
//   - at a tenant: users.edit at the organization, or tenant.users.edit at
//     the tenant (its tenant administrators);
//   - at a service, granting access to it: services.users.edit at the
//     organization (owner and organization administrators), or
//     tenant.users.edit at its tenant;
//   - at a folder or project: as at its service, or {type}.users.view and
//     {type}.roles.edit there, or {type}.folder_users.edit there.
func (s *Service) mayManageAccess(actor Actor, si scopeInfo) error {
	if actor.IsService() {
		return nil
	}
	has := func(permission, scope string) bool { return s.holds(actor, permission, scope) }
	var ok bool
	switch si.level {
	case catalogue.LevelOrganization:
		ok = has(permUsersEdit, si.org)
	case catalogue.LevelTenant:
		ok = has(permUsersEdit, si.org) || has(permTenantUsersEdit, si.tenant)
	case catalogue.LevelService:
		ok = has(permServicesUsersEdit, si.org) || has(permTenantUsersEdit, si.tenant)
	case catalogue.LevelFolder:
		ok = has(permServicesUsersEdit, si.org) || has(permTenantUsersEdit, si.tenant)
		if !ok && si.serviceType != "" {
			st := si.serviceType
			ok = has(st+suffixUsersView, si.name) && has(st+suffixRolesEdit, si.name) ||
				has(st+suffixFolderUsersEdit, si.name)
		}
	}
	if !ok {
		return errorWith(ErrDelegationDenied, map[string]string{"scope": si.name},
			"you may not manage access at %s", si.name)
	}
	return nil
}

// noEscalation refuses, for a user, robot or app actor, granting a role
// holding a permission the actor does not hold at scope (R17).
func (s *Service) noEscalation(actor Actor, roles []catalogue.Role, scope string) error {
	if actor.IsService() {
		return nil
	}
	for _, r := range roles {
		for _, p := range r.Permissions {
			if !s.holds(actor, p, scope) {
				return errorWith(ErrEscalation, map[string]string{"permission": p},
					"you cannot grant role %s: you do not hold %s at %s", r.Name, p, scope)
			}
		}
	}
	return nil
}

// placementError maps a catalogue placement error to the domain's errors.
func placementError(role, scope string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, catalogue.ErrNotAssignable) {
		return errorf(ErrOwnerNotAssignable, "%s is bound at sign-up and never assigned", role)
	}
	return errorWith(ErrRoleLevelMismatch, map[string]string{"role": role, "scope": scope},
		"%s cannot be assigned at %s: %s", role, scope, strings.TrimPrefix(err.Error(), "catalogue: "))
}

// CreateRoleAssignment assigns one or more roles to a principal at a scope
// (R13), within the actor's delegation limits (R17). A role the principal
// already holds there is returned as it is, without a new event.
func (s *Service) CreateRoleAssignment(ctx context.Context, actor Actor, req *accessv1.CreateRoleAssignmentRequest) (*accessv1.CreateRoleAssignmentResponse, error) {
	if err := visibleToActor(actor, req.GetParent()); err != nil {
		return nil, err
	}
	if err := s.catchUpDirectory(ctx); err != nil {
		return nil, err
	}
	si, err := s.assignmentTarget(actor, req)
	if err != nil {
		return nil, err
	}
	resp := &accessv1.CreateRoleAssignmentResponse{}
	err = s.assignOnce(ctx, actor, req.GetRequestId(), req, resp, &resp.Sequence, func(t *txn) error {
		var err error
		resp.RoleAssignments, err = t.assign(req, si, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// assignOnce runs assign in one transaction, idempotent per actor on
// requestID (AIP-155: a retry gets resp as first made, req telling retries
// from reuse), and sets *seq, a field of resp, to the change's consistency
// token: its last event's sequence or, when nothing new was made, what
// the model reflects.
func (s *Service) assignOnce(ctx context.Context, actor Actor, requestID string, req, resp proto.Message, seq *uint64, assign func(t *txn) error) error {
	_, err := s.update(ctx, actor, func(t *txn) error {
		proto.Reset(resp)
		_, err := t.idempotent(requestID, req, resp, func() error {
			if err := assign(t); err != nil {
				return err
			}
			*seq = t.LastSeq
			return nil
		})
		return err
	})
	if err == nil && *seq == 0 {
		// Nothing new: what the model reflects is as good a token.
		*seq = s.applied.get()
	}
	return err
}

// assignmentTarget runs the checks of a CreateRoleAssignment request that
// need no transaction, after the directory feed has caught up: the
// principal is of the request's organization and known, the scope is a
// known node of it, and the actor may manage access there (R17). It
// returns the scope.
func (s *Service) assignmentTarget(actor Actor, req *accessv1.CreateRoleAssignmentRequest) (scopeInfo, error) {
	org, principal := req.GetParent(), req.GetPrincipal()
	if resourcename.OrganizationOf(principal) != org {
		return scopeInfo{}, errorf(ErrNotFound, "principal %s not found in %s", principal, org)
	}
	if _, ok := s.Mirror().Principal(principal); !ok {
		return scopeInfo{}, errorf(ErrNotFound, "principal %s not found", principal)
	}
	si, err := s.resolveScope(org, req.GetScope())
	if err != nil {
		return scopeInfo{}, err
	}
	if err := s.mayManageAccess(actor, si); err != nil {
		return scopeInfo{}, err
	}
	return si, nil
}

// assign makes, in t, the assignments req asks for at si (its
// assignmentTarget) and appends them to out: the principal and scope
// still exist, every role is the organization's or built in, assignable
// and of the scope's level, the actor holds every permission of every role
// there (R17, no escalation), and a role the principal already holds there
// is appended as it is, without a new event.
func (t *txn) assign(req *accessv1.CreateRoleAssignmentRequest, si scopeInfo, out []*accessv1.RoleAssignment) ([]*accessv1.RoleAssignment, error) {
	org, principal, actor, s := req.GetParent(), req.GetPrincipal(), t.actor, t.s
	if err := t.inDirectory(principal, si); err != nil {
		return out, err
	}
	roles := make([]catalogue.Role, 0, len(req.GetRoles()))
	for _, name := range req.GetRoles() {
		if !strings.HasPrefix(name, BuiltInRolePrefix) && resourcename.OrganizationOf(name) != org {
			return out, errorf(ErrNotFound, "%s not found", name)
		}
		r, _, err := lookupRole(t, name)
		if err != nil {
			return out, err
		}
		if r.ID == catalogue.RoleOwner {
			return out, errorf(ErrOwnerNotAssignable, "%s is bound at sign-up and never assigned", name)
		}
		if err := placementError(name, si.name, catalogue.ValidatePlacement(r, si.level, si.serviceType)); err != nil {
			return out, err
		}
		roles = append(roles, r)
	}
	if err := s.noEscalation(actor, roles, si.name); err != nil {
		return out, err
	}
	for _, name := range req.GetRoles() {
		existing, err := findAssignment(t, principal, name, si.name)
		if err != nil {
			return out, err
		}
		if existing != "" {
			a, err := getAssignment(t, existing)
			if err != nil {
				return out, err
			}
			out = append(out, a)
			continue
		}
		a := &accessv1.RoleAssignment{
			Name:      org + "/roleAssignments/" + newRandomID(),
			Principal: principal,
			Role:      name,
			Scope:     si.name,
			Creator:   actor.Name,
		}
		msg := fmt.Sprintf("Role %s was assigned to %s at %s.", name, principal, si.name)
		if err := t.insertAssignment(a, msg); err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ListRoleAssignments lists the explicit assignments of an organization:
// at a scope (at a service, also its tenant's Tenant Administrator
// assignments with their platform-role label, R18), of a principal, both,
// or all of them.
func (s *Service) ListRoleAssignments(ctx context.Context, actor Actor, req *accessv1.ListRoleAssignmentsRequest) (*accessv1.ListRoleAssignmentsResponse, error) {
	org, scope, principal := req.GetParent(), req.GetScope(), req.GetPrincipal()
	if err := visibleToActor(actor, org); err != nil {
		return nil, err
	}
	if scope != "" && resourcename.OrganizationOf(scope) != org {
		return nil, fieldError("scope", "%s is not in %s", scope, org)
	}
	if principal != "" && resourcename.OrganizationOf(principal) != org {
		return nil, fieldError("principal", "%s is not in %s", principal, org)
	}
	fp := pagetoken.Fingerprint("ListRoleAssignments", org, scope, principal)
	resp := &accessv1.ListRoleAssignmentsResponse{}
	err := s.view(ctx, func(tx store.ReadTx) error {
		if scope == "" && principal == "" {
			var err error
			resp.RoleAssignments, resp.NextPageToken, err = records.PageDecoded(tx, []byte(assignmentPrefix+org+"/roleAssignments/"), true,
				req.GetPageToken(), req.GetPageSize(), fp,
				func(k, v []byte) (*accessv1.RoleAssignment, bool, error) {
					a, err := decodeAssignment(k, v)
					return a, err == nil, err
				})
			return err
		}
		var (
			own []*accessv1.RoleAssignment
			err error
		)
		if principal != "" {
			own, err = assignmentsOfPrincipal(tx, principal)
		} else {
			own, err = assignmentsAt(tx, scope)
		}
		if err != nil {
			return err
		}
		var items []records.Keyed[*accessv1.RoleAssignment]
		for _, a := range own {
			if scope == "" || a.GetScope() == scope {
				items = append(items, records.Keyed[*accessv1.RoleAssignment]{Key: "0/" + a.GetName(), Item: a})
			}
		}
		if si, ok := parseScope(scope); ok && si.level == catalogue.LevelService {
			platform, err := assignmentsAt(tx, si.tenant)
			if err != nil {
				return err
			}
			for _, a := range platform {
				if a.GetRole() != BuiltInRolePrefix+catalogue.RoleTenantAdministrator || (principal != "" && a.GetPrincipal() != principal) {
					continue
				}
				a.PlatformRoleLabel = PlatformRoleLabel
				items = append(items, records.Keyed[*accessv1.RoleAssignment]{Key: "1/" + a.GetName(), Item: a})
			}
		}
		resp.RoleAssignments, resp.NextPageToken, err = records.SlicePage(items, req.GetPageToken(), req.GetPageSize(), fp)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
