package authorizer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// t1x sorts between t1 and t1's children ("-" < "/"): name order is not the
// scope tree's pre-order.
const (
	t1x   = o1 + "/tenants/t1-x"
	t1xs1 = t1x + "/services/s1"
)

// reviewFixture is baseFixture with an inactive user in g-au, a robot in
// g-au, and the t1-x tenant.
func reviewFixture() fixture {
	f := baseFixture()
	f.scopes = append(f.scopes, Scope{Name: t1x}, Scope{Name: t1xs1, ServiceType: "orchestrator"})
	f.principals = append(f.principals,
		Principal{ID: "ivan", Kind: KindUser, Status: StatusInactive, Organization: o1},
		Principal{ID: "r2", Kind: KindRobot, Status: StatusActive, Organization: o1})
	f.memberships = append(f.memberships, Membership{Group: "g-au", Member: "ivan"}, Membership{Group: "g-au", Member: "r2"})
	f.assignments = append(f.assignments,
		Assignment{ID: "a-bob-t1x", Principal: "bob", Role: catalogue.RoleFolderAdministrator, Scope: t1xs1},
		Assignment{ID: "a-bob-s1", Principal: "bob", Role: "jobs-viewer", Scope: s1})
	return f
}

// holderLines renders holders as "id status source..." with each source as
// "assignment@scope" or "assignment@scope/group".
func holderLines(hs []Holder) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Principal.ID+" "+h.Principal.Status.String()+" "+sourceList(h.Sources))
	}
	return out
}

func sourceList(src []HoldingSource) string {
	var parts []string
	for _, s := range src {
		p := s.Assignment + "@" + s.Scope
		if s.Group != "" {
			p += "/" + s.Group
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}

// TestHolders checks "who can do P at S" (issue 14, R13–R16) on the review
// fixture: explicit, through a group, through Everyone, inactive principals
// listed apart, an inactive group granting nothing, other organizations,
// deleted principals.
func TestHolders(t *testing.T) {
	m := reviewFixture().build(t)
	tests := []struct {
		name, permission, scope string
		want                    []string
	}{
		{"explicit, group, robot, inactive via active group", "orchestrator.jobs.view", s1f1, []string{
			"bob active a-bob@" + s1f1 + ",a-bob-s1@" + s1,
			"carol active a-au@" + s1 + "/g-au",
			"frank active a-frank@" + t1,
			"ivan inactive a-au@" + s1 + "/g-au",
			"r1 active a-r1@" + s1,
			"r2 active a-au@" + s1 + "/g-au",
		}},
		{"external app at its folder only", "orchestrator.jobs.view", s1f3, []string{
			"bob active a-bob-s1@" + s1,
			"carol active a-au@" + s1 + "/g-au",
			"frank active a-frank@" + t1,
			"ivan inactive a-au@" + s1 + "/g-au",
			"r1 active a-r1@" + s1,
			"r2 active a-au@" + s1 + "/g-au",
			"x1 active a-x1@" + s1f3,
		}},
		{"Everyone expands to the organization's users, robots excepted", "users.view", o1, []string{
			"alice active a-alice@" + o1 + ",a-every@" + o1 + "/g-everyone",
			"bob active a-every@" + o1 + "/g-everyone",
			"carol active a-every@" + o1 + "/g-everyone",
			"dave inactive a-dave@" + o1 + ",a-every@" + o1 + "/g-everyone",
			"frank active a-every@" + o1 + "/g-everyone",
			"gina active a-every@" + o1 + "/g-everyone",
			"ivan inactive a-every@" + o1 + "/g-everyone",
		}},
		{"inactive group g-off grants gina nothing", "tenant.users.view", t1, []string{
			"frank active a-frank@" + t1,
		}},
		{"group at a service, resource below a known scope", "orchestrator.robots.edit", t10s1f1 + "/jobs/j1", []string{
			"gina active a-admins@" + t10s1 + "/g-admins",
		}},
		{"other organization", "users.view", o2, nil},
		{"scope of an unknown organization", "users.view", "organizations/o9/tenants/t1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, more, err := m.Holders(tc.permission, tc.scope, "", 0)
			if err != nil || more {
				t.Fatalf("Holders = %v, %v", more, err)
			}
			if got := holderLines(page); !slices.Equal(got, tc.want) {
				t.Errorf("Holders(%s, %s):\n got %q\nwant %q", tc.permission, tc.scope, got, tc.want)
			}
		})
	}

	// A deleted principal is never listed; deleting a group drops what its
	// members held through it.
	m.DeletePrincipal("bob")
	m.DeletePrincipal("g-au")
	page, _, _ := m.Holders("orchestrator.jobs.view", s1f1, "", 0)
	want := []string{"frank active a-frank@" + t1, "r1 active a-r1@" + s1}
	if got := holderLines(page); !slices.Equal(got, want) {
		t.Errorf("after deletions: got %q, want %q", got, want)
	}
	if _, _, err := m.Holders("users.launch", o1, "", 0); !errors.Is(err, ErrUnknownPermission) {
		t.Errorf("unknown permission: %v", err)
	}
	if _, _, err := m.Holders("users.view", "organizations/o1/tenants", "", 0); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("invalid scope: %v", err)
	}
}

