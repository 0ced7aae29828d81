package server

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/emptypb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/tracing"
	"steward.dev/services/licensing/domain"
	"steward.dev/services/licensing/leasetoken"
)

// errorDomain is the ErrorInfo domain of licensing's reasons.
const errorDomain = "licensing.steward.dev"

// licensingServer serves steward.licensing.v1.LicensingService: each
// handler turns the caller into a domain.Actor, calls the domain service
// and maps its errors. Input rules (protovalidate) and the method's
// permission rule (authz) ran before; handlers of methods whose rule is
// only "authenticated" check who may act for whom.
type licensingServer struct {
	licensingv1.UnimplementedLicensingServiceServer
	d *domain.Service
	// authorizer answers the per-object checks of methods whose rule is
	// only "authenticated".
	authorizer authz.Authorizer
	// tokens signs lease tokens.
	tokens *leasetoken.Signer
}

var _ licensingv1.LicensingServiceServer = (*licensingServer)(nil)

// actorOf returns the caller of ctx as a domain.Actor: the end user when a
// service acts for one.
func actorOf(ctx context.Context) domain.Actor {
	var a domain.Actor
	if p, ok := authn.Actor(ctx); ok {
		a.Name, a.DisplayName, a.Organization = p.Name, p.DisplayName, p.Organization
	}
	a.RequestID, a.SourceAddress = authn.RequestID(ctx), authn.ClientAddress(ctx)
	a.Traceparent = tracing.Traceparent(ctx)
	return a
}

// mapping maps err to an API error with code and reason r.
func mapping(err error, code codes.Code, r licensingv1.ErrorReason) apierr.Mapping {
	return apierr.Mapping{Err: err, To: apierr.New(code, apierr.Reason(r), errorDomain, "", nil)}
}

// errorTable maps the domain's sentinels to API errors, once.
var errorTable = apierr.Table{
	{Err: domain.ErrNotFound, To: apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, "", nil)},
	mapping(domain.ErrAlreadyExists, codes.AlreadyExists, licensingv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS),
	mapping(domain.ErrEtagMismatch, codes.Aborted, licensingv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH),
	mapping(domain.ErrRequestIDReused, codes.Aborted, licensingv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED),
	mapping(domain.ErrBatchRequiresProfessional, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_BATCH_REQUIRES_PROFESSIONAL),
	mapping(domain.ErrPoolExhausted, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_POOL_EXHAUSTED),
	mapping(domain.ErrPoolExpired, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_POOL_EXPIRED),
	mapping(domain.ErrPoolNotYetValid, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_POOL_NOT_YET_VALID),
	mapping(domain.ErrAlreadyAssigned, codes.AlreadyExists, licensingv1.ErrorReason_ERROR_REASON_LICENSE_ALREADY_ASSIGNED),
	mapping(domain.ErrMemberInactive, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_MEMBER_INACTIVE),
	mapping(domain.ErrBatchRefused, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_BATCH_REFUSED),
	mapping(domain.ErrRequestNotPending, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_REQUEST_NOT_PENDING),
	mapping(domain.ErrQuantityBelowAssigned, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_QUANTITY_BELOW_ASSIGNED),
	mapping(domain.ErrLicenseRequired, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_LICENSE_REQUIRED),
	mapping(domain.ErrLicenseInUse, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_LICENSE_IN_USE),
	mapping(domain.ErrLeaseEnded, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_LEASE_ENDED),
	mapping(domain.ErrConcurrentExecutionDisabled, codes.FailedPrecondition, licensingv1.ErrorReason_ERROR_REASON_CONCURRENT_EXECUTION_DISABLED),
}

