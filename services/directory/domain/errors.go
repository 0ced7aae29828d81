package domain

import (
	"errors"
	"fmt"
	"time"

	"steward.dev/pkg/records"
)

// Errors of the directory's rules. Every error an operation returns matches
// (errors.Is) at most one of them, or is a *FieldError, or is an internal
// failure. The server maps each to its status code and ErrorInfo reason
// (steward.directory.v1.ErrorReason).
var (
	// ErrNotFound: the resource does not exist, or belongs to another
	// organization than the actor's (never told apart).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with the requested ID exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrOwnerImmutable: the call would delete, deactivate, demote or replace
	// the organization's owner (R1).
	ErrOwnerImmutable = errors.New("the organization's owner cannot be changed this way")
	// ErrDefaultGroupImmutable: default groups cannot be deleted or renamed,
	// and Everyone's membership is implicit (R5).
	ErrDefaultGroupImmutable = errors.New("default groups cannot be deleted or renamed")
	// ErrHoldsAdministratorRole: the user holds an Administrator role (R4).
	ErrHoldsAdministratorRole = errors.New("the user holds an Administrator role")
	// ErrSelfAction: nobody deletes or deactivates their own account (R4).
	ErrSelfAction = errors.New("you cannot do this to your own account")
	// ErrNodeHasChildren: a scope-tree node still has children (R2).
	ErrNodeHasChildren = errors.New("the node still has children")
	// ErrEtagMismatch: the request's etag is not the current one.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrSwitchUnconfirmed: SwitchAccountSystem without confirm (R8).
	ErrSwitchUnconfirmed = errors.New("switching the account system deletes every sub-account: set confirm to true")
	// ErrEmailTaken: another user of the organization has the email (R3).
	ErrEmailTaken = errors.New("email already used in this organization")
	// ErrDepartmentNotEmpty: the department holds users or departments (R7).
	ErrDepartmentNotEmpty = errors.New("the department is not empty")
	// ErrInvalidCredentials: sign-in failed; said the same way whether or not
	// the account exists (R9).
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrTooManyAttempts: rate limited; see *RetryError (R1, R9).
	ErrTooManyAttempts = errors.New("too many attempts")
	// ErrTOTPRequired: the account needs a (correct) TOTP code (R9).
	ErrTOTPRequired = errors.New("a valid TOTP code is required")
	// ErrRequestIDReused: a request_id came back with another request.
	ErrRequestIDReused = errors.New("request_id was used for a different request")
	// ErrRootDepartmentImmutable: the root department cannot be deleted or
	// moved (R7).
	ErrRootDepartmentImmutable = errors.New("the root department cannot be deleted or moved")
	// ErrCycle: moving a node under itself.
	ErrCycle = errors.New("cannot move a node under itself")
	// ErrServiceTypeMismatch: the child does not fit the service's type.
	ErrServiceTypeMismatch = errors.New("service type does not allow this")
	// ErrAccountSystemMismatch: the call needs the other account system.
	ErrAccountSystemMismatch = errors.New("not possible with the organization's account system")
	// ErrIDTokenInvalid: the external ID token failed verification.
	ErrIDTokenInvalid = errors.New("ID token invalid")
	// ErrNotProvisionable: unknown external identity whose groups give it no
	// service (R9).
	ErrNotProvisionable = errors.New("no account, and none of your groups is added to a service")
	// ErrAPIKeyRevoked: the API key is revoked or expired.
	ErrAPIKeyRevoked = errors.New("API key revoked or expired")
	// ErrTOTPNotConfirmed: no pending TOTP enrolment, or a wrong code.
	ErrTOTPNotConfirmed = errors.New("TOTP enrolment not confirmed")
	// ErrRobotAccountBound: the robot account belongs to a robot.
	ErrRobotAccountBound = errors.New("the robot account belongs to a robot; delete the robot")
	// ErrUserInactive: the user is inactive.
	ErrUserInactive = errors.New("the user is inactive")
	// ErrUnavailable: a dependency (an OIDC issuer, access management)
	// could not be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrAccessDenied: access management refused the change for the acting
	// user (R17), e.g. joining a group whose roles hold permissions the
	// user lacks; see *AccessDeniedError.
	ErrAccessDenied = errors.New("access management refused the change")
)

// reasonError is a sentinel with a specific message.
type reasonError struct {
	sentinel error
	msg      string
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.sentinel }

// errorf returns an error matching sentinel whose message is the formatted
// text alone (the sentinel's own text is a fallback for the API).
func errorf(sentinel error, format string, args ...any) error {
	return &reasonError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// FieldError is an invalid argument the protos' validation rules cannot
// express (an unknown update_mask path, a missing required field on create).
type FieldError = records.FieldError

// fieldError returns a *FieldError.
func fieldError(field, format string, args ...any) error {
	return records.FieldErrorf(field, format, args...)
}

// RetryError is ErrTooManyAttempts with the time to wait.
type RetryError struct {
	// After is how long to wait before retrying.
	After time.Duration
}

func (e *RetryError) Error() string { return ErrTooManyAttempts.Error() }
func (e *RetryError) Unwrap() error { return ErrTooManyAttempts }

// AccessDeniedError is ErrAccessDenied with access management's decision.
type AccessDeniedError struct {
	// Reason is access management's ErrorInfo reason: "ESCALATION" (the
	// change would grant a permission the user does not hold) or
	// "DELEGATION_DENIED" (the user may not manage access at the scope).
	Reason string
	// Message says why, naming the role and scope.
	Message string
	// Permission is the first permission the user lacks (ESCALATION), if
	// any.
	Permission string
	// Scope is the scope of the refused group assignment, if any.
	Scope string
}

func (e *AccessDeniedError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return ErrAccessDenied.Error()
}

// Unwrap makes the error match ErrAccessDenied.
func (e *AccessDeniedError) Unwrap() error { return ErrAccessDenied }
