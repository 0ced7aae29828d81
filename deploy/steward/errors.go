package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes: what scripts can rely on.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitUsage: the command line was wrong (unknown command or flag, wrong
	// number of arguments, a bad value): nothing was sent.
	ExitUsage = 1
	// ExitNotFound: the server found no such object.
	ExitNotFound = 2
	// ExitDenied: not logged in, the session expired, or the server refused
	// the caller (unauthenticated, permission denied).
	ExitDenied = 3
	// ExitRefused: the server refused the request as it stands (invalid
	// argument, failed precondition, already exists, aborted, out of range).
	ExitRefused = 4
	// ExitUnavailable: the server could not be reached or failed (unavailable,
	// deadline exceeded, rate limited, internal), or a local failure such as
	// an unwritable file.
	ExitUnavailable = 5
	// ExitCheckDenied: `steward check` answered "denied" (the principal
	// lacks the permission); the call itself succeeded.
	ExitCheckDenied = 6
)

// exitCodesHelp documents the exit codes in `steward --help`.
const exitCodesHelp = `Exit codes:
  0  success
  1  usage error (unknown command or flag, wrong arguments): nothing was sent
  2  not found
  3  not logged in, session expired, unauthenticated or permission denied
  4  refused as it stands: invalid argument, failed precondition, already exists, aborted
  5  unavailable, timed out, rate limited, internal or local failure
  6  steward check: the principal does not hold the permission`

// exitError is an error with the exit code it calls for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns a usage error (exit 1).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// localError marks a failure on this side (a file, the terminal): exit 5.
func localError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: ExitUnavailable, err: err}
}

// errNotLoggedIn is returned before any call when there is no session.
var errNotLoggedIn = &exitError{code: ExitDenied, err: errors.New("not logged in: run `steward login --org ORG --email EMAIL`")}

// ExitCode returns the exit code err calls for: that of an exitError, the
// gRPC status's for a status error, else ExitUsage (cobra's own errors are
// all about the command line).
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if st, ok := status.FromError(err); ok {
		return codeExit(st.Code())
	}
	return ExitUsage
}

// codeExit maps a gRPC code to an exit code.
func codeExit(c codes.Code) int {
	switch c {
	case codes.OK:
		return ExitOK
	case codes.NotFound:
		return ExitNotFound
	case codes.Unauthenticated, codes.PermissionDenied:
		return ExitDenied
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted, codes.OutOfRange:
		return ExitRefused
	default: // Unavailable, DeadlineExceeded, ResourceExhausted, Internal, Unknown, Canceled, ...
		return ExitUnavailable
	}
}

// reasonHints are words for the ErrorInfo reasons a person most often meets.
var reasonHints = map[string]string{
	"INVALID_CREDENTIALS":           "the email or password is wrong, or the account is not active",
	"TOTP_REQUIRED":                 "this account needs a TOTP code: pass --totp CODE (or type it when asked)",
	"TOO_MANY_ATTEMPTS":             "too many attempts: wait before trying again",
	"OWNER_IMMUTABLE":               "the organization's owner cannot be changed this way",
	"DEFAULT_GROUP_IMMUTABLE":       "default groups cannot be deleted or renamed, and everyone is in Everyone",
	"SELF_ACTION_FORBIDDEN":         "you cannot do that to the account you are signed in with",
	"USER_HOLDS_ADMINISTRATOR_ROLE": "the user holds an Administrator role",
	"EMAIL_TAKEN":                   "another user of the organization has this email",
	"ACCOUNT_SYSTEM_MISMATCH":       "the organization uses the other account system",
	"USER_INACTIVE":                 "the user is inactive: `steward users activate` first",
	"ETAG_MISMATCH":                 "the object changed meanwhile: read it again and retry",
}

// describe writes err for a person to w: "steward: <message>", then the
// ErrorInfo reason and metadata (the missing permission and its scope, for
// a denial), BadRequest field violations, failed preconditions, the retry
// delay, and a hint to log in again when the server did not know the caller.
func describe(w io.Writer, err error) {
	var silent errSilent
	if err == nil || errors.As(err, &silent) {
		return
	}
	st, ok := status.FromError(err)
	var ee *exitError
	if errors.As(err, &ee) || !ok {
		fmt.Fprintf(w, "steward: %v\n", err)
		return
	}
	fmt.Fprintf(w, "steward: %s\n", messageOf(st))
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			writeErrorInfo(w, d)
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				field := v.GetField()
				if field == "" {
					field = "request"
				}
				fmt.Fprintf(w, "  invalid %s: %s\n", field, v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				fmt.Fprintf(w, "  precondition failed: %s\n", strings.TrimSpace(strings.Join(nonEmpty(v.GetType(), v.GetSubject(), v.GetDescription()), " ")))
			}
		case *errdetails.RetryInfo:
			if d.GetRetryDelay() != nil {
				fmt.Fprintf(w, "  retry in %s\n", d.GetRetryDelay().AsDuration())
			}
		}
	}
	switch st.Code() {
	case codes.Unauthenticated:
		if !hasReason(st, "INVALID_CREDENTIALS", "TOTP_REQUIRED", "TOO_MANY_ATTEMPTS") {
			fmt.Fprintln(w, "  hint: your session may have expired: run `steward login`")
		}
	case codes.Unavailable:
		fmt.Fprintln(w, "  hint: is the suite running, and are --server/--access/--licensing/--audit right?")
	}
}

// messageOf is the status's message, or the code's name when it has none.
func messageOf(st *status.Status) string {
	if st.Message() != "" {
		return st.Message()
	}
	return st.Code().String()
}

func writeErrorInfo(w io.Writer, d *errdetails.ErrorInfo) {
	md := maps.Clone(d.GetMetadata())
	if d.GetReason() == "PERMISSION_DENIED" && md["permission"] != "" {
		perms := strings.Split(md["permission"], ",")
		word := "permission"
		if len(perms) > 1 {
			word = "permissions"
		}
		fmt.Fprintf(w, "  missing %s: %s", word, strings.Join(perms, ", "))
		if md["scope"] != "" {
			fmt.Fprintf(w, " on %s", md["scope"])
		}
		fmt.Fprintln(w)
		delete(md, "permission") // said above
		delete(md, "scope")
	}
	fmt.Fprintf(w, "  reason: %s", d.GetReason())
	if d.GetDomain() != "" {
		fmt.Fprintf(w, " (%s)", d.GetDomain())
	}
	fmt.Fprintln(w)
	if h := reasonHints[d.GetReason()]; h != "" {
		fmt.Fprintf(w, "  %s\n", h)
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		fmt.Fprintf(w, "  %s: %s\n", k, md[k])
	}
}

// hasReason reports whether st carries an ErrorInfo with one of reasons.
func hasReason(st *status.Status, reasons ...string) bool {
	return slices.Contains(reasons, reasonOf(st))
}

// reasonOf returns st's ErrorInfo reason, or "".
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
