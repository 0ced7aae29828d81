// Package apierr turns errors into gRPC statuses once, at the API boundary:
// typed API errors carry a canonical code, a google.rpc.ErrorInfo reason and
// BadRequest field violations; context errors keep their meaning; anything
// else is logged and hidden behind "internal error".
package apierr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
)

// Domain is the ErrorInfo domain of errors that belong to no single service.
const Domain = "steward.dev"

// Reason returns the ErrorInfo reason of a value of an API's ErrorReason
// enum (AIP-193): its name without the "ERROR_REASON_" prefix, e.g.
// "ETAG_MISMATCH" for ERROR_REASON_ETAG_MISMATCH.
func Reason(r fmt.Stringer) string {
	return strings.TrimPrefix(r.String(), "ERROR_REASON_")
}

// Error is an API error: a status code, a machine-readable ErrorInfo reason
// (AIP-193) and optional field violations.
type Error struct {
	// Code is the canonical gRPC code.
	Code codes.Code
	// Reason is the ErrorInfo reason, UPPER_SNAKE_CASE, e.g. "USER_NOT_FOUND".
	Reason string
	// Domain is the ErrorInfo domain, e.g. "directory.steward.dev".
	Domain string
	// Message is the developer-facing message.
	Message string
	// Metadata is the ErrorInfo metadata, e.g. {"user": "organizations/o1/users/u1"}.
	Metadata map[string]string
	// Violations become a google.rpc.BadRequest detail when not empty.
	Violations []*errdetails.BadRequest_FieldViolation
	// Preconditions become a google.rpc.PreconditionFailure detail when not
	// empty: each failed precondition of a FailedPrecondition error (a
	// refused member of a batch, for instance).
	Preconditions []*errdetails.PreconditionFailure_Violation
}

// New returns an Error with the given code, ErrorInfo and message.
func New(code codes.Code, reason, domain, message string, metadata map[string]string) *Error {
	return &Error{Code: code, Reason: reason, Domain: domain, Message: message, Metadata: metadata}
}

// InvalidArgument returns an Error with codes.InvalidArgument carrying the
// given field violations.
func InvalidArgument(reason, domain, message string, violations ...*errdetails.BadRequest_FieldViolation) *Error {
	return &Error{Code: codes.InvalidArgument, Reason: reason, Domain: domain, Message: message, Violations: violations}
}

// FieldViolation returns a BadRequest field violation for the field at path
// (dot separated, e.g. "user.display_name").
func FieldViolation(field, description string) *errdetails.BadRequest_FieldViolation {
	return &errdetails.BadRequest_FieldViolation{Field: field, Description: description}
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// GRPCStatus returns e as a status with its details.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	var details []protoadapt.MessageV1
	if e.Reason != "" {
		details = append(details, &errdetails.ErrorInfo{Reason: e.Reason, Domain: e.Domain, Metadata: e.Metadata})
	}
	if len(e.Violations) > 0 {
		details = append(details, &errdetails.BadRequest{FieldViolations: e.Violations})
	}
	if len(e.Preconditions) > 0 {
		details = append(details, &errdetails.PreconditionFailure{Violations: e.Preconditions})
	}
	if len(details) == 0 {
		return st
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

// ToStatus returns err as a gRPC status error. Errors that carry a status
// (implementing GRPCStatus, wrapped or not) keep it; context.Canceled and
// context.DeadlineExceeded become codes.Canceled and codes.DeadlineExceeded;
// any other error is logged with slog.Default and returned as codes.Internal
// "internal error", so internals never leak to callers. ToStatus(nil) is nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	slog.Default().Error("internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// Mapping pairs a domain sentinel error with the API error it becomes.
type Mapping struct {
	// Err is the domain error, matched with errors.Is.
	Err error
	// To is the API error returned for it; an empty Message takes the text of
	// the domain error.
	To *Error
}

// Table maps domain errors to API errors: the one table a service keeps at
// its boundary (etcd's v3rpc/util.go). The first matching Mapping wins.
type Table []Mapping

// ToStatus returns err as a gRPC status error: the API error of the first
// Mapping err matches, or else what the package-level ToStatus makes of it.
func (t Table) ToStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range t {
		if errors.Is(err, m.Err) {
			mapped := *m.To
			if mapped.Message == "" {
				mapped.Message = err.Error()
			}
			return mapped.GRPCStatus().Err()
		}
	}
	return ToStatus(err)
}

// InItem returns the status error err naming the batch item it is about
// (AIP-233): its message prefixed with item ("requests[3]: ...") and item
// in its ErrorInfo metadata ("item"). Errors without an ErrorInfo
// (internal, cancelled) are returned unchanged: they are not the item's.
func InItem(err error, item string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	p := st.Proto()
	found := false
	for i, d := range p.GetDetails() {
		info := &errdetails.ErrorInfo{}
		if d.UnmarshalTo(info) != nil {
			continue
		}
		if info.Metadata == nil {
			info.Metadata = map[string]string{}
		}
		info.Metadata["item"] = item
		a, err := anypb.New(info)
		if err != nil {
			return err
		}
		p.Details[i], found = a, true
	}
	if !found {
		return err
	}
	p.Message = item + ": " + p.GetMessage()
	return status.FromProto(p).Err()
}
