package server

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/records"
	"steward.dev/pkg/resourcename"
	"steward.dev/services/licensing/domain"
)

// errorDomain is the ErrorInfo domain of licensing's reasons.
const errorDomain = "licensing.steward.dev"

// licensingServer serves steward.licensing.v1.LicensingService: each
// handler turns the caller into a domain.Actor, calls the domain service
// and maps its errors. Input rules (protovalidate) and the method's
// permission rule (authz) ran before. Leases, executions and the usage
// trend are not served yet: their handlers check who may call and answer
// Unimplemented.
type licensingServer struct {
	licensingv1.UnimplementedLicensingServiceServer
	d *domain.Service
	// authorizer answers the per-object checks of methods whose rule is
	// only "authenticated".
	authorizer authz.Authorizer
}

var _ licensingv1.LicensingServiceServer = (*licensingServer)(nil)

// actorOf returns the caller of ctx as a domain.Actor: the end user when a
// service acts for one.
func actorOf(ctx context.Context) domain.Actor {
	var a domain.Actor
	if p, ok := authn.Actor(ctx); ok {
		a.Name, a.DisplayName, a.Organization = p.Name, p.DisplayName, p.Organization
	}
	a.RequestID = authn.RequestID(ctx)
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

// AcquireLease checks that the caller may sign in as principal (itself,
// or holding licenses.edit); leases are not served yet (R24).
func (s *licensingServer) AcquireLease(ctx context.Context, req *licensingv1.AcquireLeaseRequest) (*licensingv1.AcquireLeaseResponse, error) {
	return nil, s.selfOrEdit(ctx, licensingv1.LicensingService_AcquireLease_FullMethodName, req.GetParent(), "principal", req.GetPrincipal())
}

// RenewLease checks that the lease is of the caller's organization; leases
// are not served yet (R24).
func (s *licensingServer) RenewLease(ctx context.Context, req *licensingv1.RenewLeaseRequest) (*licensingv1.RenewLeaseResponse, error) {
	return nil, sameOrganization(ctx, req.GetName())
}

// ReleaseLease checks that the lease is of the caller's organization;
// leases are not served yet (R24).
func (s *licensingServer) ReleaseLease(ctx context.Context, req *licensingv1.ReleaseLeaseRequest) (*emptypb.Empty, error) {
	return nil, sameOrganization(ctx, req.GetName())
}

// AcquireExecution checks that the caller may run jobs as user (itself, or
// holding licenses.edit); execution locks are not served yet (R25).
func (s *licensingServer) AcquireExecution(ctx context.Context, req *licensingv1.AcquireExecutionRequest) (*licensingv1.Execution, error) {
	return nil, s.selfOrEdit(ctx, licensingv1.LicensingService_AcquireExecution_FullMethodName, req.GetParent(), "user", req.GetUser())
}

// ReleaseExecution checks that the execution is of the caller's
// organization; execution locks are not served yet (R25).
func (s *licensingServer) ReleaseExecution(ctx context.Context, req *licensingv1.ReleaseExecutionRequest) (*emptypb.Empty, error) {
	return nil, sameOrganization(ctx, req.GetName())
}

// errNotServed is the answer of the RPCs issue 11 has not delivered yet.
func errNotServed(ctx context.Context) error {
	method, _ := grpc.Method(ctx)
	return status.Errorf(codes.Unimplemented, "%s is not served yet", method)
}

// sameOrganization returns NotFound when name is of another organization
// than the caller's (as for a name that does not exist), and otherwise
// errNotServed.
func sameOrganization(ctx context.Context, name string) error {
	if err := actorOf(ctx).Visible(name); err != nil {
		return toStatus(err)
	}
	return errNotServed(ctx)
}

// selfOrEdit checks that the caller acts for principal (the request's
// field), a member of parent: as principal itself, or holding
// licenses.edit in parent (an administrator signing a client in). It then
// returns errNotServed.
func (s *licensingServer) selfOrEdit(ctx context.Context, method, parent, field, principal string) error {
	a := actorOf(ctx)
	if err := a.Visible(parent); err != nil {
		return toStatus(err)
	}
	if resourcename.OrganizationOf(principal) != parent {
		return toStatus(records.FieldErrorf(field, "must be a member of %s", parent))
	}
	if a.Name != principal {
		if err := authz.Check(ctx, s.authorizer, method, parent, "licenses.edit"); err != nil {
			return err
		}
	}
	return errNotServed(ctx)
}
