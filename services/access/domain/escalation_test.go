package domain

// The escalation property test (issue 9, "security suite"): generated
// cases of random actors with random rights trying to hand out rights —
// assign a built-in or custom role at a scope, create or edit a custom
// role, add someone to (or remove someone from) a group that holds roles,
// create a user with groups, create an API key and then grow its
// principal's roles, move a user — through the domain layer, with the
// directory's events fed as the directory would send them. The oracle is
// the authorizer (Model.Check on principals, never on keys), the delegation
// table of R17 (CATALOGUE.md "Combined permissions of seed 003" as
// mayManageAccess documents it) and escalation prevention: a grant
// succeeds if and only if the actor may manage access at the scope and
// holds every permission it grants there; an API key holds a permission
// if and only if its principal and its creator both do (C4).
//
// The directory has no move of folders or groups (UpdateFolder changes the
// display name only); the only move, a user to another department, must
// change no right.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

const (
	// escSeed makes the generated cases the same on every run.
	escSeed = 20261203
	// escCases is how many cases run (issue 9: at least 100,000).
	escCases = 100_000
	// escRoundCases is how many cases run between two re-draws of the
	// actors' rights.
	escRoundCases = 2_000
	// escBaseRoles is how many custom roles exist at the start of a round.
	escBaseRoles = 6
)

// escScope is a node of the test's scope tree.
type escScope struct {
	name            string
	level           catalogue.Level
	tenant, service string
	serviceType     string
}

// escRole is a role the cases may grant, with its permissions as the test
// knows them.
type escRole struct {
	name string
	role catalogue.Role
}

// escKey is an API key as the test recorded it.
type escKey struct {
	principal, creator string
}

// escWorld is the organization of the cases and the test's own record of
// it.
type escWorld struct {
	t   *testing.T
	ctx context.Context
	s   *Service
	rng *rand.Rand

	org, owner string
	scopes     []escScope
	scopeOf    map[string]escScope
	actors     []string // users whose rights are drawn each round
	robots     []string // robot accounts
	groups     []string // custom groups, and the non-implicit default ones
	targets    []string // users and groups that receive grants
	depts      []string
	builtIn    []escRole
	custom     []escRole
	validPerms map[string][]string // permissions valid in a custom role, by level/type
	members    map[[2]string]bool  // group, member
	inactive   map[string]bool
	keys       map[string]escKey
	keyNames   []string // live keys, in creation order
	serial     int

	cases, checks int
	outcomes      map[string]int // op/outcome -> count
	violations    []string
}

// escWorlds is how many independent worlds share the cases, in parallel.
const escWorlds = 2

// TestEscalationProperty runs escCases generated cases over escWorlds
// worlds (seeds escSeed, escSeed+1, ...); it fails on any violation, and
// logs the counts.
func TestEscalationProperty(t *testing.T) {
	worlds := make([]*escWorld, escWorlds)
	t.Run("worlds", func(t *testing.T) {
		for i := range worlds {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				w := newEscWorld(t, escSeed+uint64(i))
				worlds[i] = w
				for w.cases < escCases/escWorlds {
					w.drawRights()
					for range escRoundCases {
						w.step()
					}
					w.endRound()
					if len(w.violations) > 20 {
						break
					}
				}
				for _, v := range w.violations {
					t.Error(v)
				}
			})
		}
	})
	cases, checks, violations := 0, 0, 0
	outcomes := map[string]int{}
	for _, w := range worlds {
		if w == nil {
			t.Fatal("a world did not run")
		}
		cases, checks, violations = cases+w.cases, checks+w.checks, violations+len(w.violations)
		for k, n := range w.outcomes {
			outcomes[k] += n
		}
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(outcomes)) {
		fmt.Fprintf(&b, " %s=%d", k, outcomes[k])
	}
	t.Logf("escalation property: %d cases, %d key checks, %d violations;%s", cases, checks, violations, b.String())
	if cases < escCases {
		t.Fatalf("ran %d cases, want at least %d", cases, escCases)
	}
}

