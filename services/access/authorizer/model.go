// Package authorizer is the permission-evaluation core of access management
// (R13–R16): an in-memory read model of the scope tree, principals, group
// memberships, roles and role assignments, fed by the access service from the
// directory's and its own event logs, and the decision procedure over it.
//
// It holds no transport and no storage. A Model is safe for concurrent use:
// any number of Check, CheckBatch, Explain, ExplicitRoles, Holders and
// PermittedScopes calls run in parallel under a read lock, and mutators
// (Upsert*/Delete*) take the write lock. Mutators are idempotent and
// tolerate any order of events: a reference to a principal, group, role or
// scope that has not been upserted yet creates a placeholder that grants
// nothing until it is upserted.
//
// Strings are interned to small integer IDs; each role's permissions are a
// bitset over catalogue.PermissionIndex; a subject's assignments are a list
// it scans, indexed by (subject, scope) once it holds many. The assignments
// hold no pointers (their IDs lie in an arena, indexed by an open-addressing
// table), so a model of a million of them costs the garbage collector
// little. Check does not allocate. For the access review's reverse
// questions (review.go), groups' members, organizations' users and scopes'
// children are indexed too, as lists of integer IDs.
package authorizer

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// PrincipalKind is the kind of a principal (R6, R13).
type PrincipalKind uint8

// Kinds of principals.
const (
	KindUnspecified PrincipalKind = iota
	KindUser
	KindGroup
	KindRobot
	KindExternalApp
)

var kindNames = [...]string{"unspecified", "user", "group", "robot", "external-app"}

// String returns the lowercase name of k, e.g. "group".
func (k PrincipalKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Status is a principal's status in the directory (R3, R16). Only
// StatusActive principals are granted anything; the zero value denies.
type Status uint8

// Principal statuses.
const (
	StatusUnspecified Status = iota
	StatusActive
	StatusInactive
	StatusDeleted
)

var statusNames = [...]string{"unspecified", "active", "inactive", "deleted"}

// String returns the lowercase name of s, e.g. "inactive".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "invalid"
}

// Principal is a user, group, robot account or external application.
type Principal struct {
	// ID is the principal's stable ID (or resource name), unique across all
	// kinds.
	ID string
	// Kind is the principal's kind.
	Kind PrincipalKind
	// Status must be StatusActive for the principal to hold anything. Groups
	// too must be upserted as active; an inactive group passes nothing on.
	Status Status
	// Organization is the resource name of the organization the principal
	// belongs to, e.g. "organizations/o1". Users are implicitly members of
	// that organization's Everyone group.
	Organization string
	// Everyone marks a group as its organization's Everyone group (R5).
	Everyone bool
	// DisplayName is used in explanations only.
	DisplayName string
	// Email is a user's email, kept for the access service's reads
	// (LookupPrincipal) so that it holds no second table of principals;
	// decisions ignore it.
	Email string
}

// Scope is a node of the scope tree (R2), named like
// "organizations/o1/tenants/t1/services/s1/folders/f1". Its level follows
// from the name's last collection: organizations, tenants, services, folders
// (or projects, treated as folders); folders nest.
type Scope struct {
	// Name is the scope's resource name.
	Name string
	// ServiceType is the type of a service scope, e.g. "orchestrator".
	ServiceType string
	// DisplayName is used in explanations only.
	DisplayName string
}

// Membership says that Member belongs to Group. Groups do not nest: the
// members of a group that is itself a member of another group do not inherit
// through it.
type Membership struct {
	Group  string
	Member string
}

// Assignment assigns a role to a principal at a scope (R13).
type Assignment struct {
	// ID is the assignment's stable ID.
	ID string
	// Principal is the ID of a user, group, robot account or external app.
	Principal string
	// Role is a built-in or custom role ID.
	Role string
	// Scope is the resource name the role is assigned at.
	Scope string
	// BuiltIn is the assignment type: true for assignments the system makes
	// (owner at sign-up, service creator, robot, default groups), false for
	// custom ones made by an administrator.
	BuiltIn bool
}

