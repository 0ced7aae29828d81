package domain_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/records"
	"steward.dev/services/directory/domain"
)

// batchAsker stands in for access management's BatchCheckMembershipChange
// (domain.Options.MembershipChanges): it records each round trip and
// refuses, as ESCALATION, any change of a group in refuse.
type batchAsker struct {
	mu     sync.Mutex
	trips  [][]domain.GroupChange
	refuse map[string]bool
}

func (a *batchAsker) ask(_ context.Context, changes []domain.GroupChange) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.trips = append(a.trips, slices.Clone(changes))
	for i, c := range changes {
		if a.refuse[c.Group] {
			return i, &domain.AccessDeniedError{Reason: "ESCALATION", Message: "you cannot add members to " + c.Group, Permission: "users.delete", Scope: "organizations/acme"}
		}
	}
	return -1, nil
}

// TestBatchGroupMembers (R5, R17, issue 13): a batch of membership changes
// is made whole or not at all, each item under AddGroupMember's or
// RemoveGroupMember's rules; access management is asked once per batch,
// one question per group; a refused item names itself ("requests[i]")
// and leaves nothing written (no event).
func TestBatchGroupMembers(t *testing.T) {
	type item = [2]string // group ID, member ID
	tests := []struct {
		name   string
		remove bool
		// setup are memberships made before the batch (by the owner).
		setup []item
		items []item
		// actor is "owner", "service" or "" (ada, an administrator).
		actor string
		// made is how many events a success appends.
		made int
		// asked are the groups of the one round trip to access management
		// (nil: none).
		asked []string
		// wantErr, wantItem and field describe a refusal.
		wantErr  error
		wantItem string
		field    string
	}{
		{name: "add, all allowed", items: []item{{"g1", "bob"}, {"g2", "bob"}, {"g1", "carl"}}, made: 3, asked: []string{"g1", "g2"}},
		{name: "add, duplicates and existing members change nothing", setup: []item{{"g2", "bob"}},
			items: []item{{"g1", "bob"}, {"g1", "bob"}, {"g2", "bob"}}, made: 1, asked: []string{"g1"}},
		{name: "add, escalation in one group refuses all (R17)", items: []item{{"g1", "bob"}, {"g2", "bob"}, {"g3", "carl"}},
			asked: []string{"g1", "g2", "g3"}, wantErr: domain.ErrAccessDenied, wantItem: "requests[2]"},
		{name: "add, refused group asked once for several items", items: []item{{"g1", "bob"}, {"g3", "bob"}, {"g3", "carl"}},
			asked: []string{"g1", "g3"}, wantErr: domain.ErrAccessDenied, wantItem: "requests[1]"},
		{name: "add to Everyone", items: []item{{"g1", "bob"}, {"everyone", "carl"}}, wantErr: domain.ErrDefaultGroupImmutable, wantItem: "requests[1]"},
		{name: "add an unknown user", items: []item{{"g1", "bob"}, {"g1", "nobody"}}, wantErr: domain.ErrNotFound, wantItem: "requests[1]"},
		{name: "add to a group of another organization", items: []item{{"g1", "bob"}, {"other", "bob"}}, field: "requests[1].group"},
		{name: "add as a service is not asked", actor: "service", items: []item{{"g3", "bob"}}, made: 1},
		{name: "the owner is asked too: access decides", actor: "owner", items: []item{{"g3", "bob"}},
			asked: []string{"g3"}, wantErr: domain.ErrAccessDenied, wantItem: "requests[0]"},
		{name: "remove, all allowed", remove: true, setup: []item{{"g1", "bob"}, {"g2", "bob"}, {"g1", "carl"}},
			items: []item{{"g1", "bob"}, {"g2", "bob"}, {"g1", "carl"}}, made: 3, asked: []string{"g1", "g2"}},
		{name: "remove, refused group refuses all (R17)", remove: true, setup: []item{{"g1", "bob"}, {"g3", "bob"}},
			items: []item{{"g1", "bob"}, {"g3", "bob"}}, asked: []string{"g1", "g3"}, wantErr: domain.ErrAccessDenied, wantItem: "requests[1]"},
		{name: "remove a non-member", remove: true, setup: []item{{"g1", "bob"}},
			items: []item{{"g1", "bob"}, {"g2", "bob"}}, wantErr: domain.ErrNotFound, wantItem: "requests[1]"},
		{name: "remove the owner from Administrators (R1)", remove: true, setup: []item{{"g1", "bob"}},
			items: []item{{"g1", "bob"}, {"administrators", "olivia"}}, wantErr: domain.ErrOwnerImmutable, wantItem: "requests[1]"},
		{name: "remove, duplicates", remove: true, setup: []item{{"g1", "bob"}},
			items: []item{{"g1", "bob"}, {"g1", "bob"}}, field: "requests[1].member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asker := &batchAsker{refuse: map[string]bool{}}
			o := newOrgWith(t, domain.Options{MembershipChanges: asker.ask})
			ctx := context.Background()
			ids := map[string]string{"olivia": o.owner.Name, "bob": o.bob, "carl": o.user(t, "carl"), "nobody": o.name + "/users/nobody"}
			groups := map[string]string{"everyone": o.name + "/groups/everyone", "administrators": o.name + "/groups/administrators", "other": "organizations/other/groups/g1"}
			for _, g := range []string{"g1", "g2", "g3"} {
				grp, err := o.s.CreateGroup(ctx, o.owner, &directoryv1.CreateGroupRequest{Parent: o.name, GroupId: g, Group: &directoryv1.Group{DisplayName: g}})
				if err != nil {
					t.Fatal(err)
				}
				groups[g] = grp.GetName()
			}
			for _, m := range tt.setup {
				if _, err := o.s.AddGroupMember(ctx, o.owner, &directoryv1.AddGroupMemberRequest{Group: groups[m[0]], Member: ids[m[1]]}); err != nil {
					t.Fatal(err)
				}
			}
			asker.refuse[groups["g3"]] = true
			asker.trips = nil
			actor := o.admin
			switch tt.actor {
			case "owner":
				actor = o.owner
			case "service":
				actor = domain.Actor{Name: "services/licensing"}
			}
			members := func() []string {
				var out []string
				for _, g := range []string{"g1", "g2", "g3"} {
					resp, err := o.s.ListGroupMembers(ctx, o.owner, &directoryv1.ListGroupMembersRequest{Group: groups[g]})
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range resp.GetMemberships() {
						out = append(out, g+"/"+m.GetMember())
					}
				}
				return out
			}
			was, before := members(), o.head(t)
			var err error
			var added []*directoryv1.GroupMembership
			if tt.remove {
				req := &directoryv1.BatchRemoveGroupMembersRequest{Parent: o.name}
				for _, it := range tt.items {
					req.Requests = append(req.Requests, &directoryv1.RemoveGroupMemberRequest{Group: groups[it[0]], Member: ids[it[1]]})
				}
				err = o.s.BatchRemoveGroupMembers(ctx, actor, req)
			} else {
				req := &directoryv1.BatchAddGroupMembersRequest{Parent: o.name}
				for _, it := range tt.items {
					req.Requests = append(req.Requests, &directoryv1.AddGroupMemberRequest{Group: groups[it[0]], Member: ids[it[1]]})
				}
				var resp *directoryv1.BatchAddGroupMembersResponse
				resp, err = o.s.BatchAddGroupMembers(ctx, actor, req)
				added = resp.GetMemberships()
			}
			var asked []string
			if len(asker.trips) > 1 {
				t.Errorf("%d round trips to access management, want at most one: %v", len(asker.trips), asker.trips)
			}
			for _, trip := range asker.trips {
				for _, c := range trip {
					if c.Add == tt.remove {
						t.Errorf("asked %+v, want add=%v", c, !tt.remove)
					}
					asked = append(asked, c.Group[len(o.name+"/groups/"):])
				}
			}
			if !slices.Equal(asked, tt.asked) {
				t.Errorf("asked about groups %v, want %v", asked, tt.asked)
			}
			if tt.wantErr == nil && tt.field == "" {
				if err != nil {
					t.Fatalf("batch: %v", err)
				}
				if got := int(o.head(t) - before); got != tt.made {
					t.Errorf("%d events, want one per change: %d", got, tt.made)
				}
				if !tt.remove && len(added) != len(tt.items) {
					t.Errorf("%d memberships returned for %d items", len(added), len(tt.items))
				}
				return
			}
			if o.head(t) != before {
				t.Errorf("a refused batch appended %d events", o.head(t)-before)
			}
			if now := members(); !slices.Equal(now, was) {
				t.Errorf("a refused batch changed memberships: %v -> %v", was, now)
			}
			if tt.field != "" {
				var fe *records.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("error %v, want a field error on %s", err, tt.field)
				}
				return
			}
			var ie *records.ItemError
			if !errors.Is(err, tt.wantErr) || !errors.As(err, &ie) || ie.Item != tt.wantItem {
				t.Fatalf("error %v, want %v at %s", err, tt.wantErr, tt.wantItem)
			}
		})
	}
}