func newEscWorld(t *testing.T, seed uint64) *escWorld {
	t.Helper()
	// An in-memory store: bbolt's per-commit I/O would make the run last a
	// minute under the race detector (memstore_test.go).
	st := newMemStore()
	log, err := eventlog.New(st, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), st, log, authorizer.New(authorizer.Sizes{}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &escWorld{
		t: t, ctx: context.Background(), s: s, rng: rand.New(rand.NewPCG(seed, seed>>1)),
		org: "organizations/esc", scopeOf: map[string]escScope{}, validPerms: map[string][]string{},
		members: map[[2]string]bool{}, inactive: map[string]bool{}, keys: map[string]escKey{}, outcomes: map[string]int{},
	}
	w.owner = w.org + "/users/owner"
	w.build()
	return w
}

// feed applies directory events in one feed transaction, as the consumer
// applies each event.
func (w *escWorld) feed(evs ...*eventlogv1.Event) {
	w.t.Helper()
	err := w.s.FeedStore().Update(w.ctx, func(tx store.Tx) error {
		for _, ev := range evs {
			if err := w.s.ApplyDirectoryEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("feeding %s: %v", evs[0].GetType(), err)
	}
}

func (w *escWorld) user(name string, state directoryv1.User_State, owner bool, dept string) *eventlogv1.Event {
	typ := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_UPDATED)
	id := name[strings.LastIndexByte(name, '/')+1:]
	return dtEvent(w.t, typ, name, &directoryv1.User{Name: name, Nickname: id, DisplayName: id, Email: id + "@esc.example",
		State: state, Owner: owner, Department: dept})
}

// build makes the organization: two tenants, an Orchestrator service with
// nested folders and a project, a Test Manager service with a folder, the
// default groups, the owner, actors, robot accounts, custom groups and
// target users, and the custom roles.
func (w *escWorld) build() {
	org := w.org
	t1, t2 := org+"/tenants/t1", org+"/tenants/t2"
	s1, s2 := t1+"/services/orch", t2+"/services/tm"
	w.addScope(escScope{name: org, level: catalogue.LevelOrganization})
	w.addScope(escScope{name: t1, level: catalogue.LevelTenant, tenant: t1})
	w.addScope(escScope{name: t2, level: catalogue.LevelTenant, tenant: t2})
	w.addScope(escScope{name: s1, level: catalogue.LevelService, tenant: t1, service: s1, serviceType: catalogue.ServiceTypeOrchestrator})
	w.addScope(escScope{name: s2, level: catalogue.LevelService, tenant: t2, service: s2, serviceType: "test-manager"})
	for _, f := range []string{s1 + "/folders/f1", s1 + "/folders/f1/folders/f2", s1 + "/projects/p1"} {
		w.addScope(escScope{name: f, level: catalogue.LevelFolder, tenant: t1, service: s1, serviceType: catalogue.ServiceTypeOrchestrator})
	}
	w.addScope(escScope{name: s2 + "/folders/f3", level: catalogue.LevelFolder, tenant: t2, service: s2, serviceType: "test-manager"})

	group := func(id, display string, which directoryv1.Group_DefaultGroup) *eventlogv1.Event {
		g := &directoryv1.Group{Name: org + "/groups/" + id, DisplayName: display, Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: which}
		if which == directoryv1.Group_DEFAULT_GROUP_UNSPECIFIED {
			g.Kind = directoryv1.Group_KIND_CUSTOM
		}
		return dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED), g.GetName(), g)
	}
	evs := []*eventlogv1.Event{
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED), org, &directoryv1.Organization{Name: org, DisplayName: "Esc"}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), t1, &directoryv1.Tenant{Name: t1, DisplayName: "T1"}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED), t2, &directoryv1.Tenant{Name: t2, DisplayName: "T2"}),
		group("administrators", "Administrators", directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS),
		group("automation-users", "Automation Users", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS),
		group("automation-developers", "Automation Developers", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_DEVELOPERS),
		group("everyone", "Everyone", directoryv1.Group_DEFAULT_GROUP_EVERYONE),
	}
	w.groups = append(w.groups, org+"/groups/administrators", org+"/groups/automation-users", org+"/groups/automation-developers")
	for i := range 4 {
		id := fmt.Sprintf("g%d", i)
		evs = append(evs, group(id, id, directoryv1.Group_DEFAULT_GROUP_UNSPECIFIED))
		w.groups = append(w.groups, org+"/groups/"+id)
	}
	root := org + "/departments/root"
	w.depts = []string{root, org + "/departments/d1", org + "/departments/d2"}
	evs = append(evs, w.user(w.owner, directoryv1.User_STATE_ACTIVE, true, root))
	evs[len(evs)-1].Type = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED)
	evs = append(evs,
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED), s1, &directoryv1.Service{Name: s1, DisplayName: "Orch", Type: catalogue.ServiceTypeOrchestrator, Creator: w.owner}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED), s2, &directoryv1.Service{Name: s2, DisplayName: "TM", Type: "test-manager", Creator: w.owner}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), s1+"/folders/f1", &directoryv1.Folder{Name: s1 + "/folders/f1", DisplayName: "F1"}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), s1+"/folders/f1/folders/f2", &directoryv1.Folder{Name: s1 + "/folders/f1/folders/f2", DisplayName: "F2"}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_PROJECT_CREATED), s1+"/projects/p1", &directoryv1.Project{Name: s1 + "/projects/p1", DisplayName: "P1"}),
		dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED), s2+"/folders/f3", &directoryv1.Folder{Name: s2 + "/folders/f3", DisplayName: "F3"}),
	)
	for i := range 8 {
		u := fmt.Sprintf("%s/users/a%d", org, i)
		w.actors = append(w.actors, u)
		ev := w.user(u, directoryv1.User_STATE_ACTIVE, false, root)
		ev.Type = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED)
		evs = append(evs, ev)
	}
	for i := range 3 {
		u := fmt.Sprintf("%s/users/t%d", org, i)
		w.targets = append(w.targets, u)
		ev := w.user(u, directoryv1.User_STATE_ACTIVE, false, root)
		ev.Type = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED)
		evs = append(evs, ev)
	}
	for i := range 4 {
		r := fmt.Sprintf("%s/robots/r%d", org, i)
		ra := fmt.Sprintf("%s/robotAccounts/r%d", org, i)
		w.robots = append(w.robots, ra)
		evs = append(evs,
			dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_CREATED), r, &directoryv1.Robot{Name: r, DisplayName: r, MachineName: r, RobotAccount: ra}),
			dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_CREATED), ra, &directoryv1.RobotAccount{Name: ra, DisplayName: ra, Robot: r}))
	}
	w.feed(evs...)
	w.targets = append(w.targets, w.groups...)
	w.targets = append(w.targets, w.robots...)
	w.targets = append(w.targets, org+"/groups/everyone")

	for _, r := range catalogue.BuiltInRoles() {
		w.builtIn = append(w.builtIn, escRole{name: BuiltInRolePrefix + r.ID, role: r})
	}
	for _, l := range []catalogue.Level{catalogue.LevelOrganization, catalogue.LevelTenant, catalogue.LevelService, catalogue.LevelFolder} {
		for _, st := range []string{"", catalogue.ServiceTypeOrchestrator, "test-manager"} {
			if (l <= catalogue.LevelTenant) != (st == "") {
				continue
			}
			var ok []string
			for _, p := range catalogue.Permissions() {
				if catalogue.ValidateRolePermissions(l, st, []string{p.Name}) == nil {
					ok = append(ok, p.Name)
				}
			}
			w.validPerms[fmt.Sprint(l, "/", st)] = ok
		}
	}
	for range escBaseRoles {
		w.createRole(Actor{Name: "services/test"}, false)
	}
}

