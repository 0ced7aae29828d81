package catalogue

import (
	"errors"
	"fmt"
)

// ErrInvalidLevel means a role or scope level is not one of organization,
// tenant, service or folder.
var ErrInvalidLevel = errors.New("catalogue: invalid level")

// ErrServiceTypeRequired means a service- or folder-level role names no
// service type; such a role is for exactly one service type.
var ErrServiceTypeRequired = errors.New("catalogue: service- and folder-level roles need a service type")

// ErrServiceTypeNotAllowed means an organization- or tenant-level role names a
// service type.
var ErrServiceTypeNotAllowed = errors.New("catalogue: organization- and tenant-level roles have no service type")

// ErrBuiltInRole means a custom role uses the ID of a built-in role or claims
// to be built-in.
var ErrBuiltInRole = errors.New("catalogue: built-in role")

// ErrNotAssignable means the role (Owner) is never assigned through the API
// (R1, R12).
var ErrNotAssignable = errors.New("catalogue: role is not assignable")

// ErrMissingID means a custom role has an empty ID or name.
var ErrMissingID = errors.New("catalogue: role ID and name are required")

// UnknownServiceTypeError names a service type that is not registered.
type UnknownServiceTypeError struct{ ServiceType string }

func (e *UnknownServiceTypeError) Error() string {
	return fmt.Sprintf("catalogue: unknown service type %q", e.ServiceType)
}

// UnknownPermissionError names a permission that is not in the catalogue.
type UnknownPermissionError struct{ Permission string }

func (e *UnknownPermissionError) Error() string {
	return fmt.Sprintf("catalogue: unknown permission %q", e.Permission)
}

// DuplicatePermissionError names a permission listed twice in one role.
type DuplicatePermissionError struct{ Permission string }

func (e *DuplicatePermissionError) Error() string {
	return fmt.Sprintf("catalogue: permission %q listed twice", e.Permission)
}

// PermissionLevelError means a role holds a permission of a level above its
// own, e.g. a tenant role with "users.create".
type PermissionLevelError struct {
	Permission      string
	PermissionLevel Level
	RoleLevel       Level
}

func (e *PermissionLevelError) Error() string {
	return fmt.Sprintf("catalogue: permission %q is %s-level and cannot be held by a %s-level role",
		e.Permission, e.PermissionLevel, e.RoleLevel)
}

// ServiceTypeMismatchError means a service- or folder-level role holds a
// permission of another service type, or a role is placed at a service of
// another type.
type ServiceTypeMismatchError struct {
	// Permission is empty for placement errors.
	Permission string
	Want, Got  string
}

func (e *ServiceTypeMismatchError) Error() string {
	if e.Permission == "" {
		return fmt.Sprintf("catalogue: role of service type %q cannot be assigned at a service of type %q", e.Want, e.Got)
	}
	return fmt.Sprintf("catalogue: permission %q belongs to service type %q, not %q", e.Permission, e.Got, e.Want)
}

// PlacementError means a role is assigned at a scope of the wrong level.
type PlacementError struct {
	Role       string
	RoleLevel  Level
	ScopeLevel Level
}

func (e *PlacementError) Error() string {
	return fmt.Sprintf("catalogue: %s-level role %q cannot be assigned at a %s scope", e.RoleLevel, e.Role, e.ScopeLevel)
}

// checkServiceType validates the service type of a role of the given level.
func checkServiceType(level Level, serviceType string) error {
	if !level.Valid() {
		return fmt.Errorf("%w: %d", ErrInvalidLevel, int(level))
	}
	switch level {
	case LevelOrganization, LevelTenant:
		if serviceType != "" {
			return ErrServiceTypeNotAllowed
		}
	default:
		if serviceType == "" {
			return ErrServiceTypeRequired
		}
		if _, ok := LookupServiceType(serviceType); !ok {
			return &UnknownServiceTypeError{ServiceType: serviceType}
		}
	}
	return nil
}

// checkRolePermissions reports every problem of perms for a role of the given
// level and service type, joined with errors.Join.
func checkRolePermissions(level Level, serviceType string, perms []string) error {
	if err := checkServiceType(level, serviceType); err != nil {
		return err
	}
	var errs []error
	seen := make(map[string]bool, len(perms))
	for _, name := range perms {
		p, ok := LookupPermission(name)
		switch {
		case !ok:
			errs = append(errs, &UnknownPermissionError{Permission: name})
		case seen[name]:
			errs = append(errs, &DuplicatePermissionError{Permission: name})
		case !level.Holds(p.Level):
			errs = append(errs, &PermissionLevelError{Permission: name, PermissionLevel: p.Level, RoleLevel: level})
		case serviceType != "" && p.ServiceType != serviceType:
			errs = append(errs, &ServiceTypeMismatchError{Permission: name, Want: serviceType, Got: p.ServiceType})
		}
		seen[name] = true
	}
	return errors.Join(errs...)
}

// ValidateRolePermissions reports whether a role of the given level and
// service type may hold perms: every permission must be in the catalogue, of
// the role's level or a level below it (a tenant role: tenant, service and
// folder permissions, never organization ones), listed once, and for service-
// and folder-level roles of the role's one service type (R11, R12). All
// problems are reported, joined; each is an *UnknownPermissionError,
// *DuplicatePermissionError, *PermissionLevelError or
// *ServiceTypeMismatchError naming the permission.
func ValidateRolePermissions(level Level, serviceType string, perms []string) error {
	return checkRolePermissions(level, serviceType, perms)
}

// ValidateCustomRole reports whether r is a valid custom role: it has an ID
// and a name, is not built-in and does not reuse a built-in ID, and its
// permissions pass ValidateRolePermissions.
func ValidateCustomRole(r Role) error {
	if r.ID == "" || r.Name == "" {
		return ErrMissingID
	}
	if r.BuiltIn || IsBuiltInRole(r.ID) {
		return fmt.Errorf("%w: %q", ErrBuiltInRole, r.ID)
	}
	return checkRolePermissions(r.Level, r.ServiceType, r.Permissions)
}

// CanAssignAt reports whether a role of level roleLevel may be assigned at a
// scope of level scopeLevel: at a scope of its own level, and a folder role
// also at a service, where it holds in every folder of that service.
func CanAssignAt(roleLevel, scopeLevel Level) bool {
	if !roleLevel.Valid() || !scopeLevel.Valid() {
		return false
	}
	return roleLevel == scopeLevel || (roleLevel == LevelFolder && scopeLevel == LevelService)
}

// ValidatePlacement reports whether r may be assigned at a scope of level
// scopeLevel whose service (for service and folder scopes) has type
// scopeServiceType. Owner is never assignable (ErrNotAssignable); a role is
// assigned at a scope of its own level, a folder role also at a service
// (*PlacementError); a service or folder role only within services of its
// type (*ServiceTypeMismatchError). Custom roles are always assignable.
func ValidatePlacement(r Role, scopeLevel Level, scopeServiceType string) error {
	if r.BuiltIn && !r.Assignable || r.ID == RoleOwner {
		return fmt.Errorf("%w: %q", ErrNotAssignable, r.ID)
	}
	if !scopeLevel.Valid() {
		return fmt.Errorf("%w: scope level %d", ErrInvalidLevel, int(scopeLevel))
	}
	if !CanAssignAt(r.Level, scopeLevel) {
		return &PlacementError{Role: r.ID, RoleLevel: r.Level, ScopeLevel: scopeLevel}
	}
	if r.ServiceType != "" && r.ServiceType != scopeServiceType {
		return &ServiceTypeMismatchError{Want: r.ServiceType, Got: scopeServiceType}
	}
	return nil
}