// TestHoldersPaging checks that pages of Holders (issue 14, R15) follow
// each other by principal ID, inactive principals in the same pages.
func TestHoldersPaging(t *testing.T) {
	m := reviewFixture().build(t)
	all, _, _ := m.Holders("users.view", o1, "", 0)
	tests := []struct {
		after string
		limit int
		want  []string
		more  bool
	}{
		{"", 2, []string{"alice", "bob"}, true},
		{"bob", 2, []string{"carol", "dave"}, true},
		{"dave", 3, []string{"frank", "gina", "ivan"}, false},
		{"d", 1, []string{"dave"}, true},
		{"gina", 1, []string{"ivan"}, false},
		{"ivan", 5, nil, false},
		{"", len(all), ids(all), false},
	}
	for _, tc := range tests {
		page, more, err := m.Holders("users.view", o1, tc.after, tc.limit)
		if got := ids(page); err != nil || !slices.Equal(got, tc.want) || more != tc.more {
			t.Errorf("Holders after %q limit %d = %v, %v, %v; want %v, %v", tc.after, tc.limit, got, more, err, tc.want, tc.more)
		}
	}
}

func ids(hs []Holder) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Principal.ID)
	}
	return out
}

func scopeNames(ps []PermittedScope) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Scope.Name)
	}
	return out
}

