package domain

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/credential"
	"steward.dev/services/directory/oidcauth"
)

// credentialCacheTTL bounds how long another service may cache a verified
// credential. Services also drop cached verifications when the directory's
// events say the principal or key changed (pkg/verifier), so this is only
// the bound of last resort, for a service that missed events.
const credentialCacheTTL = 30 * time.Second

// Principal is who a verified credential speaks for.
type Principal struct {
	// Name is the resource name of the user, robot account or external app.
	Name string
	// Kind is directoryv1's kind of principal.
	Kind directoryv1.PrincipalKind
	// Organization is the principal's organization.
	Organization string
	// DisplayName is the principal's display name now.
	DisplayName string
	// SessionID is the sign-in session (tokens) or the API key's name.
	SessionID string
	// Owner reports whether the principal owns its organization.
	Owner bool
	// CacheUntil is how long the answer may be cached.
	CacheUntil time.Time
}

// CredentialError is a refused credential: ErrInvalidCredentials or
// ErrAPIKeyRevoked with a fixed message for the caller, and the reason,
// which may name key IDs or library errors, for the log only (Detail).
type CredentialError struct {
	sentinel error
	// Detail says why the credential was refused; log it, never show it.
	Detail string
}

// Error returns the fixed message the caller gets.
func (e *CredentialError) Error() string {
	if e.sentinel == ErrAPIKeyRevoked {
		return "the API key is revoked or expired"
	}
	return "invalid credentials"
}

// Unwrap returns ErrInvalidCredentials or ErrAPIKeyRevoked.
func (e *CredentialError) Unwrap() error { return e.sentinel }