// ErrInvalidScope means a scope name is not a valid resource name under an
// organization ("organizations/{o}/{collection}/{id}/...").
var ErrInvalidScope = errors.New("authorizer: invalid scope name")

// ErrMissingField means a required field of a mutator's input is empty.
var ErrMissingField = errors.New("authorizer: missing field")

// ErrBuiltInRole means an attempt to upsert or delete a built-in role; they
// are loaded by New and immutable.
var ErrBuiltInRole = errors.New("authorizer: built-in role is immutable")

// ErrUnknownPrincipal means the principal has never been upserted, or has
// been deleted.
var ErrUnknownPrincipal = errors.New("authorizer: unknown principal")

// ErrFull means the assignments' IDs would exceed the 4 GiB the model
// addresses; the upsert that returns it leaves the model without the
// assignment (and without the one it would have replaced).
var ErrFull = errors.New("authorizer: model full")

// ref is an interned index; 0 means none.
type ref = uint32

type scopeRec struct {
	name        string
	serviceType string
	displayName string
	parent      ref
	everyone    ref // for organizations: the Everyone group
	level       catalogue.Level
	known       bool
	assignments []ref
}

type principalRec struct {
	id          string
	displayName string
	email       string
	org         ref
	kind        PrincipalKind
	status      Status
	everyone    bool
	known       bool
	// indexed says the principal's assignments are in bySubjectScope: it
	// holds more than scanThreshold (and has not fallen to half of it).
	indexed bool
	// orgPos is the principal's position in Model.orgUsers[org], if it is
	// listed there (listedUser). It fills the padding after the flags.
	orgPos      uint32
	groups      []ref // groups the principal is an explicit member of
	assignments []ref
	// assignScopes[k] is the scope of assignments[k]: a contiguous list that
	// Check scans instead of the (subject, scope) map for subjects with few
	// assignments.
	assignScopes []ref
}

type roleRec struct {
	id      string
	name    string
	perms   []uint64 // bitset over catalogue.PermissionIndex
	builtIn bool
	known   bool
}

// assignmentRec is an assignment; one with subject 0 is free. It holds no
// pointers: 32 bytes the garbage collector does not scan.
type assignmentRec struct {
	id       uint32 // the ID's position in Model.ids
	subject  ref
	role     ref
	scope    ref
	next     ref    // next assignment with the same (subject, scope), if indexed
	subjPos  uint32 // position in principals[subject].assignments
	scopePos uint32 // position in scopes[scope].assignments
	builtIn  bool
}

// Model is the in-memory read model and decision procedure. The zero value is
// not usable; call New.
type Model struct {
	mu sync.RWMutex

	scopeIdx     map[string]ref
	scopes       []scopeRec
	principalIdx map[string]ref
	principals   []principalRec
	roleIdx      map[string]ref
	roles        []roleRec
	assignments  []assignmentRec
	freeAssign   []ref
	// ids holds the assignments' IDs; idSlots indexes assignments by ID
	// (ids.go); assigned counts them.
	ids      idArena
	idSlots  []idSlot
	idSeed   maphash.Seed
	assigned int
	// bySubjectScope maps key(subject, scope) of an indexed subject
	// (principalRec.indexed) to the first of its assignments at that scope;
	// the rest follow through next. Subjects with few assignments are not
	// in it: Check scans their lists, and a million entries for them cost
	// 30 bytes per assignment that Check never read.
	bySubjectScope map[uint64]ref
	// The access review's indexes (review.go) are maps of lists rather
	// than fields of the records Check reads, which they would make larger:
	// members lists, by group, the principals whose groups name it;
	// orgUsers, by organization scope, the known users of that organization
	// (listedUser), the implicit members of its Everyone group; children,
	// by scope, the scopes whose parent it is, placeholders included
	// (scopes are never un-interned). None is in any particular order.
	members  map[ref][]ref
	orgUsers map[ref][]ref
	children map[ref][]ref
	words    int
	// keys are the API keys, by ID (apikeys.go).
	keys map[string]apiKeyRec
}

// Sizes pre-sizes a Model's tables; zero fields mean small defaults.
type Sizes struct {
	Principals, Scopes, Assignments int
}