func (w *escWorld) addScope(sc escScope) {
	w.scopes = append(w.scopes, sc)
	w.scopeOf[sc.name] = sc
}

// ---- The oracle ----

// holds is the oracle of "who holds permission at scope": the authorizer's
// Check for a principal; for an API key, that of its principal and of its
// creator (a principal or, recursively, a key), from the test's record.
func (w *escWorld) holds(who, permission, scope string) bool {
	if k, ok := w.keys[who]; ok {
		return w.holds(k.principal, permission, scope) && (k.creator == "" || w.holds(k.creator, permission, scope))
	}
	if strings.Contains(who, "/apiKeys/") {
		return false // a revoked key
	}
	return w.s.model.Check(who, permission, scope).Allowed
}

// mayManage is the R17 delegation table (CATALOGUE.md "Combined
// permissions of seed 003", with tenant administrators managing access
// inside their tenant).
func (w *escWorld) mayManage(who string, sc escScope) bool {
	h := func(p, scope string) bool { return w.holds(who, p, scope) }
	switch sc.level {
	case catalogue.LevelOrganization:
		return h("users.edit", w.org)
	case catalogue.LevelTenant:
		return h("users.edit", w.org) || h("tenant.users.edit", sc.tenant)
	case catalogue.LevelService:
		return h("services.users.edit", w.org) || h("tenant.users.edit", sc.tenant)
	}
	st := sc.serviceType
	return h("services.users.edit", w.org) || h("tenant.users.edit", sc.tenant) ||
		h(st+".users.view", sc.name) && h(st+".roles.edit", sc.name) || h(st+".folder_users.edit", sc.name)
}

