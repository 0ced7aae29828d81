package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// groupMaskFields are the Group fields UpdateGroup may change (AIP-134).
var groupMaskFields = []string{"display_name", "description"}

// isEveryone reports whether g is the Everyone group.
func isEveryone(g *directoryv1.Group) bool {
	return g.GetDefaultGroup() == directoryv1.Group_DEFAULT_GROUP_EVERYONE
}

// GetGroup reads a group (R5).
func (s *Service) GetGroup(ctx context.Context, actor Actor, req *directoryv1.GetGroupRequest) (*directoryv1.Group, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Group{})
}

// ListGroups lists an organization's groups: the default groups first, in
// their display order (Administrators, Automation Users, Automation
// Developers, Everyone), then the custom groups by name (R5).
func (s *Service) ListGroups(ctx context.Context, actor Actor, req *directoryv1.ListGroupsRequest) (*directoryv1.ListGroupsResponse, error) {
	org := req.GetParent()
	if err := actor.visible(org); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListGroups", org, req.GetKind().String(), req.GetQuery())
	query := strings.ToLower(req.GetQuery())
	resp := &directoryv1.ListGroupsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := get(tx, org, &directoryv1.Organization{}); err != nil {
			return err
		}
		order := map[string]int{}
		for i, d := range defaultGroups {
			order[org+"/groups/"+d.id] = i
		}
		var items []records.Keyed[*directoryv1.Group]
		prefix := recordPrefix + org + "/groups/"
		err := tx.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
			if strings.Contains(string(k[len(prefix):]), "/") {
				return true, nil
			}
			g := &directoryv1.Group{}
			if err := proto.Unmarshal(v, g); err != nil {
				return false, fmt.Errorf("domain: group %s: %w", k, err)
			}
			if req.GetKind() != directoryv1.Group_KIND_UNSPECIFIED && g.GetKind() != req.GetKind() {
				return true, nil
			}
			if query != "" && !strings.Contains(strings.ToLower(g.GetDisplayName()), query) {
				return true, nil
			}
			key := "1/" + g.GetName()
			if i, ok := order[g.GetName()]; ok && g.GetKind() == directoryv1.Group_KIND_DEFAULT {
				key = fmt.Sprintf("0/%d", i)
			}
			items = append(items, records.Keyed[*directoryv1.Group]{Key: key, Item: g})
			return true, nil
		})
		if err != nil {
			return err
		}
		resp.Groups, resp.NextPageToken, err = records.SlicePage(items, req.GetPageToken(), req.GetPageSize(), fp)
		return err
	})
}

