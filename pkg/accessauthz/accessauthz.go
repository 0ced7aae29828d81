// Package accessauthz is the authz.Authorizer of Steward's services other
// than access itself: it asks access management (steward.access.v1
// AccessService.CheckPermission, or BatchCheckPermission for several
// permissions) over a connection that carries the calling service's
// credential (pkg/grpcclient). Access management evaluates every check from
// its in-memory model, so one check is one round trip.
package accessauthz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/authz"
	"steward.dev/pkg/resourcename"
)

// EnrollmentSessionPrefix starts the session ID of an enrolment-only token:
// the directory issues one to a user whose MFA is required but who has not
// enrolled TOTP yet (services/directory/domain.IsEnrollmentSession). Such a
// token authorizes nothing that needs a permission.
const EnrollmentSessionPrefix = "enroll-"

// IsEnrollmentSession reports whether sessionID belongs to an enrolment-only
// token.
func IsEnrollmentSession(sessionID string) bool {
	return strings.HasPrefix(sessionID, EnrollmentSessionPrefix)
}

// EnrollmentReason is the reason of the denial of every permission to an
// enrolment-only session.
const EnrollmentReason = "the account requires MFA: enrol a TOTP authenticator (EnrollTotp, ConfirmTotp) and sign in again"

// APIKeyOf returns the name of the API key p called with
// ("organizations/o/robotAccounts/r/apiKeys/k"), or "" when p did not call
// with a key of its own: the directory sets a key call's SessionID to the
// key's name (contract C4).
func APIKeyOf(p authn.Principal) string {
	if p.Kind != authn.KindRobotAccount && p.Kind != authn.KindExternalApp {
		return ""
	}
	id, ok := strings.CutPrefix(p.SessionID, p.Name+"/apiKeys/")
	if !ok || !validID(id) {
		return ""
	}
	return p.SessionID
}

// CheckPrincipal returns the principal whose permissions decide a call by
// p: the API key p called with, whose rights are those of both its
// principal and its creator (C4), or else p itself.
func CheckPrincipal(p authn.Principal) string {
	if k := APIKeyOf(p); k != "" {
		return k
	}
	return p.Name
}

// maxBatch is the most checks BatchCheckPermission takes in one call.
const maxBatch = 1000

// Authorizer asks access management about permissions. Create it with New.
type Authorizer struct {
	client      accessv1.AccessServiceClient
	directoryAt func(ctx context.Context) (uint64, error)
}

// Option configures an Authorizer.
type Option func(*Authorizer)

// WithDirectorySequence makes every check read-your-writes for the
// directory, whose event log access management follows: head returns the
// directory's newest committed sequence, and access answers only once it
// has applied the log that far (CheckPermission's
// at_least_directory_sequence, waiting at most a second). The directory's
// own permission checks then reflect every change it has made, such as a
// membership added a moment before.
func WithDirectorySequence(head func(ctx context.Context) (uint64, error)) Option {
	return func(a *Authorizer) { a.directoryAt = head }
}

// New returns an Authorizer calling access management over conn, which
// must authenticate as the calling service (pkg/grpcclient does).
func New(conn grpc.ClientConnInterface, opts ...Option) *Authorizer {
	a := &Authorizer{client: accessv1.NewAccessServiceClient(conn)}
	for _, o := range opts {
		o(a)
	}
	return a
}

var _ authz.Authorizer = (*Authorizer)(nil)

// Authorize decides req by asking access management:
//
//   - a principal without an organization, or a scope in another
//     organization than the principal's, is refused with NotFound (objects of
//     another organization are never revealed);
//   - an enrolment-only session is denied every permission;
//   - otherwise every permission is checked at the scope (access evaluates
//     it at the scope-tree node the resource lies in) for the principal,
//     or, for a call made with an API key, for the key (CheckPrincipal);
//     the request is allowed only if all are, and Missing lists those
//     that are not.
//
// An error from access management (Unavailable, for instance) is returned
// as an error, so the call fails; it is never allowed.
func (a *Authorizer) Authorize(ctx context.Context, req authz.Request) (authz.Decision, error) {
	if err := SameOrganization(req, apierr.Domain); err != nil {
		return authz.Decision{}, err
	}
	if IsEnrollmentSession(req.Principal.SessionID) {
		return authz.Decision{Reason: EnrollmentReason, Missing: req.Permissions}, nil
	}
	if len(req.Permissions) == 0 {
		return authz.Decision{Allowed: true, Reason: "no permission asked"}, nil
	}
	scope := checkScope(req.Scope)
	results, err := a.check(ctx, CheckPrincipal(req.Principal), scope, req.Permissions)
	if err != nil {
		return authz.Decision{}, err
	}
	var d authz.Decision
	var granted, denied []string
	for i, r := range results {
		if r.GetAllowed() {
			granted = append(granted, r.GetReason())
			continue
		}
		d.Missing = append(d.Missing, req.Permissions[i])
		denied = append(denied, r.GetReason())
	}
	if len(d.Missing) == 0 {
		d.Allowed = true
		d.Reason = strings.Join(granted, "; ")
		return d, nil
	}
	d.Reason = strings.Join(denied, "; ")
	return d, nil
}

// Deferred is an Authorizer whose Authorizer is set after it is created:
// a directory has to serve before access management, which follows its
// event log, can start (tests start both in one process). Until Set, every
// check fails with Unavailable. The zero value is ready to use.
type Deferred struct {
	a atomic.Pointer[Authorizer]
}

// Set makes d ask a.
func (d *Deferred) Set(a *Authorizer) { d.a.Store(a) }

