package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// userMaskFields are the User fields UpdateUser may change (AIP-134).
var userMaskFields = []string{
	"nickname", "email", "display_name", "department",
	"external_subject", "mfa_required", "concurrent_execution_allowed",
}

// sameOrg fails with ErrNotFound when name, referenced from a request about
// org, lies in another organization: services see every organization, so
// visible alone does not keep a reference inside the request's one.
func sameOrg(org, name string) error {
	if resourcename.OrganizationOf(name) != org {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// accountSystemKind returns the kind of org's active account system (R8).
func accountSystemKind(tx store.ReadTx, org string) (directoryv1.AccountSystem_Kind, error) {
	as := &directoryv1.AccountSystem{}
	if err := get(tx, org+"/accountSystem", as); err != nil {
		return 0, err
	}
	return as.GetKind(), nil
}

// subjectKey is the external-subject index key of sub in org.
func subjectKey(org, sub string) []byte { return []byte(subjectIndex + org + "/" + sub) }

// subjectTaken fails with ErrAlreadyExists when sub is bound to another
// user of org than self.
func subjectTaken(tx store.ReadTx, org, sub, self string) error {
	b, err := tx.Get(subjectKey(org, sub))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if other := string(b); other != self {
		return errorf(ErrAlreadyExists, "external subject %q is already bound to %s", sub, other)
	}
	return nil
}

// departmentOrRoot returns dept, or org's root department when dept is
// empty, after checking that it exists in org.
func departmentOrRoot(tx store.ReadTx, actor Actor, org, dept string) (string, error) {
	if dept == "" {
		return org + "/departments/" + RootDepartment, nil
	}
	if err := actor.visible(dept); err != nil {
		return "", err
	}
	if err := sameOrg(org, dept); err != nil {
		return "", err
	}
	if err := get(tx, dept, &directoryv1.Department{}); err != nil {
		return "", err
	}
	return dept, nil
}

// GetUser reads a user (R3).
func (s *Service) GetUser(ctx context.Context, actor Actor, req *directoryv1.GetUserRequest) (*directoryv1.User, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.User{})
}

// ListUsers lists an organization's users, ordered by name, filtered by
// department subtree (R7), group (R5), state, provisioning and a
// case-insensitive query; the filters combine with AND.
func (s *Service) ListUsers(ctx context.Context, actor Actor, req *directoryv1.ListUsersRequest) (*directoryv1.ListUsersResponse, error) {
	org := req.GetParent()
	for _, n := range []string{org, req.GetDepartment(), req.GetGroup()} {
		if n == "" {
			continue
		}
		if err := actor.visible(n); err != nil {
			return nil, err
		}
		if err := sameOrg(org, n); err != nil {
			return nil, err
		}
	}
	fp := pagetoken.Fingerprint("ListUsers", org, req.GetDepartment(), req.GetGroup(),
		req.GetState().String(), req.GetProvisioning().String(), req.GetQuery())
	query := strings.ToLower(req.GetQuery())
	resp := &directoryv1.ListUsersResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		if err := get(tx, org, &directoryv1.Organization{}); err != nil {
			return err
		}
		var subtree map[string]bool
		if d := req.GetDepartment(); d != "" {
			depts, err := orgDepartments(tx, org)
			if err != nil {
				return err
			}
			if depts[d] == nil {
				return errorf(ErrNotFound, "%s not found", d)
			}
			subtree = departmentSubtree(depts, d)
		}
		everyone := false
		if g := req.GetGroup(); g != "" {
			group := &directoryv1.Group{}
			if err := get(tx, g, group); err != nil {
				return err
			}
			everyone = group.GetDefaultGroup() == directoryv1.Group_DEFAULT_GROUP_EVERYONE
		}
		users, next, err := listPage(tx, org+"/users/", req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.User { return &directoryv1.User{} },
			func(u *directoryv1.User) (bool, error) {
				switch {
				case subtree != nil && !subtree[u.GetDepartment()]:
					return false, nil
				case req.GetState() != directoryv1.User_STATE_UNSPECIFIED && u.GetState() != req.GetState():
					return false, nil
				case req.GetProvisioning() != directoryv1.User_PROVISIONING_UNSPECIFIED && u.GetProvisioning() != req.GetProvisioning():
					return false, nil
				case query != "" && !strings.Contains(strings.ToLower(u.GetNickname()), query) &&
					!strings.Contains(strings.ToLower(u.GetEmail()), query) &&
					!strings.Contains(strings.ToLower(u.GetDisplayName()), query):
					return false, nil
				case req.GetGroup() != "" && !everyone:
					return isMember(tx, req.GetGroup(), u.GetName())
				}
				return true, nil
			})
		resp.Users, resp.NextPageToken = users, next
		return err
	})
}

