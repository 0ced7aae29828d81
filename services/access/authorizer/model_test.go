package authorizer

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// refModel is the model's semantics written plainly, for property tests:
// maps of what was upserted, and Check as a walk over every assignment.
type refModel struct {
	principals  map[string]Principal
	groupsOf    map[string]map[string]bool // member -> its groups
	everyone    map[string]string          // organization -> its Everyone group
	custom      map[string][]string        // custom role -> permissions
	assignments map[string]Assignment
}

func newRefModel() *refModel {
	return &refModel{
		principals:  map[string]Principal{},
		groupsOf:    map[string]map[string]bool{},
		everyone:    map[string]string{},
		custom:      map[string][]string{},
		assignments: map[string]Assignment{},
	}
}

func (r *refModel) upsertPrincipal(p Principal) {
	if old, ok := r.principals[p.ID]; ok && r.everyone[old.Organization] == p.ID {
		delete(r.everyone, old.Organization)
	}
	r.principals[p.ID] = p
	if p.Everyone && p.Kind == KindGroup && p.Organization != "" {
		r.everyone[p.Organization] = p.ID
	}
}

func (r *refModel) deletePrincipal(id string) {
	if old, ok := r.principals[id]; ok && r.everyone[old.Organization] == id {
		delete(r.everyone, old.Organization)
	}
	delete(r.principals, id)
	delete(r.groupsOf, id)
	for _, gs := range r.groupsOf {
		delete(gs, id)
	}
	for k, a := range r.assignments {
		if a.Principal == id {
			delete(r.assignments, k)
		}
	}
}

func (r *refModel) deleteScope(name string) {
	for org := range r.everyone {
		if resourcename.IsAncestorOrSelf(name, org) {
			delete(r.everyone, org)
		}
	}
	for k, a := range r.assignments {
		if resourcename.IsAncestorOrSelf(name, a.Scope) {
			delete(r.assignments, k)
		}
	}
}

// grants reports whether assignment a holds permission perm.
func (r *refModel) grants(a Assignment, perm string) bool {
	perms := r.custom[a.Role]
	if br, ok := catalogue.LookupBuiltInRole(a.Role); ok {
		perms = br.Permissions
	}
	return slices.Contains(perms, perm)
}

func (r *refModel) activeGroup(id string) bool {
	p, ok := r.principals[id]
	return ok && p.Status == StatusActive && p.Kind == KindGroup
}

// check returns whether principal holds perm at scope, with the denial
// reason, and the subjects whose assignments may allow.
func (r *refModel) check(principal, perm, scope string) (bool, DenyReason, []string) {
	if _, ok := catalogue.PermissionIndex(perm); !ok {
		return false, DenyUnknownPermission, nil
	}
	if !validScope(scope) {
		return false, DenyInvalidScope, nil
	}
	p, ok := r.principals[principal]
	if !ok {
		return false, DenyUnknownPrincipal, nil
	}
	if p.Status != StatusActive {
		return false, DenyInactivePrincipal, nil
	}
	if p.Organization != "" && resourcename.OrganizationOf(scope) != p.Organization {
		return false, DenyOtherOrganization, nil
	}
	subjects := []string{principal}
	for g := range r.groupsOf[principal] {
		if r.activeGroup(g) {
			subjects = append(subjects, g)
		}
	}
	if e := r.everyone[p.Organization]; e != "" && p.Kind == KindUser && r.activeGroup(e) {
		subjects = append(subjects, e)
	}
	for _, a := range r.assignments {
		if slices.Contains(subjects, a.Principal) && resourcename.IsAncestorOrSelf(a.Scope, scope) && r.grants(a, perm) {
			return true, DenyNoGrant, subjects
		}
	}
	return false, DenyNoGrant, subjects
}

// propWorld is the vocabulary of the property tests: a few organizations,
// a scope tree, principals, roles, and assignment IDs long enough that the
// ID arena fills chunks and compacts.
type propWorld struct {
	scopes, users, groups, roles, perms []string
	heavy                               string
}

