package domain

import (
	"errors"
	"fmt"

	"steward.dev/pkg/records"
)

// Errors of licensing's rules. The server maps each to its status code and
// ErrorInfo reason (steward.licensing.v1.ErrorReason).
var (
	// ErrNotFound: the resource does not exist, or belongs to another
	// organization than the actor's.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with the requested ID exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrEtagMismatch: the request's etag is not the current one.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrRequestIDReused: a request_id came back with another request.
	ErrRequestIDReused = errors.New("request_id was used for a different request")
	// ErrBatchRequiresProfessional: batch assignment takes Professional
	// pools only (R22).
	ErrBatchRequiresProfessional = errors.New("batch assignment takes Professional Edition pools only")
	// ErrPoolExhausted: the pool has no free seat for the request (R22).
	ErrPoolExhausted = errors.New("the pool has no free seat")
	// ErrPoolExpired: the pool's validity has ended (R21).
	ErrPoolExpired = errors.New("the pool has expired")
	// ErrPoolNotYetValid: the pool's validity has not begun (R21).
	ErrPoolNotYetValid = errors.New("the pool is not valid yet")
	// ErrAlreadyAssigned: the member holds a license of the pool (R22).
	ErrAlreadyAssigned = errors.New("the member already holds a license of this pool")
	// ErrMemberInactive: a deactivated member gets no license (R22).
	ErrMemberInactive = errors.New("the member is deactivated")
	// ErrBatchRefused: members of a batch cannot be given a license (R22);
	// ViolationsOf lists them.
	ErrBatchRefused = errors.New("some members cannot be given a license; nothing was assigned")
	// ErrRequestNotPending: the license request was already decided (R21).
	ErrRequestNotPending = errors.New("the license request is not pending")
	// ErrQuantityBelowAssigned: a pool cannot hold fewer seats than it has
	// handed out (R21).
	ErrQuantityBelowAssigned = errors.New("quantity below the seats handed out")
	// ErrLicenseRequired: the principal holds no license of the client's
	// product and no concurrent pool of it exists (R23).
	ErrLicenseRequired = errors.New("a license is required")
	// ErrLicenseInUse: the principal's license of the product is leased on
	// another machine (R24).
	ErrLicenseInUse = errors.New("the license is in use on another machine")
	// ErrLeaseEnded: the lease ended; MetadataOf says why (R24).
	ErrLeaseEnded = errors.New("the lease has ended")
	// ErrConcurrentExecutionDisabled: the user's concurrent execution is
	// disabled and another job runs (R25).
	ErrConcurrentExecutionDisabled = errors.New("concurrent execution is disabled and another job runs")
)

// Violation is one refused item of a batch: its subject (a member), the
// ErrorReason name that refuses it, and a message.
type Violation struct {
	// Subject is the refused member.
	Subject string
	// Reason is the ErrorReason name without its prefix, e.g.
	// "MEMBER_INACTIVE", or "NOT_FOUND".
	Reason string
	// Description says why, for people.
	Description string
}

// reasonError is a sentinel with a specific message, ErrorInfo metadata and
// batch violations.
type reasonError struct {
	sentinel   error
	msg        string
	metadata   map[string]string
	violations []Violation
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.sentinel }

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
	var re *reasonError
	if errors.As(err, &re) {
		return re.metadata
	}
	return nil
}

// ViolationsOf returns the batch violations err carries, if any.
func ViolationsOf(err error) []Violation {
	var re *reasonError
	if errors.As(err, &re) {
		return re.violations
	}
	return nil
}

// FieldError is an invalid argument the protos' rules cannot express.
type FieldError = records.FieldError

func fieldError(field, format string, args ...any) error {
	return records.FieldErrorf(field, format, args...)
}