// Authorize asks the Authorizer given to Set, or fails with Unavailable.
func (d *Deferred) Authorize(ctx context.Context, req authz.Request) (authz.Decision, error) {
	a := d.a.Load()
	if a == nil {
		return authz.Decision{}, &checkError{st: status.New(codes.Unavailable, "access management is unavailable"),
			cause: errors.New("accessauthz: access management not started yet")}
	}
	return a.Authorize(ctx, req)
}

// check asks access about each permission, in order: one CheckPermission
// for one permission, BatchCheckPermission (in chunks of up to 1,000) for
// several.
func (a *Authorizer) check(ctx context.Context, principal, scope string, permissions []string) ([]*accessv1.CheckPermissionResponse, error) {
	var atLeast uint64
	if a.directoryAt != nil {
		var err error
		if atLeast, err = a.directoryAt(ctx); err != nil {
			return nil, fmt.Errorf("accessauthz: reading the directory's sequence: %w", err)
		}
	}
	if len(permissions) == 1 {
		resp, err := a.client.CheckPermission(ctx, &accessv1.CheckPermissionRequest{
			Principal: principal, Permission: permissions[0], Scope: scope, AtLeastDirectorySequence: atLeast,
		})
		if err != nil {
			return nil, accessError("CheckPermission", err)
		}
		return []*accessv1.CheckPermissionResponse{resp}, nil
	}
	out := make([]*accessv1.CheckPermissionResponse, 0, len(permissions))
	for start := 0; start < len(permissions); start += maxBatch {
		chunk := permissions[start:min(start+maxBatch, len(permissions))]
		items := make([]*accessv1.CheckPermissionRequest, len(chunk))
		for i, p := range chunk {
			items[i] = &accessv1.CheckPermissionRequest{Principal: principal, Permission: p, Scope: scope}
		}
		resp, err := a.client.BatchCheckPermission(ctx, &accessv1.BatchCheckPermissionRequest{Items: items, AtLeastDirectorySequence: atLeast})
		if err != nil {
			return nil, accessError("BatchCheckPermission", err)
		}
		if len(resp.GetResults()) != len(items) {
			return nil, fmt.Errorf("accessauthz: BatchCheckPermission answered %d of %d checks", len(resp.GetResults()), len(items))
		}
		out = append(out, resp.GetResults()...)
	}
	return out, nil
}

// SameOrganization returns nil when req's principal belongs to an
// organization and the scope lies in it, else a NotFound error (ErrorInfo
// reason NOT_FOUND in errorDomain) naming the scope: objects of another
// organization are never revealed to exist. Access management's own
// authorizer shares the rule.
func SameOrganization(req authz.Request, errorDomain string) error {
	p := req.Principal
	if p.Organization == "" || resourcename.OrganizationOf(req.Scope) != p.Organization {
		return apierr.New(codes.NotFound, "NOT_FOUND", errorDomain, req.Scope+" not found", nil)
	}
	return nil
}

// checkScope returns the longest prefix of name that CheckPermission takes
// as a scope: "organizations/{o}" followed by "/{collection}/{id}" pairs.
// Permission rules may name a singleton below a resource, such as
// "organizations/o1/accountSystem" or
// "organizations/o1/robotAccounts/r1/robotUsageScope"; the permission holds
// there if it holds at the resource it belongs to. Further normalisation
// (to the scope-tree node) is access management's.
func checkScope(name string) string {
	segs := strings.Split(name, "/")
	if len(segs) < 2 || segs[0] != "organizations" || !validID(segs[1]) {
		return name // access refuses it: InvalidArgument
	}
	end := 2
	for ; end+1 < len(segs); end += 2 {
		if !validCollection(segs[end]) || !validID(segs[end+1]) {
			break
		}
	}
	return strings.Join(segs[:end], "/")
}

// validCollection matches [a-zA-Z]+.
func validCollection(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// validID matches [a-z0-9][a-z0-9-]{0,62}.
func validID(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// accessError returns the error of a call to access management as the
// error of the call being authorized. Unavailability and deadlines keep
// their code, so that clients retry, and so does access not having caught up
// with the directory in time (NOT_YET_CONSISTENT becomes Unavailable); an
// invalid scope or permission stays
// InvalidArgument; anything else (the service credential refused, for
// instance) is an Internal error of the calling service: the end user's
// credentials are not at fault.
func accessError(method string, err error) error {
	st := status.Convert(err)
	code := st.Code()
	msg := "access management: " + st.Message()
	switch {
	case code == codes.FailedPrecondition && reasonOf(st) == "NOT_YET_CONSISTENT":
		code = codes.Unavailable
		msg = "access management has not caught up with the directory yet: " + st.Message()
	case code == codes.Unavailable:
		msg = "access management is unavailable"
	case code == codes.DeadlineExceeded, code == codes.Canceled, code == codes.InvalidArgument:
	default:
		code = codes.Internal
		msg = "access management refused the permission check"
	}
	return &checkError{st: status.New(code, msg), cause: fmt.Errorf("accessauthz: %s: %w", method, err)}
}

// reasonOf returns the ErrorInfo reason of st, or "".
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// checkError is a failed call to access management: its gRPC status is
// what the authorized call fails with, its cause what went wrong.
type checkError struct {
	st    *status.Status
	cause error
}

func (e *checkError) Error() string              { return e.cause.Error() }
func (e *checkError) Unwrap() error              { return e.cause }
func (e *checkError) GRPCStatus() *status.Status { return e.st }

// ErrCheckFailed is matched (errors.Is) by every error Authorize returns
// because access management could not be asked or refused to answer.
var ErrCheckFailed = errors.New("accessauthz: permission check failed")

// Is reports whether target is ErrCheckFailed.
func (e *checkError) Is(target error) bool { return target == ErrCheckFailed }
