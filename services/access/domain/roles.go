package domain

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/access/catalogue"
)

// roleMaskFields are the fields UpdateRole may change.
var roleMaskFields = []string{"display_name", "description", "permissions"}

// visibleToActor returns ErrNotFound when name belongs to another
// organization than a user actor's; services see every organization.
func visibleToActor(actor Actor, name string) error {
	if actor.IsService() {
		return nil
	}
	if resourcename.OrganizationOf(name) != actor.Organization {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// newRandomID returns a generated resource ID: "a", then the current Unix
// time in milliseconds in 9 base-36 digits, then 12 random base-36 digits
// (62 bits from crypto/rand). IDs made later sort after earlier ones (to
// the millisecond), so a range keyed by them (role assignment records) is
// written in key order, filling its pages and keeping its records together
// on disk (issue 13: store size, load rate, cold start); the random part
// keeps them unguessable and unique.
func newRandomID() string { return idAt(time.Now()) }

// idAt is newRandomID at time now.
func idAt(now time.Time) string {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("domain: crypto/rand failed: " + err.Error())
	}
	b := make([]byte, 0, 22)
	b = append(b, 'a')
	b = appendBase36(b, uint64(now.UnixMilli()), 9)
	return string(appendBase36(b, binary.BigEndian.Uint64(r[:])>>2, 12))
}

// appendBase36 appends v in exactly width base-36 digits (0-9a-z), high
// digits first: zero-padded, and cut to its low width digits if longer.
func appendBase36(b []byte, v uint64, width int) []byte {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	n := len(b)
	b = append(b, make([]byte, width)...)
	for i := n + width - 1; i >= n; i-- {
		b[i] = digits[v%36]
		v /= 36
	}
	return b
}

// apiPermission is the API form of a catalogue permission.
func apiPermission(p catalogue.Permission) *accessv1.Permission {
	return &accessv1.Permission{
		Name:        p.Name,
		Resource:    p.Resource,
		Action:      string(p.Action),
		Level:       accessv1.Level(p.Level),
		ServiceType: p.ServiceType,
	}
}

// ListPermissions lists the permission catalogue in catalogue order,
// filtered by level and service type (R11). A service type alone leaves
// out the organization and tenant permissions, which have none.
func (s *Service) ListPermissions(_ context.Context, _ Actor, req *accessv1.ListPermissionsRequest) (*accessv1.ListPermissionsResponse, error) {
	level, st := catalogue.Level(req.GetLevel()), req.GetServiceType()
	if st != "" {
		if _, ok := catalogue.LookupServiceType(st); !ok {
			return nil, fieldError("service_type", "unknown service type %q", st)
		}
	}
	resp := &accessv1.ListPermissionsResponse{}
	for _, p := range catalogue.Permissions() {
		if level != catalogue.LevelUnspecified && p.Level != level {
			continue
		}
		if st != "" && p.ServiceType != st {
			continue
		}
		resp.Permissions = append(resp.Permissions, apiPermission(p))
	}
	return resp, nil
}

// GetRole reads a built-in role ("roles/{id}") or a custom role of the
// actor's organization.
func (s *Service) GetRole(ctx context.Context, actor Actor, req *accessv1.GetRoleRequest) (*accessv1.Role, error) {
	name := req.GetName()
	if id, ok := strings.CutPrefix(name, BuiltInRolePrefix); ok {
		r, found := catalogue.LookupBuiltInRole(id)
		if !found {
			return nil, errorf(ErrNotFound, "%s not found", name)
		}
		return BuiltInRole(r), nil
	}
	if err := visibleToActor(actor, name); err != nil {
		return nil, err
	}
	r := &accessv1.Role{}
	if err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, customRoleKey(name), name, r) }); err != nil {
		return nil, err
	}
	return r, nil
}