// TestPermittedScopes checks "where can X do P" (issue 14, R13–R16): the
// known scopes of a subtree in name order, with their sources.
func TestPermittedScopes(t *testing.T) {
	m := reviewFixture().build(t)
	tests := []struct {
		name, principal, permission, root string
		want                              []string
	}{
		{"own grants inside root, name order across t1-x", "bob", "orchestrator.jobs.view", o1, []string{
			t1xs1 + " a-bob-t1x@" + t1xs1,
			s1 + " a-bob-s1@" + s1,
			s1f1 + " a-bob@" + s1f1 + ",a-bob-s1@" + s1,
			s1f1f2 + " a-bob@" + s1f1 + ",a-bob-s1@" + s1,
			s1f3 + " a-bob-s1@" + s1,
		}},
		{"grant above root holds in the whole subtree", "frank", "orchestrator.jobs.view", s1f1, []string{
			s1f1 + " a-frank@" + t1,
			s1f1f2 + " a-frank@" + t1,
		}},
		{"through a group", "carol", "orchestrator.jobs.view", t1, []string{
			s1 + " a-au@" + s1 + "/g-au",
			s1f1 + " a-au@" + s1 + "/g-au",
			s1f1f2 + " a-au@" + s1 + "/g-au",
			s1f3 + " a-au@" + s1 + "/g-au",
		}},
		{"through Everyone", "gina", "users.view", o1, []string{
			o1 + " a-every@" + o1 + "/g-everyone",
			t1 + " a-every@" + o1 + "/g-everyone",
			t1x + " a-every@" + o1 + "/g-everyone",
			t1xs1 + " a-every@" + o1 + "/g-everyone",
			s1 + " a-every@" + o1 + "/g-everyone",
			s1f1 + " a-every@" + o1 + "/g-everyone",
			s1f1f2 + " a-every@" + o1 + "/g-everyone",
			s1f3 + " a-every@" + o1 + "/g-everyone",
			t10 + " a-every@" + o1 + "/g-everyone",
			t10s1 + " a-every@" + o1 + "/g-everyone",
			t10s1f1 + " a-every@" + o1 + "/g-everyone",
		}},
		{"inactive group g-off grants nothing", "gina", "tenant.users.view", o1, nil},
		{"inactive principal holds nowhere", "dave", "users.view", o1, nil},
		{"other organization", "zoe", "users.view", o1, nil},
		{"unknown root", "alice", "users.view", o1 + "/tenants/t9", nil},
		{"root below every grant", "bob", "orchestrator.jobs.view", t10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, more, err := m.PermittedScopes(tc.principal, tc.permission, tc.root, "", 0)
			if err != nil || more {
				t.Fatalf("PermittedScopes = %v, %v", more, err)
			}
			var got []string
			for _, p := range page {
				got = append(got, p.Scope.Name+" "+sourceList(p.Sources))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("PermittedScopes(%s, %s, %s):\n got %q\nwant %q", tc.principal, tc.permission, tc.root, got, tc.want)
			}
		})
	}
	if _, _, err := m.PermittedScopes("nobody", "users.view", o1, "", 0); !errors.Is(err, ErrUnknownPrincipal) {
		t.Errorf("unknown principal: %v", err)
	}
	m.DeletePrincipal("bob")
	if _, _, err := m.PermittedScopes("bob", "users.view", o1, "", 0); !errors.Is(err, ErrUnknownPrincipal) {
		t.Errorf("deleted principal: %v", err)
	}
	if _, _, err := m.PermittedScopes("alice", "users.launch", o1, "", 0); !errors.Is(err, ErrUnknownPermission) {
		t.Errorf("unknown permission: %v", err)
	}
	if _, _, err := m.PermittedScopes("alice", "users.view", "tenants/t1", "", 0); !errors.Is(err, ErrInvalidScope) {
		t.Errorf("invalid root: %v", err)
	}
}

// TestPermittedScopesPaging checks pages of PermittedScopes (issue 14,
// R15) in name order, "t1-x" and its subtree between "t1" and "t1/...":
// the after bound must prune only subtrees whose names all come before it.
func TestPermittedScopesPaging(t *testing.T) {
	m := reviewFixture().build(t)
	tests := []struct {
		after string
		limit int
		want  []string
		more  bool
	}{
		{"", 2, []string{o1, t1}, true},
		{t1, 2, []string{t1x, t1xs1}, true},
		{t1xs1, 3, []string{s1, s1f1, s1f1f2}, true},
		{s1f1f2, 2, []string{s1f3, t10}, true},
		{o1 + "/tenants/t1-", 1, []string{t1x}, true},
		{o1 + "/tenants/t1-x/services/s0", 1, []string{t1xs1}, true},
		{o1 + "/tenants/t1.", 1, []string{s1}, true},
		{o1 + "/tenants/t1/services/s1/folders/f1/folders/f2/x", 1, []string{s1f3}, true},
		{o1 + "/tenants/t1/zzz", 1, []string{t10}, true},
		{t10s1, 5, []string{t10s1f1}, false},
		{t10s1f1, 5, nil, false},
	}
	for _, tc := range tests {
		page, more, err := m.PermittedScopes("gina", "users.view", o1, tc.after, tc.limit)
		if got := scopeNames(page); err != nil || !slices.Equal(got, tc.want) || more != tc.more {
			t.Errorf("PermittedScopes after %q limit %d = %v, %v, %v; want %v, %v", tc.after, tc.limit, got, more, err, tc.want, tc.more)
		}
	}
}

