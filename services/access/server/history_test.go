package server

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/services/access/domain"
)

// TestHistoryUnavailableStatus (issue 14): a moment before the history is
// OUT_OF_RANGE with reason HISTORY_UNAVAILABLE and metadata "earliest",
// absent when no history is available.
func TestHistoryUnavailableStatus(t *testing.T) {
	earliest := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&domain.HistoryUnavailableError{Earliest: earliest}, "2026-03-01T00:00:00Z"},
		{&domain.HistoryUnavailableError{}, ""},
	} {
		st := status.Convert(toStatus(tc.err))
		if st.Code() != codes.OutOfRange {
			t.Errorf("%v: code %v, want OutOfRange", tc.err, st.Code())
		}
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if info == nil || info.GetReason() != apierr.Reason(accessv1.ErrorReason_ERROR_REASON_HISTORY_UNAVAILABLE) || info.GetMetadata()["earliest"] != tc.want {
			t.Errorf("%v: ErrorInfo %v, want HISTORY_UNAVAILABLE with earliest %q", tc.err, info, tc.want)
		}
	}
}
