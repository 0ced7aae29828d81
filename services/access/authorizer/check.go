package authorizer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// DenyReason says why a Decision denies. Its zero value, DenyNoGrant, is the
// ordinary "no assignment grants it".
type DenyReason uint8

// Reasons for denial.
const (
	// DenyNoGrant: no assignment of the principal or of its groups at the
	// scope or an ancestor grants the permission.
	DenyNoGrant DenyReason = iota
	// DenyUnknownPrincipal: the principal was never upserted or was deleted.
	DenyUnknownPrincipal
	// DenyInactivePrincipal: the principal's status is not active (R16).
	DenyInactivePrincipal
	// DenyUnknownPermission: the permission is not in the catalogue.
	DenyUnknownPermission
	// DenyInvalidScope: the scope is not a valid resource name.
	DenyInvalidScope
	// DenyOtherOrganization: the scope lies in another organization than
	// the principal's. Nothing — not even a group membership or assignment
	// across organizations that should never exist — grants there.
	DenyOtherOrganization
)

var denyNames = [...]string{"no grant", "unknown principal", "inactive principal", "unknown permission", "invalid scope", "other organization"}

// String returns a short lowercase description of r.
func (r DenyReason) String() string {
	if int(r) < len(denyNames) {
		return denyNames[r]
	}
	return "invalid"
}

// Decision is the answer of Check. Its zero value denies (Allowed is false).
// Every string field refers to memory the Model or the caller already holds,
// so producing a Decision does not allocate; Reason builds the text on demand.
type Decision struct {
	// Allowed reports whether the permission is granted.
	Allowed bool
	// Denial says why, when Allowed is false.
	Denial DenyReason
	// Principal, Permission and Scope echo the question.
	Principal, Permission, Scope string
	// assignmentParent and assignment are the ID of the assignment that
	// allowed, split as the model keeps it (AssignmentID).
	assignmentParent, assignment string
	// Role and RoleName identify the role of that assignment.
	Role, RoleName string
	// AssignedAt is the scope of that assignment: Scope or an ancestor.
	AssignedAt string
	// Group is the group through which the assignment was inherited; empty
	// when the assignment is the principal's own (explicit).
	Group string
	// Key is the API key asked about, when the question was about one;
	// Principal is then the principal (or creator) whose rights decided.
	Key string
	// CreatorDenied reports that the key's creator, Principal, does not
	// hold the permission (the key's own principal may).
	CreatorDenied bool
}

// AssignmentID returns the ID of the assignment that allowed, or "". The
// model keeps an ID's parent (up to its last "/", as in
// "organizations/o1/roleAssignments/") once for all the IDs that share it,
// so the ID is put together here, allocating, rather than in Check.
func (d Decision) AssignmentID() string {
	if d.assignmentParent == "" {
		return d.assignment
	}
	return d.assignmentParent + d.assignment
}

// Reason explains the decision in one line, e.g. "allowed by role assignment
// a1 (role Automation User) at organizations/o1/tenants/t1/services/s1
// through group g1".
func (d Decision) Reason() string {
	if d.Key != "" {
		inner := d
		inner.Key, inner.CreatorDenied = "", false
		switch {
		case d.Allowed:
			return inner.Reason() + " to API key " + d.Key + " (its creator holds it too)"
		case d.CreatorDenied:
			return fmt.Sprintf("denied: API key %s holds only what its creator %s holds, and %s", d.Key, d.Principal, strings.TrimPrefix(inner.Reason(), "denied: "))
		}
		return inner.Reason() + " (API key " + d.Key + ")"
	}
	if d.Allowed {
		// Concatenated, not formatted: every Check response carries it.
		if d.Group != "" {
			return "allowed by role assignment " + d.assignmentParent + d.assignment + " (role " + d.RoleName + ") at " + d.AssignedAt + " through group " + d.Group
		}
		return "allowed by role assignment " + d.assignmentParent + d.assignment + " (role " + d.RoleName + ") at " + d.AssignedAt
	}
	switch d.Denial {
	case DenyUnknownPrincipal:
		return fmt.Sprintf("denied: unknown principal %q", d.Principal)
	case DenyInactivePrincipal:
		return fmt.Sprintf("denied: principal %q is not active", d.Principal)
	case DenyUnknownPermission:
		return fmt.Sprintf("denied: unknown permission %q", d.Permission)
	case DenyInvalidScope:
		return fmt.Sprintf("denied: invalid scope %q", d.Scope)
	case DenyOtherOrganization:
		return fmt.Sprintf("denied: %s lies in another organization than %s", d.Scope, d.Principal)
	}
	return "denied: no role assignment grants " + d.Permission + " at " + d.Scope + " to " + d.Principal
}

