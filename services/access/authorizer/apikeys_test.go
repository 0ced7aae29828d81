package authorizer

import (
	"strings"
	"testing"
)

// keyFixture is an organization with a powerful robot account (Organization
// Administrator), a modest user ann (Organization User: dashboard.view),
// an inactive user and a service administrator bob, and their keys.
func keyFixture(t *testing.T) *Model {
	t.Helper()
	m := fixture{
		scopes: []Scope{{Name: o1}, {Name: t1}, {Name: s1, ServiceType: "orchestrator"}},
		principals: []Principal{
			{ID: "robot", Kind: KindRobot, Status: StatusActive, Organization: o1},
			{ID: "app", Kind: KindExternalApp, Status: StatusActive, Organization: o1},
			user("ann"), user("bob"),
			{ID: "gone", Kind: KindUser, Status: StatusInactive, Organization: o1},
		},
		assignments: []Assignment{
			{ID: "a1", Principal: "robot", Role: "organization-administrator", Scope: o1},
			{ID: "a2", Principal: "ann", Role: "user", Scope: o1},
			{ID: "a3", Principal: "gone", Role: "organization-administrator", Scope: o1},
			{ID: "a4", Principal: "bob", Role: "orchestrator-administrator", Scope: s1},
			{ID: "a5", Principal: "robot", Role: "orchestrator-administrator", Scope: s1},
			{ID: "a6", Principal: "app", Role: "user", Scope: o1},
		},
	}.build(t)
	for _, k := range []APIKey{
		{ID: "robot/apiKeys/ann", Principal: "robot", Creator: "ann"},
		{ID: "robot/apiKeys/gone", Principal: "robot", Creator: "gone"},
		{ID: "robot/apiKeys/deleted", Principal: "robot", Creator: "nobody"},
		{ID: "robot/apiKeys/service", Principal: "robot"},
		{ID: "robot/apiKeys/bob", Principal: "robot", Creator: "bob"},
		{ID: "app/apiKeys/viaBob", Principal: "app", Creator: "robot/apiKeys/bob"},
		{ID: "app/apiKeys/viaRevoked", Principal: "app", Creator: "robot/apiKeys/revoked"},
	} {
		if err := m.UpsertAPIKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestAPIKeyCheck (C4): a key holds a permission only where its principal
// and its creator (a principal, or a key, recursively) both hold it; an
// inactive, deleted or unknown creator leaves it nothing; a key without a
// creator (a service made it) holds what its principal holds.
func TestAPIKeyCheck(t *testing.T) {
	m := keyFixture(t)
	for _, c := range []struct {
		key, perm, scope string
		allowed          bool
		reason           string
	}{
		{"robot/apiKeys/ann", "dashboard.view", o1, true, "to API key robot/apiKeys/ann (its creator holds it too)"},
		{"robot/apiKeys/ann", "users.create", o1, false, "denied: API key robot/apiKeys/ann holds only what its creator ann holds, and no role assignment grants users.create"},
		{"robot/apiKeys/ann", "orchestrator.jobs.view", s1, false, "its creator ann"},
		{"robot/apiKeys/gone", "dashboard.view", o1, false, `its creator gone holds, and principal "gone" is not active`},
		{"robot/apiKeys/deleted", "dashboard.view", o1, false, `unknown principal "nobody"`},
		{"robot/apiKeys/service", "users.create", o1, true, ""},
		{"robot/apiKeys/bob", "orchestrator.jobs.view", s1, true, ""},
		{"robot/apiKeys/bob", "users.view", o1, false, "its creator bob"},
		// A key made with a key: the app, bob's key (the robot and bob).
		{"app/apiKeys/viaBob", "dashboard.view", o1, false, "its creator bob holds"},
		{"app/apiKeys/viaRevoked", "dashboard.view", o1, false, `unknown principal "robot/apiKeys/revoked"`},
		// The principal decides first.
		{"app/apiKeys/viaBob", "users.create", o1, false, "no role assignment grants users.create at organizations/o1 to app (API key app/apiKeys/viaBob)"},
		{"robot/apiKeys/unknown", "dashboard.view", o1, false, "unknown principal"},
	} {
		d := m.Check(c.key, c.perm, c.scope)
		if d.Allowed != c.allowed || !strings.Contains(d.Reason(), c.reason) {
			t.Errorf("Check(%s, %s, %s) = %v %q, want %v containing %q", c.key, c.perm, c.scope, d.Allowed, d.Reason(), c.allowed, c.reason)
		}
	}
	// Batch answers alike.
	ds := m.CheckBatch([]CheckItem{{"robot/apiKeys/ann", "users.create", o1}, {"robot/apiKeys/service", "users.create", o1}}, nil)
	if ds[0].Allowed || !ds[1].Allowed {
		t.Errorf("CheckBatch = %v", ds)
	}
}

// TestAPIKeyFollowsNow: the intersection is evaluated at each check: the
// robot's later roles do not reach the key unless its creator holds them;
// a creator deactivated suspends the key, reactivated resumes it; a deleted
// key holds nothing, nor do the keys it created.
func TestAPIKeyFollowsNow(t *testing.T) {
	m := keyFixture(t)
	const k = "robot/apiKeys/ann"
	if err := m.UpsertAssignment(Assignment{ID: "grow", Principal: "robot", Role: "tenant-administrator", Scope: t1}); err != nil {
		t.Fatal(err)
	}
	if !m.Check("robot", "tenant.users.edit", t1).Allowed || m.Check(k, "tenant.users.edit", t1).Allowed {
		t.Fatal("the robot's new role reached ann's key")
	}
	if err := m.UpsertAssignment(Assignment{ID: "grow-ann", Principal: "ann", Role: "tenant-administrator", Scope: t1}); err != nil {
		t.Fatal(err)
	}
	if !m.Check(k, "tenant.users.edit", t1).Allowed {
		t.Fatal("held by both, denied to the key")
	}
	ann := user("ann")
	ann.Status = StatusInactive
	if err := m.UpsertPrincipal(ann); err != nil {
		t.Fatal(err)
	}
	if m.Check(k, "dashboard.view", o1).Allowed {
		t.Fatal("ann deactivated, her key still allowed")
	}
	ann.Status = StatusActive
	if err := m.UpsertPrincipal(ann); err != nil {
		t.Fatal(err)
	}
	if !m.Check(k, "dashboard.view", o1).Allowed {
		t.Fatal("ann reactivated, her key still denied")
	}
	m.DeleteAPIKey("robot/apiKeys/bob")
	if _, ok := m.LookupAPIKey("robot/apiKeys/bob"); ok {
		t.Fatal("deleted key still looked up")
	}
	if m.Check("robot/apiKeys/bob", "orchestrator.jobs.view", s1).Allowed {
		t.Fatal("deleted key allowed")
	}
	if d := m.Check("app/apiKeys/viaBob", "dashboard.view", o1); d.Allowed || !strings.Contains(d.Reason(), `unknown principal "robot/apiKeys/bob"`) {
		t.Fatalf("key made with a deleted key: %v %s", d.Allowed, d.Reason())
	}
	m.DeleteAPIKey("never-there")
	if err := m.UpsertAPIKey(APIKey{ID: "x"}); err == nil {
		t.Fatal("key without principal accepted")
	}
}

// TestAPIKeyChainBound: a chain of keys longer than maxKeyChain (or a
// loop, which the directory never makes) denies instead of recursing.
func TestAPIKeyChainBound(t *testing.T) {
	m := keyFixture(t)
	for _, k := range []APIKey{{ID: "loop/a", Principal: "robot", Creator: "loop/b"}, {ID: "loop/b", Principal: "robot", Creator: "loop/a"}} {
		if err := m.UpsertAPIKey(k); err != nil {
			t.Fatal(err)
		}
	}
	if d := m.Check("loop/a", "dashboard.view", o1); d.Allowed {
		t.Fatalf("a loop of keys allowed: %s", d.Reason())
	}
	// A key whose principal names a key does not resolve it.
	if err := m.UpsertAPIKey(APIKey{ID: "odd", Principal: "robot/apiKeys/service"}); err != nil {
		t.Fatal(err)
	}
	if m.Check("odd", "dashboard.view", o1).Allowed {
		t.Fatal("a key of a key allowed")
	}
}

// TestAPIKeyCheckDoesNotAllocate: keys keep Check allocation-free.
func TestAPIKeyCheckDoesNotAllocate(t *testing.T) {
	m := keyFixture(t)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = m.Check("robot/apiKeys/ann", "dashboard.view", o1)
		_ = m.Check("robot/apiKeys/ann", "users.create", o1)
		_ = m.Check("app/apiKeys/viaBob", "dashboard.view", o1)
	})
	if allocs != 0 {
		t.Errorf("Check of a key allocates %v times per run, want 0", allocs)
	}
}
