package server

import (
	"context"
	"errors"
	"math"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/accessauthz"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/records"
	"steward.dev/pkg/tracing"
	"steward.dev/services/directory/domain"
)

// errorDomain is the ErrorInfo domain of the directory's reasons.
const errorDomain = "directory.steward.dev"

// directoryServer serves steward.directory.v1.DirectoryService: each handler
// turns the caller into a domain.Actor, calls the domain service and maps
// its errors. Input rules are checked before (protovalidate interceptor), as
// is the method's permission rule (authz interceptor).
type directoryServer struct {
	directoryv1.UnimplementedDirectoryServiceServer
	d *domain.Service
	// authorizer answers the per-object checks of methods whose rule is
	// only "authenticated" (see require).
	authorizer authz.Authorizer
}

// require checks, inside a handler, that the caller holds permission at
// scope. It is for methods whose rule is only "authenticated" because some
// callers (the user themselves) need no permission. Services are allowed.
func (s *directoryServer) require(ctx context.Context, method, scope, permission string) error {
	return authz.Check(ctx, s.authorizer, method, scope, permission)
}

// actorOf returns the caller of ctx as a domain.Actor: the end user when a
// service acts for one.
func actorOf(ctx context.Context) domain.Actor {
	var a domain.Actor
	if p, ok := authn.Actor(ctx); ok {
		a.Name, a.DisplayName, a.Organization = p.Name, p.DisplayName, p.Organization
		a.APIKey = accessauthz.APIKeyOf(p)
	}
	a.RequestID = authn.RequestID(ctx)
	a.SourceAddress = authn.ClientAddress(ctx)
	a.Traceparent = tracing.Traceparent(ctx)
	return a
}

// mapping maps err to an API error with code and reason r.
func mapping(err error, code codes.Code, r directoryv1.ErrorReason) apierr.Mapping {
	return apierr.Mapping{Err: err, To: apierr.New(code, apierr.Reason(r), errorDomain, "", nil)}
}

// errorTable maps the domain's sentinels to API errors, once.
var errorTable = apierr.Table{
	{Err: domain.ErrNotFound, To: apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, "", nil)},
	mapping(domain.ErrAlreadyExists, codes.AlreadyExists, directoryv1.ErrorReason_ERROR_REASON_ALREADY_EXISTS),
	mapping(domain.ErrOwnerImmutable, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_OWNER_IMMUTABLE),
	mapping(domain.ErrDefaultGroupImmutable, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_DEFAULT_GROUP_IMMUTABLE),
	mapping(domain.ErrHoldsAdministratorRole, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_USER_HOLDS_ADMINISTRATOR_ROLE),
	mapping(domain.ErrSelfAction, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_SELF_ACTION_FORBIDDEN),
	mapping(domain.ErrNodeHasChildren, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_NODE_HAS_CHILDREN),
	mapping(domain.ErrEtagMismatch, codes.Aborted, directoryv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH),
	mapping(domain.ErrSwitchUnconfirmed, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_ACCOUNT_SYSTEM_SWITCH_UNCONFIRMED),
	mapping(domain.ErrEmailTaken, codes.AlreadyExists, directoryv1.ErrorReason_ERROR_REASON_EMAIL_TAKEN),
	mapping(domain.ErrDepartmentNotEmpty, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_DEPARTMENT_NOT_EMPTY),
	mapping(domain.ErrInvalidCredentials, codes.Unauthenticated, directoryv1.ErrorReason_ERROR_REASON_INVALID_CREDENTIALS),
	mapping(domain.ErrTOTPRequired, codes.Unauthenticated, directoryv1.ErrorReason_ERROR_REASON_TOTP_REQUIRED),
	mapping(domain.ErrRequestIDReused, codes.Aborted, directoryv1.ErrorReason_ERROR_REASON_REQUEST_ID_REUSED),
	mapping(domain.ErrRootDepartmentImmutable, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_ROOT_DEPARTMENT_IMMUTABLE),
	mapping(domain.ErrCycle, codes.InvalidArgument, directoryv1.ErrorReason_ERROR_REASON_CYCLE),
	mapping(domain.ErrServiceTypeMismatch, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_SERVICE_TYPE_MISMATCH),
	mapping(domain.ErrAccountSystemMismatch, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_ACCOUNT_SYSTEM_MISMATCH),
	mapping(domain.ErrIDTokenInvalid, codes.Unauthenticated, directoryv1.ErrorReason_ERROR_REASON_ID_TOKEN_INVALID),
	mapping(domain.ErrNotProvisionable, codes.PermissionDenied, directoryv1.ErrorReason_ERROR_REASON_NOT_PROVISIONABLE),
	mapping(domain.ErrAPIKeyRevoked, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_API_KEY_REVOKED),
	mapping(domain.ErrTOTPNotConfirmed, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_TOTP_NOT_CONFIRMED),
	mapping(domain.ErrRobotAccountBound, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_ROBOT_ACCOUNT_BOUND),
	mapping(domain.ErrUserInactive, codes.FailedPrecondition, directoryv1.ErrorReason_ERROR_REASON_USER_INACTIVE),
	{Err: domain.ErrUnavailable, To: apierr.New(codes.Unavailable, "UNAVAILABLE", errorDomain, "", nil)},
	// A bare ErrAccessDenied; toStatus gives a *domain.AccessDeniedError
	// access management's own reason and metadata.
	{Err: domain.ErrAccessDenied, To: apierr.New(codes.PermissionDenied, "PERMISSION_DENIED", errorDomain, "", nil)},
}

// accessErrorDomain is the ErrorInfo domain of access management's reasons
// (ESCALATION, DELEGATION_DENIED), which the directory relays.
const accessErrorDomain = "access.steward.dev"

// toStatus returns err as a gRPC status error: field errors become
// InvalidArgument with a field violation, rate limits ResourceExhausted with
// RetryInfo, access management's refusals (R17) PermissionDenied with its
// reason and metadata, the rest goes through errorTable; the error of a
// batch's item is the item's own, naming the item.
func toStatus(err error) error {
	var ie *records.ItemError
	if errors.As(err, &ie) {
		return apierr.InItem(toStatus(ie.Err), ie.Item)
	}
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return apierr.InvalidArgument("INVALID_ARGUMENT", errorDomain, fe.Error(), apierr.FieldViolation(fe.Field, fe.Description)).GRPCStatus().Err()
	}
	var re *domain.RetryError
	if errors.As(err, &re) {
		e := apierr.New(codes.ResourceExhausted, apierr.Reason(directoryv1.ErrorReason_ERROR_REASON_TOO_MANY_ATTEMPTS), errorDomain,
			"too many attempts; retry later", map[string]string{"retry_after": re.After.Round(time.Second).String()})
		st := e.GRPCStatus()
		secs := math.Ceil(re.After.Seconds())
		if withRetry, werr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)}); werr == nil {
			st = withRetry
		}
		return st.Err()
	}
	var ad *domain.AccessDeniedError
	if errors.As(err, &ad) && ad.Reason != "" {
		// Access management refused (R17): its reason (ESCALATION or
		// DELEGATION_DENIED) and what it names, as it would say it.
		md := map[string]string{}
		if ad.Permission != "" {
			md["permission"] = ad.Permission
		}
		if ad.Scope != "" {
			md["scope"] = ad.Scope
		}
		return apierr.New(codes.PermissionDenied, ad.Reason, accessErrorDomain, ad.Error(), md).GRPCStatus().Err()
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

// empty returns an Empty reply, or the status error of err.
func empty(err error) (*emptypb.Empty, error) {
	return reply(&emptypb.Empty{}, err)
}