// refused returns the CredentialError of sentinel with why as its detail.
func refused(sentinel error, format string, args ...any) error {
	return &CredentialError{sentinel: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// VerifyCredential returns the principal an access token or API key speaks
// for (R10). Tokens of deleted or deactivated users stop working at once;
// they never speak for a later user of the same name (the "uct" claim) nor,
// after a deactivation, for the reactivated user (the "sgen" claim, see
// sessions.go). Enrolment-only tokens are refused unless allowEnrollment.
// Anything not valid is a *CredentialError.
func (s *Service) VerifyCredential(ctx context.Context, raw string, allowEnrollment bool) (Principal, error) {
	now := s.clock()
	if credential.LooksLikeAPIKey(raw) {
		name, key, err := s.LookupAPIKey(ctx, raw)
		switch {
		case errors.Is(err, ErrAPIKeyRevoked):
			return Principal{}, refused(ErrAPIKeyRevoked, "%v", err)
		case errors.Is(err, ErrInvalidCredentials):
			return Principal{}, refused(ErrInvalidCredentials, "%v", err)
		case err != nil:
			return Principal{}, err
		}
		p := Principal{Name: name, Kind: principalKind(name), Organization: resourcename.OrganizationOf(name), SessionID: key.GetName(), CacheUntil: now.Add(credentialCacheTTL)}
		if exp := key.GetExpireTime(); exp != nil && exp.AsTime().Before(p.CacheUntil) {
			p.CacheUntil = exp.AsTime()
		}
		_, err = s.view(ctx, func(tx store.ReadTx) error {
			var m interface {
				proto.Message
				GetDisplayName() string
			} = &directoryv1.ExternalApp{}
			if p.Kind == directoryv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT {
				m = &directoryv1.RobotAccount{}
			}
			if err := get(tx, name, m); err != nil {
				return err
			}
			p.DisplayName = m.GetDisplayName()
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			return Principal{}, refused(ErrInvalidCredentials, "the API key's principal %s no longer exists", name)
		}
		return p, err
	}
	c, err := s.keys.signer().Verify(raw, now)
	if err != nil {
		return Principal{}, refused(ErrInvalidCredentials, "%v", err)
	}
	if c.EnrollmentOnly && !allowEnrollment {
		return Principal{}, refused(ErrInvalidCredentials, "enrolment-only token of %s outside TOTP enrolment", c.Subject)
	}
	u := &directoryv1.User{}
	var gen uint64
	_, err = s.view(ctx, func(tx store.ReadTx) error {
		if err := get(tx, c.Subject, u); err != nil {
			return err
		}
		gen, err = sessionGeneration(tx, c.Subject)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Principal{}, refused(ErrInvalidCredentials, "token of %s, which no longer exists", c.Subject)
	case err != nil:
		return Principal{}, err
	case c.SubjectCreated != createdNanos(u):
		// A user deleted and created again under the same name is someone
		// else: the old one's tokens do not speak for them (R10).
		return Principal{}, refused(ErrInvalidCredentials, "token of an earlier user named %s", c.Subject)
	case c.SessionGeneration < gen:
		// Issued before a deactivation: reactivation does not revive it.
		return Principal{}, refused(ErrInvalidCredentials, "token of %s from session generation %d, now %d", c.Subject, c.SessionGeneration, gen)
	case u.GetState() != directoryv1.User_STATE_ACTIVE:
		return Principal{}, refused(ErrInvalidCredentials, "token of %s, which is inactive", c.Subject)
	}
	until := now.Add(credentialCacheTTL)
	if c.Expiry.Before(until) {
		until = c.Expiry
	}
	return Principal{
		Name:         u.GetName(),
		Kind:         directoryv1.PrincipalKind_PRINCIPAL_KIND_USER,
		Organization: resourcename.OrganizationOf(u.GetName()),
		DisplayName:  u.GetDisplayName(),
		SessionID:    c.SessionID,
		Owner:        u.GetOwner(),
		CacheUntil:   until,
	}, nil
}

// principalKind returns the kind of principal name names.
func principalKind(name string) directoryv1.PrincipalKind {
	switch {
	case strings.Contains(name, "/robotAccounts/"):
		return directoryv1.PrincipalKind_PRINCIPAL_KIND_ROBOT_ACCOUNT
	case strings.Contains(name, "/externalApps/"):
		return directoryv1.PrincipalKind_PRINCIPAL_KIND_EXTERNAL_APP
	default:
		return directoryv1.PrincipalKind_PRINCIPAL_KIND_USER
	}
}

// EnrollTotp starts (or restarts) TOTP enrolment of the actor's own account
// (R9): the secret is pending until ConfirmTotp. Replacing a confirmed
// secret needs currentCode, a current code of it.
func (s *Service) EnrollTotp(ctx context.Context, actor Actor, name, currentCode string) (*directoryv1.EnrollTotpResponse, error) {
	if actor.Name != name {
		return nil, fieldError("name", "must be your own user (%s)", actor.Name)
	}
	settle, err := s.limitCodeCheck(actor.SourceAddress, name, currentCode)
	if err != nil {
		return nil, err
	}
	resp := &directoryv1.EnrollTotpResponse{}
	_, err = s.update(ctx, actor, func(t *txn) error {
		u := &directoryv1.User{}
		if err := get(t, name, u); err != nil {
			return err
		}
		secret, uri, err := credential.NewTOTP("Steward", u.GetEmail())
		if err != nil {
			return err
		}
		sec, err := getSecrets(t, name)
		if err != nil {
			return err
		}
		if sec.TOTPSecret != "" {
			// Like a sign-in, the check uses the code up (RFC 6238 §5.2).
			step, ok := credential.VerifyTOTP(sec.TOTPSecret, currentCode, t.Now, sec.TOTPLastStep)
			if !ok {
				return errorf(ErrTOTPRequired, "replacing the confirmed authenticator needs a current code from it (current_code)")
			}
			sec.TOTPLastStep = step
		}
		sec.PendingTOTPSecret = secret
		resp.Secret, resp.OtpauthUri = secret, uri
		return t.putSecrets(name, sec)
	})
	settle(err == nil)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// ConfirmTotp activates the pending TOTP secret when code is right, and
// turns MFA on for the account (R9).
func (s *Service) ConfirmTotp(ctx context.Context, actor Actor, name, code string) (*directoryv1.User, error) {
	if actor.Name != name {
		return nil, fieldError("name", "must be your own user (%s)", actor.Name)
	}
	u := &directoryv1.User{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		if err := get(t, name, u); err != nil {
			return err
		}
		sec, err := getSecrets(t, name)
		if err != nil {
			return err
		}
		if sec.PendingTOTPSecret == "" {
			return errorf(ErrTOTPNotConfirmed, "no TOTP enrolment is pending; call EnrollTotp first")
		}
		// The new secret has had no code used; this one is used up
		// (RFC 6238 §5.2).
		step, ok := credential.VerifyTOTP(sec.PendingTOTPSecret, code, t.Now, 0)
		if !ok {
			return errorf(ErrTOTPNotConfirmed, "the code does not match the pending TOTP secret")
		}
		sec.TOTPSecret, sec.PendingTOTPSecret, sec.TOTPLastStep = sec.PendingTOTPSecret, "", step
		if err := t.putSecrets(name, sec); err != nil {
			return err
		}
		u.TotpEnrolled, u.MfaRequired, u.UpdateTime = true, true, t.Timestamp()
		if err := t.put(u); err != nil {
			return err
		}
		return t.updated(TypeTOTPEnrolled, u, fmt.Sprintf("User %s enrolled a TOTP authenticator.", u.GetNickname()))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SwitchAccountSystem replaces the organization's account system (R8). It
// must be confirmed and guarded by the organization's current etag; it
// deletes every user but the owner — one event each — unbinds the owner
// from any external subject, and emits the switch event, all in one
// transaction. An OIDC issuer must be one the directory may contact (https,
// public; see oidcauth.Options), and the group mapping may name only
// existing groups of the organization other than Everyone.
func (s *Service) SwitchAccountSystem(ctx context.Context, actor Actor, req *directoryv1.SwitchAccountSystemRequest) (*directoryv1.SwitchAccountSystemResponse, error) {
	if err := actor.visible(req.GetName()); err != nil {
		return nil, err
	}
	if !req.GetConfirm() {
		return nil, errorf(ErrSwitchUnconfirmed, "switching the account system deletes every sub-account: set confirm to true")
	}
	next := req.GetAccountSystem()
	if next.GetKind() == directoryv1.AccountSystem_KIND_OIDC {
		if err := s.oidc.CheckIssuer(next.GetOidc().GetIssuer()); err != nil {
			return nil, fieldError("account_system.oidc.issuer", "%s", strings.TrimPrefix(err.Error(), oidcauth.ErrIssuerNotAllowed.Error()+": "))
		}
	}
	org := resourcename.OrganizationOf(req.GetName())
	resp := &directoryv1.SwitchAccountSystemResponse{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, resp, func() error {
			o, as, err := organizationEtag(t, org)
			if err != nil {
				return err
			}
			if o.GetEtag() != req.GetEtag() {
				return errorf(ErrEtagMismatch, "etag %q is not the current etag of %s", req.GetEtag(), org)
			}
			if err := checkGroupMapping(t, org, next.GetOidc()); err != nil {
				return err
			}
			var users, survivors []*directoryv1.User
			err = t.Scan(recordKey(org+"/users/"), nil, func(k, v []byte) (bool, error) {
				if strings.Contains(string(k[len(recordKey(org+"/users/")):]), "/") {
					return true, nil
				}
				u := &directoryv1.User{}
				if err := proto.Unmarshal(v, u); err != nil {
					return false, err
				}
				if u.GetOwner() {
					survivors = append(survivors, u)
				} else {
					users = append(users, u)
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			for _, u := range users {
				if err := t.removeUser(u); err != nil {
					return err
				}
			}
			// External subjects belong to the old identity provider: the
			// new one may give the same subject to someone else (R8).
			for _, u := range survivors {
				if err := t.unbindSubject(u); err != nil {
					return err
				}
			}
			if err := t.clearSubjectIndex(org); err != nil {
				return err
			}
			as.Kind, as.Oidc, as.UpdateTime = next.GetKind(), next.GetOidc(), t.Timestamp()
			as.Etag = ""
			if err := t.put(as); err != nil {
				return err
			}
			o.AccountSystemKind, o.UpdateTime = next.GetKind(), t.Timestamp()
			o.Etag = ""
			if err := t.put(o); err != nil {
				return err
			}
			if err := t.Emit(TypeAccountSystemSwitched, eventlogv1.Operation_OPERATION_UPDATE, as.GetName(), as,
				fmt.Sprintf("The account system was switched to %s; %d accounts were deleted.", kindName(next.GetKind()), len(users))); err != nil {
				return err
			}
			_, current, err := organizationEtag(t, org)
			if err != nil {
				return err
			}
			resp.AccountSystem = current
			resp.DeletedUserCount = int32(len(users))
			resp.Sequence = t.LastSeq
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// checkGroupMapping refuses a group mapping that names anything but an
// existing group of org other than Everyone: sign-in would otherwise add
// the organization's users to another organization's groups (R10), or
// to Everyone, whose membership is implicit (R5).
func checkGroupMapping(tx store.ReadTx, org string, cfg *directoryv1.OidcConfig) error {
	const field = "account_system.oidc.group_mapping"
	mapping := cfg.GetGroupMapping()
	for _, claim := range slices.Sorted(maps.Keys(mapping)) {
		group := mapping[claim]
		if _, ok := strings.CutPrefix(group, org+"/groups/"); !ok {
			return fieldError(field, "%q maps to %s, which is not a group of %s", claim, group, org)
		}
		g := &directoryv1.Group{}
		if err := get(tx, group, g); errors.Is(err, ErrNotFound) {
			return fieldError(field, "%q maps to %s, which does not exist", claim, group)
		} else if err != nil {
			return err
		}
		if !mappable(org, group) || g.GetDefaultGroup() == directoryv1.Group_DEFAULT_GROUP_EVERYONE {
			return fieldError(field, "%q maps to Everyone, whose membership is implicit", claim)
		}
	}
	return nil
}

// unbindSubject clears u's external subject and its index entry, with a
// TypeUserUpdated event, if it has one.
func (t *txn) unbindSubject(u *directoryv1.User) error {
	sub := u.GetExternalSubject()
	if sub == "" {
		return nil
	}
	org := resourcename.OrganizationOf(u.GetName())
	if name, err := lookup(t, subjectIndex+org+"/"+sub); err != nil {
		return err
	} else if name == u.GetName() {
		if err := t.Delete([]byte(subjectIndex + org + "/" + sub)); err != nil {
			return err
		}
	}
	u.ExternalSubject, u.UpdateTime = "", t.Timestamp()
	if err := t.put(u); err != nil {
		return err
	}
	return t.updated(TypeUserUpdated, u, fmt.Sprintf("User %s was unbound from the external subject %s of the previous account system.", u.GetNickname(), sub))
}

// clearSubjectIndex deletes every external-subject index entry of org, so
// that none outlives the identity provider that issued its subject (R8).
func (t *txn) clearSubjectIndex(org string) error {
	prefix := subjectIndex + org + "/"
	subs, err := keysUnder(t, prefix)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if err := t.Delete([]byte(prefix + sub)); err != nil {
			return err
		}
	}
	return nil
}

func kindName(k directoryv1.AccountSystem_Kind) string {
	if k == directoryv1.AccountSystem_KIND_OIDC {
		return "OIDC"
	}
	return "local accounts"
}