// CreateUser creates a user with provisioning kind manual (R3): active, in
// the given department or the root one (R7), with a unique email and, under
// the local account system, an optional initial password.
func (s *Service) CreateUser(ctx context.Context, actor Actor, req *directoryv1.CreateUserRequest) (*directoryv1.User, error) {
	org := req.GetParent()
	if err := actor.visible(org); err != nil {
		return nil, err
	}
	in := req.GetUser()
	if in.GetNickname() == "" {
		return nil, fieldError("user.nickname", "nickname is required")
	}
	if in.GetEmail() == "" {
		return nil, fieldError("user.email", "email is required")
	}
	// The KDF is slow on purpose: hash before taking the transaction.
	var hash string
	if pw := req.GetInitialPassword(); pw != "" {
		var err error
		if hash, err = s.hashPassword(ctx, actor.SourceAddress, pw); err != nil {
			return nil, err
		}
	}
	// The request_id record keeps a fast hash of the request: of a copy
	// without the initial password, which only the memory-hard KDF may see
	// (R10).
	hashed := proto.Clone(req).(*directoryv1.CreateUserRequest)
	hashed.InitialPassword = ""
	resp := &directoryv1.User{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), hashed, resp, func() error {
			return t.createUser(req, hash, resp)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (t *txn) createUser(req *directoryv1.CreateUserRequest, hash string, resp *directoryv1.User) error {
	org := req.GetParent()
	in := req.GetUser()
	if err := get(t, org, &directoryv1.Organization{}); err != nil {
		return err
	}
	kind, err := accountSystemKind(t, org)
	if err != nil {
		return err
	}
	switch {
	case kind == directoryv1.AccountSystem_KIND_OIDC && req.GetInitialPassword() != "":
		return errorf(ErrAccountSystemMismatch, "%s uses an external OIDC account system: users have no password there", org)
	case kind != directoryv1.AccountSystem_KIND_OIDC && in.GetExternalSubject() != "":
		return errorf(ErrAccountSystemMismatch, "%s uses the local account system: users have no external subject there", org)
	}
	name := org + "/users/" + idOrNew(req.GetUserId())
	dept, err := departmentOrRoot(t, t.actor, org, in.GetDepartment())
	if err != nil {
		return err
	}
	if sub := in.GetExternalSubject(); sub != "" {
		if err := subjectTaken(t, org, sub, name); err != nil {
			return err
		}
	}
	displayName := in.GetDisplayName()
	if displayName == "" {
		displayName = in.GetNickname()
	}
	u := &directoryv1.User{
		Name:                       name,
		Nickname:                   in.GetNickname(),
		Email:                      in.GetEmail(),
		DisplayName:                displayName,
		Department:                 dept,
		ExternalSubject:            in.GetExternalSubject(),
		State:                      directoryv1.User_STATE_ACTIVE,
		Provisioning:               directoryv1.User_PROVISIONING_MANUAL,
		MfaRequired:                in.GetMfaRequired(),
		ConcurrentExecutionAllowed: in.GetConcurrentExecutionAllowed(),
		CreateTime:                 t.Timestamp(),
		UpdateTime:                 t.Timestamp(),
	}
	if err := t.insertUser(u, userSecrets{PasswordHash: hash}); err != nil {
		return err
	}
	if err := t.created(TypeUserCreated, u, fmt.Sprintf("User %s was created.", u.GetNickname())); err != nil {
		return err
	}
	proto.Merge(resp, u)
	return nil
}

// UpdateUser changes a user's nickname, email, display name, department,
// external subject, MFA or concurrent-execution flags (R3). The owner can
// be edited only by the owner (R1).
func (s *Service) UpdateUser(ctx context.Context, actor Actor, req *directoryv1.UpdateUserRequest) (*directoryv1.User, error) {
	in := req.GetUser()
	name := in.GetName()
	org := resourcename.OrganizationOf(name)
	paths := req.GetUpdateMask().GetPaths()
	return updateRecord(ctx, s, actor, &directoryv1.User{}, recordUpdate[*directoryv1.User]{
		name: name, etag: in.GetEtag(),
		edit: func(t *txn, cur, next *directoryv1.User) error {
			if cur.GetOwner() && actor.Name != name {
				return errorf(ErrOwnerImmutable, "only the owner can edit the owner's account %s", name)
			}
			if err := applyMask(next, in, paths, userMaskFields...); err != nil {
				return err
			}
			if next.GetNickname() == "" {
				return fieldError("user.nickname", "nickname is required")
			}
			if next.GetEmail() == "" {
				return fieldError("user.email", "email is required")
			}
			if next.GetDisplayName() == "" {
				next.DisplayName = next.GetNickname()
			}
			if maskHas(paths, "department") {
				dept, err := departmentOrRoot(t, actor, org, next.GetDepartment())
				if err != nil {
					return err
				}
				next.Department = dept
			}
			if next.GetExternalSubject() != cur.GetExternalSubject() && next.GetExternalSubject() != "" {
				kind, err := accountSystemKind(t, org)
				if err != nil {
					return err
				}
				if kind != directoryv1.AccountSystem_KIND_OIDC {
					return errorf(ErrAccountSystemMismatch, "%s uses the local account system: users have no external subject there", org)
				}
			}
			// Moves the index entries that change; none when nothing does.
			return t.reindexUser(cur, next)
		},
		typ: TypeUserUpdated,
		message: func(u *directoryv1.User) string {
			return fmt.Sprintf("User %s was updated.", u.GetNickname())
		},
	})
}

// reindexUser moves the email, external subject and department index
// entries of a user from cur to next, refusing a taken email (R3) or
// subject.
func (t *txn) reindexUser(cur, next *directoryv1.User) error {
	name := cur.GetName()
	org := resourcename.OrganizationOf(name)
	if !strings.EqualFold(cur.GetEmail(), next.GetEmail()) {
		if other, err := userByEmail(t, org, next.GetEmail()); err != nil {
			return err
		} else if other != "" && other != name {
			return errorf(ErrEmailTaken, "email %s is already used in %s", next.GetEmail(), org)
		}
		if err := t.Delete(emailKey(org, cur.GetEmail())); err != nil {
			return err
		}
		if err := t.Put(emailKey(org, next.GetEmail()), []byte(name)); err != nil {
			return err
		}
	}
	if cur.GetExternalSubject() != next.GetExternalSubject() {
		if sub := next.GetExternalSubject(); sub != "" {
			if err := subjectTaken(t, org, sub, name); err != nil {
				return err
			}
			if err := t.Put(subjectKey(org, sub), []byte(name)); err != nil {
				return err
			}
		}
		if sub := cur.GetExternalSubject(); sub != "" {
			if err := t.Delete(subjectKey(org, sub)); err != nil {
				return err
			}
		}
	}
	if cur.GetDepartment() != next.GetDepartment() {
		if err := t.Delete([]byte(departmentIndex + cur.GetDepartment() + "/" + name)); err != nil {
			return err
		}
		if err := t.Put([]byte(departmentIndex+next.GetDepartment()+"/"+name), nil); err != nil {
			return err
		}
	}
	return nil
}

// DeleteUser deletes a user with its memberships, indexes and secrets (R3).
// Refused for the owner (R1), for the caller's own account and for holders
// of an Administrator role (R4).
func (s *Service) DeleteUser(ctx context.Context, actor Actor, req *directoryv1.DeleteUserRequest) error {
	name := req.GetName()
	if err := s.refuseAdministrator(ctx, actor, name); err != nil {
		return err
	}
	return deleteRecord(ctx, s, actor, name, req.GetEtag(), &directoryv1.User{}, func(t *txn, u *directoryv1.User) error {
		if u.GetOwner() {
			return errorf(ErrOwnerImmutable, "%s is the organization's owner and cannot be deleted", name)
		}
		if actor.Name == name {
			return errorf(ErrSelfAction, "you cannot delete the account you are signed in with")
		}
		// Explicit membership of the Administrators group counts as
		// holding an Administrator role (R4), checked here in the
		// deletion's own transaction even when access management is asked
		// (refuseAdministrator): that question is answered before the
		// transaction, so a user added to Administrators in between would
		// otherwise slip through. This closes the common race only: a role
		// assignment made in access management concurrently with the
		// deletion is not covered.
		admin, err := isMember(t, resourcename.OrganizationOf(name)+"/groups/"+GroupAdministrators, name)
		if err != nil {
			return err
		}
		if admin {
			return errorf(ErrHoldsAdministratorRole, "%s is in the Administrators group; remove it from the group first", name)
		}
		return t.removeUser(u)
	})
}

// refuseAdministrator fails with ErrHoldsAdministratorRole when access
// management says the user holds an Administrator role (R4). It asks before
// the deletion's transaction (a remote call must not hold the store's write
// lock); the owner and the actor itself are left to DeleteUser's own
// refusals, and a name the actor cannot see to its NotFound.
func (s *Service) refuseAdministrator(ctx context.Context, actor Actor, name string) error {
	if s.admins == nil || actor.Name == name || actor.visible(name) != nil {
		return nil
	}
	u := &directoryv1.User{}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, name, u) }); err != nil || u.GetOwner() {
		return nil // DeleteUser reports NotFound or OWNER_IMMUTABLE
	}
	held, err := s.admins(ctx, name)
	if err != nil {
		return err
	}
	if len(held) > 0 {
		return errorf(ErrHoldsAdministratorRole, "%s holds %s; remove those assignments (or group memberships) first", name, strings.Join(held, ", "))
	}
	return nil
}