// New returns an empty Model holding the built-in roles of the catalogue.
func New(sizes Sizes) *Model {
	m := &Model{
		scopeIdx:       make(map[string]ref, sizes.Scopes),
		scopes:         make([]scopeRec, 1, sizes.Scopes+1),
		principalIdx:   make(map[string]ref, sizes.Principals),
		principals:     make([]principalRec, 1, sizes.Principals+1),
		roleIdx:        make(map[string]ref),
		roles:          make([]roleRec, 1),
		assignments:    make([]assignmentRec, 1, sizes.Assignments+1),
		idSlots:        make([]idSlot, idSlotsFor(sizes.Assignments)),
		idSeed:         maphash.MakeSeed(),
		bySubjectScope: make(map[uint64]ref),
		members:        make(map[ref][]ref),
		orgUsers:       make(map[ref][]ref),
		children:       make(map[ref][]ref),
		keys:           make(map[string]apiKeyRec),
		words:          (catalogue.NumPermissions() + 63) / 64,
	}
	for _, r := range catalogue.BuiltInRoles() {
		i := m.internRoleLocked(r.ID)
		m.setRoleLocked(i, r)
		m.roles[i].builtIn = true
	}
	return m
}

func key(subject, scope ref) uint64 { return uint64(subject)<<32 | uint64(scope) }

// validScope reports whether s is "organizations/{id}" followed by any
// number of "/{collection}/{id}" pairs, with no empty segment.
func validScope(s string) bool {
	const org = "organizations/"
	if len(s) <= len(org) || s[:len(org)] != org {
		return false
	}
	segs, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' {
			if i == start {
				return false
			}
			segs++
			start = i + 1
		}
	}
	return segs%2 == 0
}

func levelOf(name string) catalogue.Level {
	i := strings.LastIndexByte(name, '/')
	coll := name[:i]
	if j := strings.LastIndexByte(coll, '/'); j >= 0 {
		coll = coll[j+1:]
	}
	switch coll {
	case "organizations":
		return catalogue.LevelOrganization
	case "tenants":
		return catalogue.LevelTenant
	case "services":
		return catalogue.LevelService
	case "folders", "projects":
		return catalogue.LevelFolder
	}
	return catalogue.LevelUnspecified
}

// internScopeLocked returns the index of the valid scope name, creating it
// and its ancestors as placeholders. m.mu must be held for writing.
func (m *Model) internScopeLocked(name string) ref {
	if i, ok := m.scopeIdx[name]; ok {
		return i
	}
	var parent ref
	if p, ok := resourcename.Parent(name); ok {
		parent = m.internScopeLocked(p)
	}
	name = strings.Clone(name)
	i := ref(len(m.scopes))
	m.scopes = append(m.scopes, scopeRec{name: name, parent: parent, level: levelOf(name)})
	m.scopeIdx[name] = i
	if parent != 0 {
		m.children[parent] = append(m.children[parent], i)
	}
	return i
}

// internPrincipalLocked returns the index of principal id, creating a
// placeholder. m.mu must be held for writing.
func (m *Model) internPrincipalLocked(id string) ref {
	if i, ok := m.principalIdx[id]; ok {
		return i
	}
	id = strings.Clone(id)
	i := ref(len(m.principals))
	m.principals = append(m.principals, principalRec{id: id})
	m.principalIdx[id] = i
	return i
}

// internRoleLocked returns the index of role id, creating a placeholder that
// grants nothing. m.mu must be held for writing.
func (m *Model) internRoleLocked(id string) ref {
	if i, ok := m.roleIdx[id]; ok {
		return i
	}
	id = strings.Clone(id)
	i := ref(len(m.roles))
	m.roles = append(m.roles, roleRec{id: id, perms: make([]uint64, m.words)})
	m.roleIdx[id] = i
	return i
}

func (m *Model) setRoleLocked(i ref, r catalogue.Role) {
	rr := &m.roles[i]
	clear(rr.perms)
	for _, p := range r.Permissions {
		if j, ok := catalogue.PermissionIndex(p); ok {
			rr.perms[j>>6] |= 1 << (j & 63)
		}
	}
	rr.name = r.Name
	rr.known = true
}

