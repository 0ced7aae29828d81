package domain

import (
	"errors"
	"fmt"

	"steward.dev/pkg/records"
)

// Errors of access management's rules. The server maps each to its status
// code and ErrorInfo reason (steward.access.v1.ErrorReason).
var (
	// ErrNotFound: the resource does not exist, or belongs to another
	// organization than the actor's.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with the requested ID exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrBuiltInRoleImmutable: built-in roles cannot be edited or deleted.
	ErrBuiltInRoleImmutable = errors.New("built-in roles cannot be changed")
	// ErrOwnerNotAssignable: Owner is never assigned, nor its binding removed.
	ErrOwnerNotAssignable = errors.New("the Owner role is bound at sign-up and never assigned or removed")
	// ErrPermissionLevelMismatch: a role's permission does not fit its level.
	ErrPermissionLevelMismatch = errors.New("permission does not belong to the role's level")
	// ErrRoleLevelMismatch: the role's level does not fit the scope.
	ErrRoleLevelMismatch = errors.New("the role cannot be assigned at this scope")
	// ErrEscalation: the caller would grant a permission it does not hold.
	ErrEscalation = errors.New("cannot grant a permission you do not hold")
	// ErrDelegationDenied: the caller may not manage access at the scope.
	ErrDelegationDenied = errors.New("you may not manage access at this scope")
	// ErrPermissionDenied: the caller lacks a permission the operation
	// needs on this object (e.g. to see another principal's effective
	// permissions); ErrorInfo metadata names the permissions and scope.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrBuiltInAssignmentImmutable: the Administrators' Organization
	// Administrator and Everyone's User at the organization are never
	// removed.
	ErrBuiltInAssignmentImmutable = errors.New("built-in assignment cannot be removed")
	// ErrPlatformRoleImmutable: remove the platform role at its own scope.
	ErrPlatformRoleImmutable = errors.New("platform roles are removed at their own scope")
	// ErrEtagMismatch: the request's etag is not the current one.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrNotYetConsistent: the consistency token was not reached in time.
	ErrNotYetConsistent = errors.New("not yet consistent")
	// ErrRequestIDReused: a request_id came back with another request.
	ErrRequestIDReused = errors.New("request_id was used for a different request")
)

// reasonError is a sentinel with a specific message and ErrorInfo metadata.
type reasonError struct {
	sentinel error
	msg      string
	metadata map[string]string
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.sentinel }

// Metadata returns the ErrorInfo metadata of the error (e.g. "permission",
// "scope"), nil when there is none.
func (e *reasonError) Metadata() map[string]string { return e.metadata }

// errorf returns an error matching sentinel with the formatted message.
func errorf(sentinel error, format string, args ...any) error {
	return &reasonError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// errorWith is errorf with ErrorInfo metadata.
func errorWith(sentinel error, metadata map[string]string, format string, args ...any) error {
	return &reasonError{sentinel: sentinel, msg: fmt.Sprintf(format, args...), metadata: metadata}
}

// MetadataOf returns the ErrorInfo metadata err carries, if any.
func MetadataOf(err error) map[string]string {
	var md interface{ Metadata() map[string]string }
	if errors.As(err, &md) {
		return md.Metadata()
	}
	return nil
}

// FieldError is an invalid argument the protos' rules cannot express.
type FieldError = records.FieldError

func fieldError(field, format string, args ...any) error {
	return records.FieldErrorf(field, format, args...)
}
