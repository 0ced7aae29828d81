package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"

	"steward.dev/pkg/authn"
	"steward.dev/services/directory/domain"
)

// verify is the directory's own authn.Verifier: it checks bearer
// credentials (access tokens and API keys) against its own records. Unlike
// VerifyCredential it accepts enrolment-only tokens, which access management
// refuses everywhere (pkg/accessauthz), so that they are good only for the
// caller's own TOTP enrolment (whose rule needs no permission).
func (w *wiring) verify(ctx context.Context, credential string) (authn.Principal, error) {
	d, err := w.domain(ctx)
	if err != nil {
		return authn.Principal{}, err
	}
	p, err := d.VerifyCredential(ctx, credential, true)
	switch {
	case errors.Is(err, domain.ErrInvalidCredentials), errors.Is(err, domain.ErrAPIKeyRevoked):
		logRefusal(ctx, err)
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

// logRefusal adds why a credential was refused to the call's log line: the
// caller gets a fixed message, since the reason may name key IDs or library
// errors (issue 9 item 8).
func logRefusal(ctx context.Context, err error) {
	var ce *domain.CredentialError
	if errors.As(err, &ce) {
		logging.AddFields(ctx, logging.Fields{"credential_refused", ce.Detail})
	}
}