// mayGrant reports whether who may grant role at sc: manage access there
// and hold each of its permissions there.
func (w *escWorld) mayGrant(who string, role catalogue.Role, sc escScope) bool {
	if !w.mayManage(who, sc) {
		return false
	}
	for _, p := range role.Permissions {
		if !w.holds(who, p, sc.name) {
			return false
		}
	}
	return true
}

// ---- Drawing ----

func (w *escWorld) pick(n int) int { return w.rng.IntN(n) }

func (w *escWorld) anyScope() escScope { return w.scopes[w.pick(len(w.scopes))] }

// anyRole returns a built-in role (Owner included) or a custom one.
func (w *escWorld) anyRole() escRole {
	if w.pick(3) == 0 && len(w.custom) > 0 {
		return w.custom[w.pick(len(w.custom))]
	}
	return w.builtIn[w.pick(len(w.builtIn))]
}

// placeable returns a role that may be placed at sc, or false.
func (w *escWorld) placeable(sc escScope) (escRole, bool) {
	for range 20 {
		r := w.anyRole()
		if catalogue.ValidatePlacement(r.role, sc.level, sc.serviceType) == nil {
			return r, true
		}
	}
	return escRole{}, false
}

// actor returns who acts: a user actor (most often) or a live API key.
func (w *escWorld) actor() string {
	if len(w.keyNames) > 0 && w.pick(4) == 0 {
		return w.keyNames[w.pick(len(w.keyNames))]
	}
	return w.actors[w.pick(len(w.actors))]
}

// domainActor is the Actor the server makes for who: a key acts as the
// key (C4).
func (w *escWorld) domainActor(who string) Actor {
	return Actor{Name: who, DisplayName: who, Organization: w.org}
}

// grantAsService assigns role at sc to principal as a service (no limits).
func (w *escWorld) grantAsService(principal string, r escRole, sc escScope) {
	w.t.Helper()
	_, err := w.s.CreateRoleAssignment(w.ctx, rvService, &accessv1.CreateRoleAssignmentRequest{
		Parent: w.org, Principal: principal, Roles: []string{r.name}, Scope: sc.name})
	if err != nil {
		w.t.Fatalf("service granting %s at %s to %s: %v", r.name, sc.name, principal, err)
	}
}

func (w *escWorld) setMember(group, member string, in bool) {
	if w.members[[2]string{group, member}] == in {
		return
	}
	typ := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED)
	if in {
		typ = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED)
	}
	w.feed(dtEvent(w.t, typ, group, &directoryv1.GroupMembership{Group: group, Member: member}))
	if in {
		w.members[[2]string{group, member}] = true
	} else {
		delete(w.members, [2]string{group, member})
	}
}

func (w *escWorld) setActive(user string, active bool) {
	if !w.inactive[user] == active {
		return
	}
	typ, state := eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED), directoryv1.User_STATE_ACTIVE
	if !active {
		typ, state = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED), directoryv1.User_STATE_INACTIVE
	}
	ev := w.user(user, state, false, w.depts[0])
	ev.Type = typ
	w.feed(ev)
	w.inactive[user] = !active
}