func newPropWorld() propWorld {
	w := propWorld{heavy: "organizations/o1/users/heavy"}
	for _, o := range []string{"organizations/o1", "organizations/o2"} {
		w.scopes = append(w.scopes, o)
		for t := range 2 {
			tn := fmt.Sprintf("%s/tenants/t%d", o, t)
			w.scopes = append(w.scopes, tn)
			for s := range 2 {
				sn := fmt.Sprintf("%s/services/s%d", tn, s)
				w.scopes = append(w.scopes, sn, sn+"/folders/f1", sn+"/folders/f1/folders/f2", sn+"/folders/f3")
			}
		}
		for i := range 6 {
			w.users = append(w.users, fmt.Sprintf("%s/users/u%d", o, i))
		}
		for i := range 4 {
			w.groups = append(w.groups, fmt.Sprintf("%s/groups/g%d", o, i))
		}
	}
	w.users = append(w.users, w.heavy)
	w.roles = []string{catalogue.RoleOrganizationAdministrator, catalogue.RoleTenantAdministrator, catalogue.RoleFolderAdministrator,
		catalogue.RoleAutomationUser, catalogue.RoleUser, "organizations/o1/roles/custom", "organizations/o1/roles/never"}
	w.perms = []string{"orchestrator.jobs.view", "orchestrator.jobs.delete", "users.edit", "users.view", "tenant.users.edit", "no.such.permission"}
	return w
}

func (w propWorld) pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func (w propWorld) org(name string) string { return resourcename.OrganizationOf(name) }

// randomAssignment returns an assignment with an ID from a pool of 3,000
// (so that upserts replace and deletes find: the same rest under three
// parents, one of them none), a third of them to heavy, which thereby
// crosses scanThreshold both ways.
func (w propWorld) randomAssignment(rng *rand.Rand) Assignment {
	parents := []string{"", "organizations/o1/roleAssignments/", "organizations/o2/roleAssignments/"}
	a := Assignment{
		ID:      fmt.Sprintf("%sa%059d", parents[rng.IntN(3)], rng.IntN(1000)),
		Role:    w.pick(rng, w.roles),
		Scope:   w.pick(rng, w.scopes),
		BuiltIn: rng.IntN(4) == 0,
	}
	switch rng.IntN(3) {
	case 0:
		a.Principal = w.heavy
	case 1:
		a.Principal = w.pick(rng, w.users)
	default:
		a.Principal = w.pick(rng, w.groups)
	}
	return a
}

func (w propWorld) randomPrincipal(rng *rand.Rand) Principal {
	id := w.pick(rng, w.users)
	kind := KindUser
	if rng.IntN(2) == 0 {
		id, kind = w.pick(rng, w.groups), KindGroup
	}
	p := Principal{ID: id, Kind: kind, Status: StatusActive, Organization: w.org(id), DisplayName: "p"}
	if rng.IntN(5) == 0 {
		p.Status = StatusInactive
	}
	if kind == KindGroup && strings.HasSuffix(id, "/g0") && rng.IntN(2) == 0 {
		p.Everyone = true
	}
	return p
}

