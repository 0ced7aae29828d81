package authorizer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"steward.dev/services/access/catalogue"
)

// Access review (issue 14): the two reverse questions of Check, "who can do
// P at S" (Holders) and "where can X do P" (PermittedScopes), answered from
// the model's indexes without asking Check about every principal or scope.

// ErrUnknownPermission means a permission is not in the catalogue.
var ErrUnknownPermission = errors.New("authorizer: unknown permission")

// HoldingSource is one way a principal holds a permission at a scope: an
// assignment at the scope or an ancestor whose role has the permission,
// the principal's own or that of a group it belongs to (R13, R14).
type HoldingSource struct {
	// Assignment is the assignment's ID.
	Assignment string
	// Role is the role ID; RoleName its name.
	Role, RoleName string
	// Scope is where the role is assigned: the scope asked about or an
	// ancestor.
	Scope string
	// Group is the ID of the group the assignment is inherited through
	// (possibly the implicit Everyone group); empty when it is the
	// principal's own. GroupName is the group's display name.
	Group, GroupName string
	// BuiltIn is the assignment type.
	BuiltIn bool
}

// Holder is a principal that holds a permission at a scope, or that would
// hold it if it were active: Principal.Status tells which.
type Holder struct {
	// Principal is the user, robot account or external application.
	Principal Principal
	// Sources are every way it holds the permission: nearest scope first,
	// then its own assignments before inherited ones, then by group ID and
	// assignment ID.
	Sources []HoldingSource
}

// PermittedScope is a scope where a principal holds a permission.
type PermittedScope struct {
	// Scope is the scope.
	Scope Scope
	// Sources are the assignments at Scope or its ancestors that grant the
	// permission there, in the order of Holder.Sources.
	Sources []HoldingSource
}

// heldGrant is an assignment whose role has the permission asked about,
// with its subject (a principal, or a group its members inherit through)
// and its scope.
type heldGrant struct {
	a, subject, scope ref
}

// grantSubject is the key of grants by subject.
func grantSubject(g heldGrant) ref { return g.subject }

// grantScope is the key of grants by scope.
func grantScope(g heldGrant) ref { return g.scope }

// sortGrants sorts grants by key.
func sortGrants(grants []heldGrant, key func(heldGrant) ref) {
	slices.SortFunc(grants, func(x, y heldGrant) int { return cmp.Compare(key(x), key(y)) })
}

// grantRun returns the grants, sorted by key, whose key is v.
func grantRun(grants []heldGrant, key func(heldGrant) ref, v ref) []heldGrant {
	i, _ := slices.BinarySearchFunc(grants, v, func(g heldGrant, v ref) int { return cmp.Compare(key(g), v) })
	j := i
	for j < len(grants) && key(grants[j]) == v {
		j++
	}
	return grants[i:j]
}

// Holders answers "who can do permission at scope" (issue 14, R13–R16):
// every user, robot account and external application that holds it, in
// principal ID order, strictly after the ID after, at most limit of them
// (all when limit is 0 or less), and whether more follow. Principals that
// are StatusInactive but whose assignments (their own, or those of their
// active groups and of Everyone) would grant it are listed too, in the same
// order and page, with their Status, for the caller to list apart. Groups,
// API keys, and principals that are unknown, deleted, of another status,
// or of another organization than scope's are never listed (principals of
// no organization are, as Check does not limit them). Each Holder carries
// every way it holds the permission. Like Check, an unknown scope is
// answered for from its nearest known ancestor.
//
// The candidates come from the assignments at scope and its ancestors, a
// group's expanded to its members (Everyone's to the organization's users);
// only the page is sorted and only its principals' sources are built.
func (m *Model) Holders(permission, scope, after string, limit int) (page []Holder, more bool, err error) {
	perm, ok := catalogue.PermissionIndex(permission)
	if !ok {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownPermission, permission)
	}
	if !validScope(scope) {
		return nil, false, fmt.Errorf("%w: %q", ErrInvalidScope, scope)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	si := m.nearestScope(scope)
	if si == 0 {
		return nil, false, nil
	}
	grants := m.grantsAlongLocked(si, perm)
	sortGrants(grants, grantSubject)
	sel := newSelector(func(r ref) string { return m.principals[r].id }, after, limit)
	m.offerHoldersLocked(grants, m.organizationOf(si), &sel)
	refs, more := sel.page()
	page = make([]Holder, len(refs))
	var subjects []ref
	for k, r := range refs {
		subjects = m.appendSubjectsLocked(subjects[:0], r)
		page[k] = Holder{Principal: m.principalLocked(r), Sources: m.holderSourcesLocked(r, subjects, grants)}
	}
	return page, more, nil
}