// drawRights gives each actor, custom group and robot account random
// roles and memberships, and deactivates an actor now and then.
func (w *escWorld) drawRights() {
	for _, a := range w.actors {
		for range w.pick(4) {
			sc := w.anyScope()
			if r, ok := w.placeable(sc); ok {
				w.grantAsService(a, r, sc)
			}
		}
		for _, g := range w.groups {
			w.setMember(g, a, w.pick(5) == 0)
		}
		w.setActive(a, w.pick(10) != 0)
	}
	for _, g := range w.groups[3:] {
		for range 1 + w.pick(2) {
			sc := w.anyScope()
			if r, ok := w.placeable(sc); ok {
				w.grantAsService(g, r, sc)
			}
		}
	}
	for _, ra := range w.robots {
		if sc := w.anyScope(); w.pick(2) == 0 {
			if r, ok := w.placeable(sc); ok {
				w.grantAsService(ra, r, sc)
			}
		}
	}
}

// endRound removes every assignment but the built-in ones, the keys, the
// users made by the cases and the custom roles beyond the base ones.
func (w *escWorld) endRound() {
	var as []*accessv1.RoleAssignment
	err := w.s.view(w.ctx, func(tx store.ReadTx) error {
		var err error
		as, err = assignmentsUnder(tx, w.org)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, a := range as {
		if a.GetBuiltIn() {
			continue
		}
		if err := w.s.DeleteRoleAssignment(w.ctx, rvService, &accessv1.DeleteRoleAssignmentRequest{Name: a.GetName()}); err != nil {
			w.t.Fatalf("removing %s: %v", a.GetName(), err)
		}
	}
	var deleted []*eventlogv1.Event
	for _, k := range w.keyNames {
		deleted = append(deleted, dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED), k, &directoryv1.ApiKey{Name: k}))
	}
	if len(deleted) > 0 {
		w.feed(deleted...)
	}
	w.keys, w.keyNames = map[string]escKey{}, nil
	for len(w.custom) > escBaseRoles {
		r := w.custom[len(w.custom)-1]
		if err := w.s.DeleteRole(w.ctx, rvService, &accessv1.DeleteRoleRequest{Name: r.name}); err != nil {
			w.t.Fatal(err)
		}
		w.custom = w.custom[:len(w.custom)-1]
	}
	for i, r := range w.custom {
		w.custom[i] = w.editRole(Actor{Name: "services/test"}, r, false)
	}
	var gone []*eventlogv1.Event
	for m := range w.members {
		if strings.Contains(m[1], "/users/n") {
			delete(w.members, m)
		}
	}
	for i := range w.serial {
		name := fmt.Sprintf("%s/users/n%d", w.org, i)
		gone = append(gone, dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_DELETED), name, &directoryv1.User{Name: name}))
	}
	if len(gone) > 0 {
		w.feed(gone...)
	}
	w.serial = 0
}

// ---- The cases ----

func (w *escWorld) violate(format string, args ...any) {
	w.violations = append(w.violations, fmt.Sprintf("case %d: ", w.cases)+fmt.Sprintf(format, args...))
}

func (w *escWorld) count(op string, ok bool) {
	w.cases++
	if ok {
		w.outcomes[op+"/granted"]++
	} else {
		w.outcomes[op+"/refused"]++
	}
}

// step runs one case.
func (w *escWorld) step() {
	switch n := w.pick(100); {
	case n < 40:
		w.caseAssign()
	case n < 60:
		w.caseMembership()
	case n < 70:
		w.caseEditRole()
	case n < 72:
		if len(w.custom) < 12 {
			w.createRole(w.domainActor(w.actor()), true)
		} else {
			w.caseEditRole()
		}
	case n < 86:
		w.caseKey()
	case n < 96:
		w.caseNewUser()
	default:
		w.caseMoveUser()
	}
}

// caseAssign: an actor assigns a role (built-in or custom) at a scope.
func (w *escWorld) caseAssign() {
	who, sc := w.actor(), w.anyScope()
	r := w.anyRole()
	target := w.targets[w.pick(len(w.targets))]
	want := catalogue.ValidatePlacement(r.role, sc.level, sc.serviceType) == nil && w.mayGrant(who, r.role, sc)
	_, err := w.s.CreateRoleAssignment(w.ctx, w.domainActor(who), &accessv1.CreateRoleAssignmentRequest{
		Parent: w.org, Principal: target, Roles: []string{r.name}, Scope: sc.name})
	w.count("assign", err == nil)
	if (err == nil) != want {
		w.violate("%s assigning %s at %s to %s: err %v, oracle allows %v", who, r.name, sc.name, target, err, want)
	}
}