// TestModelMatchesReference applies random changes to the model and to
// refModel and compares their Check answers, and the model's internal
// invariants, as it goes: ID table, arena compaction, the (subject, scope)
// index of subjects crossing scanThreshold.
func TestModelMatchesReference(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 13))
			w := newPropWorld()
			m, ref := New(Sizes{}), newRefModel()
			compactions, indexed, unindexed := 0, 0, 0
			for step := range 30_000 {
				deadBefore := m.ids.dead
				wasIndexed := m.principals[m.principalIdx[w.heavy]].indexed
				switch op := rng.IntN(100); {
				case op < 45:
					a := w.randomAssignment(rng)
					if err := m.UpsertAssignment(a); err != nil {
						t.Fatal(err)
					}
					ref.assignments[a.ID] = a
				case op < 75:
					a := w.randomAssignment(rng)
					if got, want := m.DeleteAssignment(a.ID), ref.assignments[a.ID].ID != ""; got != want {
						t.Fatalf("step %d: DeleteAssignment(%s) = %v, want %v", step, a.ID, got, want)
					}
					delete(ref.assignments, a.ID)
				case op < 85:
					p := w.randomPrincipal(rng)
					if err := m.UpsertPrincipal(p); err != nil {
						t.Fatal(err)
					}
					ref.upsertPrincipal(p)
				case op < 92:
					g, u := w.pick(rng, w.groups), w.pick(rng, w.users)
					if err := m.UpsertMembership(Membership{Group: g, Member: u}); err != nil {
						t.Fatal(err)
					}
					if ref.groupsOf[u] == nil {
						ref.groupsOf[u] = map[string]bool{}
					}
					ref.groupsOf[u][g] = true
				case op < 95:
					g, u := w.pick(rng, w.groups), w.pick(rng, w.users)
					m.DeleteMembership(Membership{Group: g, Member: u})
					delete(ref.groupsOf[u], g)
				case op < 97:
					if rng.IntN(2) == 0 {
						if err := m.UpsertRole(catalogue.Role{ID: "organizations/o1/roles/custom", Name: "Custom", Level: catalogue.LevelFolder,
							ServiceType: "orchestrator", Permissions: []string{"orchestrator.jobs.view"}}); err != nil {
							t.Fatal(err)
						}
						ref.custom["organizations/o1/roles/custom"] = []string{"orchestrator.jobs.view"}
					} else {
						if err := m.DeleteRole("organizations/o1/roles/custom"); err != nil {
							t.Fatal(err)
						}
						delete(ref.custom, "organizations/o1/roles/custom")
					}
				case op < 99:
					id := w.pick(rng, append(w.users, w.groups...))
					removed := m.DeletePrincipal(id)
					var want []string
					for k, a := range ref.assignments {
						if a.Principal == id {
							want = append(want, k)
						}
					}
					if slices.Sort(removed); !slices.Equal(removed, slices.Sorted(slices.Values(want))) {
						t.Fatalf("step %d: DeletePrincipal(%s) removed %d assignments, want %d", step, id, len(removed), len(want))
					}
					ref.deletePrincipal(id)
				default:
					name := w.pick(rng, w.scopes[1:])
					removed := m.DeleteScope(name)
					n := len(ref.assignments)
					ref.deleteScope(name)
					if len(removed) != n-len(ref.assignments) {
						t.Fatalf("step %d: DeleteScope(%s) removed %d assignments, want %d", step, name, len(removed), n-len(ref.assignments))
					}
				}
				if m.ids.dead < deadBefore {
					compactions++
				}
				switch isIndexed := m.principals[m.principalIdx[w.heavy]].indexed; {
				case isIndexed:
					indexed++
				case wasIndexed:
					unindexed++
				}
				if step%500 == 0 {
					checkInvariants(t, m)
				}
				for range 3 {
					principal, perm, scope := w.pick(rng, append(w.users, w.groups...)), w.pick(rng, w.perms), w.pick(rng, w.scopes)
					d := m.Check(principal, perm, scope)
					allowed, denial, subjects := ref.check(principal, perm, scope)
					if d.Allowed != allowed || d.Denial != denial {
						t.Fatalf("step %d: Check(%s, %s, %s) = %v (%v), reference %v (%v)", step, principal, perm, scope, d.Allowed, d.Denial, allowed, denial)
					}
					if d.Allowed {
						a, ok := ref.assignments[d.AssignmentID()]
						if !ok || !ref.grants(a, perm) || !resourcename.IsAncestorOrSelf(a.Scope, scope) || !slices.Contains(subjects, a.Principal) ||
							a.Scope != d.AssignedAt || a.Role != d.Role || a.Principal != cmp.Or(d.Group, principal) {
							t.Fatalf("step %d: Check(%s, %s, %s) allowed by %+v, which is %+v", step, principal, perm, scope, d, a)
						}
					}
				}
			}
			checkInvariants(t, m)
			if got := m.Stats().Assignments; got != len(ref.assignments) {
				t.Errorf("Stats().Assignments = %d, reference holds %d", got, len(ref.assignments))
			}
			if compactions == 0 || indexed == 0 || unindexed == 0 {
				t.Errorf("%d compactions of the ID arena, %d steps with heavy indexed, %d unindexings: the test no longer reaches them", compactions, indexed, unindexed)
			}
		})
	}
}