// ListRoles lists the built-in roles in catalogue order, then the
// organization's custom roles by name, filtered by level and service type
// (R12).
func (s *Service) ListRoles(ctx context.Context, actor Actor, req *accessv1.ListRolesRequest) (*accessv1.ListRolesResponse, error) {
	org := req.GetParent()
	if err := visibleToActor(actor, org); err != nil {
		return nil, err
	}
	level, st := req.GetLevel(), req.GetServiceType()
	keep := func(r *accessv1.Role) bool {
		return (level == accessv1.Level_LEVEL_UNSPECIFIED || r.GetLevel() == level) && (st == "" || r.GetServiceType() == st)
	}
	var items []records.Keyed[*accessv1.Role]
	for i, r := range catalogue.BuiltInRoles() {
		if ar := BuiltInRole(r); keep(ar) {
			items = append(items, records.Keyed[*accessv1.Role]{Key: fmt.Sprintf("0/%06d", i), Item: ar})
		}
	}
	custom, err := s.customRoles(ctx, org)
	if err != nil {
		return nil, err
	}
	for _, r := range custom {
		if keep(r) {
			items = append(items, records.Keyed[*accessv1.Role]{Key: "1/" + r.GetName(), Item: r})
		}
	}
	fp := pagetoken.Fingerprint("ListRoles", org, level.String(), st)
	resp := &accessv1.ListRolesResponse{}
	resp.Roles, resp.NextPageToken, err = records.SlicePage(items, req.GetPageToken(), req.GetPageSize(), fp)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// customRoles returns the custom roles of org, by name.
func (s *Service) customRoles(ctx context.Context, org string) ([]*accessv1.Role, error) {
	var out []*accessv1.Role
	err := s.view(ctx, func(tx store.ReadTx) error {
		out = out[:0]
		return tx.Scan(customRoleKey(org+"/roles/"), nil, func(k, v []byte) (bool, error) {
			r := &accessv1.Role{}
			if err := proto.Unmarshal(v, r); err != nil {
				return false, fmt.Errorf("domain: role %s: %w", k, err)
			}
			out = append(out, r)
			return true, nil
		})
	})
	return out, err
}

// roleValidationError maps a catalogue validation error of a role to the
// domain's errors: permission problems are ErrPermissionLevelMismatch naming
// the first offending permission; level and service type problems are field
// errors.
func roleValidationError(err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var (
			unknown  *catalogue.UnknownPermissionError
			dup      *catalogue.DuplicatePermissionError
			level    *catalogue.PermissionLevelError
			mismatch *catalogue.ServiceTypeMismatchError
			perm     string
		)
		switch {
		case errors.As(e, &unknown):
			perm = unknown.Permission
		case errors.As(e, &dup):
			perm = dup.Permission
		case errors.As(e, &level):
			perm = level.Permission
		case errors.As(e, &mismatch) && mismatch.Permission != "":
			perm = mismatch.Permission
		default:
			continue
		}
		return errorWith(ErrPermissionLevelMismatch, map[string]string{"permission": perm}, "%s", strings.TrimPrefix(e.Error(), "catalogue: "))
	}
	var unknownType *catalogue.UnknownServiceTypeError
	switch {
	case errors.Is(err, catalogue.ErrMissingID):
		return fieldError("role.display_name", "display_name is required")
	case errors.Is(err, catalogue.ErrInvalidLevel):
		return fieldError("role.level", "level must be organization, tenant, service or folder")
	case errors.Is(err, catalogue.ErrServiceTypeRequired):
		return fieldError("role.service_type", "service- and folder-level roles need a service type")
	case errors.Is(err, catalogue.ErrServiceTypeNotAllowed):
		return fieldError("role.service_type", "organization- and tenant-level roles have no service type")
	case errors.As(err, &unknownType):
		return fieldError("role.service_type", "unknown service type %q", unknownType.ServiceType)
	case errors.Is(err, catalogue.ErrBuiltInRole):
		return errorf(ErrAlreadyExists, "%s", strings.TrimPrefix(err.Error(), "catalogue: "))
	}
	return err
}

// catalogueOrder returns perms sorted in catalogue order (unknown names,
// which validation refuses, last).
func catalogueOrder(perms []string) []string {
	out := slices.Clone(perms)
	idx := func(p string) int {
		if i, ok := catalogue.PermissionIndex(p); ok {
			return i
		}
		return catalogue.NumPermissions()
	}
	slices.SortStableFunc(out, func(a, b string) int { return idx(a) - idx(b) })
	return out
}

// builtInRoleNamed reports whether name names a built-in role: "roles/{id}",
// or a custom role name whose ID is a built-in one.
func builtInRoleNamed(name string) bool {
	if strings.HasPrefix(name, BuiltInRolePrefix) {
		return true
	}
	return catalogue.IsBuiltInRole(name[strings.LastIndexByte(name, '/')+1:])
}

