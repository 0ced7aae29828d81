package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"

	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/services/directory/domain"
)

// verify is the directory's own authn.Verifier: it checks bearer
// credentials (access tokens and API keys) against its own records. Unlike
// VerifyCredential it accepts enrolment-only tokens, which authorize refuses
// everywhere but on the caller's own TOTP enrolment.
func (w *wiring) verify(ctx context.Context, credential string) (authn.Principal, error) {
	d, err := w.domain(ctx)
	if err != nil {
		return authn.Principal{}, err
	}
	p, err := d.VerifyCredential(ctx, credential, true)
	switch {
	case errors.Is(err, domain.ErrInvalidCredentials), errors.Is(err, domain.ErrAPIKeyRevoked):
		return authn.Principal{}, fmt.Errorf("%w: %v", authn.ErrUnauthenticated, err)
	case err != nil:
		return authn.Principal{}, err
	}
	return authn.Principal{
		Kind:         authn.KindOf(p.Name),
		Name:         p.Name,
		Organization: p.Organization,
		SessionID:    p.SessionID,
		DisplayName:  p.DisplayName,
	}, nil
}

// authorize is the interim authorizer (issue 4, item 10) until access
// management answers permission checks: objects of another organization
// are NotFound; the owner and the members of the Administrators group may
// do everything in their organization; everyone else may only read (every
// permission asked ends in ".view"); enrolment-only sessions may do nothing
// that needs a permission.
func (w *wiring) authorize(ctx context.Context, req authz.Request) (authz.Decision, error) {
	d, err := w.domain(ctx)
	if err != nil {
		return authz.Decision{}, err
	}
	p := req.Principal
	if p.Organization == "" || domain.OrganizationOf(req.Scope) != p.Organization {
		return authz.Decision{}, apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, req.Scope+" not found", nil)
	}
	if domain.IsEnrollmentSession(p.SessionID) {
		return authz.Decision{Reason: "the account requires MFA: enrol a TOTP authenticator (EnrollTotp, ConfirmTotp) and sign in again"}, nil
	}
	st, err := d.StandingOf(ctx, p.Name)
	if err != nil {
		return authz.Decision{}, err
	}
	if st.Owner || st.Administrator {
		return authz.Decision{Allowed: true, Reason: "owner or Administrators member"}, nil
	}
	var missing []string
	for _, perm := range req.Permissions {
		if !strings.HasSuffix(perm, ".view") {
			missing = append(missing, perm)
		}
	}
	if len(missing) == 0 {
		return authz.Decision{Allowed: true, Reason: "read access of an organization member"}, nil
	}
	return authz.Decision{Missing: missing, Reason: "until access management is in place, only the owner and members of Administrators may change the directory"}, nil
}