// checkInvariants checks the model's indexes against its records.
func checkInvariants(t *testing.T, m *Model) {
	t.Helper()
	m.mu.RLock()
	defer m.mu.RUnlock()
	live, bytes := 0, 0
	for i := 1; i < len(m.assignments); i++ {
		as := &m.assignments[i]
		if as.subject == 0 {
			continue
		}
		live++
		id := m.ids.id(as.id)
		_, _, size := m.ids.entry(as.id)
		bytes += size
		if j, ok := m.lookupIDLocked(id); !ok || j != ref(i) {
			t.Fatalf("assignment %d (%s) found by ID as %d, %v", i, id, j, ok)
		}
		pr, sc := &m.principals[as.subject], &m.scopes[as.scope]
		if pr.assignments[as.subjPos] != ref(i) || pr.assignScopes[as.subjPos] != as.scope || sc.assignments[as.scopePos] != ref(i) {
			t.Fatalf("assignment %d (%s) misplaced in its subject's or scope's list", i, id)
		}
	}
	if live != m.assigned || bytes != m.ids.live {
		t.Fatalf("%d live assignments of %d bytes of IDs; the model counts %d and %d", live, bytes, m.assigned, m.ids.live)
	}
	slots := 0
	for _, sl := range m.idSlots {
		if sl.a != 0 {
			slots++
			if j, ok := m.lookupIDLocked(m.ids.id(m.assignments[sl.a].id)); !ok || j != sl.a {
				t.Fatalf("ID slot of assignment %d finds %d, %v", sl.a, j, ok)
			}
		}
	}
	if slots != live {
		t.Fatalf("%d ID slots in use for %d assignments", slots, live)
	}
	chained := 0
	for i := range m.principals {
		pr := &m.principals[i]
		if !pr.indexed {
			if len(pr.assignments) > scanThreshold {
				t.Fatalf("principal %s holds %d assignments, not indexed", pr.id, len(pr.assignments))
			}
			continue
		}
		for k, a := range pr.assignments {
			found := false
			for c := m.bySubjectScope[key(ref(i), pr.assignScopes[k])]; c != 0; c = m.assignments[c].next {
				found = found || c == a
			}
			if !found {
				t.Fatalf("assignment %d of indexed %s not in its chain", a, pr.id)
			}
		}
		chained += len(pr.assignments)
	}
	n := 0
	for _, head := range m.bySubjectScope {
		for c := head; c != 0; c = m.assignments[c].next {
			n++
		}
	}
	if n != chained {
		t.Fatalf("%d assignments chained in bySubjectScope, %d held by indexed subjects", n, chained)
	}
	checkReverseIndexes(t, m)
}

