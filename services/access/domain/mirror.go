package domain

import (
	"slices"
	"strings"
	"sync"

	accessv1 "steward.dev/gen/steward/access/v1"

	"steward.dev/pkg/resourcename"
	"steward.dev/services/access/authorizer"
)

// MirrorPrincipal is what access knows of a directory principal: a user,
// group, robot account or external application.
type MirrorPrincipal struct {
	// Name is the resource name, e.g. "organizations/o1/users/u1".
	Name string
	// Kind is the principal's kind.
	Kind accessv1.PrincipalKind
	// DisplayName is the principal's display name.
	DisplayName string
	// Email is a user's email; empty for other kinds.
	Email string
	// Organization is "organizations/{o}".
	Organization string
	// Active is false for deactivated users.
	Active bool
	// Everyone marks the organization's Everyone group (R5).
	Everyone bool
}

// MirrorScope is what access knows of a scope-tree node (R2).
type MirrorScope struct {
	// Name is the resource name, e.g. "organizations/o1/tenants/t1".
	Name string
	// DisplayName is the node's display name.
	DisplayName string
	// ServiceType is the type of the service the node is or lies in
	// ("orchestrator"); empty above services.
	ServiceType string
}

// MirrorRobot is an on-premises robot of the directory (R6, R20).
type MirrorRobot struct {
	// Name is the resource name, e.g. "organizations/o1/robots/r1".
	Name string
	// DisplayName is the robot's display name.
	DisplayName string
	// MachineName is the host name of the robot's machine.
	MachineName string
}

// Mirror is the in-memory copy of the directory facts access follows, for
// reads that need more than Check does: display names, emails, service
// types, robots. Principals and scope nodes are read from the
// authorization model, which holds them already (issue 13: a second copy
// of them, and of every membership, took 94 bytes per assignment on the
// `large` dataset); the Mirror itself keeps the robots. It is updated after
// each commit of the directory feed and rebuilt from the store at startup.
// Safe for concurrent use; a nil *Mirror is empty.
type Mirror struct {
	model  *authorizer.Model
	mu     sync.RWMutex
	robots map[string]MirrorRobot
	// orgRobots maps an organization to its robots.
	orgRobots map[string]map[string]struct{}
}

// newMirror returns a Mirror over model.
func newMirror(model *authorizer.Model) *Mirror {
	return &Mirror{
		model:     model,
		robots:    make(map[string]MirrorRobot),
		orgRobots: make(map[string]map[string]struct{}),
	}
}

// principalKinds maps the model's principal kinds to the API's.
var principalKinds = [...]accessv1.PrincipalKind{
	authorizer.KindUser:        accessv1.PrincipalKind_PRINCIPAL_KIND_USER,
	authorizer.KindGroup:       accessv1.PrincipalKind_PRINCIPAL_KIND_GROUP,
	authorizer.KindRobot:       accessv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT,
	authorizer.KindExternalApp: accessv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP,
}

// Principal returns the principal named name.
func (m *Mirror) Principal(name string) (MirrorPrincipal, bool) {
	if m == nil {
		return MirrorPrincipal{}, false
	}
	p, ok := m.model.LookupPrincipal(name)
	if !ok {
		return MirrorPrincipal{}, false
	}
	var kind accessv1.PrincipalKind
	if int(p.Kind) < len(principalKinds) {
		kind = principalKinds[p.Kind]
	}
	return MirrorPrincipal{
		Name: p.ID, Kind: kind, DisplayName: p.DisplayName, Email: p.Email, Organization: p.Organization,
		Active: p.Status == authorizer.StatusActive, Everyone: p.Everyone,
	}, true
}

// Scope returns the scope-tree node named name.
func (m *Mirror) Scope(name string) (MirrorScope, bool) {
	if m == nil {
		return MirrorScope{}, false
	}
	s, _, ok := m.model.LookupScope(name)
	return MirrorScope{Name: s.Name, DisplayName: s.DisplayName, ServiceType: s.ServiceType}, ok
}

// OrganizationName returns the display name of the organization org
// ("organizations/{o}"), or "" when unknown.
func (m *Mirror) OrganizationName(org string) string {
	s, _ := m.Scope(org)
	return s.DisplayName
}

// Robots returns the robots of the organization org, sorted by name.
func (m *Mirror) Robots(org string) []MirrorRobot {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]MirrorRobot, 0, len(m.orgRobots[org]))
	for n := range m.orgRobots[org] {
		out = append(out, m.robots[n])
	}
	slices.SortFunc(out, func(a, b MirrorRobot) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Robot returns the robot named name.
func (m *Mirror) Robot(name string) (MirrorRobot, bool) {
	if m == nil {
		return MirrorRobot{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.robots[name]
	return r, ok
}

// The mutators below run after a commit (or at startup).

func (m *Mirror) putRobot(r MirrorRobot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.robots[r.Name] = r
	addTo(m.orgRobots, resourcename.OrganizationOf(r.Name), r.Name)
}

func (m *Mirror) deleteRobot(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.robots, name)
	removeFrom(m.orgRobots, resourcename.OrganizationOf(name), name)
}

func addTo(sets map[string]map[string]struct{}, key, v string) {
	set := sets[key]
	if set == nil {
		set = make(map[string]struct{})
		sets[key] = set
	}
	set[v] = struct{}{}
}

func removeFrom(sets map[string]map[string]struct{}, key, v string) {
	if set := sets[key]; set != nil {
		delete(set, v)
		if len(set) == 0 {
			delete(sets, key)
		}
	}
}
