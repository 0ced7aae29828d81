package domain

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/change"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/oidcauth"
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
// identity provider, which may provision the user automatically; the owner
// always signs in with a password (and TOTP code), never through the
// identity provider. Attempts are rate limited before any credential is
// checked (see Limits): per source, and per account for passwords and for
// verified external identities; successful ones are not counted. Every
// failure is audited the same way whether or not the account exists, and
// says nothing to the caller of the identity provider's answers.
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

// The audit messages of failed sign-ins (R9, R27): one per kind of
// credential, the same whatever went wrong, so that the log does not tell
// whether the account exists.
const (
	signInFailedPassword = "Sign-in of %s failed."
	signInFailedExternal = "Sign-in through the identity provider failed."
)

// passwordAccountKey is the per-account sign-in limit key of a password
// sign-in: organization and email, whether or not the account exists.
func passwordAccountKey(org, email string) string {
	return "password:" + org + "/" + strings.ToLower(email)
}

// externalAccountKey is the per-account sign-in limit key of a verified
// external identity: organization and subject.
func externalAccountKey(org, sub string) string {
	return "external:" + org + "/" + sub
}

func (s *Service) signInPassword(ctx context.Context, actor Actor, org string, c *directoryv1.PasswordCredential) (*directoryv1.SignInResponse, error) {
	// The attempt is counted before any credential is checked, so that
	// concurrent attempts cannot all pass the limit (R9).
	attempt, err := s.limits.beginSignIn(actor.SourceAddress, s.clock())
	if err != nil {
		return nil, err
	}
	var (
		u       = &directoryv1.User{}
		secrets userSecrets
		kind    directoryv1.AccountSystem_Kind
	)
	_, err = s.view(ctx, func(tx store.ReadTx) error {
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
		secrets, err = getSecrets(tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := attempt.charge(passwordAccountKey(org, c.GetEmail()), secrets.SignInSources, s.clock()); err != nil {
		return nil, err
	}
	// secrets.PasswordHash is empty when the account does not exist: the
	// check then costs the same, and fails.
	ok, err := s.checkPassword(ctx, actor.SourceAddress, secrets.PasswordHash, c.GetPassword())
	if err != nil {
		return nil, err
	}
	fail := func(cause error) (*directoryv1.SignInResponse, error) {
		return nil, s.signInFailed(ctx, actor, org, fmt.Sprintf(signInFailedPassword, c.GetEmail()), cause)
	}
	if !ok {
		return fail(errorf(ErrInvalidCredentials, "invalid credentials"))
	}
	if kind == directoryv1.AccountSystem_KIND_OIDC && !u.GetOwner() {
		return fail(errorf(ErrAccountSystemMismatch, "%s signs in through its OIDC identity provider; only the owner may use a password", org))
	}
	if u.GetState() != directoryv1.User_STATE_ACTIVE {
		return fail(errorf(ErrUserInactive, "the account is inactive"))
	}
	grant := signInGrant{}
	if u.GetMfaRequired() {
		switch {
		case secrets.TOTPSecret == "":
			grant.enrollOnly = true
		case c.GetTotpCode() == "":
			// The first step of a two-step sign-in: the password was right
			// and no code was guessed, so the attempt is not counted
			// (people behind one address would otherwise run out), though
			// it is audited.
			attempt.succeeded(s.clock())
			return fail(errorf(ErrTOTPRequired, "the account requires a valid TOTP code"))
		default:
			grant.totpCode = c.GetTotpCode()
		}
	}
	resp, err := s.issue(ctx, actor, u, grant)
	if errors.Is(err, ErrTOTPRequired) {
		return fail(err)
	}
	if err != nil {
		return nil, err
	}
	attempt.succeeded(s.clock())
	return resp, nil
}

// checkPassword reports whether password, given by a caller at source,
// matches hash, or spends the same work and reports false when hash is
// empty. At most Limits.MaxConcurrentPasswordChecks run at once (R10:
// argon2id is memory-hard, so unbounded concurrent checks would exhaust
// memory), and at most Limits.MaxConcurrentPasswordChecksPerSource of one
// source run or wait for them.
func (s *Service) checkPassword(ctx context.Context, source, hash, password string) (bool, error) {
	release, err := s.limits.hashSlot(ctx, source)
	if err != nil {
		return false, err
	}
	defer release()
	if hash == "" {
		credential.VerifyDummy(password)
		return false, nil
	}
	return credential.VerifyPassword(hash, password)
}

// signInFailed is the one way a sign-in fails once its credentials were
// looked at (R9, R27): it audits the attempt — TypeSignInFailed, outcome
// DENIED, on the organization if it exists, with message, which must say
// nothing of whether the account exists — and returns cause, the error for
// the caller.
func (s *Service) signInFailed(ctx context.Context, actor Actor, org, message string, cause error) error {
	_, err := s.update(ctx, actor, func(t *txn) error {
		if ok, err := exists(t, org); err != nil || !ok {
			return err
		}
		return t.EmitOutcome(TypeSignInFailed, org, message, eventlogv1.Outcome_OUTCOME_DENIED)
	})
	if err != nil {
		return err
	}
	return cause
}

// signInGrant is what a sign-in that issue records still needs to
// settle.
type signInGrant struct {
	// enrollOnly makes the token good only for TOTP enrolment.
	enrollOnly bool
	// provisioned says the sign-in created the user.
	provisioned bool
	// totpCode, when not empty, must be a TOTP code of the user's confirmed
	// secret for a time step newer than the last one accepted; issue
	// records its step with the sign-in (RFC 6238 §5.2).
	totpCode string
}

// issue records a successful sign-in of u — its time, its source among the
// user's known sources (see Limits), the TOTP step used — and returns its
// access token. It fails with ErrTOTPRequired, recording nothing, when
// g.totpCode is not a fresh code.
func (s *Service) issue(ctx context.Context, actor Actor, u *directoryv1.User, g signInGrant) (*directoryv1.SignInResponse, error) {
	session := change.NewID()
	if g.enrollOnly {
		session = enrollmentSessionPrefix + session
	}
	source := actor.SourceAddress
	actor.Name, actor.DisplayName, actor.Organization = u.GetName(), u.GetDisplayName(), resourcename.OrganizationOf(u.GetName())
	var raw string
	var claims accesstoken.Claims
	_, err := s.update(ctx, actor, func(t *txn) error {
		// Signed in the transaction that records the sign-in, so that the
		// token names the user's incarnation and session generation as
		// they are when it is issued (sessions.go).
		var err error
		if raw, claims, err = t.signToken(u, session, g.enrollOnly); err != nil {
			return err
		}
		cur := &directoryv1.User{}
		if err := get(t, u.GetName(), cur); err != nil {
			return err
		}
		sec, err := getSecrets(t, cur.GetName())
		if err != nil {
			return err
		}
		changed := rememberSource(&sec, source)
		if g.totpCode != "" {
			step, ok := credential.VerifyTOTP(sec.TOTPSecret, g.totpCode, t.Now, sec.TOTPLastStep)
			if !ok {
				return errorf(ErrTOTPRequired, "the account requires a valid TOTP code")
			}
			sec.TOTPLastStep, changed = step, true
		}
		if changed {
			if err := t.putSecrets(cur.GetName(), sec); err != nil {
				return err
			}
		}
		cur.LastSignInTime = t.Timestamp()
		if err := t.put(cur); err != nil {
			return err
		}
		return t.Emit(TypeUserSignedIn, eventlogv1.Operation_OPERATION_UNSPECIFIED, cur.GetName(), nil,
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
		TotpEnrollmentRequired: g.enrollOnly,
		Provisioned:            g.provisioned,
	}, nil
}

// createdNanos is u's create time in Unix nanoseconds, the "uct" claim of
// its tokens (R10).
func createdNanos(u *directoryv1.User) int64 {
	return u.GetCreateTime().AsTime().UnixNano()
}

// signInRefusals are the errors of a verified external identity that the
// caller gets and the audit log records as a failed sign-in.
var signInRefusals = []error{ErrNotProvisionable, ErrEmailTaken, ErrUserInactive, ErrAccountSystemMismatch, ErrIDTokenInvalid}

func (s *Service) signInExternal(ctx context.Context, actor Actor, org, idToken string) (*directoryv1.SignInResponse, error) {
	// Until the token is verified, nothing is known of whose it is: it
	// counts against the source alone, so that garbage tokens lock nobody
	// out (R9).
	attempt, err := s.limits.beginSignIn(actor.SourceAddress, s.clock())
	if err != nil {
		return nil, err
	}
	fail := func(cause error) (*directoryv1.SignInResponse, error) {
		return nil, s.signInFailed(ctx, actor, org, signInFailedExternal, cause)
	}
	as := &directoryv1.AccountSystem{}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, org+"/accountSystem", as) }); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fail(errorf(ErrInvalidCredentials, "invalid credentials"))
		}
		return nil, err
	}
	if as.GetKind() != directoryv1.AccountSystem_KIND_OIDC {
		return fail(errorf(ErrAccountSystemMismatch, "%s uses local accounts; sign in with a password", org))
	}
	cfg := as.GetOidc()
	id, err := s.oidc.Verify(ctx, cfg.GetIssuer(), cfg.GetClientId(), cfg.GetGroupClaim(), idToken)
	switch {
	case errors.Is(err, oidcauth.ErrIssuerUnavailable):
		// The verifier logged what went wrong. The caller, anyone at all,
		// learns nothing of what the issuer's URL reaches (SSRF).
		return nil, errorf(ErrUnavailable, "the identity provider cannot be reached")
	case err != nil:
		return fail(errorf(ErrIDTokenInvalid, "the ID token is not valid"))
	}
	// Only the identity itself (or its provider) can fail as it: none of
	// its sources is exempt from the ceiling.
	if err := attempt.charge(externalAccountKey(org, id.Subject), nil, s.clock()); err != nil {
		return nil, err
	}
	var (
		u           *directoryv1.User
		provisioned bool
	)
	_, err = s.update(ctx, actor, func(t *txn) error {
		u, provisioned = nil, false
		// The index holds the subjects of the current issuer only: a switch
		// of account system empties it (R8). A switch while the token was
		// being verified makes it a token of the previous issuer.
		cur := &directoryv1.AccountSystem{}
		if err := get(t, org+"/accountSystem", cur); err != nil {
			return err
		}
		if !proto.Equal(cur, as) {
			return errorf(ErrIDTokenInvalid, "the ID token is not valid")
		}
		name, err := lookup(t, subjectIndex+org+"/"+id.Subject)
		if err != nil {
			return err
		}
		mapped := mappedGroups(org, cfg, id.Groups)
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
		if u.GetOwner() {
			// The identity provider's word is not enough for the owner,
			// whose TOTP it would bypass (R1, R9).
			return errorf(ErrAccountSystemMismatch, "the owner signs in with a password (and TOTP code), not through the identity provider")
		}
		if u.GetState() != directoryv1.User_STATE_ACTIVE {
			return errorf(ErrUserInactive, "the account is inactive")
		}
		return t.syncGroups(org, cfg, u, mapped)
	})
	if err != nil {
		for _, refusal := range signInRefusals {
			if errors.Is(err, refusal) {
				return fail(err)
			}
		}
		return nil, err
	}
	resp, err := s.issue(ctx, actor, u, signInGrant{provisioned: provisioned})
	if err != nil {
		return nil, err
	}
	attempt.succeeded(s.clock())
	return resp, nil
}

