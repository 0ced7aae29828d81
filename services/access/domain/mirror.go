package domain

import (
	"slices"
	"strings"
	"sync"

	accessv1 "steward.dev/gen/steward/access/v1"

	"steward.dev/pkg/resourcename"
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

// Mirror is the in-memory copy of the directory facts access follows
// (principals, memberships, scope nodes, robots), for reads that need more
// than the authorizer model holds: display names, emails, robots. It is
// updated after each commit of the directory feed and rebuilt from the
// store at startup. Safe for concurrent use; a nil *Mirror is empty.
type Mirror struct {
	mu         sync.RWMutex
	principals map[string]MirrorPrincipal
	// members maps a group to its explicit members.
	members map[string]map[string]struct{}
	// users maps an organization to its users (the Everyone group).
	users  map[string]map[string]struct{}
	scopes map[string]MirrorScope
	robots map[string]MirrorRobot
	// orgRobots maps an organization to its robots.
	orgRobots map[string]map[string]struct{}
}

func newMirror() *Mirror {
	return &Mirror{
		principals: make(map[string]MirrorPrincipal),
		members:    make(map[string]map[string]struct{}),
		users:      make(map[string]map[string]struct{}),
		scopes:     make(map[string]MirrorScope),
		robots:     make(map[string]MirrorRobot),
		orgRobots:  make(map[string]map[string]struct{}),
	}
}

// Principal returns the principal named name.
func (m *Mirror) Principal(name string) (MirrorPrincipal, bool) {
	if m == nil {
		return MirrorPrincipal{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.principals[name]
	return p, ok
}

// Members returns the members of group, sorted: its explicit members, or
// every user of the organization for the Everyone group.
func (m *Mirror) Members(group string) []string {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	set := m.members[group]
	if p, ok := m.principals[group]; ok && p.Everyone {
		set = m.users[p.Organization]
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Scope returns the scope-tree node named name.
func (m *Mirror) Scope(name string) (MirrorScope, bool) {
	if m == nil {
		return MirrorScope{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.scopes[name]
	return s, ok
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

func (m *Mirror) putPrincipal(p MirrorPrincipal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.principals[p.Name] = p
	if p.Kind == accessv1.PrincipalKind_PRINCIPAL_KIND_USER && p.Organization != "" {
		addTo(m.users, p.Organization, p.Name)
	}
}

func (m *Mirror) deletePrincipal(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.principals[name]
	delete(m.principals, name)
	delete(m.members, name)
	for _, set := range m.members {
		delete(set, name)
	}
	if ok {
		removeFrom(m.users, p.Organization, name)
	}
}

func (m *Mirror) putMember(group, member string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	addTo(m.members, group, member)
}

func (m *Mirror) deleteMember(group, member string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	removeFrom(m.members, group, member)
}

func (m *Mirror) putScope(s MirrorScope) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scopes[s.Name] = s
}

// deleteScope removes name and its whole subtree.
func (m *Mirror) deleteScope(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.scopes, name)
	prefix := name + "/"
	for n := range m.scopes {
		if strings.HasPrefix(n, prefix) {
			delete(m.scopes, n)
		}
	}
}

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
