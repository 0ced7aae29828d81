package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// MembershipUsers is how many users a MembershipTarget names.
const MembershipUsers = 20

// MembershipTarget is what the load driver's visibility phase changes:
// Group is assigned, at Scope, a role holding Permission, and none of
// Users is in Group or holds Permission at Scope otherwise, so that adding
// one of them to Group grants it and removing it takes it away again.
type MembershipTarget struct {
	// Group is a group's resource name.
	Group string `json:"group"`
	// Scope is a folder's resource name.
	Scope string `json:"scope"`
	// Permission is a permission wire name: ProbePermission.
	Permission string `json:"permission"`
	// Users are users' resource names.
	Users []string `json:"users"`
}

// MembershipTarget picks the plan's MembershipTarget: the first group
// assigned, at a folder, a custom role holding ProbePermission, and the
// first MembershipUsers users outside that group who hold it there
// through nothing else. It needs no suite: it counts every built-in role
// as holding the permission (their permissions are access's), so the
// users it picks hold it through nothing else whatever the built-in roles
// hold. It depends only on the plan.
func (p *Plan) MembershipTarget() (MembershipTarget, error) {
	custom := make(map[string]bool) // custom role name -> holds ProbePermission
	for _, r := range p.Roles {
		custom[p.Organization+"/roles/"+r.ID] = slices.Contains(r.Permissions, ProbePermission)
	}
	t := MembershipTarget{Permission: ProbePermission}
	groups := make(map[string]bool, len(p.Groups))
	for _, g := range p.Groups {
		groups[g] = true
	}
	for _, a := range p.Assignments {
		if groups[a.Principal] && custom[a.Role] && strings.Contains(a.Scope, "/folders/") {
			t.Group, t.Scope = a.Principal, a.Scope
			break
		}
	}
	if t.Group == "" {
		return MembershipTarget{}, fmt.Errorf("dataset: %s: no group is assigned a custom role holding %s at a folder", p.Spec.Name, ProbePermission)
	}
	g := p.grants(func(role string) bool {
		holds, isCustom := custom[role]
		return holds || !isCustom
	})
	for _, u := range p.Users {
		if len(t.Users) == MembershipUsers {
			break
		}
		if !slices.Contains(g.groups[u], t.Group) && !g.allowed(u, t.Scope) {
			t.Users = append(t.Users, u)
		}
	}
	if len(t.Users) == 0 {
		return MembershipTarget{}, fmt.Errorf("dataset: %s: every user holds %s at %s", p.Spec.Name, ProbePermission, t.Scope)
	}
	return t, nil
}
