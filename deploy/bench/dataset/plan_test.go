package dataset

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestGenerateSmall(t *testing.T) {
	p, err := Generate(Small)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Generate(Small)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, again) {
		t.Fatal("two plans of the same spec differ")
	}
	if p.FolderCount() != Small.Folders || len(p.FolderLevels) != Small.Depth || len(p.Users) != Small.Users || len(p.Groups) != Small.Groups {
		t.Errorf("plan has %d folders in %d levels, %d users, %d groups; want %+v", p.FolderCount(), len(p.FolderLevels), len(p.Users), len(p.Groups), Small)
	}
	for d, level := range p.FolderLevels {
		for _, f := range level {
			if got := strings.Count(f, "/folders/"); got != d+1 {
				t.Fatalf("folder %s at level %d has depth %d", f, d, got)
			}
		}
	}
	groups := make(map[string]int)
	for _, m := range p.Memberships {
		groups[m.User]++
	}
	for _, u := range p.Users {
		if n := groups[u]; n < Small.MinGroups || n > Small.MaxGroups {
			t.Errorf("%s is in %d groups, want %d to %d", u, n, Small.MinGroups, Small.MaxGroups)
		}
	}
	seen := make(map[Assignment]bool)
	for _, a := range p.Assignments {
		if seen[a] {
			t.Errorf("assignment %+v twice", a)
		}
		seen[a] = true
	}
	if len(p.Assignments) != Small.Assignments {
		t.Errorf("%d assignments, want %d", len(p.Assignments), Small.Assignments)
	}
}

func TestProbes(t *testing.T) {
	p, err := Generate(Small)
	if err != nil {
		t.Fatal(err)
	}
	// Only the custom runner grants: every allowed probe must be
	// explained by a runner assignment of the user or one of its groups.
	runner := p.Organization + "/roles/bench-runner"
	probes, err := p.Probes(50, func(role string) bool { return role == runner })
	if err != nil {
		t.Fatal(err)
	}
	groups := make(map[string][]string)
	for _, m := range p.Memberships {
		groups[m.User] = append(groups[m.User], m.Group)
	}
	for i, pr := range probes {
		if pr.Allowed != (i%2 == 0) || strings.Count(pr.Scope, "/folders/") != ProbeDepth {
			t.Fatalf("probe %d = %+v", i, pr)
		}
		explained := false
		for _, a := range p.Assignments {
			holder := a.Principal == pr.Principal
			for _, g := range groups[pr.Principal] {
				holder = holder || a.Principal == g
			}
			if holder && a.Role == runner && (pr.Scope == a.Scope || strings.HasPrefix(pr.Scope, a.Scope+"/")) {
				explained = true
			}
		}
		if explained != pr.Allowed {
			t.Errorf("probe %+v: an assignment grants it: %v", pr, explained)
		}
	}
}

func TestParseSize(t *testing.T) {
	s, err := ParseSize("medium", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if s.Users != 1_000 || s.Assignments != 10_000 || s.Services != Medium.Services || s.Folders != 500 {
		t.Errorf("medium scaled by 0.1 = %+v", s)
	}
	if _, err := ParseSize("huge", 1); err == nil {
		t.Error("ParseSize(huge) succeeded")
	}
}

func TestMembershipTarget(t *testing.T) {
	p, err := Generate(Small)
	if err != nil {
		t.Fatal(err)
	}
	target, err := p.MembershipTarget()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.MembershipTarget(); !reflect.DeepEqual(target, again) {
		t.Fatal("two targets of the same plan differ")
	}
	runner := p.Organization + "/roles/bench-runner"
	if !slices.Contains(p.Assignments, Assignment{Principal: target.Group, Role: runner, Scope: target.Scope}) ||
		!strings.Contains(target.Scope, "/folders/") || target.Permission != ProbePermission {
		t.Fatalf("target %+v: want a group assigned %s at a folder", target, runner)
	}
	if len(target.Users) == 0 || len(target.Users) > MembershipUsers {
		t.Errorf("%d users, want 1 to %d", len(target.Users), MembershipUsers)
	}
	// No user may be in the group, nor hold anything at the scope or
	// above, itself or through a group, except the custom roles without
	// the permission.
	harmless := map[string]bool{p.Organization + "/roles/bench-viewer": true, p.Organization + "/roles/bench-settings": true}
	groups := make(map[string][]string)
	for _, m := range p.Memberships {
		groups[m.User] = append(groups[m.User], m.Group)
	}
	for _, u := range target.Users {
		if slices.Contains(groups[u], target.Group) {
			t.Errorf("%s is already in %s", u, target.Group)
		}
		for _, a := range p.Assignments {
			if (a.Principal == u || slices.Contains(groups[u], a.Principal)) && !harmless[a.Role] &&
				(target.Scope == a.Scope || strings.HasPrefix(target.Scope, a.Scope+"/")) {
				t.Errorf("%s holds %s at %s through %+v", u, target.Permission, target.Scope, a)
			}
		}
	}
}
