package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/records"
	"steward.dev/pkg/tracing"
	"steward.dev/services/access/domain"
)

// errorDomain is the ErrorInfo domain of access's reasons.
const errorDomain = "access.steward.dev"

// accessServer serves steward.access.v1.AccessService: each handler turns
// the caller into a domain.Actor, calls the domain service and maps its
// errors. Input rules (protovalidate) and the method's permission rule
// (authz) ran before.
type accessServer struct {
	accessv1.UnimplementedAccessServiceServer
	d *domain.Service
	// authorizer answers the per-object checks of methods whose rule is
	// only "authenticated".
	authorizer authz.Authorizer
}

// actorOf returns the caller of ctx as a domain.Actor: the end user when a
// service acts for one. A robot account or external app calling with an
// API key acts as the key (its Name is the key's name), which holds what
// both its principal and its creator hold (C4).
func actorOf(ctx context.Context) domain.Actor {
	var a domain.Actor
	if p, ok := authn.Actor(ctx); ok {
		a.Name, a.DisplayName, a.Organization = accessauthz.CheckPrincipal(p), p.DisplayName, p.Organization
	}
	a.RequestID = authn.RequestID(ctx)
	a.SourceAddress = authn.ClientAddress(ctx)
	a.Traceparent = tracing.Traceparent(ctx)
	return a
}

// mapping maps err to an API error with code and reason r.
func mapping(err error, code codes.Code, r accessv1.ErrorReason) apierr.Mapping {
	return apierr.Mapping{Err: err, To: apierr.New(code, apierr.Reason(r), errorDomain, "", nil)}
}

// errorTable maps the domain's sentinels to API errors, once.
var errorTable = apierr.Table{
	{Err: domain.ErrNotFound, To: apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, "", nil)},
	mapping(domain.ErrAlreadyExists, codes.AlreadyExists, accessv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS),
	mapping(domain.ErrBuiltInRoleImmutable, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_BUILT_IN_ROLE_IMMUTABLE),
	mapping(domain.ErrOwnerNotAssignable, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_OWNER_NOT_ASSIGNABLE),
	mapping(domain.ErrPermissionLevelMismatch, codes.InvalidArgument, accessv1.ErrorReason_ERROR_REASON_PERMISSION_LEVEL_MISMATCH),
	mapping(domain.ErrRoleLevelMismatch, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_ROLE_LEVEL_MISMATCH),
	{Err: domain.ErrPermissionDenied, To: apierr.New(codes.PermissionDenied, authz.ReasonPermissionDenied, apierr.Domain, "", nil)},
	mapping(domain.ErrEscalation, codes.PermissionDenied, accessv1.ErrorReason_ERROR_REASON_ESCALATION),
	mapping(domain.ErrDelegationDenied, codes.PermissionDenied, accessv1.ErrorReason_ERROR_REASON_DELEGATION_DENIED),
	mapping(domain.ErrPlatformRoleImmutable, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_PLATFORM_ROLE_IMMUTABLE),
	mapping(domain.ErrBuiltInAssignmentImmutable, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_BUILT_IN_ASSIGNMENT_IMMUTABLE),
	mapping(domain.ErrEtagMismatch, codes.Aborted, accessv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH),
	mapping(domain.ErrNotYetConsistent, codes.FailedPrecondition, accessv1.ErrorReason_ERROR_REASON_NOT_YET_CONSISTENT),
	mapping(domain.ErrRequestIDReused, codes.Aborted, accessv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED),
	mapping(domain.ErrHistoryUnavailable, codes.OutOfRange, accessv1.ErrorReason_ERROR_REASON_HISTORY_UNAVAILABLE),
}

// toStatus returns err as a gRPC status error: field errors become
// InvalidArgument with a field violation; domain errors go through
// errorTable, keeping their ErrorInfo metadata; the error of a batch's
// item is the item's own, naming the item.
func toStatus(err error) error {
	var ie *records.ItemError
	if errors.As(err, &ie) {
		return apierr.InItem(toStatus(ie.Err), ie.Item)
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return apierr.InvalidArgument("INVALID_ARGUMENT", errorDomain, fe.Error(), apierr.FieldViolation(fe.Field, fe.Description)).GRPCStatus().Err()
	}
	if md := domain.MetadataOf(err); md != nil {
		for _, m := range errorTable {
			if errors.Is(err, m.Err) {
				e := *m.To
				e.Message, e.Metadata = err.Error(), md
				return e.GRPCStatus().Err()
			}
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
