package domain

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/oidcauth"
	"steward.dev/services/directory/token"
)

// enrollmentSessionPrefix marks the session IDs of tokens that are good only
// for TOTP enrolment (R9): the account requires MFA but has no confirmed
// secret yet.
const enrollmentSessionPrefix = "enroll-"

// IsEnrollmentSession reports whether sessionID belongs to a token that may
// only enrol TOTP.
func IsEnrollmentSession(sessionID string) bool {
	return strings.HasPrefix(sessionID, enrollmentSessionPrefix)
}

// SignIn exchanges credentials for an access token (R9): a password (plus a
// TOTP code when the account requires MFA) under the local account system —
// and for the owner under any — or an ID token of the organization's OIDC
// identity provider, which may provision the user automatically. Failures
// are rate limited per account and per source, counted and audited the same
// way whether or not the account exists.
func (s *Service) SignIn(ctx context.Context, actor Actor, req *directoryv1.SignInRequest) (*directoryv1.SignInResponse, error) {
	switch c := req.GetCredential().(type) {
	case *directoryv1.SignInRequest_Password:
		return s.signInPassword(ctx, actor, req.GetOrganization(), c.Password)
	case *directoryv1.SignInRequest_External:
		return s.signInExternal(ctx, actor, req.GetOrganization(), c.External.GetIdToken())
	default:
		return nil, fieldError("credential", "one of password or external is required")
	}
}