// ActivateUser lets an inactive user sign in again; activating an active
// user changes nothing.
func (s *Service) ActivateUser(ctx context.Context, actor Actor, req *directoryv1.ActivateUserRequest) (*directoryv1.User, error) {
	return s.setUserState(ctx, actor, req.GetName(), req.GetEtag(), directoryv1.User_STATE_ACTIVE)
}

// DeactivateUser stops a user from signing in. Refused for the owner (R1)
// and for the caller's own account (R4); deactivating an inactive user
// changes nothing.
func (s *Service) DeactivateUser(ctx context.Context, actor Actor, req *directoryv1.DeactivateUserRequest) (*directoryv1.User, error) {
	return s.setUserState(ctx, actor, req.GetName(), req.GetEtag(), directoryv1.User_STATE_INACTIVE)
}

func (s *Service) setUserState(ctx context.Context, actor Actor, name, etag string, state directoryv1.User_State) (*directoryv1.User, error) {
	typ, verb := TypeUserActivated, "activated"
	if state == directoryv1.User_STATE_INACTIVE {
		typ, verb = TypeUserDeactivated, "deactivated"
	}
	return updateRecord(ctx, s, actor, &directoryv1.User{}, recordUpdate[*directoryv1.User]{
		name: name, etag: etag,
		edit: func(t *txn, cur, next *directoryv1.User) error {
			if state == directoryv1.User_STATE_INACTIVE {
				if cur.GetOwner() {
					return errorf(ErrOwnerImmutable, "%s is the organization's owner and cannot be deactivated", name)
				}
				if actor.Name == name {
					return errorf(ErrSelfAction, "you cannot deactivate the account you are signed in with")
				}
				if cur.GetState() != state {
					// Reactivation must not revive the sessions of
					// before (issue 9 item 4).
					if err := t.endSessions(name); err != nil {
						return err
					}
				}
			}
			next.State = state
			return nil
		},
		typ: typ,
		message: func(u *directoryv1.User) string {
			return fmt.Sprintf("User %s was %s.", u.GetNickname(), verb)
		},
	})
}