// organizationOf returns the organization scope at the top of scope si's
// chain. m.mu must be held.
func (m *Model) organizationOf(si ref) ref {
	for m.scopes[si].parent != 0 {
		si = m.scopes[si].parent
	}
	return si
}

// grantsAlongLocked returns the assignments at scope si and its ancestors
// whose role has permission perm. m.mu must be held.
func (m *Model) grantsAlongLocked(si ref, perm int) []heldGrant {
	word, bit := perm>>6, uint64(1)<<(perm&63)
	var out []heldGrant
	for ; si != 0; si = m.scopes[si].parent {
		for _, a := range m.scopes[si].assignments {
			if as := &m.assignments[a]; m.roles[as.role].perms[word]&bit != 0 {
				out = append(out, heldGrant{a: a, subject: as.subject, scope: si})
			}
		}
	}
	return out
}

// offerHoldersLocked offers sel every principal that holds through grants
// (sorted by subject) at a scope of organization org: each subject, and
// each member of each active group subject, also the organization's users
// for its Everyone group. A principal is offered once, and only if it may
// be listed (listable). m.mu must be held.
func (m *Model) offerHoldersLocked(grants []heldGrant, org ref, sel *selector) {
	everyone := m.scopes[org].everyone
	seen := make([]uint64, (len(m.principals)+63)/64)
	offer := func(r ref) {
		if seen[r>>6]&(1<<(r&63)) != 0 {
			return
		}
		seen[r>>6] |= 1 << (r & 63)
		if m.listable(r, org) {
			sel.offer(r)
		}
	}
	for k, g := range grants {
		s := g.subject
		if k > 0 && grants[k-1].subject == s {
			continue
		}
		if m.principals[s].kind != KindGroup {
			offer(s)
			continue
		}
		if !m.activeGroup(s) {
			continue
		}
		for _, u := range m.members[s] {
			offer(u)
		}
		if s == everyone {
			for _, u := range m.orgUsers[org] {
				offer(u)
			}
		}
	}
}

// listable reports whether principal r may be listed by Holders at a scope
// of organization org: a known user, robot account or external
// application, active or inactive, of org or of no organization (which
// Check does not limit). m.mu must be held.
func (m *Model) listable(r, org ref) bool {
	p := &m.principals[r]
	switch {
	case !p.known || p.kind != KindUser && p.kind != KindRobot && p.kind != KindExternalApp:
		return false
	case p.status != StatusActive && p.status != StatusInactive:
		return false
	}
	return p.org == 0 || p.org == org
}

// holderSourcesLocked returns every way principal r, whose subjects
// (appendSubjectsLocked) are subjects, holds through grants (sorted by
// subject), in holdingOrder. m.mu must be held.
func (m *Model) holderSourcesLocked(r ref, subjects []ref, grants []heldGrant) []HoldingSource {
	var out []HoldingSource
	for _, s := range subjects {
		for _, g := range grantRun(grants, grantSubject, s) {
			out = append(out, m.sourceLocked(g, r))
		}
	}
	slices.SortFunc(out, holdingOrder)
	return out
}

