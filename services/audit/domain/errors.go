package domain

import (
	"errors"
	"fmt"

	"steward.dev/pkg/records"
)

// Errors of audit's rules. The server maps each to its status code and
// ErrorInfo reason (steward.audit.v1.ErrorReason).
var (
	// ErrNotFound: the audit event does not exist, or belongs to another
	// organization than the actor's.
	ErrNotFound = errors.New("not found")
	// ErrTreeSizeUnavailable: a tree size is beyond the latest checkpoint
	// (or no checkpoint exists yet); MetadataOf carries "tree_size".
	ErrTreeSizeUnavailable = errors.New("tree size unavailable")
	// ErrEtagMismatch: an update's etag is not the settings' current one.
	ErrEtagMismatch = errors.New("etag mismatch")
)

// reasonError is a sentinel with a specific message and ErrorInfo
// metadata.
type reasonError struct {
	sentinel error
	msg      string
	metadata map[string]string
}

// Error returns the message.
func (e *reasonError) Error() string { return e.msg }

// Unwrap returns the sentinel, for errors.Is.
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

// FieldError is an invalid argument the protos' rules cannot express (a
// malformed filter or page token, a tree size out of range).
type FieldError = records.FieldError

// fieldError returns a *FieldError on field with the formatted description.
func fieldError(field, format string, args ...any) error {
	return records.FieldErrorf(field, format, args...)
}