func (s *Service) signInPassword(ctx context.Context, actor Actor, org string, c *directoryv1.PasswordCredential) (*directoryv1.SignInResponse, error) {
	account := org + "/" + strings.ToLower(c.GetEmail())
	now := s.clock()
	if err := s.limits.signInBlocked(account, actor.SourceAddress, now); err != nil {
		return nil, err
	}
	var (
		u       = &directoryv1.User{}
		secrets userSecrets
		kind    directoryv1.AccountSystem_Kind
		found   bool
	)
	_, err := s.view(ctx, func(tx store.ReadTx) error {
		as := &directoryv1.AccountSystem{}
		if err := get(tx, org+"/accountSystem", as); err != nil {
			return nil // an unknown organization fails like a wrong password
		}
		kind = as.GetKind()
		name, err := userByEmail(tx, org, c.GetEmail())
		if err != nil || name == "" {
			return err
		}
		if err := get(tx, name, u); err != nil {
			return err
		}
		found = true
		secrets, err = getSecrets(tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	ok := false
	if found && secrets.PasswordHash != "" {
		if ok, err = credential.VerifyPassword(secrets.PasswordHash, c.GetPassword()); err != nil {
			return nil, err
		}
	} else {
		credential.VerifyDummy(c.GetPassword())
	}
	if !ok {
		return nil, s.signInFailure(ctx, actor, org, account, fmt.Sprintf("Sign-in failed for %s.", c.GetEmail()))
	}
	if kind == directoryv1.AccountSystem_KIND_OIDC && !u.GetOwner() {
		return nil, errorf(ErrAccountSystemMismatch, "%s signs in through its OIDC identity provider; only the owner may use a password", org)
	}
	if u.GetState() != directoryv1.User_STATE_ACTIVE {
		return nil, errorf(ErrUserInactive, "the account is inactive")
	}
	enrollOnly := false
	if u.GetMfaRequired() {
		switch {
		case secrets.TOTPSecret == "":
			enrollOnly = true
		case c.GetTotpCode() == "" || !credential.ValidateTOTP(secrets.TOTPSecret, c.GetTotpCode(), now):
			s.limits.signInFailed(account, actor.SourceAddress, now)
			return nil, errorf(ErrTOTPRequired, "the account requires a valid TOTP code")
		}
	}
	return s.issue(ctx, actor, u, enrollOnly, false)
}

// signInFailure counts a failed sign-in and audits it; it returns
// ErrInvalidCredentials. The event names the organization, never whether
// the account exists.
func (s *Service) signInFailure(ctx context.Context, actor Actor, org, account, message string) error {
	s.limits.signInFailed(account, actor.SourceAddress, s.clock())
	_, err := s.update(ctx, actor, func(t *txn) error {
		if ok, err := exists(t, org); err != nil || !ok {
			return err
		}
		return t.emitOutcome(TypeSignInFailed, org, message, eventlogv1.Outcome_OUTCOME_DENIED)
	})
	if err != nil {
		return err
	}
	return errorf(ErrInvalidCredentials, "invalid credentials")
}

// issue records a successful sign-in of u and returns its access token.
func (s *Service) issue(ctx context.Context, actor Actor, u *directoryv1.User, enrollOnly, provisioned bool) (*directoryv1.SignInResponse, error) {
	session := newID()
	if enrollOnly {
		session = enrollmentSessionPrefix + session
	}
	now := s.clock()
	claims := token.Claims{
		Subject:        u.GetName(),
		Organization:   resourcename.OrganizationOf(u.GetName()),
		SessionID:      session,
		DisplayName:    u.GetDisplayName(),
		Kind:           "user",
		EnrollmentOnly: enrollOnly,
		IssuedAt:       now,
		Expiry:         now.Add(s.tokenTTL),
	}
	raw, err := s.signer.Sign(claims)
	if err != nil {
		return nil, err
	}
	actor.Name, actor.DisplayName, actor.Organization = u.GetName(), u.GetDisplayName(), claims.Organization
	_, err = s.update(ctx, actor, func(t *txn) error {
		cur := &directoryv1.User{}
		if err := get(t, u.GetName(), cur); err != nil {
			return err
		}
		cur.LastSignInTime = t.ts()
		if err := t.put(cur); err != nil {
			return err
		}
		return t.emit(TypeUserSignedIn, eventlogv1.Operation_OPERATION_UNSPECIFIED, cur.GetName(), nil,
			fmt.Sprintf("User %s signed in.", cur.GetNickname()))
	})
	if err != nil {
		return nil, err
	}
	return &directoryv1.SignInResponse{
		AccessToken:            raw,
		ExpireTime:             timestamppb.New(claims.Expiry),
		Principal:              u.GetName(),
		SessionId:              session,
		TotpEnrollmentRequired: enrollOnly,
		Provisioned:            provisioned,
	}, nil
}

func (s *Service) signInExternal(ctx context.Context, actor Actor, org, idToken string) (*directoryv1.SignInResponse, error) {
	now := s.clock()
	if err := s.limits.signInBlocked(org+"/external", actor.SourceAddress, now); err != nil {
		return nil, err
	}
	as := &directoryv1.AccountSystem{}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, org+"/accountSystem", as) }); err != nil {
		return nil, s.signInFailure(ctx, actor, org, org+"/external", "Sign-in with an external identity failed.")
	}
	if as.GetKind() != directoryv1.AccountSystem_KIND_OIDC {
		return nil, errorf(ErrAccountSystemMismatch, "%s uses local accounts; sign in with a password", org)
	}
	cfg := as.GetOidc()
	id, err := s.oidc.Verify(ctx, cfg.GetIssuer(), cfg.GetClientId(), cfg.GetGroupClaim(), idToken)
	switch {
	case errors.Is(err, oidcauth.ErrIssuerUnavailable):
		return nil, errorf(ErrUnavailable, "the identity provider cannot be reached: %v", err)
	case err != nil:
		s.limits.signInFailed(org+"/external", actor.SourceAddress, now)
		return nil, errorf(ErrIDTokenInvalid, "the ID token is not valid: %v", err)
	}
	var (
		u           *directoryv1.User
		provisioned bool
	)
	_, err = s.update(ctx, actor, func(t *txn) error {
		u, provisioned = nil, false
		name, err := lookup(t, subjectIndex+org+"/"+id.Subject)
		if err != nil {
			return err
		}
		mapped := mappedGroups(cfg, id.Groups)
		if name == "" {
			if u, err = t.provision(org, id, mapped); err != nil {
				return err
			}
			provisioned = true
			return nil
		}
		u = &directoryv1.User{}
		if err := get(t, name, u); err != nil {
			return err
		}
		return t.syncGroups(cfg, u.GetName(), mapped)
	})
	if err != nil {
		return nil, err
	}
	if u.GetState() != directoryv1.User_STATE_ACTIVE {
		return nil, errorf(ErrUserInactive, "the account is inactive")
	}
	return s.issue(ctx, actor, u, false, provisioned)
}

