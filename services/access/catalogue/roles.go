package catalogue

import (
	"slices"
)

// Stable IDs of the built-in roles. The service Administrator role has one ID
// per service type, see AdministratorRoleID.
const (
	RoleOwner                         = "owner"
	RoleOrganizationAdministrator     = "organization-administrator"
	RoleConsoleAdministrator          = "console-administrator"
	RoleUser                          = "user"
	RoleTenantAdministrator           = "tenant-administrator"
	RoleAllowToBeFolderAdministrator  = "allow-to-be-folder-administrator"
	RoleFolderAdministrator           = "folder-administrator"
	RoleAllowToBeAutomationUser       = "allow-to-be-automation-user"
	RoleAutomationUser                = "automation-user"
	RoleAllowToBeAutomationDeveloper  = "allow-to-be-automation-developer"
	RoleAutomationDeveloper           = "automation-developer"
	RoleRobot                         = "robot"
	administratorRoleSuffix           = "-administrator"
	orchestratorAdministratorRoleName = "Administrator"
)

// AdministratorRoleID returns the ID of the built-in Administrator role of a
// service type, e.g. "orchestrator-administrator".
func AdministratorRoleID(serviceType string) string {
	return serviceType + administratorRoleSuffix
}

// Role is a named set of permissions of one level (R12).
type Role struct {
	// ID is stable; built-in IDs are the Role* constants and
	// AdministratorRoleID(type).
	ID string
	// Name is shown to administrators, e.g. "Folder Administrator".
	Name string
	// Description says what the role is for.
	Description string
	// Level is the level the role is assigned at (a folder role may also be
	// assigned at a service, see ValidatePlacement).
	Level Level
	// ServiceType is the service type of service- and folder-level roles;
	// empty for organization and tenant roles.
	ServiceType string
	// Permissions are wire names in catalogue order.
	Permissions []string
	// BuiltIn roles are immutable: edit and delete are refused with reason
	// BUILT_IN_ROLE_IMMUTABLE.
	BuiltIn bool
	// Assignable is false for Owner, which is bound to the sign-up user and
	// never assigned or removed through the API (R1).
	Assignable bool
}

// clone returns a deep copy of r.
func (r Role) clone() Role {
	r.Permissions = slices.Clone(r.Permissions)
	return r
}

var (
	builtInRoles []Role
	builtInIndex map[string]int
)

// permsWhere returns the names of the permissions for which keep is true, in
// catalogue order.
func permsWhere(keep func(Permission) bool) []string {
	var out []string
	for _, p := range permissions {
		if keep(p) {
			out = append(out, p.Name)
		}
	}
	return out
}

// grants expands resource -> actions into qualified permission names of the
// given service type (empty prefix for organization resources), in catalogue
// order.
func grants(prefix string, m map[string][]Action) []string {
	want := make(map[string]bool)
	for r, as := range m {
		for _, a := range as {
			want[prefix+r+"."+string(a)] = true
		}
	}
	out := permsWhere(func(p Permission) bool { return want[p.Name] })
	if len(out) != len(want) {
		panic("catalogue: built-in role names an unknown permission")
	}
	return out
}

var (
	view   = []Action{ActionView}
	vc     = []Action{ActionView, ActionCreate}
	vce    = []Action{ActionView, ActionCreate, ActionEdit}
	ve     = []Action{ActionView, ActionEdit}
	create = []Action{ActionCreate}
	ced    = []Action{ActionCreate, ActionEdit, ActionDelete}
)

func union(a, b []string) []string {
	in := make(map[string]bool)
	for _, p := range a {
		in[p] = true
	}
	for _, p := range b {
		in[p] = true
	}
	return permsWhere(func(p Permission) bool { return in[p.Name] })
}