// groupAssignments returns the roles group holds, with their scopes.
func (w *escWorld) groupAssignments(group string) []*accessv1.RoleAssignment {
	var as []*accessv1.RoleAssignment
	err := w.s.view(w.ctx, func(tx store.ReadTx) error {
		var err error
		as, err = assignmentsOfPrincipal(tx, group)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return as
}

// roleOf returns the test's record of the role named name.
func (w *escWorld) roleOf(name string) catalogue.Role {
	for _, r := range slices.Concat(w.builtIn, w.custom) {
		if r.name == name {
			return r.role
		}
	}
	w.t.Fatalf("unknown role %s", name)
	return catalogue.Role{}
}

// mayChangeMembers is the oracle of CheckMembershipChange: the owner may;
// otherwise, for each of the group's assignments, the actor must manage
// access at its scope and, to add, hold each permission of its role there.
func (w *escWorld) mayChangeMembers(who, group string, add bool) bool {
	if who == w.owner {
		return true
	}
	for _, a := range w.groupAssignments(group) {
		sc := w.scopeOf[a.GetScope()]
		if !w.mayManage(who, sc) {
			return false
		}
		if add {
			for _, p := range w.roleOf(a.GetRole()).Permissions {
				if !w.holds(who, p, sc.name) {
					return false
				}
			}
		}
	}
	return true
}

// askMembership asks CheckMembershipChange as the directory does for who:
// a key's principal, naming the key.
func (w *escWorld) askMembership(who, group string, add bool) bool {
	a, key := w.domainActor(who), ""
	if k, ok := w.keys[who]; ok {
		a.Name, key = k.principal, who
	}
	resp, err := w.s.CheckMembershipChange(w.ctx, a, &accessv1.CheckMembershipChangeRequest{Group: group, Add: add, ApiKey: key})
	if err != nil {
		w.t.Fatalf("CheckMembershipChange: %v", err)
	}
	return resp.GetAllowed()
}

// caseMembership: an actor adds someone to (or removes someone from) a
// group holding roles; an allowed change is made, as the directory would.
func (w *escWorld) caseMembership() {
	who, group := w.actor(), w.groups[w.pick(len(w.groups))]
	member := w.targets[w.pick(3)]
	if w.pick(2) == 0 {
		member = w.actors[w.pick(len(w.actors))]
	}
	add := w.pick(5) != 0
	want := w.mayChangeMembers(who, group, add)
	got := w.askMembership(who, group, add)
	op := "membership.remove"
	if add {
		op = "membership.add"
	}
	w.count(op, got)
	if got != want {
		w.violate("%s %s %s in %s: allowed %v, oracle %v", who, op, member, group, got, want)
	}
	if got {
		w.setMember(group, member, add)
	}
}

// caseNewUser: an actor creates a user with groups; each membership is a
// grant the actor must be able to make.
func (w *escWorld) caseNewUser() {
	who := w.actor()
	name := fmt.Sprintf("%s/users/n%d", w.org, w.serial)
	w.serial++
	ev := w.user(name, directoryv1.User_STATE_ACTIVE, false, w.depts[0])
	ev.Type = eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_USER_CREATED)
	evs := []*eventlogv1.Event{ev}
	for range 1 + w.pick(3) {
		// The new member's rights do not enter the question: the
		// directory asks before it creates the user.
		group := w.groups[w.pick(len(w.groups))]
		want := w.mayChangeMembers(who, group, true)
		got := w.askMembership(who, group, true)
		w.count("newuser.group", got)
		if got != want {
			w.violate("%s creating %s in %s: allowed %v, oracle %v", who, name, group, got, want)
		}
		if got && !w.members[[2]string{group, name}] {
			evs = append(evs, dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED), group, &directoryv1.GroupMembership{Group: group, Member: name}))
			w.members[[2]string{group, name}] = true
		}
	}
	w.feed(evs...)
}