// lookup returns the value of an index key, "" when it is absent.
func lookup(tx store.ReadTx, key string) (string, error) {
	b, err := tx.Get([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// mappedGroups returns the directory groups the identity's group-claim
// values map to, sorted and without duplicates.
func mappedGroups(cfg *directoryv1.OidcConfig, claimGroups []string) []string {
	var out []string
	for _, g := range claimGroups {
		if name, ok := cfg.GetGroupMapping()[g]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nicknameUnsafe matches what a nickname may not contain.
var nicknameUnsafe = regexp.MustCompile(`[^A-Za-z0-9@._-]`)

// provision creates the user of an external identity at first sign-in (R9).
// The identity must belong to a group that is added to a service; until
// access management answers that, a group named in the account system's
// group mapping counts as added.
func (t *txn) provision(org string, id oidcauth.Identity, groups []string) (*directoryv1.User, error) {
	var existing []string
	for _, g := range groups {
		if ok, err := exists(t, g); err != nil {
			return nil, err
		} else if ok && resourcename.OrganizationOf(g) == org {
			existing = append(existing, g)
		}
	}
	if len(existing) == 0 {
		return nil, errorf(ErrNotProvisionable, "no account exists for this identity, and none of its groups is added to a service")
	}
	if id.Email == "" {
		return nil, errorf(ErrNotProvisionable, "the ID token carries no email; the account cannot be provisioned")
	}
	nick := nicknameUnsafe.ReplaceAllString(strings.SplitN(id.Email, "@", 2)[0], "")
	if len(nick) > 16 {
		nick = nick[:16]
	}
	if nick == "" {
		nick = "user"
	}
	display := id.Name
	if display == "" {
		display = nick
	}
	u := &directoryv1.User{
		Name:            org + "/users/" + newID(),
		Nickname:        nick,
		Email:           id.Email,
		DisplayName:     display,
		Department:      org + "/departments/" + RootDepartment,
		ExternalSubject: id.Subject,
		State:           directoryv1.User_STATE_ACTIVE,
		Provisioning:    directoryv1.User_PROVISIONING_AUTO,
		CreateTime:      t.ts(),
		UpdateTime:      t.ts(),
	}
	if err := t.insertUser(u, userSecrets{}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(existing))
	for _, g := range existing {
		grp := &directoryv1.Group{}
		if err := get(t, g, grp); err != nil {
			return nil, err
		}
		names = append(names, grp.GetDisplayName())
	}
	list := strings.Join(names, ", ")
	t.actor.Name, t.actor.DisplayName, t.actor.Organization = u.GetName(), u.GetDisplayName(), org
	if err := t.created(TypeUserProvisioned, u, fmt.Sprintf("User %s was automatically provisioned from the following %s.", u.GetNickname(), list)); err != nil {
		return nil, err
	}
	for _, g := range existing {
		if _, err := t.addMember(g, u.GetName()); err != nil {
			return nil, err
		}
	}
	if err := t.updated(TypeUserGroupsAssigned, u, fmt.Sprintf("User %s was assigned to the following %s.", u.GetNickname(), list)); err != nil {
		return nil, err
	}
	return u, nil
}

// syncGroups keeps the memberships of user in the account system's mapped
// groups in step with the identity's groups at each sign-in (R9): mapped
// groups the identity has are joined, mapped groups it lost are left.
func (t *txn) syncGroups(cfg *directoryv1.OidcConfig, user string, have []string) error {
	for _, g := range cfg.GetGroupMapping() {
		member, err := isMember(t, g, user)
		if err != nil {
			return err
		}
		want := slices.Contains(have, g)
		switch {
		case want && !member:
			if ok, err := exists(t, g); err != nil {
				return err
			} else if ok {
				if _, err := t.addMember(g, user); err != nil {
					return err
				}
			}
		case !want && member:
			if err := t.removeMember(g, user); err != nil {
				return err
			}
		}
	}
	return nil
}

// tokenTTLDefault is the lifetime of access tokens unless configured.
const tokenTTLDefault = 15 * time.Minute