// UpsertScope adds or updates a scope of the tree. Its ancestors need not
// exist yet.
func (m *Model) UpsertScope(s Scope) error {
	if err := checkScope(s); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upsertScopeLocked(s)
	return nil
}

// checkScope validates a scope to upsert.
func checkScope(s Scope) error {
	if !validScope(s.Name) {
		return fmt.Errorf("%w: %q", ErrInvalidScope, s.Name)
	}
	return nil
}

// upsertScopeLocked is UpsertScope of a valid s. m.mu must be held for
// writing.
func (m *Model) upsertScopeLocked(s Scope) {
	i := m.internScopeLocked(s.Name)
	sc := &m.scopes[i]
	sc.serviceType = s.ServiceType
	sc.displayName = s.DisplayName
	sc.known = true
}

// DeleteScope removes a scope and its whole subtree together with every
// assignment at them, and returns the IDs of the removed assignments so the
// caller can record an event for each. Deleting an unknown scope is a no-op.
func (m *Model) DeleteScope(name string) []string {
	if !validScope(name) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	root, ok := m.scopeIdx[name]
	if !ok {
		return nil
	}
	subtree := m.subtreeLocked(root)
	slices.Sort(subtree)
	var removed []string
	for _, i := range subtree {
		sc := &m.scopes[i]
		for len(sc.assignments) > 0 {
			a := sc.assignments[len(sc.assignments)-1]
			removed = append(removed, m.ids.id(m.assignments[a].id))
			m.removeAssignmentLocked(a)
		}
		sc.known = false
		sc.serviceType, sc.displayName = "", ""
		sc.everyone = 0
	}
	return removed
}

// subtreeLocked returns root and every scope below it. m.mu must be held.
func (m *Model) subtreeLocked(root ref) []ref {
	out := []ref{root}
	for k := 0; k < len(out); k++ {
		out = append(out, m.children[out[k]]...)
	}
	return out
}

// LookupScope returns what the model knows about scope name.
func (m *Model) LookupScope(name string) (Scope, catalogue.Level, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, ok := m.scopeIdx[name]
	if !ok || !m.scopes[i].known {
		return Scope{}, catalogue.LevelUnspecified, false
	}
	sc := &m.scopes[i]
	return Scope{Name: sc.name, ServiceType: sc.serviceType, DisplayName: sc.displayName}, sc.level, true
}