// lookup returns the value of an index key, "" when it is absent.
func lookup(tx store.ReadTx, key string) (string, error) {
	b, err := tx.Get([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// mappable reports whether group may be joined through the group mapping
// of org's account system: a group of org (R10: never another
// organization's), and not Everyone, whose membership is implicit (R5).
func mappable(org, group string) bool {
	id, ok := strings.CutPrefix(group, org+"/groups/")
	return ok && id != "" && !strings.Contains(id, "/") && id != GroupEveryone
}

// mappedGroups returns the directory groups of org the identity's
// group-claim values map to, sorted and without duplicates.
func mappedGroups(org string, cfg *directoryv1.OidcConfig, claimGroups []string) []string {
	var out []string
	for _, g := range claimGroups {
		if name, ok := cfg.GetGroupMapping()[g]; ok && mappable(org, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nicknameUnsafe matches what a nickname may not contain.
var nicknameUnsafe = regexp.MustCompile(`[^A-Za-z0-9@._-]`)

// displayUnsafe matches what display text may not contain: the characters
// the display_text rule of text.proto refuses (C0 and C1 controls, DEL,
// bidirectional formatting characters).
var displayUnsafe = regexp.MustCompile(`[\x00-\x1F\x7F-\x9F\x{061C}\x{200E}\x{200F}\x{202A}-\x{202E}\x{2066}-\x{2069}]`)

// maxDisplayRunes is the length limit of display names (max_len 128).
const maxDisplayRunes = 128

// displayText makes text from outside the API (an identity provider's
// "name" claim) fit for a display name as the API's rules would have it:
// without the characters displayUnsafe matches, trimmed, at most
// maxDisplayRunes characters.
func displayText(text string) string {
	r := []rune(strings.TrimSpace(displayUnsafe.ReplaceAllString(text, "")))
	return strings.TrimSpace(string(r[:min(len(r), maxDisplayRunes)]))
}

// provision creates the user of an external identity at first sign-in (R9).
// The identity must belong to a group that is added to a service; until
// access management answers that, a group named in the account system's
// group mapping counts as added. groups are mappable (mappedGroups).
func (t *txn) provision(org string, id oidcauth.Identity, groups []string) (*directoryv1.User, error) {
	var existing []string
	for _, g := range groups {
		if !mappable(org, g) {
			continue
		}
		if ok, err := exists(t, g); err != nil {
			return nil, err
		} else if ok {
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
	display := displayText(id.Name)
	if display == "" {
		display = nick
	}
	u := &directoryv1.User{
		Name:            org + "/users/" + change.NewID(),
		Nickname:        nick,
		Email:           id.Email,
		DisplayName:     display,
		Department:      org + "/departments/" + RootDepartment,
		ExternalSubject: id.Subject,
		State:           directoryv1.User_STATE_ACTIVE,
		Provisioning:    directoryv1.User_PROVISIONING_AUTO,
		CreateTime:      t.Timestamp(),
		UpdateTime:      t.Timestamp(),
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
	who := t.actor
	who.Name, who.DisplayName, who.Organization = u.GetName(), u.GetDisplayName(), org
	t.setActor(who)
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

// syncGroups keeps the memberships of u in the account system's mapped
// groups in step with the identity's groups at each sign-in (R9): mapped
// groups the identity has are joined, mapped groups it lost are left. Only
// mappable groups of org are touched, and the owner never leaves
// Administrators (R1).
func (t *txn) syncGroups(org string, cfg *directoryv1.OidcConfig, u *directoryv1.User, have []string) error {
	var targets []string
	for _, g := range cfg.GetGroupMapping() {
		if mappable(org, g) {
			targets = append(targets, g)
		}
	}
	slices.Sort(targets)
	user := u.GetName()
	for _, g := range slices.Compact(targets) {
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
			if u.GetOwner() && g == org+"/groups/"+GroupAdministrators {
				continue
			}
			if err := t.removeMember(g, user); err != nil {
				return err
			}
		}
	}
	return nil
}

// tokenTTLDefault is the lifetime of access tokens unless configured.
const tokenTTLDefault = 15 * time.Minute

// SignInOptions says how to sign in to org (R8, R9), to anyone: with a
// password always, and for an organization on OIDC also through its
// identity provider, whose authorization endpoint comes from the issuer's
// discovery document. An organization that does not exist answers as one
// with local accounts, so that the answer tells no more than SignIn's
// refusals.
func (s *Service) SignInOptions(ctx context.Context, org string) (*directoryv1.SignInOptions, error) {
	local := &directoryv1.SignInOptions{Kind: directoryv1.AccountSystem_KIND_LOCAL}
	as := &directoryv1.AccountSystem{}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, org+"/accountSystem", as) }); err != nil {
		if errors.Is(err, ErrNotFound) {
			return local, nil
		}
		return nil, err
	}
	if as.GetKind() != directoryv1.AccountSystem_KIND_OIDC {
		return local, nil
	}
	cfg := as.GetOidc()
	endpoint, err := s.oidc.AuthorizationEndpoint(ctx, cfg.GetIssuer())
	if err != nil {
		// As in SignIn: the caller learns nothing of what the issuer's
		// URL reaches (SSRF).
		return nil, errorf(ErrUnavailable, "the identity provider cannot be reached")
	}
	return &directoryv1.SignInOptions{
		Kind:                  directoryv1.AccountSystem_KIND_OIDC,
		Issuer:                cfg.GetIssuer(),
		AuthorizationEndpoint: endpoint,
		ClientId:              cfg.GetClientId(),
		Scopes:                []string{"openid", "email", "profile"},
	}, nil
}