// sourceLocked returns grant g as a source of principal r: r's own, or
// inherited through g's subject. m.mu must be held.
func (m *Model) sourceLocked(g heldGrant, r ref) HoldingSource {
	as := &m.assignments[g.a]
	role := &m.roles[as.role]
	s := HoldingSource{Assignment: m.ids.id(as.id), Role: role.id, RoleName: role.name, Scope: m.scopes[as.scope].name, BuiltIn: as.builtIn}
	if g.subject != r {
		s.Group, s.GroupName = m.principals[g.subject].id, m.principals[g.subject].displayName
	}
	return s
}

// holdingOrder orders the sources of a principal at one scope: nearest
// scope first (the longest name: an ancestor's is shorter), then the
// principal's own before inherited ones, then by group ID and assignment
// ID.
func holdingOrder(a, b HoldingSource) int {
	switch {
	case len(a.Scope) != len(b.Scope):
		return len(b.Scope) - len(a.Scope)
	case (a.Group == "") != (b.Group == ""):
		if a.Group == "" {
			return -1
		}
		return 1
	case a.Group != b.Group:
		return strings.Compare(a.Group, b.Group)
	}
	return strings.Compare(a.Assignment, b.Assignment)
}

// PermittedScopes answers "where can principal do permission" (issue 14,
// R13–R16): every known scope of root's subtree (root included) where
// principal holds it, in name order, strictly after the name after, at
// most limit of them (all when limit is 0 or less), and whether more
// follow. Each comes with the grants that make it hold there. An unknown
// principal is ErrUnknownPrincipal; one that is not active, or of another
// organization than root's, holds nowhere (as Check says).
//
// Only the subtrees that can hold are walked: the whole of root's when a
// grant lies at root or above, else those below the grants inside it.
func (m *Model) PermittedScopes(principal, permission, root, after string, limit int) (page []PermittedScope, more bool, err error) {
	perm, ok := catalogue.PermissionIndex(permission)
	if !ok {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownPermission, permission)
	}
	if !validScope(root) {
		return nil, false, fmt.Errorf("%w: %q", ErrInvalidScope, root)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	pi, ok := m.principalIdx[principal]
	if !ok || !m.principals[pi].known {
		return nil, false, fmt.Errorf("%w: %q", ErrUnknownPrincipal, principal)
	}
	p := &m.principals[pi]
	ri, ok := m.scopeIdx[root]
	if !ok || p.status != StatusActive || m.otherOrganization(p, root) {
		return nil, false, nil
	}
	grants, starts := m.grantsForLocked(pi, perm, ri)
	sortGrants(grants, grantScope)
	sel := newSelector(func(s ref) string { return m.scopes[s].name }, after, limit)
	for _, s := range starts {
		m.offerSubtreeLocked(s, &sel)
	}
	refs, more := sel.page()
	page = make([]PermittedScope, len(refs))
	for k, s := range refs {
		sc := &m.scopes[s]
		page[k] = PermittedScope{
			Scope:   Scope{Name: sc.name, ServiceType: sc.serviceType, DisplayName: sc.displayName},
			Sources: m.scopeSourcesLocked(s, pi, grants),
		}
	}
	return page, more, nil
}

// grantsForLocked returns the assignments of principal pi's subjects (its
// own, its active groups', its organization's Everyone's for a user) whose
// role has permission perm and that hold somewhere in root ri's subtree —
// at root, above it or inside it — and the scopes whose subtrees they make
// hold: root when one is at root or above, else the outermost scopes of
// those inside. m.mu must be held.
func (m *Model) grantsForLocked(pi ref, perm int, ri ref) (grants []heldGrant, starts []ref) {
	word, bit := perm>>6, uint64(1)<<(perm&63)
	above := false
	for _, s := range m.appendSubjectsLocked(nil, pi) {
		for _, a := range m.principals[s].assignments {
			as := &m.assignments[a]
			if m.roles[as.role].perms[word]&bit == 0 {
				continue
			}
			switch {
			case m.ancestorOrSelf(as.scope, ri):
				above = true
			case m.ancestorOrSelf(ri, as.scope):
				starts = append(starts, as.scope)
			default:
				continue
			}
			grants = append(grants, heldGrant{a: a, subject: s, scope: as.scope})
		}
	}
	if above {
		return grants, []ref{ri}
	}
	return grants, m.outermost(starts)
}