// CheckItem is one question of CheckBatch.
type CheckItem struct {
	Principal, Permission, Scope string
}

// Check reports whether principal holds permission at scope (R16): it walks
// from scope up through its ancestors and, at each, over the principal's own
// assignments, then those of each active group it belongs to, then (for
// users) its organization's Everyone group, and stops at the first
// assignment whose role holds the permission (R13, R14). Principals that are
// unknown or not active are denied. principal may also be an API key
// (UpsertAPIKey), which holds a permission only where its principal and
// its creator both do. Check does not allocate.
func (m *Model) Check(principal, permission, scope string) Decision {
	m.mu.RLock()
	d := m.checkLocked(principal, permission, scope)
	m.mu.RUnlock()
	return d
}

// CheckBatch answers every item under one read lock, appending the decisions
// to dst in order, and returns the extended slice. It allocates only when dst
// lacks capacity.
func (m *Model) CheckBatch(items []CheckItem, dst []Decision) []Decision {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, it := range items {
		dst = append(dst, m.checkLocked(it.Principal, it.Permission, it.Scope))
	}
	return dst
}

// checkLocked is Check. m.mu must be held.
func (m *Model) checkLocked(principal, permission, scope string) Decision {
	return m.checkPrincipalLocked(principal, permission, scope, true)
}

// checkPrincipalLocked is Check; an API key is answered for only when keys
// is set (checkKeyLocked asks about principals). m.mu must be held.
func (m *Model) checkPrincipalLocked(principal, permission, scope string, keys bool) Decision {
	d := Decision{Principal: principal, Permission: permission, Scope: scope}
	perm, ok := catalogue.PermissionIndex(permission)
	if !ok {
		d.Denial = DenyUnknownPermission
		return d
	}
	if !validScope(scope) {
		d.Denial = DenyInvalidScope
		return d
	}
	pi, ok := m.principalIdx[principal]
	if !ok || !m.principals[pi].known {
		if k, isKey := m.keys[principal]; isKey && keys {
			return m.checkKeyLocked(principal, k, permission, scope, 0)
		}
		d.Denial = DenyUnknownPrincipal
		return d
	}
	p := &m.principals[pi]
	if p.status != StatusActive {
		d.Denial = DenyInactivePrincipal
		return d
	}
	if m.otherOrganization(p, scope) {
		d.Denial = DenyOtherOrganization
		return d
	}
	si := m.nearestScope(scope)
	if si == 0 {
		return d
	}
	var everyone ref
	if p.kind == KindUser && p.org != 0 {
		if e := m.scopes[p.org].everyone; e != 0 && m.activeGroup(e) {
			everyone = e
		}
	}
	word, bit := perm>>6, uint64(1)<<(perm&63)
	for ; si != 0; si = m.scopes[si].parent {
		if a := m.grantAt(pi, si, word, bit); a != 0 {
			return m.allow(d, a, 0)
		}
		for _, g := range p.groups {
			if g == everyone || !m.activeGroup(g) {
				continue
			}
			if a := m.grantAt(g, si, word, bit); a != 0 {
				return m.allow(d, a, g)
			}
		}
		if everyone != 0 {
			if a := m.grantAt(everyone, si, word, bit); a != 0 {
				return m.allow(d, a, everyone)
			}
		}
	}
	return d
}

// nearestScope returns the nearest scope the model has interned at or above
// the valid scope name, or 0. m.mu must be held.
func (m *Model) nearestScope(name string) ref {
	for {
		if i, ok := m.scopeIdx[name]; ok {
			return i
		}
		parent, ok := resourcename.Parent(name)
		if !ok {
			return 0
		}
		name = parent
	}
}

