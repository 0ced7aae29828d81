package eventlog

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"steward.dev/pkg/apierr"
)

// ReasonFellBehind is the ErrorInfo reason of a Watch or Read whose cursor is
// older than the retention horizon.
const ReasonFellBehind = "EVENTLOG_FELL_BEHIND"

// ErrFellBehind is matched (errors.Is) by every *FellBehindError: the cursor is
// below the retention horizon, events after it were deleted, and the consumer
// must resync from a snapshot.
var ErrFellBehind = errors.New("eventlog: cursor fell behind the retention horizon")

// ErrClosed is returned by Watch once the Log has been closed. On the wire it is
// UNAVAILABLE, so remote watchers reconnect (to another replica or to the
// restarted service).
var ErrClosed = errors.New("eventlog: log closed")

// FellBehindError reports a cursor below the retention horizon. It matches
// ErrFellBehind and becomes FAILED_PRECONDITION with ErrorInfo reason
// EVENTLOG_FELL_BEHIND (metadata source, after_sequence, horizon_sequence).
type FellBehindError struct {
	// Source is the service whose log was read, when known.
	Source string
	// After is the cursor that was asked for.
	After uint64
	// Horizon is the highest deleted sequence: a cursor must be at least this.
	Horizon uint64
}

// Error implements error.
func (e *FellBehindError) Error() string {
	return fmt.Sprintf("eventlog: cursor %d of the %s log fell behind the retention horizon %d: resync from a snapshot", e.After, sourceName(e.Source), e.Horizon)
}

// Is reports whether target is ErrFellBehind.
func (e *FellBehindError) Is(target error) bool { return target == ErrFellBehind }

// GRPCStatus returns FAILED_PRECONDITION with an ErrorInfo of reason
// ReasonFellBehind whose metadata carries source, after_sequence and
// horizon_sequence.
func (e *FellBehindError) GRPCStatus() *status.Status {
	return apierr.New(codes.FailedPrecondition, ReasonFellBehind, apierr.Domain, e.Error(), map[string]string{
		"source":           e.Source,
		"after_sequence":   strconv.FormatUint(e.After, 10),
		"horizon_sequence": strconv.FormatUint(e.Horizon, 10),
	}).GRPCStatus()
}

// fromStatus turns a status error received from a remote EventLogService back
// into the package's errors: *FellBehindError for EVENTLOG_FELL_BEHIND; other
// errors are returned unchanged.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return err
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok {
			continue
		}
		md := info.GetMetadata()
		after, _ := strconv.ParseUint(md["after_sequence"], 10, 64)
		switch info.GetReason() {
		case ReasonFellBehind:
			horizon, _ := strconv.ParseUint(md["horizon_sequence"], 10, 64)
			return &FellBehindError{Source: md["source"], After: after, Horizon: horizon}
		case ReasonReset:
			head, _ := strconv.ParseUint(md["head_sequence"], 10, 64)
			return &ResetError{Source: md["source"], Position: Position{LogID: md["cursor_log_id"], Sequence: after}, LogID: md["log_id"], Head: head}
		}
	}
	return err
}
