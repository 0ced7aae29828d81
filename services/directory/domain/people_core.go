package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
)

// The default groups every organization has (R5), by ID.
const (
	GroupAdministrators       = "administrators"
	GroupAutomationUsers      = "automation-users"
	GroupAutomationDevelopers = "automation-developers"
	GroupEveryone             = "everyone"
	// RootDepartment is the ID of the root department sign-up creates (R7).
	RootDepartment = "root"
	// DefaultTenant is the ID of the tenant sign-up creates (R2).
	DefaultTenant = "default"
)

// defaultGroups lists the default groups in their display order.
var defaultGroups = []struct {
	id          string
	displayName string
	which       directoryv1.Group_DefaultGroup
}{
	{GroupAdministrators, "Administrators", directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS},
	{GroupAutomationUsers, "Automation Users", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS},
	{GroupAutomationDevelopers, "Automation Developers", directoryv1.Group_DEFAULT_GROUP_AUTOMATION_DEVELOPERS},
	{GroupEveryone, "Everyone", directoryv1.Group_DEFAULT_GROUP_EVERYONE},
}

// userSecrets are a user's credentials, kept apart from the User record so
// no read path can return them.
type userSecrets struct {
	// PasswordHash is the argon2id PHC string; empty when no password is set.
	PasswordHash string `json:"password_hash,omitempty"`
	// TOTPSecret is the confirmed base32 TOTP secret.
	TOTPSecret string `json:"totp_secret,omitempty"`
	// PendingTOTPSecret waits for ConfirmTotp.
	PendingTOTPSecret string `json:"pending_totp_secret,omitempty"`
	// TOTPLastStep is the time step of the last TOTP code of TOTPSecret
	// accepted: codes of that step or older are refused, so that each code
	// is good once (RFC 6238 §5.2).
	TOTPLastStep int64 `json:"totp_last_step,omitempty"`
	// SignInSources are the source addresses (as the sign-in limits key
	// them) the user last signed in from, the latest first: attempts from
	// them are exempt from the account's sign-in ceiling (see Limits).
	SignInSources []string `json:"sign_in_sources,omitempty"`
}

func getSecrets(tx store.ReadTx, user string) (userSecrets, error) {
	var s userSecrets
	b, err := tx.Get([]byte(secretPrefix + user))
	if errors.Is(err, store.ErrNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("domain: secrets of %s: %w", user, err)
	}
	return s, nil
}

func (t *txn) putSecrets(user string, s userSecrets) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return t.Put([]byte(secretPrefix+user), b)
}

// emailKey is the unique-email index key of email in org (R3): emails
// compare case-insensitively.
func emailKey(org, email string) []byte {
	return []byte(emailIndex + org + "/" + strings.ToLower(email))
}

// userByEmail returns the name of org's user with email, or "" if none.
func userByEmail(tx store.ReadTx, org, email string) (string, error) {
	b, err := tx.Get(emailKey(org, email))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// insertUser stores a new user u (name, department and state already set)
// with its indexes and secrets, refusing a taken email. It emits no event.
func (t *txn) insertUser(u *directoryv1.User, secrets userSecrets) error {
	org := resourcename.OrganizationOf(u.GetName())
	if err := mustNotExist(t, u.GetName()); err != nil {
		return err
	}
	if other, err := userByEmail(t, org, u.GetEmail()); err != nil {
		return err
	} else if other != "" {
		return errorf(ErrEmailTaken, "email %s is already used in %s", u.GetEmail(), org)
	}
	if err := t.Put(emailKey(org, u.GetEmail()), []byte(u.GetName())); err != nil {
		return err
	}
	if sub := u.GetExternalSubject(); sub != "" {
		if err := t.Put([]byte(subjectIndex+org+"/"+sub), []byte(u.GetName())); err != nil {
			return err
		}
	}
	if err := t.Put([]byte(departmentIndex+u.GetDepartment()+"/"+u.GetName()), nil); err != nil {
		return err
	}
	if err := t.putSecrets(u.GetName(), secrets); err != nil {
		return err
	}
	return t.put(u)
}

// isMember reports whether user is an explicit member of group.
func isMember(tx store.ReadTx, group, user string) (bool, error) {
	_, err := tx.Get([]byte(groupMembers + group + "/" + user))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// addMember makes user an explicit member of group and emits the event; it
// reports false when user already was one (nothing changes then).
func (t *txn) addMember(group, user string) (bool, error) {
	if ok, err := isMember(t, group, user); err != nil || ok {
		return false, err
	}
	m := &directoryv1.GroupMembership{Group: group, Member: user, CreateTime: t.Timestamp()}
	b, err := store.Marshal(m)
	if err != nil {
		return false, err
	}
	if err := t.Put([]byte(groupMembers+group+"/"+user), b); err != nil {
		return false, err
	}
	if err := t.Put([]byte(userGroups+user+"/"+group), nil); err != nil {
		return false, err
	}
	return true, t.Emit(TypeGroupMemberAdded, eventlogv1.Operation_OPERATION_CREATE, group, m, fmt.Sprintf("User %s was added to group %s.", user, group))
}

// removeMember ends user's explicit membership of group and emits the
// event.
func (t *txn) removeMember(group, user string) error {
	if err := t.Delete([]byte(groupMembers + group + "/" + user)); err != nil {
		return err
	}
	if err := t.Delete([]byte(userGroups + user + "/" + group)); err != nil {
		return err
	}
	m := &directoryv1.GroupMembership{Group: group, Member: user}
	return t.Emit(TypeGroupMemberRemoved, eventlogv1.Operation_OPERATION_DELETE, group, m,
		fmt.Sprintf("User %s was removed from group %s.", user, group))
}

// removeUser deletes u with its memberships (one TypeGroupMemberRemoved
// event each), its email, subject and department indexes and its secrets,
// then the record (TypeUserDeleted), after revoking the API keys u created
// (one TypeAPIKeyRevoked event each, saying why: C4). It checks no rule: callers do (the
// owner, the caller itself, administrators).
func (t *txn) removeUser(u *directoryv1.User) error {
	name := u.GetName()
	org := resourcename.OrganizationOf(name)
	if err := t.revokeKeysCreatedBy(name, fmt.Sprintf("its creator, user %s, was deleted", u.GetNickname())); err != nil {
		return err
	}
	groups, err := keysUnder(t, userGroups+name+"/")
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := t.removeMember(g, name); err != nil {
			return err
		}
	}
	if other, err := userByEmail(t, org, u.GetEmail()); err != nil {
		return err
	} else if other == name {
		if err := t.Delete(emailKey(org, u.GetEmail())); err != nil {
			return err
		}
	}
	if sub := u.GetExternalSubject(); sub != "" {
		if err := t.Delete([]byte(subjectIndex + org + "/" + sub)); err != nil {
			return err
		}
	}
	if err := t.Delete([]byte(departmentIndex + u.GetDepartment() + "/" + name)); err != nil {
		return err
	}
	if err := t.Delete([]byte(secretPrefix + name)); err != nil {
		return err
	}
	if err := t.endSessions(name); err != nil {
		return err
	}
	return t.remove(u, TypeUserDeleted, fmt.Sprintf("User %s was deleted.", u.GetNickname()))
}