// UpsertPrincipal adds or updates a principal. Setting a status other than
// StatusActive denies it everything from then on (R16) without touching its
// assignments or memberships.
func (m *Model) UpsertPrincipal(p Principal) error {
	if err := checkPrincipal(p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upsertPrincipalLocked(p)
	return nil
}

// checkPrincipal validates a principal to upsert.
func checkPrincipal(p Principal) error {
	if p.ID == "" {
		return fmt.Errorf("%w: principal ID", ErrMissingField)
	}
	if p.Organization != "" && (!validScope(p.Organization) || levelOf(p.Organization) != catalogue.LevelOrganization) {
		return fmt.Errorf("%w: organization %q", ErrInvalidScope, p.Organization)
	}
	return nil
}

// upsertPrincipalLocked is UpsertPrincipal of a valid p. m.mu must be held
// for writing.
func (m *Model) upsertPrincipalLocked(p Principal) {
	i := m.internPrincipalLocked(p.ID)
	pr := &m.principals[i]
	if listedUser(pr) {
		m.unlistUserLocked(i)
	}
	if pr.everyone && pr.org != 0 && m.scopes[pr.org].everyone == i {
		m.scopes[pr.org].everyone = 0
	}
	var org ref
	if p.Organization != "" {
		org = m.internScopeLocked(p.Organization)
	}
	pr = &m.principals[i]
	pr.org = org
	pr.kind = p.Kind
	pr.status = p.Status
	pr.displayName = p.DisplayName
	pr.email = p.Email
	pr.everyone = p.Everyone && p.Kind == KindGroup
	pr.known = true
	if pr.everyone && org != 0 {
		m.scopes[org].everyone = i
	}
	if listedUser(pr) {
		m.listUserLocked(i)
	}
}

// listedUser reports whether pr belongs in Model.orgUsers: a known user of
// an organization.
func listedUser(pr *principalRec) bool {
	return pr.known && pr.kind == KindUser && pr.org != 0
}

// listUserLocked adds principal i to the users of its organization. m.mu
// must be held for writing.
func (m *Model) listUserLocked(i ref) {
	pr := &m.principals[i]
	pr.orgPos = uint32(len(m.orgUsers[pr.org]))
	m.orgUsers[pr.org] = append(m.orgUsers[pr.org], i)
}

// unlistUserLocked removes principal i from the users of its organization.
// m.mu must be held for writing.
func (m *Model) unlistUserLocked(i ref) {
	pr := &m.principals[i]
	users := m.orgUsers[pr.org]
	last := users[len(users)-1]
	users[pr.orgPos] = last
	m.principals[last].orgPos = pr.orgPos
	if users = users[:len(users)-1]; len(users) == 0 {
		delete(m.orgUsers, pr.org)
	} else {
		m.orgUsers[pr.org] = users
	}
	pr.orgPos = 0
}

// LookupPrincipal returns what the model knows about principal id.
func (m *Model) LookupPrincipal(id string) (Principal, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, ok := m.principalIdx[id]
	if !ok || !m.principals[i].known {
		return Principal{}, false
	}
	return m.principalLocked(i), true
}

// principalLocked returns what the model knows about principal i. m.mu must
// be held.
func (m *Model) principalLocked(i ref) Principal {
	pr := &m.principals[i]
	p := Principal{ID: pr.id, Kind: pr.kind, Status: pr.status, Everyone: pr.everyone, DisplayName: pr.displayName, Email: pr.email}
	if pr.org != 0 {
		p.Organization = m.scopes[pr.org].name
	}
	return p
}

// DeletePrincipal removes a principal, its group memberships (and, for a
// group, every membership in it) and every assignment to it, and returns the
// IDs of the removed assignments. Deleting an unknown principal is a no-op.
func (m *Model) DeletePrincipal(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.principalIdx[id]
	if !ok {
		return nil
	}
	pr := &m.principals[i]
	var removed []string
	for len(pr.assignments) > 0 {
		a := pr.assignments[len(pr.assignments)-1]
		removed = append(removed, m.ids.id(m.assignments[a].id))
		m.removeAssignmentLocked(a)
	}
	if pr.everyone && pr.org != 0 && m.scopes[pr.org].everyone == i {
		m.scopes[pr.org].everyone = 0
	}
	if listedUser(pr) {
		m.unlistUserLocked(i)
	}
	for _, g := range pr.groups {
		m.unlistMemberLocked(g, i)
	}
	for _, u := range m.members[i] {
		pu := &m.principals[u]
		k := slices.Index(pu.groups, i)
		pu.groups = slices.Delete(pu.groups, k, k+1)
	}
	delete(m.members, i)
	*pr = principalRec{id: pr.id}
	return removed
}

// UpsertMembership records that ms.Member belongs to ms.Group (R5, R14).
func (m *Model) UpsertMembership(ms Membership) error {
	if err := checkMembership(ms); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upsertMembershipLocked(ms)
	return nil
}

// checkMembership validates a membership to upsert.
func checkMembership(ms Membership) error {
	if ms.Group == "" || ms.Member == "" {
		return fmt.Errorf("%w: membership group and member", ErrMissingField)
	}
	return nil
}

// upsertMembershipLocked is UpsertMembership of a valid ms; it retains
// neither of its strings. m.mu must be held for writing.
func (m *Model) upsertMembershipLocked(ms Membership) {
	g := m.internPrincipalLocked(ms.Group)
	m.addMembershipLocked(g, m.internPrincipalLocked(ms.Member))
}

// addMembershipLocked records that principal u belongs to group g. m.mu
// must be held for writing.
func (m *Model) addMembershipLocked(g, u ref) {
	pu := &m.principals[u]
	if g == u || slices.Contains(pu.groups, g) {
		return
	}
	pu.groups = append(pu.groups, g)
	m.members[g] = append(m.members[g], u)
}

// removeMembershipLocked removes principal u from group g, if it belongs
// to it. m.mu must be held for writing.
func (m *Model) removeMembershipLocked(g, u ref) {
	pu := &m.principals[u]
	if k := slices.Index(pu.groups, g); k >= 0 {
		pu.groups = slices.Delete(pu.groups, k, k+1)
		m.unlistMemberLocked(g, u)
	}
}

// unlistMemberLocked removes principal u from the members of group g. It
// scans them: a position per membership would make removal independent of
// the group's size, but cost 4 bytes per membership and a list header in
// every principal for events far rarer than reads. m.mu must be held for
// writing.
func (m *Model) unlistMemberLocked(g, u ref) {
	members := m.members[g]
	last := len(members) - 1
	members[slices.Index(members, u)] = members[last]
	if last == 0 {
		delete(m.members, g)
	} else {
		m.members[g] = members[:last]
	}
}

// DeleteMembership removes ms.Member from ms.Group; rights inherited through
// the group disappear at once (R14).
func (m *Model) DeleteMembership(ms Membership) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok1 := m.principalIdx[ms.Group]
	u, ok2 := m.principalIdx[ms.Member]
	if !ok1 || !ok2 {
		return
	}
	m.removeMembershipLocked(g, u)
}