func initRoles() {
	const o = ServiceTypeOrchestrator + "."
	allowAutomationUser := grants(o, map[string][]Action{
		"settings": view, "robots": view, "machines": view, "license": view,
	})
	automationUser := grants(o, map[string][]Action{
		"processes": view, "assets": view, "queues": view, "triggers": view,
		"storage_buckets": view, "monitoring": view,
		"jobs": vce, "transactions": vce, "logs": vc,
	})
	roles := []Role{
		{
			ID: RoleOwner, Name: "Owner", Level: LevelOrganization,
			Description: "Every permission of every level, everywhere in the organization; bound to the sign-up user.",
			Permissions: permsWhere(func(Permission) bool { return true }),
		},
		{
			ID: RoleOrganizationAdministrator, Name: "Organization Administrator", Level: LevelOrganization,
			Description: "All organization-level permissions; grants nothing inside a service by itself.",
			Permissions: permsWhere(func(p Permission) bool { return p.Level == LevelOrganization }),
		},
		{
			ID: RoleConsoleAdministrator, Name: "Console Administrator", Level: LevelOrganization,
			Description: "All organization-level permissions except member management (users.create, users.edit, users.delete).",
			Permissions: permsWhere(func(p Permission) bool {
				return p.Level == LevelOrganization && !(p.Resource == "users" && p.Action != ActionView)
			}),
		},
		{
			ID: RoleUser, Name: "User", Level: LevelOrganization,
			Description: "Default role of invited people: view on dashboard, services, users, licenses, resource center and notifications.",
			Permissions: grants("", map[string][]Action{
				"dashboard": view, "services": view, "users": view, "licenses": view,
				"resource_center": view, "notifications": view,
			}),
		},
		{
			ID: RoleTenantAdministrator, Name: "Tenant Administrator", Level: LevelTenant,
			Description: "All tenant-, service- and folder-level permissions inside the tenant.",
			Permissions: permsWhere(func(p Permission) bool { return p.Level >= LevelTenant }),
		},
	}
	for _, st := range serviceTypes {
		roles = append(roles, Role{
			ID: AdministratorRoleID(st.Name), Name: orchestratorAdministratorRoleName,
			Level: LevelService, ServiceType: st.Name,
			Description: "All service- and folder-level permissions of the " + st.DisplayName + " service.",
			Permissions: permsWhere(func(p Permission) bool { return p.ServiceType == st.Name }),
		})
	}
	roles = append(roles,
		Role{
			ID: RoleAllowToBeFolderAdministrator, Name: "Allow to be Folder Administrator",
			Level: LevelService, ServiceType: ServiceTypeOrchestrator,
			Description: "Service-level companion of Folder Administrator.",
			Permissions: grants(o, map[string][]Action{
				"users": view, "roles": view, "folders": view, "robots": view,
				"machines": view, "packages": view, "settings": view,
			}),
		},
		Role{
			ID: RoleFolderAdministrator, Name: "Folder Administrator",
			Level: LevelFolder, ServiceType: ServiceTypeOrchestrator,
			Description: "All folder-level permissions; holds in the folder's whole subtree.",
			Permissions: permsWhere(func(p Permission) bool {
				return p.Level == LevelFolder && p.ServiceType == ServiceTypeOrchestrator
			}),
		},
		Role{
			ID: RoleAllowToBeAutomationUser, Name: "Allow to be Automation User",
			Level: LevelService, ServiceType: ServiceTypeOrchestrator,
			Description: "Service-level companion of Automation User.",
			Permissions: allowAutomationUser,
		},
		Role{
			ID: RoleAutomationUser, Name: "Automation User",
			Level: LevelFolder, ServiceType: ServiceTypeOrchestrator,
			Description: "Runs automations.",
			Permissions: automationUser,
		},
		Role{
			ID: RoleAllowToBeAutomationDeveloper, Name: "Allow to be Automation Developer",
			Level: LevelService, ServiceType: ServiceTypeOrchestrator,
			Description: "Service-level companion of Automation Developer.",
			Permissions: union(allowAutomationUser, grants(o, map[string][]Action{
				"packages": vc, "libraries": vc,
			})),
		},
		Role{
			ID: RoleAutomationDeveloper, Name: "Automation Developer",
			Level: LevelFolder, ServiceType: ServiceTypeOrchestrator,
			Description: "Builds and publishes automations.",
			Permissions: union(automationUser, grants(o, map[string][]Action{
				"processes": ced, "assets": ced, "queues": ced, "triggers": ced, "storage_buckets": ced,
			})),
		},
		Role{
			ID: RoleRobot, Name: "Robot",
			Level: LevelService, ServiceType: ServiceTypeOrchestrator,
			Description: "Given to a robot account when it is created.",
			Permissions: grants(o, map[string][]Action{
				"settings": view, "license": view, "robots": view,
				"processes": view, "assets": view, "queues": view,
				"jobs": ve, "transactions": vce, "logs": create,
			}),
		},
	)
	builtInIndex = make(map[string]int, len(roles))
	for i := range roles {
		roles[i].BuiltIn = true
		roles[i].Assignable = roles[i].ID != RoleOwner
		if _, dup := builtInIndex[roles[i].ID]; dup {
			panic("catalogue: duplicate built-in role " + roles[i].ID)
		}
		if err := checkRolePermissions(roles[i].Level, roles[i].ServiceType, roles[i].Permissions); err != nil {
			panic("catalogue: built-in role " + roles[i].ID + ": " + err.Error())
		}
		builtInIndex[roles[i].ID] = i
	}
	builtInRoles = roles
}