// TestPermittedScopesPrunes checks that PermittedScopes (issue 14) walks
// only the subtrees below the grants inside root, or root's whole subtree
// when a grant lies at root or above.
func TestPermittedScopesPrunes(t *testing.T) {
	m := reviewFixture().build(t)
	tests := []struct {
		principal, permission, root string
		starts                      []string
	}{
		{"bob", "orchestrator.jobs.view", o1, []string{t1xs1, s1}}, // s1f1 lies below s1
		{"bob", "orchestrator.jobs.view", s1f1, []string{s1f1}},
		{"carol", "orchestrator.jobs.view", t10, nil},
		{"gina", "users.view", t1, []string{t1}},
	}
	for _, tc := range tests {
		perm, _ := catalogue.PermissionIndex(tc.permission)
		m.mu.RLock()
		_, starts := m.grantsForLocked(m.principalIdx[tc.principal], perm, m.scopeIdx[tc.root])
		var got []string
		for _, s := range starts {
			got = append(got, m.scopes[s].name)
		}
		m.mu.RUnlock()
		slices.Sort(got)
		if !slices.Equal(got, tc.starts) {
			t.Errorf("%s %s under %s: walks %q, want %q", tc.principal, tc.permission, tc.root, got, tc.starts)
		}
	}
}

// TestSubtreeAtMost checks the after bound on a subtree's names.
func TestSubtreeAtMost(t *testing.T) {
	tests := []struct {
		s, after string
		want     bool
	}{
		{"a/b", "", false},
		{"a/b", "a/b", false},
		{"a/b", "a/b/c", false},
		{"a/b", "a/b-", false},
		{"a/b", "a/b0", true},
		{"a/b", "a/c", true},
		{"a/b", "a/a", false},
		{"a/b", "a", false},
	}
	for _, tc := range tests {
		if got := subtreeAtMost(tc.s, tc.after); got != tc.want {
			t.Errorf("subtreeAtMost(%q, %q) = %v", tc.s, tc.after, got)
		}
	}
}

// reviewWorld is a random model for TestReviewMatchesCheck: its principal
// IDs (upserted, deleted and never upserted), scope names (known,
// placeholders, and names below them the model never saw) and
// permissions.
type reviewWorld struct {
	principals, scopes, perms []string
}