// checkReverseIndexes checks the groups' members, the organizations' users
// and the scopes' children against the records they index. m.mu must be
// held.
func checkReverseIndexes(t *testing.T, m *Model) {
	t.Helper()
	memberships, members, listed, users := 0, 0, 0, 0
	for i := range m.principals {
		pr := &m.principals[i]
		for _, g := range pr.groups {
			if !slices.Contains(m.members[g], ref(i)) {
				t.Fatalf("principal %s not among the members of %s", pr.id, m.principals[g].id)
			}
		}
		memberships += len(pr.groups)
		if listedUser(pr) {
			listed++
			if us := m.orgUsers[pr.org]; int(pr.orgPos) >= len(us) || us[pr.orgPos] != ref(i) {
				t.Fatalf("user %s not at its position in its organization's users", pr.id)
			}
		}
	}
	for g, ms := range m.members {
		if len(ms) == 0 {
			t.Fatalf("group %s listed without members", m.principals[g].id)
		}
		members += len(ms)
	}
	for org, us := range m.orgUsers {
		if len(us) == 0 {
			t.Fatalf("organization %s listed without users", m.scopes[org].name)
		}
		users += len(us)
	}
	if members != memberships || users != listed {
		t.Fatalf("%d members of groups for %d memberships; %d users of organizations for %d listed", members, memberships, users, listed)
	}
	children, parented := 0, 0
	for _, cs := range m.children {
		children += len(cs)
	}
	for i := 1; i < len(m.scopes); i++ {
		sc := &m.scopes[i]
		if sc.parent != 0 {
			parented++
			if !slices.Contains(m.children[sc.parent], ref(i)) {
				t.Fatalf("scope %s not among its parent's children", sc.name)
			}
		}
	}
	if children != parented {
		t.Fatalf("%d children for %d scopes with a parent", children, parented)
	}
}