// appendSubjectsLocked appends to subjects principal pi and the subjects it
// inherits from: its active groups and, for a user, its organization's
// active Everyone group, each once. m.mu must be held.
func (m *Model) appendSubjectsLocked(subjects []ref, pi ref) []ref {
	p := &m.principals[pi]
	start := len(subjects)
	subjects = append(subjects, pi)
	for _, g := range p.groups {
		if m.activeGroup(g) {
			subjects = append(subjects, g)
		}
	}
	if p.kind == KindUser && p.org != 0 {
		if e := m.scopes[p.org].everyone; e != 0 && m.activeGroup(e) && !slices.Contains(subjects[start:], e) {
			subjects = append(subjects, e)
		}
	}
	return subjects
}

// otherOrganization reports whether scope lies outside the organization of
// p (principals without one are not limited). m.mu must be held.
func (m *Model) otherOrganization(p *principalRec, scope string) bool {
	return p.org != 0 && resourcename.OrganizationOf(scope) != m.scopes[p.org].name
}

// activeGroup reports whether principal g is a known, active group. m.mu must
// be held.
func (m *Model) activeGroup(g ref) bool {
	p := &m.principals[g]
	return p.known && p.status == StatusActive && p.kind == KindGroup
}

// scanThreshold is the number of assignments up to which grantAt scans a
// subject's assignment list rather than probing the (subject, scope) index:
// a subject is indexed once it holds more, until it falls to half as many.
const scanThreshold = 64

// grantAt returns the first assignment of subject at scope whose role has the
// permission bit, or 0. m.mu must be held.
func (m *Model) grantAt(subject, scope ref, word int, bit uint64) ref {
	p := &m.principals[subject]
	if !p.indexed {
		// One contiguous slice instead of a random probe into a map of up to
		// millions of entries; after the first ancestor it is in cache.
		for k, s := range p.assignScopes {
			if s == scope {
				if a := p.assignments[k]; m.roles[m.assignments[a].role].perms[word]&bit != 0 {
					return a
				}
			}
		}
		return 0
	}
	for a := m.bySubjectScope[key(subject, scope)]; a != 0; a = m.assignments[a].next {
		if m.roles[m.assignments[a].role].perms[word]&bit != 0 {
			return a
		}
	}
	return 0
}

func (m *Model) allow(d Decision, a, group ref) Decision {
	as := &m.assignments[a]
	r := &m.roles[as.role]
	d.Allowed = true
	d.assignmentParent, d.assignment = m.ids.get(as.id)
	d.Role, d.RoleName = r.id, r.name
	d.AssignedAt = m.scopes[as.scope].name
	if group != 0 {
		d.Group = m.principals[group].id
	}
	return d
}

// Grant is one role assignment as listed to administrators.
type Grant struct {
	// Assignment is the assignment's ID.
	Assignment string
	// Role is the role ID; RoleName its name.
	Role, RoleName string
	// Scope is where the role is assigned.
	Scope string
	// BuiltIn is the assignment type.
	BuiltIn bool
}

// Position says where a Provenance's scope lies relative to the scope
// explained.
type Position uint8

// Positions of an assignment's scope.
const (
	// PositionAt: at the explained scope itself.
	PositionAt Position = iota
	// PositionAbove: at an ancestor; holds at the explained scope (R13).
	PositionAbove
	// PositionBelow: in the explained scope's subtree; holds only there.
	PositionBelow
)

var positionNames = [...]string{"at", "above", "below"}

// String returns "at", "above" or "below".
func (p Position) String() string {
	if int(p) < len(positionNames) {
		return positionNames[p]
	}
	return "invalid"
}

// Provenance is an effective role with where it comes from (R15).
type Provenance struct {
	Grant
	// Group is the ID of the group the role is inherited through (possibly
	// the implicit Everyone group); empty when explicit.
	Group string
	// GroupName is the group's display name, if known.
	GroupName string
	// Position relates Scope to the explained scope.
	Position Position
}

// Explicit reports whether the role is the principal's own assignment.
func (p Provenance) Explicit() bool { return p.Group == "" }

// EffectivePermission is one permission the principal holds at the explained
// scope, with the roles that grant it.
type EffectivePermission struct {
	// Permission is the wire name.
	Permission string
	// Sources index Explanation.Roles; only PositionAt and PositionAbove
	// roles count.
	Sources []int
}

// Explanation is the "Check Permissions" view of a principal at a scope.
type Explanation struct {
	Principal string
	Scope     string
	// Status is the principal's status; a principal that is not active holds
	// nothing and Roles and Permissions are empty.
	Status Status
	// Roles are the effective roles, ordered by scope (ancestors first, then
	// the scope, then its subtree), explicit before inherited, then by role
	// and group.
	Roles []Provenance
	// Permissions are those held at Scope itself, in catalogue order.
	Permissions []EffectivePermission
}