// CreateRole creates a custom role of a level from permissions of that
// level and below (R12). Built-in role IDs are taken.
func (s *Service) CreateRole(ctx context.Context, actor Actor, req *accessv1.CreateRoleRequest) (*accessv1.Role, error) {
	org := req.GetParent()
	if err := visibleToActor(actor, org); err != nil {
		return nil, err
	}
	in := req.GetRole()
	if id := req.GetRoleId(); id != "" && catalogue.IsBuiltInRole(id) {
		return nil, errorf(ErrAlreadyExists, "role ID %q is taken by a built-in role", id)
	}
	resp := &accessv1.Role{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		proto.Reset(resp)
		_, err := t.idempotent(req.GetRequestId(), req, resp, func() error {
			id := req.GetRoleId()
			if id == "" {
				id = newRandomID()
			}
			r := &accessv1.Role{
				Name:        org + "/roles/" + id,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				Level:       in.GetLevel(),
				ServiceType: in.GetServiceType(),
				Permissions: catalogueOrder(in.GetPermissions()),
				Assignable:  true,
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
			cr := catalogueRole(r)
			cr.ID = id
			if err := roleValidationError(catalogue.ValidateCustomRole(cr)); err != nil {
				return err
			}
			key := customRoleKey(r.GetName())
			if _, err := t.Get(key); err == nil {
				return errorf(ErrAlreadyExists, "%s already exists", r.GetName())
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			records.SetEtag(r)
			if err := store.PutProto(t.Tx, key, r); err != nil {
				return err
			}
			if err := t.Emit(TypeRoleCreated, eventlogv1.Operation_OPERATION_CREATE, r.GetName(), r, fmt.Sprintf("Role %s was created.", r.GetDisplayName())); err != nil {
				return err
			}
			model, mr := t.s.model, catalogueRole(r)
			t.onModel(func() { _ = model.UpsertRole(mr) })
			proto.Merge(resp, r)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateRole changes a custom role's display name, description or
// permissions; built-in roles are immutable, and so are a role's level and
// service type. A user may change a role's permissions only where it may
// manage access at every scope the role is assigned at, and add only
// permissions it holds itself at each of them (R17).
func (s *Service) UpdateRole(ctx context.Context, actor Actor, req *accessv1.UpdateRoleRequest) (*accessv1.Role, error) {
	in := req.GetRole()
	name := in.GetName()
	if builtInRoleNamed(name) {
		return nil, errorf(ErrBuiltInRoleImmutable, "built-in role %s cannot be changed", name)
	}
	if err := visibleToActor(actor, name); err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	var out *accessv1.Role
	_, err := s.update(ctx, actor, func(t *txn) error {
		cur := &accessv1.Role{}
		if err := get(t, customRoleKey(name), name, cur); err != nil {
			return err
		}
		if e := in.GetEtag(); e != "" && e != cur.GetEtag() {
			return errorf(ErrEtagMismatch, "etag %q is not the current etag of %s", e, name)
		}
		if in.GetLevel() != accessv1.Level_LEVEL_UNSPECIFIED && in.GetLevel() != cur.GetLevel() {
			return fieldError("role.level", "a role's level cannot be changed")
		}
		if in.GetServiceType() != "" && in.GetServiceType() != cur.GetServiceType() {
			return fieldError("role.service_type", "a role's service type cannot be changed")
		}
		next := proto.Clone(cur).(*accessv1.Role)
		if err := records.ApplyMask(next, in, paths, roleMaskFields...); err != nil {
			var fe *records.FieldError
			if errors.As(err, &fe) && (slices.Contains(paths, "level") || slices.Contains(paths, "service_type")) {
				return fieldError("update_mask", "a role's level and service type cannot be changed")
			}
			return err
		}
		if next.GetDisplayName() == "" {
			return fieldError("role.display_name", "display_name is required")
		}
		next.Permissions = catalogueOrder(next.GetPermissions())
		if err := roleValidationError(catalogue.ValidateRolePermissions(catalogue.Level(next.GetLevel()), next.GetServiceType(), next.GetPermissions())); err != nil {
			return err
		}
		next.Etag = cur.GetEtag()
		if proto.Equal(cur, next) {
			out = cur
			return nil
		}
		if !slices.Equal(cur.GetPermissions(), next.GetPermissions()) {
			if err := t.mayManageRoleScopes(name, "change the permissions of"); err != nil {
				return err
			}
		}
		if err := t.noEscalationByEdit(cur, next); err != nil {
			return err
		}
		next.UpdateTime = t.Timestamp()
		records.SetEtag(next)
		if err := store.PutProto(t.Tx, customRoleKey(name), next); err != nil {
			return err
		}
		if err := t.Emit(TypeRoleUpdated, eventlogv1.Operation_OPERATION_UPDATE, name, next, fmt.Sprintf("Role %s was updated.", next.GetDisplayName())); err != nil {
			return err
		}
		model, mr := t.s.model, catalogueRole(next)
		t.onModel(func() { _ = model.UpsertRole(mr) })
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// noEscalationByEdit refuses, for a user actor, adding to a role a
// permission the actor does not hold at every scope the role is assigned
// at: editing an assigned role grants what it adds (R17).
func (t *txn) noEscalationByEdit(cur, next *accessv1.Role) error {
	if t.actor.IsService() {
		return nil
	}
	var added []string
	for _, p := range next.GetPermissions() {
		if !slices.Contains(cur.GetPermissions(), p) {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil
	}
	assigned, err := assignmentsOfRole(t, cur.GetName())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, a := range assigned {
		if seen[a.GetScope()] {
			continue
		}
		seen[a.GetScope()] = true
		for _, p := range added {
			if !t.s.model.Check(t.actor.Name, p, a.GetScope()).Allowed {
				return errorWith(ErrEscalation, map[string]string{"permission": p, "scope": a.GetScope()},
					"you cannot add %s to role %s: it is assigned at %s, where you do not hold it", p, cur.GetName(), a.GetScope())
			}
		}
	}
	return nil
}

// mayManageRoleScopes applies, for a user actor, the delegation limits of
// R17 at every scope the custom role named name is assigned at: deleting the
// role removes those assignments and changing its permissions changes what
// each of them grants, so the actor must be allowed to manage access at each
// of those scopes. doing names the operation in the error.
func (t *txn) mayManageRoleScopes(name, doing string) error {
	if t.actor.IsService() {
		return nil
	}
	assigned, err := assignmentsOfRole(t, name)
	if err != nil {
		return err
	}
	var scopes []string
	for _, a := range assigned {
		if !slices.Contains(scopes, a.GetScope()) {
			scopes = append(scopes, a.GetScope())
		}
	}
	slices.Sort(scopes)
	for _, sc := range scopes {
		si, err := t.s.assignedScope(sc)
		if err != nil {
			return err
		}
		if err := t.s.mayManageAccess(t.actor, si); err != nil {
			return errorWith(ErrDelegationDenied, map[string]string{"scope": sc},
				"you cannot %s role %s: it is assigned at %s, where you may not manage access", doing, name, sc)
		}
	}
	return nil
}

// DeleteRole deletes a custom role and every assignment of it, one event
// each (R12); built-in roles are immutable. A user must be allowed to manage
// access at every scope the role is assigned at (R17).
func (s *Service) DeleteRole(ctx context.Context, actor Actor, req *accessv1.DeleteRoleRequest) error {
	name := req.GetName()
	if builtInRoleNamed(name) {
		return errorf(ErrBuiltInRoleImmutable, "built-in role %s cannot be deleted", name)
	}
	if err := visibleToActor(actor, name); err != nil {
		return err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		r := &accessv1.Role{}
		if err := get(t, customRoleKey(name), name, r); err != nil {
			return err
		}
		if e := req.GetEtag(); e != "" && e != r.GetEtag() {
			return errorf(ErrEtagMismatch, "etag %q is not the current etag of %s", e, name)
		}
		if err := t.mayManageRoleScopes(name, "delete"); err != nil {
			return err
		}
		assigned, err := assignmentsOfRole(t, name)
		if err != nil {
			return err
		}
		for _, a := range assigned {
			msg := fmt.Sprintf("Role %s was removed from %s at %s because the role was deleted.", r.GetDisplayName(), a.GetPrincipal(), a.GetScope())
			if err := t.removeAssignment(a, msg); err != nil {
				return err
			}
		}
		if err := t.Delete(customRoleKey(name)); err != nil {
			return err
		}
		if err := t.Emit(TypeRoleDeleted, eventlogv1.Operation_OPERATION_DELETE, name, r, fmt.Sprintf("Role %s was deleted.", r.GetDisplayName())); err != nil {
			return err
		}
		model := t.s.model
		t.onModel(func() { _ = model.DeleteRole(name) })
		return nil
	})
	return err
}
