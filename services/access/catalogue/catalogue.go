// Package catalogue holds the default permission catalogue and the built-in
// roles of access management (R11, R12) as a Go table, exactly as
// shared/CATALOGUE.md lists them, together with the validation rules for
// custom roles and for where a role may be assigned.
//
// The catalogue is immutable and safe for concurrent use. Functions that
// return slices return fresh copies.
package catalogue

import (
	"slices"
)

// Level is the level of the scope tree a permission, a role or a scope
// belongs to. Lower levels have larger values: a role of level L may hold
// permissions of every level >= L.
type Level int

// The levels of the scope tree, from the top.
const (
	LevelUnspecified Level = iota
	LevelOrganization
	LevelTenant
	LevelService
	LevelFolder
)

var levelNames = [...]string{"unspecified", "organization", "tenant", "service", "folder"}

// String returns the lowercase name of the level, e.g. "tenant".
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return "invalid"
	}
	return levelNames[l]
}

// Valid reports whether l is one of the four levels of the scope tree.
func (l Level) Valid() bool { return l >= LevelOrganization && l <= LevelFolder }

// Holds reports whether a role of level l may hold a permission of level p:
// its own level and the levels below it (R11, R13).
func (l Level) Holds(p Level) bool { return l.Valid() && p.Valid() && p >= l }

// ParseLevel returns the level named s ("organization", "tenant", "service",
// "folder") and false for anything else.
func ParseLevel(s string) (Level, bool) {
	for l := LevelOrganization; l <= LevelFolder; l++ {
		if levelNames[l] == s {
			return l, true
		}
	}
	return LevelUnspecified, false
}

// Action is what a permission allows on its resource.
type Action string

// The four actions of every resource (R11).
const (
	ActionView   Action = "view"
	ActionEdit   Action = "edit"
	ActionCreate Action = "create"
	ActionDelete Action = "delete"
)

// actions is the order actions are listed in.
var actions = [...]Action{ActionView, ActionEdit, ActionCreate, ActionDelete}

// Actions returns the four actions in catalogue order: view, edit, create,
// delete.
func Actions() []Action { return slices.Clone(actions[:]) }

// ServiceTypeOrchestrator is the service type whose service- and folder-level
// resources CATALOGUE.md lists in full.
const ServiceTypeOrchestrator = "orchestrator"

// ServiceType is a kind of service (R2) and the resources it registers.
type ServiceType struct {
	// Name is the wire name that qualifies its permissions, e.g.
	// "orchestrator" in "orchestrator.jobs.create".
	Name string
	// DisplayName is shown to administrators, e.g. "Orchestrator".
	DisplayName string
	// ServiceResources are the resources at service level, unqualified
	// (e.g. "robots").
	ServiceResources []string
	// FolderResources are the resources at folder level, unqualified (e.g.
	// "jobs"); empty for service types without folders.
	FolderResources []string
}

// Organization-level resources: seed 001's account level (R11).
var organizationResources = []string{
	"dashboard", "services", "services.users", "services.usage_trend",
	"services.license_usage", "users", "licenses", "licenses.api_keys",
	"resource_center", "notifications", "audit_logs", "account_settings",
}

// Tenant-level resources; already qualified with "tenant.".
var tenantResources = []string{
	"tenant.services", "tenant.users", "tenant.licenses", "tenant.audit_logs",
}