// randomPerms returns 1 to 6 permissions valid in a custom role of level
// and service type.
func (w *escWorld) randomPerms(level catalogue.Level, st string) []string {
	valid := w.validPerms[fmt.Sprint(level, "/", st)]
	var out []string
	for range 1 + w.pick(6) {
		p := valid[w.pick(len(valid))]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// createRole creates a custom role as actor; as a case (count), creating
// a role grants nothing: it must succeed, and change no decision.
func (w *escWorld) createRole(a Actor, count bool) {
	levels := []catalogue.Level{catalogue.LevelOrganization, catalogue.LevelTenant, catalogue.LevelService, catalogue.LevelFolder}
	level, st := levels[w.pick(len(levels))], ""
	if level >= catalogue.LevelService {
		st = []string{catalogue.ServiceTypeOrchestrator, "test-manager"}[w.pick(2)]
		if len(w.validPerms[fmt.Sprint(level, "/", st)]) == 0 {
			st = catalogue.ServiceTypeOrchestrator
		}
	}
	perms := w.randomPerms(level, st)
	id := fmt.Sprintf("c%d", w.rng.Uint64())
	probe := w.actors[w.pick(len(w.actors))]
	sc := w.anyScope()
	p := perms[0]
	before := w.holds(probe, p, sc.name)
	r, err := w.s.CreateRole(w.ctx, a, &accessv1.CreateRoleRequest{Parent: w.org, RoleId: id,
		Role: &accessv1.Role{DisplayName: id, Level: accessv1.Level(level), ServiceType: st, Permissions: perms}})
	if err != nil {
		w.t.Fatalf("CreateRole %s %v %s %q: %v", id, level, st, perms, err)
	}
	w.custom = append(w.custom, escRole{name: r.GetName(), role: catalogueRole(r)})
	if count {
		w.count("role.create", true)
		if w.holds(probe, p, sc.name) != before {
			w.violate("%s creating role %s changed whether %s holds %s at %s", a.Name, id, probe, p, sc.name)
		}
	}
}

// editRole replaces r's permissions as actor and returns the role as the
// store now has it; as a case (count) it checks the outcome against the
// oracle: a change of permissions needs the delegation limits at every
// scope the role is assigned at, and each added permission held there.
func (w *escWorld) editRole(a Actor, r escRole, count bool) escRole {
	next := slices.Clone(r.role.Permissions)
	switch w.pick(3) {
	case 0: // add
		next = append(next, w.randomPerms(r.role.Level, r.role.ServiceType)...)
	case 1: // remove
		if len(next) > 1 {
			next = slices.Delete(next, 0, 1+w.pick(len(next)-1))
		}
	default: // replace
		next = w.randomPerms(r.role.Level, r.role.ServiceType)
	}
	slices.Sort(next)
	next = slices.Compact(next)
	var added []string
	for _, p := range next {
		if !slices.Contains(r.role.Permissions, p) {
			added = append(added, p)
		}
	}
	changed := len(added) > 0 || len(next) != len(r.role.Permissions)
	want := true
	if changed && !a.IsService() {
		var scopes []string
		err := w.s.view(w.ctx, func(tx store.ReadTx) error {
			as, err := assignmentsOfRole(tx, r.name)
			for _, x := range as {
				scopes = append(scopes, x.GetScope())
			}
			return err
		})
		if err != nil {
			w.t.Fatal(err)
		}
		for _, sc := range scopes {
			if !w.mayManage(a.Name, w.scopeOf[sc]) {
				want = false
			}
			for _, p := range added {
				if !w.holds(a.Name, p, sc) {
					want = false
				}
			}
		}
	}
	out, err := w.s.UpdateRole(w.ctx, a, &accessv1.UpdateRoleRequest{
		Role:       &accessv1.Role{Name: r.name, Permissions: next},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}},
	})
	if count {
		w.count("role.edit", err == nil)
		if (err == nil) != want {
			w.violate("%s editing role %s (%q -> %q): err %v, oracle allows %v", a.Name, r.name, r.role.Permissions, next, err, want)
		}
	} else if err != nil {
		w.t.Fatalf("service editing role %s: %v", r.name, err)
	}
	if err != nil {
		return r
	}
	return escRole{name: r.name, role: catalogueRole(out)}
}