// ancestorOrSelf reports whether scope a is scope s or one of its
// ancestors. m.mu must be held.
func (m *Model) ancestorOrSelf(a, s ref) bool {
	for ; s != 0; s = m.scopes[s].parent {
		if s == a {
			return true
		}
	}
	return false
}

// outermost returns scopes without duplicates and without those below
// another of them. m.mu must be held.
func (m *Model) outermost(scopes []ref) []ref {
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	var out []ref
next:
	for _, s := range scopes {
		for a := m.scopes[s].parent; a != 0; a = m.scopes[a].parent {
			if _, below := slices.BinarySearch(scopes, a); below {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// offerSubtreeLocked offers sel every known scope of s's subtree, skipping
// the subtrees whose names all lie outside the page sel can still take.
// m.mu must be held.
func (m *Model) offerSubtreeLocked(s ref, sel *selector) {
	sc := &m.scopes[s]
	if sel.beyond(sc.name) || subtreeAtMost(sc.name, sel.after) {
		return
	}
	if sc.known {
		sel.offer(s)
	}
	for _, c := range m.children[s] {
		m.offerSubtreeLocked(c, sel)
	}
}

// subtreeAtMost reports whether every name of scope s's subtree — s and
// the names beginning with s + "/" — is at most after.
func subtreeAtMost(s, after string) bool {
	rest, ok := strings.CutPrefix(after, s)
	if !ok {
		return after > s
	}
	return rest != "" && rest[0] > '/'
}

// scopeSourcesLocked returns grants (of principal pi's subjects, sorted by
// scope) at scope s or its ancestors, in holdingOrder. m.mu must be held.
func (m *Model) scopeSourcesLocked(s, pi ref, grants []heldGrant) []HoldingSource {
	var out []HoldingSource
	for ; s != 0; s = m.scopes[s].parent {
		for _, g := range grantRun(grants, grantScope, s) {
			out = append(out, m.sourceLocked(g, pi))
		}
	}
	slices.SortFunc(out, holdingOrder)
	return out
}

// selector picks a page of refs by key: those whose keys come strictly
// after after, the keep smallest of them, keep being one more than the
// page's limit so that the page knows whether more follow (or 0: all). It
// holds at most twice keep refs, sorting and cutting them back to keep
// when full. Keys are unique.
type selector struct {
	key   func(ref) string
	after string
	keep  int
	refs  []ref
	// bound, once bounded, is the largest key kept at the last cut: no key
	// from it on can make the page.
	bound   string
	bounded bool
}

// newSelector returns a selector of at most limit refs (all when limit is
// 0 or less) whose keys come after after.
func newSelector(key func(ref) string, after string, limit int) selector {
	s := selector{key: key, after: after}
	if limit > 0 {
		s.keep = limit + 1
	}
	return s
}

// offer considers r for the page.
func (s *selector) offer(r ref) {
	if k := s.key(r); k <= s.after || s.beyond(k) {
		return
	}
	s.refs = append(s.refs, r)
	if s.keep > 0 && len(s.refs) == 2*s.keep {
		s.sort()
		s.refs = s.refs[:s.keep]
		s.bound, s.bounded = s.key(s.refs[s.keep-1]), true
	}
}

// beyond reports whether no key from k on can make the page.
func (s *selector) beyond(k string) bool { return s.bounded && k >= s.bound }

// sort orders the refs by key.
func (s *selector) sort() {
	slices.SortFunc(s.refs, func(a, b ref) int { return strings.Compare(s.key(a), s.key(b)) })
}

// page returns the page in key order and whether more refs follow it.
func (s *selector) page() ([]ref, bool) {
	s.sort()
	if s.keep > 0 && len(s.refs) >= s.keep {
		return s.refs[:s.keep-1], true
	}
	return s.refs, false
}