// MoveUser moves a user to another department (R7). Like any edit of the
// owner's account, moving the owner is for the owner alone (R1).
func (s *Service) MoveUser(ctx context.Context, actor Actor, req *directoryv1.MoveUserRequest) (*directoryv1.User, error) {
	name := req.GetName()
	for _, n := range []string{name, req.GetDepartment()} {
		if err := actor.visible(n); err != nil {
			return nil, err
		}
	}
	if err := sameOrg(resourcename.OrganizationOf(name), req.GetDepartment()); err != nil {
		return nil, err
	}
	dept := &directoryv1.Department{}
	return updateRecord(ctx, s, actor, &directoryv1.User{}, recordUpdate[*directoryv1.User]{
		name: name, etag: req.GetEtag(),
		edit: func(t *txn, cur, next *directoryv1.User) error {
			if cur.GetOwner() && actor.Name != name {
				return errorf(ErrOwnerImmutable, "only the owner can move the owner's account %s", name)
			}
			if err := get(t, req.GetDepartment(), dept); err != nil {
				return err
			}
			next.Department = dept.GetName()
			return t.reindexUser(cur, next)
		},
		typ: TypeUserUpdated,
		message: func(u *directoryv1.User) string {
			return fmt.Sprintf("User %s was moved to department %s.", u.GetNickname(), dept.GetDisplayName())
		},
	})
}