// Explain returns every role the principal holds at scope and its ancestors,
// explicit or inherited through a group, and every permission that follows
// with its sources (R14, R15). With subtree, it also lists the roles the
// principal holds in scope's subtree (the per-service "Check Permissions"
// view lists folder roles on the folders below); those contribute no
// Permissions at scope itself.
func (m *Model) Explain(principal, scope string, subtree bool) (Explanation, error) {
	if !validScope(scope) {
		return Explanation{}, fmt.Errorf("%w: %q", ErrInvalidScope, scope)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.principalIdx[principal]
	if !ok || !m.principals[pi].known {
		return Explanation{}, fmt.Errorf("%w: %q", ErrUnknownPrincipal, principal)
	}
	p := &m.principals[pi]
	ex := Explanation{Principal: principal, Scope: scope, Status: p.status}
	if p.status != StatusActive || m.otherOrganization(p, scope) {
		// Nothing holds in another organization than the principal's.
		return ex, nil
	}
	var roleRefs []ref
	for n, s := range m.appendSubjectsLocked(nil, pi) {
		for _, a := range m.principals[s].assignments {
			as := &m.assignments[a]
			at := m.scopes[as.scope].name
			var pos Position
			switch {
			case at == scope:
				pos = PositionAt
			case resourcename.IsAncestorOrSelf(at, scope):
				pos = PositionAbove
			case subtree && resourcename.IsAncestorOrSelf(scope, at):
				pos = PositionBelow
			default:
				continue
			}
			r := &m.roles[as.role]
			pv := Provenance{
				Grant:    Grant{Assignment: m.ids.id(as.id), Role: r.id, RoleName: r.name, Scope: at, BuiltIn: as.builtIn},
				Position: pos,
			}
			if n > 0 {
				pv.Group = m.principals[s].id
				pv.GroupName = m.principals[s].displayName
			}
			ex.Roles = append(ex.Roles, pv)
			roleRefs = append(roleRefs, as.role)
		}
	}
	order := make([]int, len(ex.Roles))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := ex.Roles[order[i]], ex.Roles[order[j]]
		if len(a.Scope) != len(b.Scope) {
			return len(a.Scope) < len(b.Scope)
		}
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.Explicit() != b.Explicit() {
			return a.Explicit()
		}
		if a.RoleName != b.RoleName {
			return a.RoleName < b.RoleName
		}
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Assignment < b.Assignment
	})
	roles := make([]Provenance, len(order))
	refs := make([]ref, len(order))
	for i, o := range order {
		roles[i], refs[i] = ex.Roles[o], roleRefs[o]
	}
	ex.Roles = roles
	for perm := 0; perm < catalogue.NumPermissions(); perm++ {
		word, bit := perm>>6, uint64(1)<<(perm&63)
		var ep *EffectivePermission
		for i, pv := range ex.Roles {
			if pv.Position == PositionBelow || m.roles[refs[i]].perms[word]&bit == 0 {
				continue
			}
			if ep == nil {
				ex.Permissions = append(ex.Permissions, EffectivePermission{Permission: catalogue.PermissionAt(perm).Name})
				ep = &ex.Permissions[len(ex.Permissions)-1]
			}
			ep.Sources = append(ep.Sources, i)
		}
	}
	return ex, nil
}

// ExplicitRoles returns the principal's own assignments only, whatever its
// status, ordered by scope, role name and assignment ID (R15 "GetRoles":
// inherited roles are not listed).
func (m *Model) ExplicitRoles(principal string) ([]Grant, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.principalIdx[principal]
	if !ok || !m.principals[pi].known {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPrincipal, principal)
	}
	out := make([]Grant, 0, len(m.principals[pi].assignments))
	for _, a := range m.principals[pi].assignments {
		as := &m.assignments[a]
		r := &m.roles[as.role]
		out = append(out, Grant{Assignment: m.ids.id(as.id), Role: r.id, RoleName: r.name, Scope: m.scopes[as.scope].name, BuiltIn: as.builtIn})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Scope != b.Scope {
			return a.Scope < b.Scope
		}
		if a.RoleName != b.RoleName {
			return a.RoleName < b.RoleName
		}
		return a.Assignment < b.Assignment
	})
	return out, nil
}