// randomReviewModel builds a random model: two organizations with scope
// trees to depth 4 below them, users, robots, external apps and groups of
// random statuses, an Everyone group each, random (also cross-organization)
// memberships, custom roles, assignments, then random deletions. With
// load, the first upserts go through a Loader.
func randomReviewModel(t *testing.T, rng *rand.Rand, load bool) (*Model, reviewWorld) {
	t.Helper()
	var w reviewWorld
	var scopes []Scope
	var principals []Principal
	var memberships []Membership
	var assignments []Assignment
	for _, org := range []string{"organizations/o1", "organizations/o2"} {
		var tree []string
		tree = append(tree, org)
		for _, tn := range []string{"t1", "t1-x", "t10"}[:1+rng.IntN(3)] {
			tenant := org + "/tenants/" + tn
			tree = append(tree, tenant)
			for s := range 1 + rng.IntN(2) {
				svc := fmt.Sprintf("%s/services/s%d", tenant, s)
				tree = append(tree, svc)
				for f := range rng.IntN(3) {
					folder := fmt.Sprintf("%s/folders/f%d", svc, f)
					tree = append(tree, folder)
					for g := range rng.IntN(3) {
						tree = append(tree, fmt.Sprintf("%s/folders/f%d", folder, g))
					}
				}
			}
		}
		for _, s := range tree {
			if rng.IntN(8) > 0 {
				scopes = append(scopes, Scope{Name: s, DisplayName: "d"})
			}
		}
		w.scopes = append(w.scopes, tree...)
		w.scopes = append(w.scopes, tree[len(tree)-1]+"/folders/ghost", tree[len(tree)-1]+"/jobs/j1")
		kinds := []PrincipalKind{KindUser, KindUser, KindUser, KindUser, KindRobot, KindExternalApp, KindGroup, KindGroup, KindGroup, KindUnspecified}
		for k, kind := range kinds {
			p := Principal{ID: fmt.Sprintf("%s/p%d", org, k), Kind: kind, Organization: org, DisplayName: "n"}
			p.Status = []Status{StatusActive, StatusActive, StatusActive, StatusInactive, StatusDeleted, StatusUnspecified}[rng.IntN(6)]
			principals = append(principals, p)
		}
		everyone := Principal{ID: org + "/everyone", Kind: KindGroup, Status: StatusActive, Organization: org, Everyone: true}
		if rng.IntN(5) == 0 {
			everyone.Status = StatusInactive
		}
		principals = append(principals, everyone)
	}
	principals = append(principals, Principal{ID: "orgless", Kind: KindUser, Status: StatusActive})
	var groups []string
	for _, p := range principals {
		w.principals = append(w.principals, p.ID)
		if p.Kind == KindGroup {
			groups = append(groups, p.ID)
		}
	}
	w.principals = append(w.principals, "ghost")
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	w.perms = []string{"orchestrator.jobs.view", "orchestrator.jobs.delete", "users.view", "users.edit", "tenant.users.edit", "dashboard.view"}
	// Custom roles hold a random nonempty part of some permissions of their
	// level.
	somePerms := func(from ...string) []string {
		n := 1 + rng.IntN(len(from))
		rng.Shuffle(len(from), func(i, j int) { from[i], from[j] = from[j], from[i] })
		return from[:n]
	}
	roles := []catalogue.Role{
		{ID: "custom-a", Name: "A", Level: catalogue.LevelFolder, ServiceType: "orchestrator",
			Permissions: somePerms("orchestrator.jobs.view", "orchestrator.jobs.delete")},
		{ID: "custom-b", Name: "B", Level: catalogue.LevelOrganization, Permissions: somePerms("users.view", "users.edit", "dashboard.view")},
	}
	roleIDs := []string{catalogue.RoleOrganizationAdministrator, catalogue.RoleTenantAdministrator, catalogue.RoleFolderAdministrator,
		catalogue.RoleAutomationUser, catalogue.RoleUser, catalogue.RoleRobot, "custom-a", "custom-b", "custom-none"}
	for range 30 {
		ms := Membership{Group: pick(groups), Member: pick(w.principals)}
		if rng.IntN(5) == 0 {
			ms.Group = pick(w.principals)
		}
		memberships = append(memberships, ms)
	}
	for k := range 30 + rng.IntN(30) {
		assignments = append(assignments, Assignment{ID: fmt.Sprintf("organizations/o1/roleAssignments/a%d", k),
			Principal: pick(w.principals), Role: pick(roleIDs), Scope: pick(w.scopes), BuiltIn: rng.IntN(3) == 0})
	}
	m := fixture{roles: roles}.build(t)
	if load {
		err := m.Load(func(l *Loader) error {
			for _, s := range scopes {
				if err := l.UpsertScope(s); err != nil {
					return err
				}
			}
			for _, p := range principals {
				if err := l.UpsertPrincipal(p); err != nil {
					return err
				}
			}
			for _, ms := range memberships {
				if err := l.UpsertMembership([]byte(ms.Group), []byte(ms.Member)); err != nil {
					return err
				}
			}
			for _, a := range assignments {
				if err := l.UpsertAssignment([]byte(a.ID), []byte(a.Principal), []byte(a.Role), []byte(a.Scope), a.BuiltIn); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		m = fixture{scopes: scopes, principals: principals, memberships: memberships, roles: roles, assignments: assignments}.build(t)
	}
	for range rng.IntN(8) {
		switch rng.IntN(6) {
		case 0:
			m.DeletePrincipal(pick(w.principals))
		case 1:
			m.DeleteMembership(memberships[rng.IntN(len(memberships))])
		case 2:
			m.DeleteAssignment(assignments[rng.IntN(len(assignments))].ID)
		case 3:
			m.DeleteScope(pick(w.scopes))
		case 4:
			if err := m.DeleteRole(pick([]string{"custom-a", "custom-b"})); err != nil {
				t.Fatal(err)
			}
		default:
			// A deleted principal comes back, without its memberships.
			p := principals[rng.IntN(len(principals))]
			m.DeletePrincipal(p.ID)
			if err := m.UpsertPrincipal(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m, w
}

// wouldAllow returns Check's decision for principal, as if it were active
// when it is inactive, and the (assignment, group) pairs Explain gives as
// its sources, sorted. It flips an inactive principal's status for the
// question and back.
func wouldAllow(t *testing.T, m *Model, principal, permission, scope string) (bool, []string) {
	t.Helper()
	if p, ok := m.LookupPrincipal(principal); ok && p.Status == StatusInactive {
		active := p
		active.Status = StatusActive
		if err := m.UpsertPrincipal(active); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := m.UpsertPrincipal(p); err != nil {
				t.Fatal(err)
			}
		}()
	}
	d := m.Check(principal, permission, scope)
	var sources []string
	if ex, err := m.Explain(principal, scope, false); err == nil {
		for _, ep := range ex.Permissions {
			if ep.Permission != permission {
				continue
			}
			for _, k := range ep.Sources {
				sources = append(sources, ex.Roles[k].Assignment+"/"+ex.Roles[k].Group)
			}
		}
	}
	slices.Sort(sources)
	return d.Allowed, sources
}

// sourcePairs returns the (assignment, group) pairs of sources, sorted.
func sourcePairs(src []HoldingSource) []string {
	var out []string
	for _, s := range src {
		out = append(out, s.Assignment+"/"+s.Group)
	}
	slices.Sort(out)
	return out
}

// TestReviewMatchesCheck is issue 14's property test of the access review
// against the decision procedure (R13–R16), on several hundred random
// models (fixed seeds): for every principal of the world and random
// permissions and scopes,
//   - it is among Holders, active, iff Check allows it;
//   - it is among Holders, inactive, iff it is StatusInactive and Check
//     would allow it were it active;
//   - PermittedScopes(principal, permission, root) are exactly the known
//     scopes s under root where Check(principal, permission, s) allows;
//   - the sources of each are the sources Explain gives, in holdingOrder;
//   - pages concatenated (by after, random limits) are the unpaged answer.
func TestReviewMatchesCheck(t *testing.T) {
	models := 300
	if testing.Short() {
		models = 50
	}
	var n reviewTally
	for seed := range uint64(models) {
		rng := rand.New(rand.NewPCG(seed, 14))
		m, w := randomReviewModel(t, rng, seed%2 == 0)
		checkInvariants(t, m)
		for range 10 {
			checkHolders(t, m, w, w.perms[rng.IntN(len(w.perms))], w.scopes[rng.IntN(len(w.scopes))], 1+rng.IntN(3), &n)
		}
		for _, principal := range w.principals {
			root := w.scopes[rng.IntN(len(w.scopes))]
			if rng.IntN(3) == 0 {
				root = resourcename.OrganizationOf(root)
			}
			checkPermittedScopes(t, m, w, principal, w.perms[rng.IntN(len(w.perms))], root, 1+rng.IntN(3), &n)
		}
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
	t.Logf("%+v", n)
	if n.active == 0 || n.inactive == 0 || n.everyone == 0 || n.group == 0 || n.pagedHolders == 0 || n.scopes == 0 || n.pagedScopes == 0 {
		t.Errorf("the random models no longer reach every case: %+v", n)
	}
}

// reviewTally counts what TestReviewMatchesCheck saw: holders listed
// active and inactive, sources through a group and through Everyone,
// permitted scopes, and answers of more than one page.
type reviewTally struct {
	active, inactive, group, everyone, pagedHolders, scopes, pagedScopes int
}

// checkHolders checks Holders(permission, scope) against Check and Explain
// for every principal of w, and its pages of limit against the whole.
func checkHolders(t *testing.T, m *Model, w reviewWorld, permission, scope string, limit int, n *reviewTally) {
	t.Helper()
	all, more, err := m.Holders(permission, scope, "", 0)
	if err != nil || more {
		t.Fatalf("Holders(%s, %s) = %v, %v", permission, scope, more, err)
	}
	listed := map[string]Holder{}
	for _, h := range all {
		listed[h.Principal.ID] = h
	}
	if len(listed) != len(all) || !slices.IsSorted(ids(all)) {
		t.Errorf("Holders(%s, %s) not unique and in order: %v", permission, scope, ids(all))
	}
	for _, id := range w.principals {
		p, known := m.LookupPrincipal(id)
		h, in := listed[id]
		allowed := m.Check(id, permission, scope).Allowed
		would, sources := wouldAllow(t, m, id, permission, scope)
		holdable := known && (p.Kind == KindUser || p.Kind == KindRobot || p.Kind == KindExternalApp)
		switch {
		case holdable && p.Status == StatusActive:
			if in != allowed {
				t.Errorf("Holders(%s, %s) lists active %s: %v; Check allows: %v", permission, scope, id, in, allowed)
			}
		case holdable && p.Status == StatusInactive:
			if in != would {
				t.Errorf("Holders(%s, %s) lists inactive %s: %v; Check would allow: %v", permission, scope, id, in, would)
			}
		case in:
			t.Errorf("Holders(%s, %s) lists %s (%+v, known %v)", permission, scope, id, p, known)
		}
		if !in {
			continue
		}
		if h.Principal != p {
			t.Errorf("Holders(%s, %s): principal %+v, want %+v", permission, scope, h.Principal, p)
		}
		if p.Status == StatusActive {
			n.active++
		} else {
			n.inactive++
		}
		for _, s := range h.Sources {
			if strings.HasSuffix(s.Group, "/everyone") {
				n.everyone++
			} else if s.Group != "" {
				n.group++
			}
		}
		if got := sourcePairs(h.Sources); !slices.Equal(got, sources) || !slices.IsSortedFunc(h.Sources, holdingOrder) {
			t.Errorf("Holders(%s, %s) sources of %s: %q, Explain gives %q", permission, scope, id, sourceList(h.Sources), sources)
		}
	}
	var paged []Holder
	for after := ""; ; {
		page, more, err := m.Holders(permission, scope, after, limit)
		if err != nil || len(page) > limit || more && len(page) < limit {
			t.Fatalf("Holders(%s, %s, %q, %d) = %d, %v, %v", permission, scope, after, limit, len(page), more, err)
		}
		paged = append(paged, page...)
		if !more {
			break
		}
		after = page[len(page)-1].Principal.ID
		n.pagedHolders++
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("Holders(%s, %s) by pages of %d: %v, unpaged %v", permission, scope, limit, ids(paged), ids(all))
	}
}

// checkPermittedScopes checks PermittedScopes(principal, permission, root)
// against Check and Explain at every known scope of w, and its pages of
// limit against the whole.
func checkPermittedScopes(t *testing.T, m *Model, w reviewWorld, principal, permission, root string, limit int, n *reviewTally) {
	t.Helper()
	all, more, err := m.PermittedScopes(principal, permission, root, "", 0)
	if _, known := m.LookupPrincipal(principal); !known {
		if !errors.Is(err, ErrUnknownPrincipal) {
			t.Errorf("PermittedScopes(%s) of an unknown principal: %v", principal, err)
		}
		return
	}
	if err != nil || more {
		t.Fatalf("PermittedScopes(%s, %s, %s) = %v, %v", principal, permission, root, more, err)
	}
	var want []string
	for _, s := range w.scopes {
		if _, _, known := m.LookupScope(s); known && resourcename.IsAncestorOrSelf(root, s) && m.Check(principal, permission, s).Allowed {
			want = append(want, s)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	if got := scopeNames(all); !slices.Equal(got, want) {
		t.Errorf("PermittedScopes(%s, %s, %s) = %q; Check allows at %q", principal, permission, root, got, want)
		return
	}
	n.scopes += len(all)
	for _, ps := range all {
		_, sources := wouldAllow(t, m, principal, permission, ps.Scope.Name)
		if got := sourcePairs(ps.Sources); !slices.Equal(got, sources) || !slices.IsSortedFunc(ps.Sources, holdingOrder) {
			t.Errorf("PermittedScopes(%s, %s, %s) sources at %s: %q, Explain gives %q", principal, permission, root, ps.Scope.Name, sourceList(ps.Sources), sources)
		}
	}
	var paged []PermittedScope
	for after := ""; ; {
		page, more, err := m.PermittedScopes(principal, permission, root, after, limit)
		if err != nil || len(page) > limit || more && len(page) < limit {
			t.Fatalf("PermittedScopes(%s, %s, %s, %q, %d) = %d, %v, %v", principal, permission, root, after, limit, len(page), more, err)
		}
		paged = append(paged, page...)
		if !more {
			break
		}
		after = page[len(page)-1].Scope.Name
		n.pagedScopes++
	}
	if fmt.Sprint(paged) != fmt.Sprint(all) {
		t.Errorf("PermittedScopes(%s, %s, %s) by pages of %d: %q, unpaged %q", principal, permission, root, limit, scopeNames(paged), scopeNames(all))
	}
}
