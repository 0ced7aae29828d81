package dataset

import (
	"fmt"
	"math/rand/v2"
)

// OrganizationID is the ID of the organization every dataset signs up.
const OrganizationID = "bench"

// Membership puts User in Group.
type Membership struct {
	// Group and User are resource names.
	Group, User string
}

// Assignment gives Principal the role Role at Scope.
type Assignment struct {
	// Principal is a user or group resource name.
	Principal string
	// Role is a role resource name, built-in ("roles/...") or custom.
	Role string
	// Scope is a service or folder resource name.
	Scope string
}

// CustomRole is a custom role the dataset creates before assigning it.
type CustomRole struct {
	// ID is the role's ID in the organization.
	ID string
	// DisplayName is shown to administrators.
	DisplayName string
	// Service says whether the role is of service level (otherwise folder
	// level); both are of the Orchestrator type.
	Service bool
	// Permissions are the role's permission wire names.
	Permissions []string
}

// customRoles are the custom roles every dataset assigns next to the
// built-in ones: two folder roles, one of which may create jobs, and one
// service role.
var customRoles = []CustomRole{
	{ID: "bench-runner", DisplayName: "Bench Runner", Permissions: []string{"orchestrator.jobs.view", "orchestrator.jobs.create", "orchestrator.logs.view", "orchestrator.processes.view"}},
	{ID: "bench-viewer", DisplayName: "Bench Viewer", Permissions: []string{"orchestrator.jobs.view", "orchestrator.logs.view", "orchestrator.queues.view"}},
	{ID: "bench-settings", DisplayName: "Bench Settings Reader", Service: true, Permissions: []string{"orchestrator.settings.view", "orchestrator.robots.view"}},
}

// Built-in roles assigned at folders (and, as folder roles may be, at
// services), and those assigned at services only.
var (
	builtInFolderRoles  = []string{"roles/automation-user", "roles/automation-developer", "roles/folder-administrator"}
	builtInServiceRoles = []string{"roles/orchestrator-administrator", "roles/allow-to-be-automation-user",
		"roles/allow-to-be-automation-developer", "roles/allow-to-be-folder-administrator"}
)

// Shares of the assignments: to groups rather than users, and at services
// rather than folders.
const (
	groupShare   = 0.15
	serviceShare = 0.10
)

// Plan is a generated dataset: every resource's name, in creation order
// (parents before children).
type Plan struct {
	// Spec is what the plan was generated from.
	Spec Spec
	// Organization is the organization's resource name.
	Organization string
	// Tenants and Services are resource names; Services[i] lies in
	// Tenants[i % len(Tenants)].
	Tenants, Services []string
	// FolderLevels holds the folders by depth: FolderLevels[0] are the
	// services' own folders, FolderLevels[Depth-1] the deepest.
	FolderLevels [][]string
	// Users and Groups are resource names.
	Users, Groups []string
	// Memberships lists every user's groups.
	Memberships []Membership
	// Roles are the custom roles.
	Roles []CustomRole
	// Assignments are distinct (principal, role, scope) triples.
	Assignments []Assignment
}

// Generate builds the plan of spec. It depends on spec alone.
func Generate(spec Spec) (*Plan, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x5eed))
	org := "organizations/" + OrganizationID
	p := &Plan{Spec: spec, Organization: org, Roles: customRoles}
	for t := range spec.Tenants {
		p.Tenants = append(p.Tenants, fmt.Sprintf("%s/tenants/t%d", org, t))
	}
	for s := range spec.Services {
		p.Services = append(p.Services, fmt.Sprintf("%s/services/s%d", p.Tenants[s%spec.Tenants], s))
	}
	p.FolderLevels = make([][]string, spec.Depth)
	for s, svc := range p.Services {
		n := spec.Folders / spec.Services
		if s < spec.Folders%spec.Services {
			n++
		}
		id := 0
		var parents []string
		for d, size := range levelSizes(n, spec.Depth) {
			level := make([]string, size)
			for i := range level {
				parent := svc
				if d > 0 {
					parent = parents[i%len(parents)]
				}
				level[i] = fmt.Sprintf("%s/folders/f%d", parent, id)
				id++
			}
			p.FolderLevels[d] = append(p.FolderLevels[d], level...)
			parents = level
		}
	}
	for u := range spec.Users {
		p.Users = append(p.Users, fmt.Sprintf("%s/users/u%d", org, u))
	}
	for g := range spec.Groups {
		p.Groups = append(p.Groups, fmt.Sprintf("%s/groups/g%d", org, g))
	}
	for _, u := range p.Users {
		k := spec.MinGroups + rng.IntN(spec.MaxGroups-spec.MinGroups+1)
		for _, g := range rng.Perm(len(p.Groups))[:k] {
			p.Memberships = append(p.Memberships, Membership{Group: p.Groups[g], User: u})
		}
	}
	p.Assignments = p.assignments(rng)
	return p, nil
}

// levelSizes splits n folders over depth levels, growing with depth (level
// d gets a share proportional to d+1) and at least one per level.
func levelSizes(n, depth int) []int {
	sizes := make([]int, depth)
	weight := depth * (depth + 1) / 2
	left := n
	for d := range sizes {
		sizes[d] = max(1, n*(d+1)/weight)
		left -= sizes[d]
	}
	sizes[depth-1] += left
	return sizes
}

// assignments draws the plan's distinct role assignments.
func (p *Plan) assignments(rng *rand.Rand) []Assignment {
	var folderRoles, serviceRoles []string
	folderRoles = append(folderRoles, builtInFolderRoles...)
	serviceRoles = append(serviceRoles, builtInServiceRoles...)
	for _, r := range p.Roles {
		name := p.Organization + "/roles/" + r.ID
		if r.Service {
			serviceRoles = append(serviceRoles, name)
		} else {
			folderRoles = append(folderRoles, name)
		}
	}
	serviceRoles = append(serviceRoles, folderRoles...)
	var folders []string
	for _, level := range p.FolderLevels {
		folders = append(folders, level...)
	}
	seen := make(map[Assignment]bool, p.Spec.Assignments)
	out := make([]Assignment, 0, p.Spec.Assignments)
	for len(out) < p.Spec.Assignments {
		var a Assignment
		if rng.Float64() < groupShare {
			a.Principal = p.Groups[rng.IntN(len(p.Groups))]
		} else {
			a.Principal = p.Users[rng.IntN(len(p.Users))]
		}
		if rng.Float64() < serviceShare {
			a.Scope, a.Role = p.Services[rng.IntN(len(p.Services))], serviceRoles[rng.IntN(len(serviceRoles))]
		} else {
			a.Scope, a.Role = folders[rng.IntN(len(folders))], folderRoles[rng.IntN(len(folderRoles))]
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// FolderCount returns the number of folders in the plan.
func (p *Plan) FolderCount() int {
	n := 0
	for _, level := range p.FolderLevels {
		n += len(level)
	}
	return n
}
