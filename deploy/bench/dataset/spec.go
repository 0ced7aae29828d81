// Package dataset generates issue 13's benchmark organizations and loads
// them into a running suite through its public gRPC APIs: an organization
// signed up, tenants, Orchestrator services, folders nested to a fixed
// depth, users (without passwords: argon2id is deliberately slow), groups
// and their memberships, custom roles, and role assignments of users and
// groups with built-in and custom roles at services and folders. The
// content depends only on the Spec and its seed; the load runs with
// bounded concurrency and reports its rate per kind. The result is a
// Manifest: what the load driver needs to call CheckPermission as an
// orchestrator does, with a list of probes whose answers are known.
package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// Spec is the shape of a dataset. Every count is a total over the
// organization.
type Spec struct {
	// Name names the size, e.g. "medium".
	Name string `json:"name"`
	// Seed seeds the generator; the same Spec gives the same dataset.
	Seed uint64 `json:"seed"`
	// Tenants, Services and Folders count the scope tree's nodes below the
	// organization. Services are spread evenly over tenants and folders
	// over services.
	Tenants  int `json:"tenants"`
	Services int `json:"services"`
	Folders  int `json:"folders"`
	// Depth is the depth of the deepest folders (a service's own folders
	// are at depth 1).
	Depth int `json:"depth"`
	// Users and Groups count the principals made.
	Users  int `json:"users"`
	Groups int `json:"groups"`
	// MinGroups and MaxGroups bound how many groups each user joins.
	MinGroups int `json:"min_groups"`
	MaxGroups int `json:"max_groups"`
	// Assignments counts the role assignments made.
	Assignments int `json:"assignments"`
	// Probes counts the Check probes in the manifest, half of them
	// expected to be allowed.
	Probes int `json:"probes"`
}

// The sizes of issue 13.
var (
	// Small is for smoke tests: it loads in seconds.
	Small = Spec{Name: "small", Seed: 13, Tenants: 1, Services: 2, Folders: 50, Depth: 4,
		Users: 100, Groups: 10, MinGroups: 1, MaxGroups: 3, Assignments: 500, Probes: 200}
	// Medium is issue 13's reference organization: about 30,000
	// memberships and 100,000 assignments.
	Medium = Spec{Name: "medium", Seed: 13, Tenants: 10, Services: 50, Folders: 5_000, Depth: 4,
		Users: 10_000, Groups: 500, MinGroups: 1, MaxGroups: 5, Assignments: 100_000, Probes: 1_000}
	// Large is issue 13's memory and cold-start organization.
	Large = Spec{Name: "large", Seed: 13, Tenants: 20, Services: 100, Folders: 50_000, Depth: 6,
		Users: 100_000, Groups: 5_000, MinGroups: 1, MaxGroups: 10, Assignments: 1_000_000, Probes: 1_000}
)

// Sizes are the named sizes by name.
var Sizes = map[string]Spec{Small.Name: Small, Medium.Name: Medium, Large.Name: Large}

// ProbeDepth is the depth of the folders the probes check at, the depth
// at which an orchestrator's jobs typically run (issue 13: "depth-4
// folders"); shallower datasets are probed at their deepest folders.
const ProbeDepth = 4

// ParseSize returns the named size, scaled by scale (folders, users,
// groups, assignments and probes; not tenants or services) when scale is
// not 1, for a smaller custom run on a busy machine.
func ParseSize(name string, scale float64) (Spec, error) {
	s, ok := Sizes[name]
	if !ok {
		names := make([]string, 0, len(Sizes))
		for n := range Sizes {
			names = append(names, n)
		}
		slices.Sort(names)
		return Spec{}, fmt.Errorf("dataset: unknown size %q (want %s)", name, strings.Join(names, ", "))
	}
	if scale <= 0 {
		return Spec{}, fmt.Errorf("dataset: scale %v must be positive", scale)
	}
	if scale != 1 {
		n := func(v int) int { return max(1, int(float64(v)*scale)) }
		s.Name = fmt.Sprintf("%s×%g", s.Name, scale)
		s.Folders, s.Users, s.Groups = max(n(s.Folders), s.Services*s.Depth), n(s.Users), max(n(s.Groups), s.MaxGroups)
		s.Assignments, s.Probes = n(s.Assignments), max(n(s.Probes), 2)
	}
	return s, s.validate()
}

// validate reports a Spec the generator cannot build.
func (s Spec) validate() error {
	switch {
	case s.Tenants < 1 || s.Services < s.Tenants:
		return fmt.Errorf("dataset: %s: want at least one service per tenant", s.Name)
	case s.Depth < 1 || s.Folders < s.Services*s.Depth:
		return fmt.Errorf("dataset: %s: want at least %d folders per service for depth %d", s.Name, s.Depth, s.Depth)
	case s.Users < 1 || s.Groups < s.MaxGroups || s.MinGroups < 0 || s.MinGroups > s.MaxGroups:
		return fmt.Errorf("dataset: %s: want users, and at least MaxGroups groups", s.Name)
	case s.Probes < 2:
		return fmt.Errorf("dataset: %s: want at least 2 probes", s.Name)
	}
	return nil
}