// CreateGroup creates a custom group (R5).
func (s *Service) CreateGroup(ctx context.Context, actor Actor, req *directoryv1.CreateGroupRequest) (*directoryv1.Group, error) {
	in := req.GetGroup()
	if in.GetDisplayName() == "" {
		return nil, fieldError("group.display_name", "display_name is required")
	}
	return createRecord(ctx, s, actor, &directoryv1.Group{}, recordCreate[*directoryv1.Group]{
		req: req, requestID: req.GetRequestId(),
		parent: req.GetParent(), collection: "/groups/", id: req.GetGroupId(),
		build: func(t *txn, name string) *directoryv1.Group {
			return &directoryv1.Group{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				Kind:        directoryv1.Group_KIND_CUSTOM,
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		},
		typ: TypeGroupCreated,
		message: func(g *directoryv1.Group) string {
			return fmt.Sprintf("Group %s was created.", g.GetDisplayName())
		},
	})
}

// UpdateGroup changes a group's display name or description; default groups
// keep their display name (R5).
func (s *Service) UpdateGroup(ctx context.Context, actor Actor, req *directoryv1.UpdateGroupRequest) (*directoryv1.Group, error) {
	in := req.GetGroup()
	paths := req.GetUpdateMask().GetPaths()
	return updateRecord(ctx, s, actor, &directoryv1.Group{}, recordUpdate[*directoryv1.Group]{
		name: in.GetName(), etag: in.GetEtag(),
		edit: func(_ *txn, cur, next *directoryv1.Group) error {
			if err := applyMask(next, in, paths, groupMaskFields...); err != nil {
				return err
			}
			if cur.GetKind() == directoryv1.Group_KIND_DEFAULT && next.GetDisplayName() != cur.GetDisplayName() {
				return errorf(ErrDefaultGroupImmutable, "default group %s cannot be renamed", cur.GetDisplayName())
			}
			if next.GetDisplayName() == "" {
				return fieldError("group.display_name", "display_name is required")
			}
			return nil
		},
		typ: TypeGroupUpdated,
		message: func(g *directoryv1.Group) string {
			return fmt.Sprintf("Group %s was updated.", g.GetDisplayName())
		},
	})
}

// DeleteGroup deletes a custom group and its memberships (one event each);
// default groups cannot be deleted (R5).
func (s *Service) DeleteGroup(ctx context.Context, actor Actor, req *directoryv1.DeleteGroupRequest) error {
	name := req.GetName()
	return deleteRecord(ctx, s, actor, name, req.GetEtag(), &directoryv1.Group{}, func(t *txn, g *directoryv1.Group) error {
		if g.GetKind() == directoryv1.Group_KIND_DEFAULT {
			return errorf(ErrDefaultGroupImmutable, "default group %s cannot be deleted", g.GetDisplayName())
		}
		members, err := keysUnder(t, groupMembers+name+"/")
		if err != nil {
			return err
		}
		for _, m := range members {
			if err := t.removeMember(name, m); err != nil {
				return err
			}
		}
		return t.remove(g, TypeGroupDeleted, fmt.Sprintf("Group %s was deleted.", g.GetDisplayName()))
	})
}

// membershipNames checks the group and member names of a membership request:
// both visible to the actor and in the same organization.
func membershipNames(actor Actor, group, member string) error {
	for _, n := range []string{group, member} {
		if err := actor.visible(n); err != nil {
			return err
		}
	}
	return sameOrg(resourcename.OrganizationOf(group), member)
}

// membershipTarget reads the group and member of a membership request and
// checks the rules that do not depend on who asks: Everyone's membership is
// implicit (R5); the owner stays in Administrators (R1); removing a
// non-member is NotFound. It reports whether member is an explicit member
// of group.
func membershipTarget(tx store.ReadTx, group, member string, add bool) (bool, error) {
	g := &directoryv1.Group{}
	if err := get(tx, group, g); err != nil {
		return false, err
	}
	if isEveryone(g) {
		return false, errorf(ErrDefaultGroupImmutable, "every user is a member of Everyone; its membership cannot be changed")
	}
	u := &directoryv1.User{}
	if err := get(tx, member, u); err != nil {
		return false, err
	}
	if !add && u.GetOwner() && g.GetDefaultGroup() == directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS {
		return false, errorf(ErrOwnerImmutable, "the organization's owner cannot leave the Administrators group")
	}
	in, err := isMember(tx, group, member)
	if err != nil {
		return false, err
	}
	if !add && !in {
		return false, errorf(ErrNotFound, "%s is not a member of %s", member, group)
	}
	return in, nil
}

// errMembershipRaced tells changeMembers that a membership changed
// between its check and its transaction, so access management must be
// asked after all.
var errMembershipRaced = errors.New("membership changed concurrently")

// GroupChange is one question put to access management (R17): may the end
// user the directory acts for add members to (Add) or remove them from
// Group?
type GroupChange struct {
	// Group is the group's resource name.
	Group string
	// Add is true for adding members, false for removing them.
	Add bool
}

// memberItem is one membership change asked for: user member into (or out
// of) group.
type memberItem struct{ group, member string }

// askMembershipChanges asks access management whether the user actor may
// make the membership changes of items (R17: joining a group grants its
// roles, so membership must not be a way around escalation prevention):
// one question per group, all in one round trip when
// Options.MembershipChanges is set. It runs before the change's
// transaction, because a remote call must not hold the store's write lock,
// and after the visibility checks; an item the rules refuse whoever asks
// fails here, through at. Services are trusted and not asked about;
// neither is a group whose items change nothing (adding existing members)
// unless always is set. It returns the groups asked about.
func (s *Service) askMembershipChanges(ctx context.Context, actor Actor, items []memberItem, add, always bool, at func(int, error) error) (map[string]bool, error) {
	if (s.membership == nil && s.memberships == nil) || isServiceActor(actor) {
		return nil, nil
	}
	asked := map[string]bool{}
	var changes []GroupChange
	var first []int // first[j] is the first item of changes[j]'s group
	if _, err := s.view(ctx, func(tx store.ReadTx) error {
		for i, it := range items {
			in, err := membershipTarget(tx, it.group, it.member, add)
			if err != nil {
				return at(i, err)
			}
			if (add && in && !always) || asked[it.group] {
				continue
			}
			asked[it.group] = true
			changes = append(changes, GroupChange{Group: it.group, Add: add})
			first = append(first, i)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return asked, nil
	}
	if s.memberships != nil {
		if j, err := s.memberships(ctx, changes); err != nil {
			if j >= 0 && j < len(first) {
				return nil, at(first[j], err)
			}
			return nil, err
		}
		return asked, nil
	}
	for j, c := range changes {
		if err := s.membership(ctx, c.Group, c.Add); err != nil {
			return nil, at(first[j], err)
		}
	}
	return asked, nil
}

// isServiceActor reports whether actor is a service acting for nobody.
func isServiceActor(actor Actor) bool {
	return actor.Organization == "" && strings.HasPrefix(actor.Name, "services/")
}

// changeMembers adds (add) or removes the memberships of items in one
// transaction, all or none, with AddGroupMember's or RemoveGroupMember's
// rules for each item in order; at turns an item's error into the
// operation's (the item itself for one change, the item named for a
// batch). Adding an existing member changes nothing; removing a
// non-member is NotFound. A user may change a group's membership only if
// access management allows it (R17, Options.MembershipChange and
// MembershipChanges). It returns the memberships added (nil on removal).
func (s *Service) changeMembers(ctx context.Context, actor Actor, items []memberItem, add bool, at func(int, error) error) ([]*directoryv1.GroupMembership, error) {
	for i, it := range items {
		if err := membershipNames(actor, it.group, it.member); err != nil {
			return nil, at(i, err)
		}
	}
	for attempt := 0; ; attempt++ {
		// The first attempt skips access management for groups whose items
		// add members already in; if one left meanwhile, the next asks
		// regardless.
		asked, err := s.askMembershipChanges(ctx, actor, items, add, attempt > 0, at)
		if err != nil {
			return nil, err
		}
		mustAsk := (s.membership != nil || s.memberships != nil) && !isServiceActor(actor)
		var out []*directoryv1.GroupMembership
		_, err = s.update(ctx, actor, func(t *txn) error {
			out = out[:0]
			for i, it := range items {
				in, err := membershipTarget(t, it.group, it.member, add)
				if err != nil {
					return at(i, err)
				}
				if !add {
					if err := t.removeMember(it.group, it.member); err != nil {
						return err
					}
					continue
				}
				if !in && mustAsk && !asked[it.group] {
					return errMembershipRaced
				}
				if _, err := t.addMember(it.group, it.member); err != nil {
					return err
				}
				m := &directoryv1.GroupMembership{}
				if err := store.GetProto(t, []byte(groupMembers+it.group+"/"+it.member), m); err != nil {
					return err
				}
				out = append(out, m)
			}
			return nil
		})
		if errors.Is(err, errMembershipRaced) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// itself is the at of changeMembers for a single change: its error as it is.
func itself(_ int, err error) error { return err }

// AddGroupMember makes a user an explicit member of a group (R5). Adding an
// existing member changes nothing; Everyone's membership is implicit. A user
// may add a member only if access management allows it (R17,
// Options.MembershipChange).
func (s *Service) AddGroupMember(ctx context.Context, actor Actor, req *directoryv1.AddGroupMemberRequest) (*directoryv1.GroupMembership, error) {
	out, err := s.changeMembers(ctx, actor, []memberItem{{req.GetGroup(), req.GetMember()}}, true, itself)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// RemoveGroupMember ends a user's explicit membership of a group (R5). The
// owner stays in Administrators (R1); Everyone's membership is implicit; a
// non-member is NotFound. A user may remove a member only if access
// management allows it (R17, Options.MembershipChange).
func (s *Service) RemoveGroupMember(ctx context.Context, actor Actor, req *directoryv1.RemoveGroupMemberRequest) error {
	_, err := s.changeMembers(ctx, actor, []memberItem{{req.GetGroup(), req.GetMember()}}, false, itself)
	return err
}

// batchField is the request field holding a batch's items (AIP-233).
const batchField = "requests"

// atBatchItem is the at of changeMembers for a batch: the item's error
// naming it ("requests[i]").
func atBatchItem(i int, err error) error { return records.AtItem(batchField, i, err) }

// batchItems returns the items of a batch of membership changes in parent,
// each of whose groups must be a group of parent; with unique set, an item
// repeating an earlier one is refused too.
func batchItems[R interface {
	GetGroup() string
	GetMember() string
}](parent string, reqs []R, unique bool) ([]memberItem, error) {
	items := make([]memberItem, len(reqs))
	seen := map[memberItem]int{}
	for i, r := range reqs {
		it := memberItem{r.GetGroup(), r.GetMember()}
		if resourcename.OrganizationOf(it.group) != parent {
			return nil, atBatchItem(i, fieldError("group", "%s is not a group of %s", it.group, parent))
		}
		if j, ok := seen[it]; ok && unique {
			return nil, atBatchItem(i, fieldError("member", "repeats %s[%d]", batchField, j))
		}
		seen[it] = i
		items[i] = it
	}
	return items, nil
}

// BatchAddGroupMembers adds every membership of req in one transaction, or
// none of them (AIP-233, issue 13), each item checked as AddGroupMember
// checks it, access management asked once for the batch (R17). An item
// repeating an earlier one, or adding an existing member, changes nothing.
// The first refused item fails the batch naming it ("requests[i]").
func (s *Service) BatchAddGroupMembers(ctx context.Context, actor Actor, req *directoryv1.BatchAddGroupMembersRequest) (*directoryv1.BatchAddGroupMembersResponse, error) {
	if err := actor.visible(req.GetParent()); err != nil {
		return nil, err
	}
	items, err := batchItems(req.GetParent(), req.GetRequests(), false)
	if err != nil {
		return nil, err
	}
	out, err := s.changeMembers(ctx, actor, items, true, atBatchItem)
	if err != nil {
		return nil, err
	}
	return &directoryv1.BatchAddGroupMembersResponse{Memberships: out}, nil
}

// BatchRemoveGroupMembers ends every membership of req in one transaction,
// or none of them (issue 13), each item checked as RemoveGroupMember
// checks it, access management asked once for the batch (R17). An item
// repeating an earlier one is a field error. The first refused item fails
// the batch naming it ("requests[i]").
func (s *Service) BatchRemoveGroupMembers(ctx context.Context, actor Actor, req *directoryv1.BatchRemoveGroupMembersRequest) error {
	if err := actor.visible(req.GetParent()); err != nil {
		return err
	}
	items, err := batchItems(req.GetParent(), req.GetRequests(), true)
	if err != nil {
		return err
	}
	_, err = s.changeMembers(ctx, actor, items, false, atBatchItem)
	return err
}

// ListGroupMembers lists a group's members ordered by member name; for
// Everyone, every user of the organization as an implicit membership (R5).
func (s *Service) ListGroupMembers(ctx context.Context, actor Actor, req *directoryv1.ListGroupMembersRequest) (*directoryv1.ListGroupMembersResponse, error) {
	group := req.GetGroup()
	if err := actor.visible(group); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListGroupMembers", group)
	resp := &directoryv1.ListGroupMembersResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		g := &directoryv1.Group{}
		if err := get(tx, group, g); err != nil {
			return err
		}
		if isEveryone(g) {
			users, next, err := listPage(tx, resourcename.OrganizationOf(group)+"/users/", req.GetPageToken(), req.GetPageSize(), fp,
				func() *directoryv1.User { return &directoryv1.User{} },
				func(*directoryv1.User) (bool, error) { return true, nil })
			if err != nil {
				return err
			}
			for _, u := range users {
				resp.Memberships = append(resp.Memberships, &directoryv1.GroupMembership{Group: group, Member: u.GetName(), Implicit: true})
			}
			resp.NextPageToken = next
			return nil
		}
		var err error
		resp.Memberships, resp.NextPageToken, err = membershipPage(tx, groupMembers+group+"/", req.GetPageToken(), req.GetPageSize(), fp)
		return err
	})
}

// membershipPage pages over the GroupMembership values stored under prefix,
// in key order.
func membershipPage(tx store.ReadTx, prefix, pageToken string, pageSize int32, fingerprint uint64) ([]*directoryv1.GroupMembership, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", fieldError("page_token", "invalid page token (it must come from a previous page of the same request)")
	}
	var start []byte
	if after != nil {
		start = append(after, 0)
	}
	size := records.PageSize(pageSize)
	var out []*directoryv1.GroupMembership
	var next string
	var lastKey []byte
	err = tx.Scan([]byte(prefix), start, func(k, v []byte) (bool, error) {
		if len(out) == size {
			next = pagetoken.Encode(lastKey, fingerprint)
			return false, nil
		}
		m := &directoryv1.GroupMembership{}
		if err := proto.Unmarshal(v, m); err != nil {
			return false, fmt.Errorf("domain: membership %s: %w", k, err)
		}
		out = append(out, m)
		lastKey = append(lastKey[:0], k...)
		return true, nil
	})
	return out, next, err
}

// ListUserGroups lists the groups a user is in, ordered by group name: its
// explicit memberships and Everyone, implicitly (R5).
func (s *Service) ListUserGroups(ctx context.Context, actor Actor, req *directoryv1.ListUserGroupsRequest) (*directoryv1.ListUserGroupsResponse, error) {
	user := req.GetUser()
	if err := actor.visible(user); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListUserGroups", user)
	resp := &directoryv1.ListUserGroupsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := get(tx, user, &directoryv1.User{}); err != nil {
			return err
		}
		everyone := resourcename.OrganizationOf(user) + "/groups/" + GroupEveryone
		items := []records.Keyed[*directoryv1.GroupMembership]{
			{Key: everyone, Item: &directoryv1.GroupMembership{Group: everyone, Member: user, Implicit: true}},
		}
		groups, err := keysUnder(tx, userGroups+user+"/")
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g == everyone {
				continue
			}
			m := &directoryv1.GroupMembership{}
			if err := store.GetProto(tx, []byte(groupMembers+g+"/"+user), m); err != nil {
				return fmt.Errorf("domain: membership %s/%s: %w", g, user, err)
			}
			items = append(items, records.Keyed[*directoryv1.GroupMembership]{Key: g, Item: m})
		}
		resp.Memberships, resp.NextPageToken, err = records.SlicePage(items, req.GetPageToken(), req.GetPageSize(), fp)
		return err
	})
}