// dumpModel renders everything a model holds but its capacities and the
// placement of its ID table (which hashes with a per-model seed).
func dumpModel(m *Model) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var b strings.Builder
	for i, s := range m.scopes {
		fmt.Fprintf(&b, "scope %d %+v\n", i, s)
	}
	for i, p := range m.principals {
		fmt.Fprintf(&b, "principal %d %+v\n", i, p)
	}
	for i, r := range m.roles {
		fmt.Fprintf(&b, "role %d %+v\n", i, r)
	}
	for i, a := range m.assignments {
		id := ""
		if a.subject != 0 {
			id = m.ids.id(a.id)
		}
		fmt.Fprintf(&b, "assignment %d %s %+v\n", i, id, a)
	}
	fmt.Fprintf(&b, "free %v assigned %d ids %d/%d in %d chunks\n", m.freeAssign, m.assigned, m.ids.live, m.ids.dead, len(m.ids.chunks))
	for _, k := range slices.Sorted(maps.Keys(m.bySubjectScope)) {
		fmt.Fprintf(&b, "chain %x %d\n", k, m.bySubjectScope[k])
	}
	for _, g := range slices.Sorted(maps.Keys(m.members)) {
		fmt.Fprintf(&b, "members %d %v\n", g, m.members[g])
	}
	for _, o := range slices.Sorted(maps.Keys(m.orgUsers)) {
		fmt.Fprintf(&b, "users %d %v\n", o, m.orgUsers[o])
	}
	for _, s := range slices.Sorted(maps.Keys(m.children)) {
		fmt.Fprintf(&b, "children %d %v\n", s, m.children[s])
	}
	for _, k := range slices.Sorted(maps.Keys(m.scopeIdx)) {
		fmt.Fprintf(&b, "scope %s %d\n", k, m.scopeIdx[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.principalIdx)) {
		fmt.Fprintf(&b, "principal %s %d\n", k, m.principalIdx[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.roleIdx)) {
		fmt.Fprintf(&b, "role %s %d\n", k, m.roleIdx[k])
	}
	return b.String()
}

// TestLoadMatchesUpserts checks that Model.Load's Loader builds exactly the
// model the same upserts through the Model's methods build, from bytes it
// does not retain (overwritten after each call here).
func TestLoadMatchesUpserts(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 31))
		w := newPropWorld()
		one, bulk := New(Sizes{}), New(Sizes{})
		var buf [4][]byte
		scratch := func(i int, s string) []byte {
			buf[i] = append(buf[i][:0], s...)
			return buf[i]
		}
		clobber := func() {
			for i := range buf {
				for j := range buf[i] {
					buf[i][j] = '#'
				}
			}
		}
		var ops []func(l *Loader) error
		for range 5_000 {
			switch op := rng.IntN(10); {
			case op < 7:
				a := w.randomAssignment(rng)
				if err := one.UpsertAssignment(a); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, func(l *Loader) error {
					return l.UpsertAssignment(scratch(0, a.ID), scratch(1, a.Principal), scratch(2, a.Role), scratch(3, a.Scope), a.BuiltIn)
				})
			case op < 8:
				// A run of members of one group, as a store lists them.
				g := w.pick(rng, append(w.groups, w.users...))
				for range rng.IntN(4) + 1 {
					ms := Membership{Group: g, Member: w.pick(rng, w.users)}
					if err := one.UpsertMembership(ms); err != nil {
						t.Fatal(err)
					}
					ops = append(ops, func(l *Loader) error { return l.UpsertMembership(scratch(0, ms.Group), scratch(1, ms.Member)) })
				}
			case op < 9:
				p := w.randomPrincipal(rng)
				if err := one.UpsertPrincipal(p); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, func(l *Loader) error { return l.UpsertPrincipal(p) })
			default:
				s := Scope{Name: w.pick(rng, w.scopes), DisplayName: "s", ServiceType: "orchestrator"}
				if err := one.UpsertScope(s); err != nil {
					t.Fatal(err)
				}
				ops = append(ops, func(l *Loader) error { return l.UpsertScope(s) })
			}
		}
		err := bulk.Load(func(l *Loader) error {
			l.Grow(Sizes{Assignments: 1000 + int(seed)*1000, Principals: 10, Scopes: 10})
			for _, op := range ops {
				if err := op(l); err != nil {
					return err
				}
				clobber()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := dumpModel(one), dumpModel(bulk); a != b {
			t.Fatalf("seed %d: the loaded model differs from the upserted one", seed)
		}
		checkInvariants(t, bulk)
	}
}

// TestLoaderRefusesWhatUpsertsRefuse checks the Loader's validation.
func TestLoaderRefusesWhatUpsertsRefuse(t *testing.T) {
	m := New(Sizes{})
	err := m.Load(func(l *Loader) error {
		if err := l.UpsertAssignment([]byte("a"), []byte("u"), []byte("r"), []byte("not/a/scope"), false); err == nil {
			t.Error("invalid scope accepted")
		}
		if err := l.UpsertAssignment(nil, []byte("u"), []byte("r"), []byte(o1), false); err == nil {
			t.Error("empty ID accepted")
		}
		if err := l.UpsertMembership([]byte("g"), nil); err == nil {
			t.Error("empty member accepted")
		}
		if err := l.UpsertScope(Scope{Name: "nope"}); err == nil {
			t.Error("invalid scope accepted")
		}
		if err := l.UpsertPrincipal(Principal{}); err == nil {
			t.Error("empty principal accepted")
		}
		return nil
	})
	if err != nil || m.Stats() != (Stats{Roles: m.Stats().Roles}) {
		t.Fatalf("Load = %v, model %+v", err, m.Stats())
	}
}

// TestIDArena checks IDs of every length class, with and without a parent,
// round trip, and that a full arena says so.
func TestIDArena(t *testing.T) {
	var a idArena
	ids := []string{"a", strings.Repeat("b", 127), "p/" + strings.Repeat("c", 128), strings.Repeat("d", chunkSize-3), "p/", "e",
		"q/" + strings.Repeat("f", 3*chunkSize), "p/g", "/"}
	var pos []uint32
	for _, id := range ids {
		p, err := a.add(id)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, p)
	}
	for i, id := range ids {
		if got := a.id(pos[i]); got != id {
			t.Errorf("ID %d: got %d bytes, want %d", i, len(got), len(id))
		}
	}
	a.chunks = make([][]byte, maxChunks)
	if _, err := a.add("x"); !errors.Is(err, ErrFull) {
		t.Errorf("add to a full arena = %v, want ErrFull", err)
	}
}