// toStatus returns err as a gRPC status error: field errors become
// InvalidArgument with a field violation; domain errors go through
// errorTable, keeping their ErrorInfo metadata and batch violations (a
// google.rpc.PreconditionFailure).
func toStatus(err error) error {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return apierr.InvalidArgument(apierr.Reason(licensingv1.ErrorReason_ERROR_REASON_INVALID_ARGUMENT), errorDomain, fe.Error(),
			apierr.FieldViolation(fe.Field, fe.Description)).GRPCStatus().Err()
	}
	md, vs := domain.MetadataOf(err), domain.ViolationsOf(err)
	if md == nil && vs == nil {
		return errorTable.ToStatus(err)
	}
	for _, m := range errorTable {
		if errors.Is(err, m.Err) {
			e := *m.To
			e.Message, e.Metadata = err.Error(), md
			for _, v := range vs {
				e.Preconditions = append(e.Preconditions, &errdetails.PreconditionFailure_Violation{Type: v.Reason, Subject: v.Subject, Description: v.Description})
			}
			return e.GRPCStatus().Err()
		}
	}
	return errorTable.ToStatus(err)
}

// reply returns resp, or the status error of err.
func reply[T any](resp T, err error) (T, error) {
	if err != nil {
		var zero T
		return zero, toStatus(err)
	}
	return resp, nil
}

// GetLicensePool reads a pool (R21).
func (s *licensingServer) GetLicensePool(ctx context.Context, req *licensingv1.GetLicensePoolRequest) (*licensingv1.LicensePool, error) {
	return reply(s.d.GetLicensePool(ctx, actorOf(ctx), req))
}

// ListLicensePools lists an organization's pools (R21).
func (s *licensingServer) ListLicensePools(ctx context.Context, req *licensingv1.ListLicensePoolsRequest) (*licensingv1.ListLicensePoolsResponse, error) {
	return reply(s.d.ListLicensePools(ctx, actorOf(ctx), req))
}

// CreateLicensePool creates a pool (R21); internal: the operator's.
func (s *licensingServer) CreateLicensePool(ctx context.Context, req *licensingv1.CreateLicensePoolRequest) (*licensingv1.LicensePool, error) {
	return reply(s.d.CreateLicensePool(ctx, actorOf(ctx), req))
}

// UpdateLicensePool changes a pool (R21); internal: the operator's.
func (s *licensingServer) UpdateLicensePool(ctx context.Context, req *licensingv1.UpdateLicensePoolRequest) (*licensingv1.LicensePool, error) {
	return reply(s.d.UpdateLicensePool(ctx, actorOf(ctx), req))
}

// CreateLicenseRequest asks the operator for licenses (R21).
func (s *licensingServer) CreateLicenseRequest(ctx context.Context, req *licensingv1.CreateLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	return reply(s.d.CreateLicenseRequest(ctx, actorOf(ctx), req))
}

// ListLicenseRequests lists license requests (R21).
func (s *licensingServer) ListLicenseRequests(ctx context.Context, req *licensingv1.ListLicenseRequestsRequest) (*licensingv1.ListLicenseRequestsResponse, error) {
	return reply(s.d.ListLicenseRequests(ctx, actorOf(ctx), req))
}

// FulfillLicenseRequest grants a request (R21); internal: the operator's.
func (s *licensingServer) FulfillLicenseRequest(ctx context.Context, req *licensingv1.FulfillLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	return reply(s.d.FulfillLicenseRequest(ctx, actorOf(ctx), req))
}

// RejectLicenseRequest refuses a request (R21); internal: the operator's.
func (s *licensingServer) RejectLicenseRequest(ctx context.Context, req *licensingv1.RejectLicenseRequestRequest) (*licensingv1.LicenseRequest, error) {
	return reply(s.d.RejectLicenseRequest(ctx, actorOf(ctx), req))
}

// AssignLicense gives a member a license (R22).
func (s *licensingServer) AssignLicense(ctx context.Context, req *licensingv1.AssignLicenseRequest) (*licensingv1.LicenseAssignment, error) {
	return reply(s.d.AssignLicense(ctx, actorOf(ctx), req))
}

// UnassignLicense removes a member's license (R22).
func (s *licensingServer) UnassignLicense(ctx context.Context, req *licensingv1.UnassignLicenseRequest) (*emptypb.Empty, error) {
	return reply(&emptypb.Empty{}, s.d.UnassignLicense(ctx, actorOf(ctx), req))
}