// UpsertRole adds or replaces a custom role; its permissions are validated
// with catalogue.ValidateCustomRole. Built-in roles are refused with
// ErrBuiltInRole.
func (m *Model) UpsertRole(r catalogue.Role) error {
	if catalogue.IsBuiltInRole(r.ID) {
		return fmt.Errorf("%w: %q", ErrBuiltInRole, r.ID)
	}
	if err := catalogue.ValidateCustomRole(r); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setRoleLocked(m.internRoleLocked(r.ID), r)
	return nil
}

// DeleteRole removes a custom role. Assignments of it remain but grant
// nothing; the access service deletes them, each with its own event.
func (m *Model) DeleteRole(id string) error {
	if catalogue.IsBuiltInRole(id) {
		return fmt.Errorf("%w: %q", ErrBuiltInRole, id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.roleIdx[id]; ok {
		r := &m.roles[i]
		clear(r.perms)
		r.name, r.known = "", false
	}
	return nil
}

// UpsertAssignment adds an assignment, or replaces the one with the same ID.
// The principal, role and scope need not exist yet. Placement rules
// (catalogue.ValidatePlacement) are the access service's to enforce; the
// model applies what the event log says.
func (m *Model) UpsertAssignment(a Assignment) error {
	if err := checkAssignment(a); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.upsertAssignmentLocked(a)
}

// checkAssignment validates the fields of an assignment to upsert.
func checkAssignment(a Assignment) error {
	if a.ID == "" || a.Principal == "" || a.Role == "" {
		return fmt.Errorf("%w: assignment ID, principal and role", ErrMissingField)
	}
	if !validScope(a.Scope) {
		return fmt.Errorf("%w: %q", ErrInvalidScope, a.Scope)
	}
	return nil
}

// upsertAssignmentLocked is UpsertAssignment of a valid a; it retains none
// of a's strings. m.mu must be held for writing.
func (m *Model) upsertAssignmentLocked(a Assignment) error {
	if old, ok := m.lookupIDLocked(a.ID); ok {
		o := &m.assignments[old]
		if m.principals[o.subject].id == a.Principal && m.roles[o.role].id == a.Role &&
			m.scopes[o.scope].name == a.Scope && o.builtIn == a.BuiltIn {
			return nil
		}
		m.removeAssignmentLocked(old)
	}
	pos, err := m.ids.add(a.ID)
	if err != nil {
		return err
	}
	subject := m.internPrincipalLocked(a.Principal)
	role := m.internRoleLocked(a.Role)
	scope := m.internScopeLocked(a.Scope)

	var i ref
	if n := len(m.freeAssign); n > 0 {
		i = m.freeAssign[n-1]
		m.freeAssign = m.freeAssign[:n-1]
	} else {
		i = ref(len(m.assignments))
		m.assignments = append(m.assignments, assignmentRec{})
	}
	pr, sc := &m.principals[subject], &m.scopes[scope]
	m.assignments[i] = assignmentRec{
		id:       pos,
		subject:  subject,
		role:     role,
		scope:    scope,
		subjPos:  uint32(len(pr.assignments)),
		scopePos: uint32(len(sc.assignments)),
		builtIn:  a.BuiltIn,
	}
	pr.assignments = append(pr.assignments, i)
	pr.assignScopes = append(pr.assignScopes, scope)
	sc.assignments = append(sc.assignments, i)
	switch {
	case pr.indexed:
		m.linkLocked(i)
	case len(pr.assignments) > scanThreshold:
		m.indexSubjectLocked(subject)
	}
	m.insertIDLocked(i)
	return nil
}

// linkLocked puts assignment i at the head of its (subject, scope) chain.
// m.mu must be held for writing.
func (m *Model) linkLocked(i ref) {
	as := &m.assignments[i]
	k := key(as.subject, as.scope)
	as.next = m.bySubjectScope[k]
	m.bySubjectScope[k] = i
}

// indexSubjectLocked puts every assignment of subject in bySubjectScope.
// m.mu must be held for writing.
func (m *Model) indexSubjectLocked(subject ref) {
	pr := &m.principals[subject]
	pr.indexed = true
	for _, a := range pr.assignments {
		m.linkLocked(a)
	}
}

// unindexSubjectLocked takes every assignment of subject out of
// bySubjectScope. m.mu must be held for writing.
func (m *Model) unindexSubjectLocked(subject ref) {
	pr := &m.principals[subject]
	pr.indexed = false
	for k, a := range pr.assignments {
		delete(m.bySubjectScope, key(subject, pr.assignScopes[k]))
		m.assignments[a].next = 0
	}
}

// DeleteAssignment removes the assignment with the given ID and reports
// whether it existed.
func (m *Model) DeleteAssignment(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.lookupIDLocked(id)
	if ok {
		m.removeAssignmentLocked(i)
	}
	return ok
}

// removeAssignmentLocked unlinks assignment i from every index. m.mu must be
// held for writing.
func (m *Model) removeAssignmentLocked(i ref) {
	a := m.assignments[i]
	m.deleteIDLocked(i)
	pr := &m.principals[a.subject]
	if pr.indexed {
		k := key(a.subject, a.scope)
		if head := m.bySubjectScope[k]; head == i {
			if a.next == 0 {
				delete(m.bySubjectScope, k)
			} else {
				m.bySubjectScope[k] = a.next
			}
		} else {
			for p := head; p != 0; p = m.assignments[p].next {
				if m.assignments[p].next == i {
					m.assignments[p].next = a.next
					break
				}
			}
		}
	}
	n := len(pr.assignments) - 1
	last := pr.assignments[n]
	pr.assignments[a.subjPos] = last
	pr.assignScopes[a.subjPos] = pr.assignScopes[n]
	m.assignments[last].subjPos = a.subjPos
	pr.assignments = pr.assignments[:n]
	pr.assignScopes = pr.assignScopes[:n]
	if pr.indexed && n <= scanThreshold/2 {
		m.unindexSubjectLocked(a.subject)
	}

	sl := &m.scopes[a.scope].assignments
	last = (*sl)[len(*sl)-1]
	(*sl)[a.scopePos] = last
	m.assignments[last].scopePos = a.scopePos
	*sl = (*sl)[:len(*sl)-1]

	m.assignments[i] = assignmentRec{}
	m.freeAssign = append(m.freeAssign, i)
	m.ids.free(a.id)
	if m.ids.wasteful() {
		m.compactIDsLocked()
	}
}

// Stats counts what the model holds.
type Stats struct {
	Scopes, Principals, Roles, Assignments, Memberships int
}

// Stats returns the model's counts, placeholders included.
func (m *Model) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := Stats{
		Scopes:      len(m.scopes) - 1,
		Principals:  len(m.principals) - 1,
		Roles:       len(m.roles) - 1,
		Assignments: m.assigned,
	}
	for i := range m.principals {
		s.Memberships += len(m.principals[i].groups)
	}
	return s
}
