package authorizer

import (
	"maps"
	"slices"
	"unsafe"
)

// Load calls fill with a Loader that upserts into m while holding m's write
// lock once: the bulk load of what a store holds at startup (issue 13's
// cold start), without a lock per record and with the records' fields
// passed as bytes the model does not retain (a store's pages, valid only
// during its scan). The Loader's upserts make exactly the model the same
// upserts through m's methods, in the same order, would make. Every other
// method of m waits until fill returns; fill must not call them. Load
// returns fill's error, keeping what was upserted before it.
func (m *Model) Load(fill func(l *Loader) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := &Loader{m: m}
	defer func() { l.m = nil }()
	return fill(l)
}

// Loader upserts into a Model during Model.Load, and only then. It is not
// safe for concurrent use.
type Loader struct {
	m *Model
	// group is the group of the last membership upserted, and groupRef its
	// index: a store lists memberships by group, so most lookups of a
	// group are saved.
	group    string
	groupRef ref
}

// Grow makes room for n more assignments, principals and scopes, so that
// the upserts that follow do not grow the model's tables step by step: on a
// million assignments, growing costs a second of copying and of page
// faults on memory the tables leave behind.
func (l *Loader) Grow(n Sizes) {
	m := l.m
	m.assignments = slices.Grow(m.assignments, n.Assignments)
	if size := idSlotsFor(m.assigned + n.Assignments); size > len(m.idSlots) {
		m.resizeIDsLocked(size)
	}
	m.principals = slices.Grow(m.principals, n.Principals)
	m.principalIdx = grownMap(m.principalIdx, n.Principals)
	m.scopes = slices.Grow(m.scopes, n.Scopes)
	m.scopeIdx = grownMap(m.scopeIdx, n.Scopes)
}

// grownMap returns m, or a copy of it with room for n more entries.
func grownMap(m map[string]ref, n int) map[string]ref {
	if n <= 0 {
		return m
	}
	g := make(map[string]ref, len(m)+n)
	maps.Copy(g, m)
	return g
}

// UpsertAssignment is Model.UpsertAssignment of the assignment with these
// fields; it retains none of the slices.
func (l *Loader) UpsertAssignment(id, principal, role, scope []byte, builtIn bool) error {
	a := Assignment{ID: transient(id), Principal: transient(principal), Role: transient(role), Scope: transient(scope), BuiltIn: builtIn}
	if err := checkAssignment(a); err != nil {
		return err
	}
	return l.m.upsertAssignmentLocked(a)
}

// UpsertMembership is Model.UpsertMembership of member in group; it retains
// neither slice.
func (l *Loader) UpsertMembership(group, member []byte) error {
	ms := Membership{Group: transient(group), Member: transient(member)}
	if err := checkMembership(ms); err != nil {
		return err
	}
	if l.groupRef == 0 || ms.Group != l.group {
		l.groupRef = l.m.internPrincipalLocked(ms.Group)
		l.group = l.m.principals[l.groupRef].id
	}
	l.m.addMembershipLocked(l.groupRef, l.m.internPrincipalLocked(ms.Member))
	return nil
}

// UpsertScope is Model.UpsertScope.
func (l *Loader) UpsertScope(s Scope) error {
	if err := checkScope(s); err != nil {
		return err
	}
	l.m.upsertScopeLocked(s)
	return nil
}

// UpsertPrincipal is Model.UpsertPrincipal.
func (l *Loader) UpsertPrincipal(p Principal) error {
	if err := checkPrincipal(p); err != nil {
		return err
	}
	l.m.upsertPrincipalLocked(p)
	return nil
}

// transient returns b's bytes as a string without copying them: for the
// Loader's arguments, which the model copies before keeping any, and which
// must not change during the call.
func transient(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