// BatchAssignLicenses gives many members a license at once (R22).
func (s *licensingServer) BatchAssignLicenses(ctx context.Context, req *licensingv1.BatchAssignLicensesRequest) (*licensingv1.BatchAssignLicensesResponse, error) {
	return reply(s.d.BatchAssignLicenses(ctx, actorOf(ctx), req))
}

// ListLicenseAssignments lists named seats (R22).
func (s *licensingServer) ListLicenseAssignments(ctx context.Context, req *licensingv1.ListLicenseAssignmentsRequest) (*licensingv1.ListLicenseAssignmentsResponse, error) {
	return reply(s.d.ListLicenseAssignments(ctx, actorOf(ctx), req))
}

// GetLicenseUsage returns usage as of now (R26).
func (s *licensingServer) GetLicenseUsage(ctx context.Context, req *licensingv1.GetLicenseUsageRequest) (*licensingv1.LicenseUsage, error) {
	return reply(s.d.GetLicenseUsage(ctx, actorOf(ctx), req))
}

// UpdateLicenseAssignment changes a license's settings (R25).
func (s *licensingServer) UpdateLicenseAssignment(ctx context.Context, req *licensingv1.UpdateLicenseAssignmentRequest) (*licensingv1.LicenseAssignment, error) {
	return reply(s.d.UpdateLicenseAssignment(ctx, actorOf(ctx), req))
}

// AcquireLease signs a client in (R23, R24): the caller acts for the
// principal as the principal itself or holding licenses.edit. The answer
// carries the lease token.
func (s *licensingServer) AcquireLease(ctx context.Context, req *licensingv1.AcquireLeaseRequest) (*licensingv1.AcquireLeaseResponse, error) {
	if err := s.selfOrEdit(ctx, licensingv1.LicensingService_AcquireLease_FullMethodName, req.GetParent(), "principal", req.GetPrincipal()); err != nil {
		return nil, err
	}
	l, err := s.d.AcquireLease(ctx, actorOf(ctx), req)
	if err != nil {
		return nil, toStatus(err)
	}
	tok, err := s.sign(l)
	if err != nil {
		return nil, err
	}
	return &licensingv1.AcquireLeaseResponse{Lease: l, LeaseToken: tok}, nil
}