// serviceTypes is the explicit list of service types. Orchestrator has the
// resources of CATALOGUE.md; every other type registers at least settings and
// users at service level (CATALOGUE.md "other service types").
var serviceTypes = []ServiceType{
	{
		Name:        ServiceTypeOrchestrator,
		DisplayName: "Orchestrator",
		ServiceResources: []string{
			"alerts", "audit", "libraries", "license", "machines", "packages",
			"robots", "roles", "settings", "folders", "users", "webhooks",
		},
		FolderResources: []string{
			"assets", "jobs", "logs", "monitoring", "processes", "queues",
			"transactions", "triggers", "storage_buckets", "subfolders", "folder_users",
		},
	},
	{Name: "automation-hub", DisplayName: "Automation Hub", ServiceResources: []string{"settings", "users"}},
	{Name: "test-manager", DisplayName: "Test Manager", ServiceResources: []string{"settings", "users"}},
	{Name: "document-understanding", DisplayName: "Document Understanding", ServiceResources: []string{"settings", "users"}},
	{Name: "action-center", DisplayName: "Action Center", ServiceResources: []string{"settings", "users"}},
	{Name: "insights", DisplayName: "Insights", ServiceResources: []string{"settings", "users"}},
	{Name: "data-service", DisplayName: "Data Service", ServiceResources: []string{"settings", "users"}},
}

// ServiceTypes returns the registered service types, Orchestrator first.
func ServiceTypes() []ServiceType {
	out := make([]ServiceType, len(serviceTypes))
	for i, st := range serviceTypes {
		out[i] = st
		out[i].ServiceResources = slices.Clone(st.ServiceResources)
		out[i].FolderResources = slices.Clone(st.FolderResources)
	}
	return out
}

// LookupServiceType returns the service type named name.
func LookupServiceType(name string) (ServiceType, bool) {
	for _, st := range ServiceTypes() {
		if st.Name == name {
			return st, true
		}
	}
	return ServiceType{}, false
}

// Permission is one (resource, action) pair of the catalogue.
type Permission struct {
	// Name is the wire name, "resource.action": "users.create",
	// "tenant.users.edit", "orchestrator.jobs.create".
	Name string
	// Resource is the qualified resource, e.g. "orchestrator.jobs".
	Resource string
	// Action is one of view, edit, create, delete.
	Action Action
	// Level is the level of the scope tree the permission belongs to.
	Level Level
	// ServiceType is the service type of service- and folder-level
	// permissions; empty for organization and tenant ones.
	ServiceType string
	// Index is the permission's position in Permissions(), dense from 0; it
	// is stable within one build and meant for bitsets, not for storage.
	Index int
}

var (
	permissions []Permission
	permIndex   map[string]int
)

func init() {
	add := func(resource string, level Level, serviceType string) {
		for _, a := range actions {
			p := Permission{
				Name:        resource + "." + string(a),
				Resource:    resource,
				Action:      a,
				Level:       level,
				ServiceType: serviceType,
				Index:       len(permissions),
			}
			permissions = append(permissions, p)
		}
	}
	for _, r := range organizationResources {
		add(r, LevelOrganization, "")
	}
	for _, r := range tenantResources {
		add(r, LevelTenant, "")
	}
	for _, st := range serviceTypes {
		for _, r := range st.ServiceResources {
			add(st.Name+"."+r, LevelService, st.Name)
		}
		for _, r := range st.FolderResources {
			add(st.Name+"."+r, LevelFolder, st.Name)
		}
	}
	permIndex = make(map[string]int, len(permissions))
	for _, p := range permissions {
		if _, dup := permIndex[p.Name]; dup {
			panic("catalogue: duplicate permission " + p.Name)
		}
		permIndex[p.Name] = p.Index
	}
	initRoles()
}

// Permissions returns every permission of the catalogue: organization ones
// first, then tenant ones, then per service type its service- and folder-level
// ones; within a resource, in the order view, edit, create, delete.
func Permissions() []Permission { return slices.Clone(permissions) }

// NumPermissions returns the number of permissions in the catalogue.
func NumPermissions() int { return len(permissions) }

// LookupPermission returns the permission with the wire name name.
func LookupPermission(name string) (Permission, bool) {
	i, ok := permIndex[name]
	if !ok {
		return Permission{}, false
	}
	return permissions[i], true
}

// PermissionIndex returns the Index of the permission named name, without
// allocating; it is meant for the Check hot path.
func PermissionIndex(name string) (int, bool) {
	i, ok := permIndex[name]
	return i, ok
}

// PermissionAt returns the permission with the given Index. It panics if i
// is out of range.
func PermissionAt(i int) Permission { return permissions[i] }
