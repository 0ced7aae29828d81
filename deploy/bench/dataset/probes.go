package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// ProbePermission is the permission every probe checks: an orchestrator
// asks it before it starts a job.
const ProbePermission = "orchestrator.jobs.create"

// Probe is one CheckPermission question with its expected answer.
type Probe struct {
	// Principal is a user's resource name.
	Principal string `json:"principal"`
	// Permission is a permission wire name.
	Permission string `json:"permission"`
	// Scope is a folder's resource name, at ProbeDepth.
	Scope string `json:"scope"`
	// Allowed is the answer the dataset implies.
	Allowed bool `json:"allowed"`
}

// Probes draws n probes of ProbePermission at the plan's folders of
// ProbeDepth (or its deepest), alternately allowed and denied, with the
// answers worked out from the plan: a user holds the permission at a
// folder when it or one of its groups is assigned, at the folder or an
// ancestor, a role holding it. holds reports whether the role (resource
// name) holds ProbePermission; the generator asks the suite. The probes
// depend only on the plan and holds.
func (p *Plan) Probes(n int, holds func(role string) bool) ([]Probe, error) {
	depth := min(ProbeDepth, p.Spec.Depth)
	targets := p.FolderLevels[depth-1]
	g := p.grants(holds)
	// below lists, for each scope, the targets in its subtree.
	below := make(map[string][]string)
	for _, f := range targets {
		for _, s := range assignable(f) {
			below[s] = append(below[s], f)
		}
	}
	rng := rand.New(rand.NewPCG(p.Spec.Seed, p.Spec.Seed^0x9b0be))
	out := make([]Probe, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000*n {
			return nil, fmt.Errorf("dataset: %s: found only %d of %d probes", p.Spec.Name, len(out), n)
		}
		user := p.Users[rng.IntN(len(p.Users))]
		var folder string
		if len(out)%2 == 0 {
			// Allowed: a target below one of the user's grants.
			var scopes []string
			for s := range g.direct[user] {
				scopes = append(scopes, s)
			}
			for _, group := range g.groups[user] {
				for s := range g.direct[group] {
					scopes = append(scopes, s)
				}
			}
			if len(scopes) == 0 {
				continue
			}
			slices.Sort(scopes) // map order is random; the draw must not be
			fs := below[scopes[rng.IntN(len(scopes))]]
			if len(fs) == 0 {
				continue // a grant deeper than the probes
			}
			folder = fs[rng.IntN(len(fs))]
		} else {
			folder = targets[rng.IntN(len(targets))]
		}
		want := len(out)%2 == 0
		if g.allowed(user, folder) != want {
			continue
		}
		out = append(out, Probe{Principal: user, Permission: ProbePermission, Scope: folder, Allowed: want})
	}
	return out, nil
}

// grants says where the principals of a plan hold ProbePermission.
type grants struct {
	// direct maps a principal to the scopes at which it is assigned a
	// role holding the permission.
	direct map[string]map[string]bool
	// groups maps a user to its groups.
	groups map[string][]string
}

// grants works out the plan's grants of ProbePermission; holds reports
// whether a role (resource name) holds it.
func (p *Plan) grants(holds func(role string) bool) grants {
	g := grants{direct: make(map[string]map[string]bool), groups: make(map[string][]string)}
	for _, a := range p.Assignments {
		if !holds(a.Role) {
			continue
		}
		if g.direct[a.Principal] == nil {
			g.direct[a.Principal] = make(map[string]bool)
		}
		g.direct[a.Principal][a.Scope] = true
	}
	for _, m := range p.Memberships {
		g.groups[m.User] = append(g.groups[m.User], m.Group)
	}
	return g
}

// allowed reports whether user holds the permission at folder: it or one
// of its groups is assigned a role holding it at folder or an ancestor.
func (g grants) allowed(user, folder string) bool {
	for _, s := range assignable(folder) {
		if g.direct[user][s] {
			return true
		}
		for _, group := range g.groups[user] {
			if g.direct[group][s] {
				return true
			}
		}
	}
	return false
}

// assignable returns folder and its ancestors down to its service: the
// scopes at which the plan assigns roles that hold at folder.
func assignable(folder string) []string {
	out := []string{folder}
	for s := folder; strings.Contains(s, "/folders/"); {
		s = s[:strings.LastIndex(s, "/folders/")]
		out = append(out, s)
	}
	return out
}