// RenewLease extends a lease with a new token (R24): its principal's call,
// or an administrator's (licenses.edit).
func (s *licensingServer) RenewLease(ctx context.Context, req *licensingv1.RenewLeaseRequest) (*licensingv1.RenewLeaseResponse, error) {
	if err := s.leaseHolderOrEdit(ctx, licensingv1.LicensingService_RenewLease_FullMethodName, req.GetName()); err != nil {
		return nil, err
	}
	l, err := s.d.RenewLease(ctx, actorOf(ctx), req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	tok, err := s.sign(l)
	if err != nil {
		return nil, err
	}
	return &licensingv1.RenewLeaseResponse{Lease: l, LeaseToken: tok}, nil
}

// ReleaseLease ends a lease when its client closes (R24): its principal's
// call, or an administrator's (licenses.edit).
func (s *licensingServer) ReleaseLease(ctx context.Context, req *licensingv1.ReleaseLeaseRequest) (*emptypb.Empty, error) {
	if err := s.leaseHolderOrEdit(ctx, licensingv1.LicensingService_ReleaseLease_FullMethodName, req.GetName()); err != nil {
		return nil, err
	}
	return reply(&emptypb.Empty{}, s.d.ReleaseLease(ctx, actorOf(ctx), req.GetName()))
}

// ForceReleaseLease ends another's lease (R24).
func (s *licensingServer) ForceReleaseLease(ctx context.Context, req *licensingv1.ForceReleaseLeaseRequest) (*licensingv1.Lease, error) {
	return reply(s.d.ForceReleaseLease(ctx, actorOf(ctx), req.GetName()))
}

// ListLeases lists live leases (R24).
func (s *licensingServer) ListLeases(ctx context.Context, req *licensingv1.ListLeasesRequest) (*licensingv1.ListLeasesResponse, error) {
	return reply(s.d.ListLeases(ctx, actorOf(ctx), req))
}

// AcquireExecution starts a job under the user's execution lock (R25): the
// user's call, or an administrator's (licenses.edit).
func (s *licensingServer) AcquireExecution(ctx context.Context, req *licensingv1.AcquireExecutionRequest) (*licensingv1.Execution, error) {
	if err := s.selfOrEdit(ctx, licensingv1.LicensingService_AcquireExecution_FullMethodName, req.GetParent(), "user", req.GetUser()); err != nil {
		return nil, err
	}
	return reply(s.d.AcquireExecution(ctx, actorOf(ctx), req))
}

// ReleaseExecution ends a job's execution lock (R25): the user's call, or
// an administrator's (licenses.edit).
func (s *licensingServer) ReleaseExecution(ctx context.Context, req *licensingv1.ReleaseExecutionRequest) (*emptypb.Empty, error) {
	a := actorOf(ctx)
	e, err := s.d.GetExecution(ctx, a, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	if err := s.selfOr(ctx, licensingv1.LicensingService_ReleaseExecution_FullMethodName, req.GetName(), e.GetUser()); err != nil {
		return nil, err
	}
	return reply(&emptypb.Empty{}, s.d.ReleaseExecution(ctx, a, req.GetName()))
}

// GetUsageTrend returns usage over time (R26).
func (s *licensingServer) GetUsageTrend(ctx context.Context, req *licensingv1.GetUsageTrendRequest) (*licensingv1.UsageTrend, error) {
	return reply(s.d.GetUsageTrend(ctx, actorOf(ctx), req))
}

// GetLicensingJwks returns the keys that verify lease tokens (public).
func (s *licensingServer) GetLicensingJwks(context.Context, *licensingv1.GetLicensingJwksRequest) (*licensingv1.GetLicensingJwksResponse, error) {
	resp := &licensingv1.GetLicensingJwksResponse{}
	for _, k := range s.tokens.JWKS() {
		resp.Keys = append(resp.Keys, &licensingv1.JsonWebKey{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
	}
	return resp, nil
}

// sign returns the lease token of live lease l.
func (s *licensingServer) sign(l *licensingv1.Lease) (string, error) {
	tok, err := s.tokens.Sign(leasetoken.Claims{
		Lease:        l.GetName(),
		Principal:    l.GetPrincipal(),
		Organization: resourcename.OrganizationOf(l.GetName()),
		Client:       strings.ToLower(strings.TrimPrefix(l.GetClient().String(), "PRODUCT_")),
		Machine:      l.GetMachine(),
		Pool:         l.GetPool(),
		Service:      l.GetService(),
		IssuedAt:     l.GetRenewTime().AsTime(),
		Expiry:       l.GetExpireTime().AsTime(),
	})
	if err != nil {
		return "", apierr.ToStatus(err)
	}
	return tok, nil
}

// leaseHolderOrEdit checks that the caller is the principal of the lease
// called name, or holds licenses.edit in its organization.
func (s *licensingServer) leaseHolderOrEdit(ctx context.Context, method, name string) error {
	l, err := s.d.GetLease(ctx, actorOf(ctx), name)
	if err != nil {
		return toStatus(err)
	}
	return s.selfOr(ctx, method, name, l.GetPrincipal())
}

// selfOrEdit checks that the caller acts for principal (the request's
// field), a member of parent: as principal itself, or holding
// licenses.edit in parent (an administrator signing a client in).
func (s *licensingServer) selfOrEdit(ctx context.Context, method, parent, field, principal string) error {
	if err := actorOf(ctx).Visible(parent); err != nil {
		return toStatus(err)
	}
	if resourcename.OrganizationOf(principal) != parent {
		return toStatus(records.FieldErrorf(field, "must be a member of %s", parent))
	}
	return s.selfOr(ctx, method, parent, principal)
}

// selfOr checks that the caller is principal or holds licenses.edit in the
// organization of name.
func (s *licensingServer) selfOr(ctx context.Context, method, name, principal string) error {
	if actorOf(ctx).Name == principal {
		return nil
	}
	return authz.Check(ctx, s.authorizer, method, resourcename.OrganizationOf(name), "licenses.edit")
}