// caseEditRole: an actor edits a custom role's permissions.
func (w *escWorld) caseEditRole() {
	if len(w.custom) == 0 {
		return
	}
	i := w.pick(len(w.custom))
	w.custom[i] = w.editRole(w.domainActor(w.actor()), w.custom[i], true)
}

// creatorFor is the creator the directory records on a key of principal
// made by who (C4): the user, or the key it called with, or for a
// rotation that key's creator.
func (w *escWorld) creatorFor(who, principal string) string {
	k, ok := w.keys[who]
	if !ok {
		return who
	}
	if k.principal == principal && k.creator != "" {
		return k.creator
	}
	return who
}

// caseKey: an actor creates an API key for a robot account, whose roles
// then grow (a role the owner assigns, or a group it joins); the key must
// hold exactly what its robot account and its creator both hold — never
// what its creator lacks. Now and then a key is revoked, with the keys it
// made for other principals, as the directory does.
func (w *escWorld) caseKey() {
	who, ra := w.actor(), w.robots[w.pick(len(w.robots))]
	name := fmt.Sprintf("%s/apiKeys/k%d", ra, w.rng.Uint64())
	creator := w.creatorFor(who, ra)
	w.feed(dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED), name, &directoryv1.ApiKey{Name: name, DisplayName: "k", Creator: creator}))
	w.keys[name] = escKey{principal: ra, creator: creator}
	w.keyNames = append(w.keyNames, name)

	// The principal grows.
	if w.pick(2) == 0 {
		sc := w.anyScope()
		if r, ok := w.placeable(sc); ok {
			w.grantAsService(ra, r, sc)
		}
	} else {
		w.setMember(w.groups[w.pick(len(w.groups))], ra, true)
	}
	ok := true
	for range 8 {
		sc := w.anyScope()
		p := catalogue.PermissionAt(w.pick(catalogue.NumPermissions())).Name
		w.checks++
		got := w.s.model.Check(name, p, sc.name).Allowed
		if got != w.holds(name, p, sc.name) {
			ok = false
			w.violate("key %s (of %s, made by %s) holds %s at %s: %v, oracle %v", name, ra, creator, p, sc.name, got, !got)
		}
		if got && !w.holds(creator, p, sc.name) {
			ok = false
			w.violate("key %s holds %s at %s, which its creator %s lacks", name, p, sc.name, creator)
		}
	}
	w.count("key", ok)
	if w.pick(8) == 0 {
		w.revokeKey(w.keyNames[w.pick(len(w.keyNames))])
	}
}

// revokeKey revokes key and, recursively, the keys it made, as the
// directory does.
func (w *escWorld) revokeKey(key string) {
	if _, ok := w.keys[key]; !ok {
		return
	}
	w.feed(dtEvent(w.t, eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED), key, &directoryv1.ApiKey{Name: key}))
	delete(w.keys, key)
	w.keyNames = slices.DeleteFunc(w.keyNames, func(k string) bool { return k == key })
	for _, k := range slices.Clone(w.keyNames) {
		if w.keys[k].creator == key {
			w.revokeKey(k)
		}
	}
}

// caseMoveUser: moving a user to another department (the directory's only
// move) changes none of its rights.
func (w *escWorld) caseMoveUser() {
	u := w.actors[w.pick(len(w.actors))]
	type probe struct{ p, scope string }
	probes := make([]probe, 16)
	before := make([]bool, len(probes))
	for i := range probes {
		probes[i] = probe{catalogue.PermissionAt(w.pick(catalogue.NumPermissions())).Name, w.anyScope().name}
		before[i] = w.holds(u, probes[i].p, probes[i].scope)
	}
	state := directoryv1.User_STATE_ACTIVE
	if w.inactive[u] {
		state = directoryv1.User_STATE_INACTIVE
	}
	w.feed(w.user(u, state, false, w.depts[w.pick(len(w.depts))]))
	same := true
	for i, pr := range probes {
		if w.holds(u, pr.p, pr.scope) != before[i] {
			same = false
			w.violate("moving %s to another department changed whether it holds %s at %s", u, pr.p, pr.scope)
		}
	}
	w.count("move", same)
}
