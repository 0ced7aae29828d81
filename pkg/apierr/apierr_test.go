package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/apierr"
)

var errUserNotFound = errors.New("directory: user not found")

func TestToStatus(t *testing.T) {
	notFound := apierr.New(codes.NotFound, "USER_NOT_FOUND", "directory.steward.dev", "user u1 not found", map[string]string{"user": "u1"})
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		msg     string
		reason  string
		invalid []string
		failed  []string
	}{
		{name: "api error", err: notFound, code: codes.NotFound, msg: "user u1 not found", reason: "USER_NOT_FOUND"},
		{name: "wrapped api error", err: fmt.Errorf("getting: %w", notFound), code: codes.NotFound, msg: "user u1 not found", reason: "USER_NOT_FOUND"},
		{name: "status error", err: status.Error(codes.Aborted, "etag mismatch"), code: codes.Aborted, msg: "etag mismatch"},
		{name: "canceled", err: fmt.Errorf("x: %w", context.Canceled), code: codes.Canceled, msg: "x: context canceled"},
		{name: "deadline", err: context.DeadlineExceeded, code: codes.DeadlineExceeded, msg: "context deadline exceeded"},
		{name: "internal", err: errors.New("bbolt: disk on fire"), code: codes.Internal, msg: "internal error"},
		{name: "violations", err: apierr.InvalidArgument("BAD", apierr.Domain, "bad request", apierr.FieldViolation("page_size", "too big")),
			code: codes.InvalidArgument, msg: "bad request", reason: "BAD", invalid: []string{"page_size"}},
		{name: "preconditions", err: &apierr.Error{Code: codes.FailedPrecondition, Reason: "BATCH_REFUSED", Domain: apierr.Domain, Message: "refused",
			Preconditions: []*errdetails.PreconditionFailure_Violation{{Type: "NOT_FOUND", Subject: "organizations/o1/users/u1"}}},
			code: codes.FailedPrecondition, msg: "refused", reason: "BATCH_REFUSED", failed: []string{"organizations/o1/users/u1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(apierr.ToStatus(tt.err))
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			var reason string
			var fields, failed []string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
				case *errdetails.PreconditionFailure:
					for _, v := range d.GetViolations() {
						failed = append(failed, v.GetSubject())
					}
				case *errdetails.BadRequest:
					for _, v := range d.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if reason != tt.reason {
				t.Errorf("reason = %q, want %q", reason, tt.reason)
			}
			if fmt.Sprint(failed) != fmt.Sprint(tt.failed) {
				t.Errorf("precondition failures = %v, want %v", failed, tt.failed)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.invalid) {
				t.Errorf("field violations = %v, want %v", fields, tt.invalid)
			}
		})
	}
	if apierr.ToStatus(nil) != nil {
		t.Error("ToStatus(nil) != nil")
	}
}

func TestTable(t *testing.T) {
	table := apierr.Table{
		{Err: errUserNotFound, To: &apierr.Error{Code: codes.NotFound, Reason: "USER_NOT_FOUND", Domain: "directory.steward.dev"}},
	}
	st := status.Convert(table.ToStatus(fmt.Errorf("get u1: %w", errUserNotFound)))
	if st.Code() != codes.NotFound || st.Message() != "get u1: directory: user not found" {
		t.Errorf("mapped = %v %q", st.Code(), st.Message())
	}
	if got := status.Code(table.ToStatus(errors.New("other"))); got != codes.Internal {
		t.Errorf("unmapped = %v, want Internal", got)
	}
}

func TestReason(t *testing.T) {
	if got := apierr.Reason(directoryv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH); got != "ETAG_MISMATCH" {
		t.Errorf("Reason(ERROR_REASON_ETAG_MISMATCH) = %q", got)
	}
	if got := apierr.Reason(directoryv1.ErrorReason_ERROR_REASON_UNSPECIFIED); got != "UNSPECIFIED" {
		t.Errorf("Reason(ERROR_REASON_UNSPECIFIED) = %q", got)
	}
}

// TestInItem: a status with an ErrorInfo names the batch item in its
// message and metadata, keeping code, reason and metadata; one without an
// ErrorInfo, and a non-status error, are returned unchanged.
func TestInItem(t *testing.T) {
	denied := apierr.New(codes.PermissionDenied, "PERMISSION_DENIED", "access.steward.dev", "lacks roles.edit", map[string]string{"permission": "roles.edit"})
	err := apierr.InItem(denied.GRPCStatus().Err(), "requests[2]")
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || st.Message() != "requests[2]: lacks roles.edit" {
		t.Fatalf("InItem = %v", st)
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.GetReason() != "PERMISSION_DENIED" || info.GetMetadata()["item"] != "requests[2]" || info.GetMetadata()["permission"] != "roles.edit" {
		t.Errorf("ErrorInfo = %v", info)
	}
	bare := status.Error(codes.Internal, "boom")
	if got := apierr.InItem(bare, "requests[2]"); got != bare {
		t.Errorf("a status without ErrorInfo changed: %v", got)
	}
	plain := errors.New("plain")
	if got := apierr.InItem(plain, "requests[2]"); got != plain {
		t.Errorf("a plain error changed: %v", got)
	}
}