// BuiltInRoles returns the built-in roles of CATALOGUE.md: Owner,
// Organization Administrator, Console Administrator, User, Tenant
// Administrator, one Administrator per service type, then the Orchestrator
// roles (Allow to be Folder Administrator, Folder Administrator, Allow to be
// Automation User, Automation User, Allow to be Automation Developer,
// Automation Developer, Robot).
func BuiltInRoles() []Role {
	out := make([]Role, len(builtInRoles))
	for i, r := range builtInRoles {
		out[i] = r.clone()
	}
	return out
}

// LookupBuiltInRole returns the built-in role with the given ID.
func LookupBuiltInRole(id string) (Role, bool) {
	i, ok := builtInIndex[id]
	if !ok {
		return Role{}, false
	}
	return builtInRoles[i].clone(), true
}

// IsBuiltInRole reports whether id is the ID of a built-in role.
func IsBuiltInRole(id string) bool {
	_, ok := builtInIndex[id]
	return ok
}

// Trigger says when a default group's assignment is made.
type Trigger int

const (
	// TriggerUnspecified is never used in the table.
	TriggerUnspecified Trigger = iota
	// OnOrganizationCreated: at sign-up, at the organization scope.
	OnOrganizationCreated
	// OnServiceCreated: whenever a service of the assignment's ServiceType
	// is created, at that service's scope.
	OnServiceCreated
	// OnSharedFolderCreated: when the default folder Shared of a new
	// service of the assignment's ServiceType is created (with the
	// service), at that folder's scope. A folder role of a default group
	// holds in Shared only, until an administrator gives other folders.
	OnSharedFolderCreated
)

// DefaultAssignment is one assignment a default group receives.
type DefaultAssignment struct {
	// Role is a built-in role ID.
	Role string
	// When says at which scope and moment the assignment is made.
	When Trigger
	// ServiceType restricts OnServiceCreated and OnSharedFolderCreated to
	// services of this type.
	ServiceType string
	// Immutable marks a built-in assignment nobody may remove, whatever
	// rights they hold: deleting it would take a right from every member
	// at once (the Administrators' Organization Administrator) or break
	// the rule that every user holds User (Everyone).
	Immutable bool
}

// Stable IDs of the default groups (R5).
const (
	GroupAdministrators       = "administrators"
	GroupAutomationDevelopers = "automation-developers"
	GroupAutomationUsers      = "automation-users"
	GroupEveryone             = "everyone"
)

// DefaultGroup is one of the four groups every organization starts with
// (R5); they cannot be deleted or renamed, but their assignments may be
// changed.
type DefaultGroup struct {
	ID   string
	Name string
	// Implicit is true for Everyone: every user is a member without a
	// stored membership.
	Implicit bool
	// Assignments are made at sign-up or when a service is created.
	Assignments []DefaultAssignment
}

// DefaultGroups returns the default groups and their assignments as listed in
// CATALOGUE.md "Default groups".
func DefaultGroups() []DefaultGroup {
	orch := ServiceTypeOrchestrator
	return []DefaultGroup{
		{ID: GroupAdministrators, Name: "Administrators", Assignments: []DefaultAssignment{
			{Role: RoleOrganizationAdministrator, When: OnOrganizationCreated, Immutable: true},
			{Role: AdministratorRoleID(orch), When: OnServiceCreated, ServiceType: orch},
		}},
		{ID: GroupAutomationDevelopers, Name: "Automation Developers", Assignments: []DefaultAssignment{
			{Role: RoleAllowToBeAutomationDeveloper, When: OnServiceCreated, ServiceType: orch},
			{Role: RoleAutomationDeveloper, When: OnSharedFolderCreated, ServiceType: orch},
		}},
		{ID: GroupAutomationUsers, Name: "Automation Users", Assignments: []DefaultAssignment{
			{Role: RoleAllowToBeAutomationUser, When: OnServiceCreated, ServiceType: orch},
			{Role: RoleAutomationUser, When: OnSharedFolderCreated, ServiceType: orch},
		}},
		{ID: GroupEveryone, Name: "Everyone", Implicit: true, Assignments: []DefaultAssignment{
			{Role: RoleUser, When: OnOrganizationCreated, Immutable: true},
		}},
	}
}
