package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
)

// SignIn exchanges credentials for an access token (R9). Public.
func (s *directoryServer) SignIn(ctx context.Context, req *directoryv1.SignInRequest) (*directoryv1.SignInResponse, error) {
	return reply(s.d.SignIn(ctx, actorOf(ctx), req))
}

// GetSignInOptions says how to sign in to an organization (R8, R9). Public.
func (s *directoryServer) GetSignInOptions(ctx context.Context, req *directoryv1.GetSignInOptionsRequest) (*directoryv1.SignInOptions, error) {
	return reply(s.d.SignInOptions(ctx, req.GetOrganization()))
}

// GetJwks returns the keys that verify access tokens. Public.
func (s *directoryServer) GetJwks(ctx context.Context, _ *directoryv1.GetJwksRequest) (*directoryv1.GetJwksResponse, error) {
	resp := &directoryv1.GetJwksResponse{}
	for _, k := range s.d.JWKS() {
		resp.Keys = append(resp.Keys, &directoryv1.JsonWebKey{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
	}
	return resp, nil
}

// VerifyCredential tells another Steward service who a credential speaks
// for (R10). Internal.
func (s *directoryServer) VerifyCredential(ctx context.Context, req *directoryv1.VerifyCredentialRequest) (*directoryv1.VerifyCredentialResponse, error) {
	raw := req.GetAccessToken()
	if raw == "" {
		raw = req.GetApiKey()
	}
	p, err := s.d.VerifyCredential(ctx, raw, false)
	if err != nil {
		logRefusal(ctx, err)
		return nil, toStatus(err)
	}
	return &directoryv1.VerifyCredentialResponse{
		Principal: &directoryv1.Principal{
			Name:         p.Name,
			Kind:         p.Kind,
			Organization: p.Organization,
			DisplayName:  p.DisplayName,
			SessionId:    p.SessionID,
			Owner:        p.Owner,
		},
		CacheUntil: timestamppb.New(p.CacheUntil),
	}, nil
}

// SwitchAccountSystem replaces the organization's account system (R8).
func (s *directoryServer) SwitchAccountSystem(ctx context.Context, req *directoryv1.SwitchAccountSystemRequest) (*directoryv1.SwitchAccountSystemResponse, error) {
	return reply(s.d.SwitchAccountSystem(ctx, actorOf(ctx), req))
}

// EnrollTotp starts TOTP enrolment of the caller's own account (R9).
func (s *directoryServer) EnrollTotp(ctx context.Context, req *directoryv1.EnrollTotpRequest) (*directoryv1.EnrollTotpResponse, error) {
	return reply(s.d.EnrollTotp(ctx, actorOf(ctx), req.GetName(), req.GetCurrentCode()))
}

// ConfirmTotp activates the caller's pending TOTP secret (R9).
func (s *directoryServer) ConfirmTotp(ctx context.Context, req *directoryv1.ConfirmTotpRequest) (*directoryv1.User, error) {
	return reply(s.d.ConfirmTotp(ctx, actorOf(ctx), req.GetName(), req.GetCode()))
}

// ExportSnapshot streams the directory's records and memberships, the first
// message with the event-log position they reflect. Internal.
func (s *directoryServer) ExportSnapshot(_ *directoryv1.ExportSnapshotRequest, stream grpc.ServerStreamingServer[directoryv1.ExportSnapshotResponse]) error {
	err := s.d.ExportSnapshot(stream.Context(), func(pos eventlog.Position, batch []proto.Message) error {
		resp := &directoryv1.ExportSnapshotResponse{LogId: pos.LogID, Sequence: pos.Sequence}
		for _, m := range batch {
			a, err := anypb.New(m)
			if err != nil {
				return err
			}
			resp.Records = append(resp.Records, a)
		}
		return stream.Send(resp)
	})
	if err != nil {
		return toStatus(err)
	}
	return nil
}
